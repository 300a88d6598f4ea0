"""The Links page of a document flow (issue 16): which Xero contact each ERP party is booked to, which Xero item
each ERP product is, changed by a person, and Xero's contacts imported into the ERP.

Links belong to the pair of connections (ERP, Xero), as the DocumentEngine reads them: every document flow between
the same two tools sees the same links. Both sides' lists are read live, once per page view; what a connector could
not read is said in words and the stored links are still shown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import transaction

from integration_hub.connectors.erp_types import ErpParty, ErpProduct
from integration_hub.connectors.errors import AuthenticationError, ConnectorError
from mappings.models import Flow, FlowKind
from syncs import catalogue
from syncs.engine import close_quietly
from syncs.models import ErrorStatus, PartnerLink, ProductLink, SyncError


ERP_PROVIDERS = ("tryton",)  # what TrytonErp reads; the DocumentEngine's only ERP today
PERSON = "person"
IMPORTED = "imported"
HOW = {"auxiliary_account": "matched by account number", "vat_number": "matched by VAT number",
       "registration_number": "matched by company number", "name": "matched by name", "code": "matched by code",
       "created": "created by the hub", PERSON: "chosen by a person", IMPORTED: "imported from Xero"}


class LinkError(Exception):
    """A change the page cannot make; the message is for the person who asked."""


@dataclass
class Choice:
    value: str
    label: str


@dataclass
class Suggestion:
    value: str
    label: str
    why: str


@dataclass
class PartyRow:
    party_id: str
    name: str
    code: str = ""
    vat_number: str = ""
    roles: str = ""
    active: bool = True
    contact_id: str = ""
    contact_name: str = ""
    how: str = ""
    shared_with: list[str] = field(default_factory=list)  # other ERP parties linked to the same contact
    suggestions: list[Suggestion] = field(default_factory=list)
    open_errors: int = 0  # documents of this party waiting for a link (CONTACT_NOT_LINKED)
    in_erp: bool = True  # False: a stored link whose party the ERP no longer lists


@dataclass
class ProductRow:
    product_id: str
    code: str
    name: str
    active: bool = True
    item_code: str = ""
    item_name: str = ""
    how: str = ""
    suggestions: list[Suggestion] = field(default_factory=list)
    in_erp: bool = True


@dataclass
class LinksOverview:
    parties: list[PartyRow]
    products: list[ProductRow]
    contacts: list[Choice]  # the picker over Xero's contacts, by name (archived ones marked)
    items: list[Choice]  # the picker over Xero's items, by name
    problems: list[str]  # what could not be read, in words
    erp_read: bool = False
    xero_read: bool = False
    waiting_documents: int = 0  # open CONTACT_NOT_LINKED errors of the flow


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)  # names of the parties created in the ERP
    linked: list[str] = field(default_factory=list)  # contacts linked to a party the ERP already had
    refused: list[str] = field(default_factory=list)  # readable reasons, one per contact not imported


def _readable(side: str, exc: Exception) -> str:
    """A connector's failure in words for the page, never a traceback."""
    if isinstance(exc, AuthenticationError):
        return f"{side} refused the hub's credentials: an owner must connect it again ({exc})."
    if isinstance(exc, ConnectorError):
        return f"{side} could not be read: {exc}"
    return f"{side} could not be read ({type(exc).__name__})."


def _key(value: str) -> str:
    return re.sub(r"[\s.\-/]", "", value or "").casefold()


def _name_key(value: str) -> str:
    return " ".join((value or "").casefold().split())


class _Sides:
    """The flow's ERP and Xero, opened for one page view or one action (closed by `close`)."""

    def __init__(self, flow: Flow) -> None:
        from integration_hub.connectors.tryton.erp import TrytonErp
        from integration_hub.connectors.xero.documents import XeroDocuments
        from tenants.services import ConnectionUnusable, connection_connector

        self._opened: list = []
        self.erp = self.xero = self.target = None
        self.problems: list[str] = []
        try:
            source = connection_connector(connection=flow.source)
            self._opened.append(source)
            self.erp = TrytonErp.from_connector(source)
        except (ConnectionUnusable, ConnectorError) as exc:
            self.problems.append(_readable(f"The ERP “{flow.source.name}”", exc) if isinstance(exc, ConnectorError)
                                 else f"The ERP “{flow.source.name}” cannot be used: {exc}")
        try:
            self.target = connection_connector(connection=flow.target)
            self._opened.append(self.target)
            self.xero = XeroDocuments(self.target)
        except (ConnectionUnusable, ConnectorError) as exc:
            self.problems.append(_readable(f"Xero “{flow.target.name}”", exc) if isinstance(exc, ConnectorError)
                                 else f"Xero “{flow.target.name}” cannot be used: {exc}")

    def close(self) -> None:
        close_quietly(*self._opened)


def check_flow(flow: Flow, *, tools: bool = True) -> None:
    """Links exist only for document flows with both tools connected; reading either tool needs an ERP the hub
    reads (`tools`), removing a stored link does not."""
    if flow.kind != FlowKind.DOCUMENTS:
        raise LinkError("Only document flows have links.")
    if flow.source is None or flow.target is None:
        raise LinkError("Connect the ERP and Xero to this flow first.")
    if not tools:
        return
    if flow.source.provider not in ERP_PROVIDERS:
        raise LinkError(f"“{flow.source.name}” is not an ERP the hub reads parties and products from.")
    try:
        features = flow.target.descriptor.features
    except Exception:  # noqa: BLE001 - a provider no longer enabled on this hub
        features = frozenset()
    if "documents" not in features:
        raise LinkError(f"“{flow.target.name}” cannot receive an ERP's documents.")


def _partner_links(flow: Flow):
    return PartnerLink.objects.filter(source=flow.source, target=flow.target)


def _product_links(flow: Flow):
    return ProductLink.objects.filter(source=flow.source, target=flow.target)


def waiting_by_party_name(flow: Flow) -> dict[str, int]:
    """Open CONTACT_NOT_LINKED errors by the document's party name (what the error desk records)."""
    counts: dict[str, int] = {}
    for name in SyncError.objects.filter(flow=flow, status=ErrorStatus.OPEN, code=catalogue.DOC_CONTACT_NOT_LINKED) \
            .values_list("document__partner_name", flat=True):
        counts[name] = counts.get(name, 0) + 1
    return counts


def links_overview(flow: Flow) -> LinksOverview:
    """Every ERP party and product with its link and suggestions, and the pickers' choices (read live)."""
    check_flow(flow)
    sides = _Sides(flow)
    problems = list(sides.problems)
    parties: list[ErpParty] = []
    products: list[ErpProduct] = []
    contacts, items = [], []
    erp_read = xero_read = False
    try:
        if sides.erp is not None:
            try:
                parties = list(sides.erp.list_parties())
                products = list(sides.erp.list_products())
                erp_read = True
            except Exception as exc:  # noqa: BLE001 - shown on the page in words
                problems.append(_readable(f"The ERP “{flow.source.name}”", exc))
        if sides.xero is not None:
            try:
                contacts = sides.xero.list_contacts(include_archived=True)
                items = sides.xero.list_items()
                xero_read = True
            except Exception as exc:  # noqa: BLE001
                problems.append(_readable(f"Xero “{flow.target.name}”", exc))
    finally:
        sides.close()

    contact_names = {c.id: c.name + (" (archived)" if c.archived else "") for c in contacts}
    contact_flags = {c.id: c for c in contacts}
    by_vat: dict[str, list] = {}
    by_name: dict[str, list] = {}
    for contact in contacts:
        if contact.archived:
            continue
        if contact.partner.vat_number:
            by_vat.setdefault(_key(contact.partner.vat_number), []).append(contact)
        by_name.setdefault(_name_key(contact.name), []).append(contact)

    links = {link.source_partner_id: link for link in _partner_links(flow)}
    linked_from: dict[str, list[str]] = {}
    names = {p.id: p.name for p in parties}
    for link in links.values():
        linked_from.setdefault(link.target_partner_id, []).append(names.get(link.source_partner_id, link.name))
    waiting = waiting_by_party_name(flow)

    rows: list[PartyRow] = []
    seen: set[str] = set()
    for party in parties:
        seen.add(party.id)
        link = links.get(party.id)
        row = PartyRow(party_id=party.id, name=party.name, code=party.code, vat_number=party.vat_number,
                       roles=_roles(party.is_customer, party.is_supplier), active=party.active,
                       open_errors=waiting.get(party.name, 0))
        if link is not None:
            _fill_link(row, link, contact_names, xero_read)
            row.shared_with = [n for n in linked_from.get(link.target_partner_id, []) if n != party.name]
            if not row.roles and link.target_partner_id in contact_flags:
                flags = contact_flags[link.target_partner_id]
                row.roles = _roles(flags.is_customer, flags.is_supplier, "in Xero")
        else:
            row.suggestions = _party_suggestions(party, by_vat, by_name)
        rows.append(row)
    for party_id, link in links.items():
        if party_id not in seen:  # stored, though the ERP did not list the party (or could not be read)
            row = PartyRow(party_id=party_id, name=link.name or party_id, in_erp=not erp_read)
            _fill_link(row, link, contact_names, xero_read)
            rows.append(row)
    rows.sort(key=lambda r: (r.name.casefold(), r.party_id))

    item_names = {i.code.casefold(): i for i in items if i.code}
    product_links = {link.source_product_id: link for link in _product_links(flow)}
    product_rows: list[ProductRow] = []
    seen = set()
    for product in products:
        seen.add(product.id)
        link = product_links.get(product.id)
        row = ProductRow(product_id=product.id, code=product.code, name=product.name, active=product.active)
        if link is not None:
            _fill_item(row, link, item_names, xero_read)
        else:
            row.suggestions = _product_suggestions(product, items, item_names)
        product_rows.append(row)
    for product_id, link in product_links.items():
        if product_id not in seen:
            row = ProductRow(product_id=product_id, code="", name=link.name or product_id, in_erp=not erp_read)
            _fill_item(row, link, item_names, xero_read)
            product_rows.append(row)
    product_rows.sort(key=lambda r: (r.code.casefold() or r.name.casefold(), r.product_id))

    return LinksOverview(
        parties=rows, products=product_rows,
        contacts=[Choice(c.id, contact_names[c.id]) for c in sorted(contacts, key=lambda c: (c.archived,
                                                                                              c.name.casefold()))],
        items=[Choice(i.code, f"{i.name} ({i.code})" if i.name and i.name != i.code else i.code)
               for i in sorted(items, key=lambda i: ((i.name or i.code).casefold(), i.code)) if i.code],
        problems=problems, erp_read=erp_read, xero_read=xero_read, waiting_documents=sum(waiting.values()))


def _roles(customer: bool, supplier: bool, where: str = "") -> str:
    words = " and ".join(w for w, on in (("customer", customer), ("supplier", supplier)) if on)
    return f"{words} ({where})" if words and where else words


def _fill_link(row: PartyRow, link: PartnerLink, contact_names: dict[str, str], xero_read: bool) -> None:
    row.contact_id = link.target_partner_id
    row.how = HOW.get(link.matched_by, link.matched_by or "—")
    if link.target_partner_id in contact_names:
        row.contact_name = contact_names[link.target_partner_id]
    else:
        row.contact_name = "not found in Xero" if xero_read else link.target_partner_id


def _fill_item(row: ProductRow, link: ProductLink, items: dict, xero_read: bool) -> None:
    row.item_code = link.target_item_code
    row.how = HOW.get(link.matched_by, link.matched_by or "—")
    item = items.get(link.target_item_code.casefold())
    row.item_name = item.name if item else ("not found in Xero" if xero_read else "")


def _party_suggestions(party: ErpParty, by_vat: dict, by_name: dict) -> list[Suggestion]:
    found: list[Suggestion] = []
    if party.vat_number:
        found += [Suggestion(c.id, c.name, "same VAT number") for c in by_vat.get(_key(party.vat_number), [])]
    found += [Suggestion(c.id, c.name, "same name") for c in by_name.get(_name_key(party.name), [])
              if all(s.value != c.id for s in found)]
    return found


def _product_suggestions(product: ErpProduct, items: list, by_code: dict) -> list[Suggestion]:
    found: list[Suggestion] = []
    item = by_code.get((product.code or "").casefold())
    if item is not None:
        found.append(Suggestion(item.code, item.name or item.code, "same code"))
    wanted = _name_key(product.name)
    found += [Suggestion(i.code, i.name, "same name") for i in items
              if i.code and wanted and _name_key(i.name) == wanted and all(s.value != i.code for s in found)]
    return found


# --- changes -----------------------------------------------------------------------------------
def _read_both(flow: Flow, read):
    """What `read(sides)` reads in the ERP and in Xero before a link is saved; any failure is a LinkError."""
    check_flow(flow)
    sides = _Sides(flow)
    try:
        if sides.problems:
            raise LinkError(" ".join(sides.problems))
        try:
            return read(sides)
        except ConnectorError as exc:
            raise LinkError(f"The link was not saved: {exc}") from None
    finally:
        sides.close()


def _store_party_link(flow: Flow, party_id: str, contact_id: str, name: str, how: str) -> PartnerLink:
    link, _ = PartnerLink.objects.update_or_create(
        source=flow.source, target=flow.target, source_partner_id=party_id,
        defaults={"tenant_id": flow.tenant_id, "target_partner_id": contact_id, "name": name[:200], "matched_by": how})
    return link


def _store_product_link(flow: Flow, product_id: str, item, name: str) -> ProductLink:
    """A person's link of an ERP product to a Xero item (by its code, as Xero writes it)."""
    link, _ = ProductLink.objects.update_or_create(
        source=flow.source, target=flow.target, source_product_id=product_id,
        defaults={"tenant_id": flow.tenant_id, "target_item_code": item.code, "target_item_id": item.id,
                  "name": name[:200], "matched_by": PERSON})
    return link


def set_partner_link(flow: Flow, party_id: str, contact_id: str) -> PartnerLink | None:
    """A person links an ERP party to a Xero contact ("" removes the link). Both are checked on their side first,
    so that a link always names a party and a contact that exist. Returns the link (None once removed)."""
    check_flow(flow, tools=False)
    party_id, contact_id = str(party_id or "").strip(), str(contact_id or "").strip()
    if not party_id:
        raise LinkError("No ERP party was named.")
    if not contact_id:
        _partner_links(flow).filter(source_partner_id=party_id).delete()
        return None
    party, contact = _read_both(flow, lambda sides: (sides.erp.get_party(party_id),
                                                     sides.target.get_partner(contact_id)))
    if party is None:
        raise LinkError("The ERP no longer has this party; the link was not saved.")
    if contact is None:
        raise LinkError("Xero has no such contact (deleted meanwhile?); the link was not saved.")
    return _store_party_link(flow, party_id, contact.id or contact_id, party.name, PERSON)


def set_product_link(flow: Flow, product_id: str, item_code: str) -> ProductLink | None:
    """A person links an ERP product to a Xero item by its code ("" removes the link); several products may share
    one item."""
    check_flow(flow, tools=False)
    product_id, item_code = str(product_id or "").strip(), str(item_code or "").strip()
    if not product_id:
        raise LinkError("No ERP product was named.")
    if not item_code:
        _product_links(flow).filter(source_product_id=product_id).delete()
        return None
    product, item = _read_both(flow, lambda sides: (
        sides.erp.get_product(product_id),
        next((i for i in sides.xero.list_items() if i.code.casefold() == item_code.casefold()), None)))
    if product is None:
        raise LinkError("The ERP no longer has this product; the link was not saved.")
    if item is None:
        raise LinkError("Xero has no item with this code (deleted meanwhile?); the link was not saved.")
    return _store_product_link(flow, product_id, item, product.name)


@dataclass
class SavedLinks:
    linked: list[str] = field(default_factory=list)  # names of the parties and products linked or re-linked
    removed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # one readable reason per link not saved


def save_links(flow: Flow, *, parties: dict[str, str], products: dict[str, str]) -> SavedLinks:
    """Many links at once, as the wizard's Links step posts them: ERP party id -> Xero contact id, ERP product id ->
    Xero item code ("" removes a link). What is unchanged is left alone (its "how" stays); each change is checked
    against what both tools list, read once for the whole batch, and refused in words when either side lacks it."""
    check_flow(flow)
    result = SavedLinks()
    stored_parties = {link.source_partner_id: link for link in _partner_links(flow)}
    stored_products = {link.source_product_id: link for link in _product_links(flow)}
    party_changes = {str(k): str(v or "").strip() for k, v in parties.items()
                     if str(v or "").strip() != getattr(stored_parties.get(str(k)), "target_partner_id", "")}
    product_changes = {str(k): str(v or "").strip() for k, v in products.items()
                       if str(v or "").strip().casefold()
                       != getattr(stored_products.get(str(k)), "target_item_code", "").casefold()}
    for party_id in [k for k, v in party_changes.items() if not v]:
        result.removed.append(stored_parties[party_id].name or party_id)
        stored_parties[party_id].delete()
    for product_id in [k for k, v in product_changes.items() if not v]:
        result.removed.append(stored_products[product_id].name or product_id)
        stored_products[product_id].delete()
    party_changes = {k: v for k, v in party_changes.items() if v}
    product_changes = {k: v for k, v in product_changes.items() if v}
    if not party_changes and not product_changes:
        return result

    def read(sides):
        erp_parties = {p.id: p for p in sides.erp.list_parties()} if party_changes else {}
        erp_products = {p.id: p for p in sides.erp.list_products()} if product_changes else {}
        contacts = {c.id: c for c in sides.xero.list_contacts(include_archived=True)} if party_changes else {}
        items = {i.code.casefold(): i for i in sides.xero.list_items() if i.code} if product_changes else {}
        return erp_parties, erp_products, contacts, items

    erp_parties, erp_products, contacts, items = _read_both(flow, read)
    with transaction.atomic():
        for party_id, contact_id in party_changes.items():
            party, contact = erp_parties.get(party_id), contacts.get(contact_id)
            if party is None:
                result.refused.append(f"The ERP no longer lists the party {party_id}; its link was not saved.")
            elif contact is None:
                result.refused.append(f"“{party.name}”: Xero has no such contact (deleted meanwhile?); "
                                      "its link was not saved.")
            else:
                _store_party_link(flow, party_id, contact.id, party.name, PERSON)
                result.linked.append(party.name)
        for product_id, item_code in product_changes.items():
            product, item = erp_products.get(product_id), items.get(item_code.casefold())
            if product is None:
                result.refused.append(f"The ERP no longer lists the product {product_id}; its link was not saved.")
            elif item is None:
                result.refused.append(f"“{product.name}”: Xero has no item with the code {item_code}; "
                                      "its link was not saved.")
            else:
                _store_product_link(flow, product_id, item, product.name)
                result.linked.append(product.name)
    return result


def import_contacts(flow: Flow) -> ImportResult:
    """Every active Xero contact no ERP party is linked to becomes a party of the ERP, linked to it.

    Safe to repeat and to interrupt: a party the ERP already has with the contact's VAT number or exact name (one
    an earlier import created before it was stopped, or one a person typed) is linked rather than created twice.
    Each contact is settled in its own transaction holding the flow's row, so two imports of one flow at once take
    turns instead of creating a party twice."""
    check_flow(flow)
    result = ImportResult()
    sides = _Sides(flow)
    try:
        if sides.problems:
            raise LinkError(" ".join(sides.problems))
        try:
            contacts = [c for c in sides.xero.list_contacts() if not c.archived and c.id and c.name]
        except ConnectorError as exc:
            raise LinkError(_readable(f"Xero “{flow.target.name}”", exc)) from None
        for contact in sorted(contacts, key=lambda c: c.name.casefold()):
            try:
                _import_one(flow, sides.erp, contact, result)
            except ConnectorError as exc:
                if exc.retryable or isinstance(exc, AuthenticationError):
                    result.refused.append(f"{contact.name}: {exc} — the import stopped here; run it again later.")
                    break
                result.refused.append(f"{contact.name}: the ERP refused it ({exc}).")
    finally:
        sides.close()
    return result


def _import_one(flow: Flow, erp, contact, result: ImportResult) -> None:
    with transaction.atomic():
        Flow.objects.select_for_update().filter(pk=flow.pk).first()
        links = _partner_links(flow)
        if links.filter(target_partner_id=contact.id).exists():
            return
        partner = contact.partner
        existing = (erp.find_parties(vat_number=partner.vat_number) if partner.vat_number else []) \
            or erp.find_parties(name=contact.name)
        linked_ids = set(links.filter(source_partner_id__in=[p.id for p in existing])
                         .values_list("source_partner_id", flat=True))
        free = [p for p in existing if p.id not in linked_ids]
        if free:
            party_id, name, how = free[0].id, free[0].name, ("vat_number" if partner.vat_number and any(
                _key(p.vat_number) == _key(partner.vat_number) for p in free[:1]) else "name")
            result.linked.append(contact.name)
        elif existing:
            result.refused.append(f"{contact.name}: the ERP's party “{existing[0].name}” with the same "
                                  f"{'VAT number' if partner.vat_number else 'name'} is linked to another contact; "
                                  "link it by hand if it is the same company.")
            return
        else:
            party_id = erp.create_party(ErpParty(
                id="", name=contact.name, vat_number=partner.vat_number,
                registration_number=partner.registration_number, email=partner.email, address=partner.address,
                is_customer=contact.is_customer, is_supplier=contact.is_supplier))
            name, how = contact.name, IMPORTED
            result.created.append(contact.name)
        _store_party_link(flow, party_id, contact.id, name, how)
