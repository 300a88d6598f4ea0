"""Tryton as an ERP (issue 16): the hub reads its parties, products, quotes, orders, invoices and bills,
writes the target's numbers back on them and imports parties into it.

Built on the same TrytonClient and credentials as the Tryton connector; the database must have the
sale, purchase and product modules activated (the peer's ``erp`` template has them).

Listings are streamed page by page, oldest change first, ``since`` inclusive: each page is one
``search_read`` ordered by Tryton's ``last_modified_at`` (its write date, else its create date) and
id, and the next page starts after the last (time, id) seen (keyset paging: records changed while
the listing runs are not skipped or repeated).  A change made through a document's form or its
buttons writes the document itself, so its own time moves; products are the exception (their
prices live on the product template): a product changes when its template does.
See docs/document-flows.md for what is read and written and why.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterator, Mapping, Sequence

from integration_hub.connectors.base import CheckResult
from integration_hub.connectors.erp_types import (
    ErpDocument,
    ErpKind,
    ErpLine,
    ErpParty,
    ErpProduct,
    ErpTax,
    content_version,
)
from integration_hub.connectors.errors import ConnectorError, NotFound, PermanentError, RetryableError
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.tryton import mapper
from integration_hub.connectors.tryton.client import TrytonClient
from integration_hub.connectors.tryton.connector import read_tax_tree
from integration_hub.connectors.tryton.provider import PROVIDER

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
PAGE_SIZE = 100


@dataclass(frozen=True)
class _Source:
    """Where a kind of document lives in Tryton and which of its records belong to the kind."""

    model: str
    line_model: str
    domain: tuple
    date_field: str


#: Quotes are sales that were quoted (they have a number) and are not orders yet, including one sent back
#: to draft for changes and a cancelled one; confirming turns the same sale into a sales order.
SOURCES: dict[ErpKind, _Source] = {
    ErpKind.QUOTE: _Source("sale.sale", "sale.line",
                           (("state", "in", ["draft", "quotation", "cancelled"]), ("number", "!=", None)),
                           "quotation_date"),
    ErpKind.SALES_ORDER: _Source("sale.sale", "sale.line",
                                 (("state", "in", ["confirmed", "processing", "done"]),), "sale_date"),
    ErpKind.INVOICE: _Source("account.invoice", "account.invoice.line",
                             (("type", "=", "out"), ("sales", "!=", None), ("number", "!=", None),
                              ("state", "in", ["posted", "paid", "cancelled"])), "invoice_date"),
    ErpKind.PURCHASE_ORDER: _Source("purchase.purchase", "purchase.line",
                                    (("state", "in", ["confirmed", "processing", "done"]),), "purchase_date"),
    ErpKind.BILL: _Source("account.invoice", "account.invoice.line",
                          (("type", "=", "in"), ("purchases", "!=", None), ("number", "!=", None),
                           ("state", "in", ["posted", "paid", "cancelled"])), "invoice_date"),
}

#: The field that carries the target's number on each document (see docs/document-flows.md): the *Comment*
#: of Tryton's sale, purchase and invoice forms (tab *Other Info*), one line per number, appended.
WRITE_BACK_FIELD = "comment"

_COMMON = ["number", "state", "party", "party.name", "currency.code", "reference", "description", "lines",
           "untaxed_amount", "tax_amount", "total_amount", "last_modified_at"]
DOCUMENT_FIELDS = {
    "sale.sale": _COMMON + ["sale_date", "quotation_date", "quotation_expire"],
    "purchase.purchase": _COMMON + ["purchase_date", "delivery_date"],
    "account.invoice": _COMMON + ["type", "invoice_date", "sales", "purchases", "lines_to_pay"],
}
LINE_FIELDS = ["type", "product", "product.code", "description", "quantity", "unit_price", "amount", "taxes",
               "sequence"]
PARTY_FIELDS = ["name", "code", "active", "identifiers", "addresses", "contact_mechanisms", "last_modified_at"]
PRODUCT_FIELDS = ["code", "name", "type", "description", "account_category", "account_category.name", "categories",
                  "default_uom.name", "list_price_used", "cost_price", "salable", "purchasable", "active",
                  "last_modified_at", "template.last_modified_at"]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """Tryton's timestamps are naive UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal("0")
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _quantity(value: Any) -> Decimal:
    """Tryton's float quantity as a plain Decimal: 2 not 2.0, 100 not 1E+2, 2.5 as is."""
    number = _decimal(value).normalize()
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number


class TrytonErp:
    """An ERP company in Tryton, read and written by the hub."""

    descriptor = PROVIDER

    def __init__(self, credentials: Mapping[str, str], *, session: HubSession | None = None, call_log=None,
                 client: TrytonClient | None = None) -> None:
        if client is None:
            http = session or HubSession.from_settings(provider=PROVIDER.key, call_log=call_log)
            password = credentials.get("password", "")
            if password:
                http.secrets.add(password)
            client = TrytonClient(url=credentials.get("url", ""), database=credentials.get("database", ""),
                                  username=credentials.get("username", ""), password=password, http=http)
        self.client = client
        self._company: dict | None = None
        self._user_context: dict = {}
        self._tax_tree: mapper.TaxTree | None = None
        self._country_ids: dict[str, int | None] = {}

    @classmethod
    def from_connector(cls, connector) -> TrytonErp:
        """Share a TrytonConnector's logged-in client (one session, one call log)."""
        return cls({}, client=connector.client)

    def close(self) -> None:
        self.client.http.close()

    # --- shared ------------------------------------------------------------------------------
    def company(self) -> dict:
        """The user's current company; loads the context (company) every later call carries."""
        if self._company is None:
            prefs = self.client.preferences()
            # What Tryton's own client sends with a change: its forms' read-only rules depend on it.
            self._user_context = {k: prefs[k] for k in ("groups", "administrator") if k in prefs}
            company_id = prefs.get("company")
            if not company_id:
                raise PermanentError("The Tryton user has no current company", provider=PROVIDER.key)
            self._company = self.client.read("company.company", [company_id], ["rec_name", "currency.code",
                                                                                "party"])[0]
        return self._company

    def check(self) -> CheckResult:
        """Signed in, and the ERP modules (sale, purchase, product) are there."""
        try:
            company = self.company()
            for model in ("sale.sale", "purchase.purchase", "product.product"):
                self.client.call(f"model.{model}.search_count", [])
        except ConnectorError as exc:
            text = str(exc)
            if "sale.sale" in text or "purchase.purchase" in text or "product.product" in text:
                text = ("This Tryton database has no sales, purchases or products: activate the sale and purchase "
                        f"modules ({text})")
            return CheckResult(ok=False, message=text)
        name = company.get("rec_name") or ""
        return CheckResult(ok=True, message=f"signed in to {self.client.database} as {self.client.username} ({name})",
                           organisation_id=f"{self.client.database}/{company['id']}", organisation_name=name)

    def tax_tree(self) -> mapper.TaxTree:
        if self._tax_tree is None:
            self.company()
            self._tax_tree = read_tax_tree(self.client)
        return self._tax_tree

    def _taxes(self, tax_ids: Sequence[int], day: dt.date | None) -> tuple[ErpTax, ...]:
        tree, day = self.tax_tree(), day or dt.date.today()
        found = []
        for tax_id in tax_ids:
            row = tree.rows.get(tax_id) or {}
            found.append(ErpTax(id=str(tax_id), name=row.get("name") or "", rate=tree.rate_on(tax_id, day)))
        return tuple(found)

    def _pages(self, model: str, domain: list, fields: list[str], since: dt.datetime | None, page_size: int,
               context: dict | None = None) -> Iterator[list[dict]]:
        """Pages of records, oldest change first, ``since`` inclusive, keyset-paged on (last_modified_at, id)."""
        self.company()
        base = list(domain)
        if since is not None:
            base.append(("last_modified_at", ">=", _naive_utc(since)))
        after: tuple[dt.datetime, int] | None = None
        while True:
            page_domain = base
            if after is not None:
                page_domain = base + [["OR", ("last_modified_at", ">", after[0]),
                                       [("last_modified_at", "=", after[0]), ("id", ">", after[1])]]]
            rows = self.client.search_read(model, page_domain, fields, limit=page_size,
                                           order=[("last_modified_at", "ASC"), ("id", "ASC")], context=context)
            if not rows:
                return
            yield rows
            if len(rows) < page_size:
                return
            after = (rows[-1]["last_modified_at"], rows[-1]["id"])

    # --- parties -------------------------------------------------------------------------------
    def list_parties(self, since: dt.datetime | None = None, *, page_size: int = PAGE_SIZE) -> Iterator[ErpParty]:
        """Every party but the company's own, inactive ones too (``active`` says so)."""
        own = self.company().get("party")
        for rows in self._pages("party.party", [("id", "!=", own)], PARTY_FIELDS, since, page_size,
                                context={"active_test": False}):
            yield from self._parties(rows)

    def get_party(self, party_id: str) -> ErpParty | None:
        if not str(party_id).isdigit():
            return None
        self.company()
        rows = self.client.search_read("party.party", [("id", "=", int(party_id))], PARTY_FIELDS,
                                       context={"active_test": False})
        return self._parties(rows)[0] if rows else None

    def find_parties(self, *, name: str | None = None, vat_number: str | None = None) -> list[ErpParty]:
        """Parties with exactly this name, or this VAT number (before importing a contact again)."""
        self.company()
        if vat_number:
            domain = [("identifiers", "where", [("type", "in", list(mapper.VAT_TYPES)),
                                               ("code", "in", mapper.identifier_forms(vat_number))])]
        elif name:
            domain = [("name", "=", name)]
        else:
            return []
        return self._parties(self.client.search_read("party.party", domain, PARTY_FIELDS, limit=50))

    def _parties(self, rows: list[dict]) -> list[ErpParty]:
        if not rows:
            return []
        identifier_ids = [i for row in rows for i in row.get("identifiers") or []]
        address_ids = [a for row in rows for a in (row.get("addresses") or [])[:1]]
        mechanism_ids = [m for row in rows for m in row.get("contact_mechanisms") or []]
        identifiers = self.client.read("party.identifier", identifier_ids, ["party", "type", "code"]) \
            if identifier_ids else []
        addresses = {r["id"]: r for r in self.client.read(
            "party.address", address_ids, ["street", "postal_code", "city", "country.code"])} if address_ids else {}
        mechanisms = self.client.read("party.contact_mechanism", mechanism_ids, ["party", "type", "value"]) \
            if mechanism_ids else []
        customers, suppliers = self._roles([row["id"] for row in rows])
        parties = []
        for row in rows:
            partner = mapper.partner_from_tryton(
                row, [i for i in identifiers if i["party"] == row["id"]],
                [addresses[a] for a in (row.get("addresses") or [])[:1] if a in addresses],
                [m["value"] for m in mechanisms if m["party"] == row["id"] and m["type"] == "email"],
                with_code=False)
            phone = next((m["value"] for m in mechanisms
                          if m["party"] == row["id"] and m["type"] in ("phone", "mobile")), "")
            party = ErpParty(id=str(row["id"]), name=row.get("name") or "", code=row.get("code") or "",
                             vat_number=partner.vat_number, registration_number=partner.registration_number,
                             email=partner.email, phone=phone or "", address=partner.address,
                             is_customer=row["id"] in customers, is_supplier=row["id"] in suppliers,
                             active=bool(row.get("active", True)), updated_at=_utc(row.get("last_modified_at")))
            party.version = content_version(party, leave_out=("version", "updated_at", "is_customer", "is_supplier"))
            parties.append(party)
        return parties

    def _roles(self, party_ids: list[int]) -> tuple[set[int], set[int]]:
        """Customers have sales or customer invoices; suppliers purchases or supplier invoices."""
        def used(model: str, domain: list) -> set[int]:
            rows = self.client.search_read(model, [("party", "in", party_ids), *domain], ["party"])
            return {row["party"] for row in rows}

        customers = used("sale.sale", []) | used("account.invoice", [("type", "=", "out")])
        suppliers = used("purchase.purchase", []) | used("account.invoice", [("type", "=", "in")])
        return customers, suppliers

    def create_party(self, party: ErpParty) -> str:
        """A new party (a contact imported from the target); returns its id.  A VAT number Tryton does not
        accept as one (it checks them) is kept as an identifier of no type rather than dropped."""
        self.company()
        values: dict = {"name": party.name}
        if party.address:
            address = {"street": party.address.street, "postal_code": party.address.postal_code,
                       "city": party.address.city}
            country = self._country_id(party.address.country_code)
            if country:
                address["country"] = country
            values["addresses"] = [["create", [address]]]
        mechanisms = [{"type": "email", "value": party.email}] if party.email else []
        if party.phone:
            mechanisms.append({"type": "phone", "value": party.phone})
        if mechanisms:
            values["contact_mechanisms"] = [["create", mechanisms]]
        if not party.vat_number:
            return str(self.client.create("party.party", [values])[0])
        vat = mapper.compact_identifier(party.vat_number)
        try:
            return str(self.client.create("party.party", [
                {**values, "identifiers": [["create", [{"type": "eu_vat", "code": vat}]]]}])[0])
        except PermanentError as exc:
            if "identifier" not in str(exc).lower() and "vat" not in str(exc).lower():
                raise
        return str(self.client.create("party.party", [
            {**values, "identifiers": [["create", [{"type": None, "code": party.vat_number}]]]}])[0])

    def _country_id(self, code: str) -> int | None:
        if not code:
            return None
        if code not in self._country_ids:
            found = self.client.search("country.country", [("code", "=", code.upper())], limit=1)
            self._country_ids[code] = found[0] if found else None
        return self._country_ids[code]

    # --- products ------------------------------------------------------------------------------
    def list_products(self, since: dt.datetime | None = None, *,
                      page_size: int = PAGE_SIZE) -> Iterator[ErpProduct]:
        """Every product variant, inactive ones too.  Prices and names live on the product's template, so a
        product counts as changed when either changed: the (small) list of changed ids and times is read
        first, then the products page by page in the order of their latest change."""
        self.company()
        context = {"active_test": False}
        domain: list = []
        if since is not None:
            naive = _naive_utc(since)
            domain = [["OR", ("last_modified_at", ">=", naive), ("template.last_modified_at", ">=", naive)]]
        stamps = self.client.search_read("product.product", domain, ["last_modified_at", "template.last_modified_at"],
                                         order=[("id", "ASC")], context=context)
        changed = sorted(((self._product_time(row), row["id"]) for row in stamps), key=lambda item: item)
        for start in range(0, len(changed), page_size):
            ids = [product_id for _time, product_id in changed[start:start + page_size]]
            rows = {row["id"]: row for row in self.client.read("product.product", ids, PRODUCT_FIELDS,
                                                                 context=context)}
            yield from self._products([rows[i] for i in ids if i in rows])

    def get_product(self, product_id: str) -> ErpProduct | None:
        if not str(product_id).isdigit():
            return None
        self.company()
        rows = self.client.search_read("product.product", [("id", "=", int(product_id))], PRODUCT_FIELDS,
                                       context={"active_test": False})
        return self._products(rows)[0] if rows else None

    @staticmethod
    def _product_time(row: dict) -> dt.datetime:
        times = [t for t in (row.get("last_modified_at"), (row.get("template.") or {}).get("last_modified_at")) if t]
        return max(times) if times else dt.datetime.min

    def _products(self, rows: list[dict]) -> list[ErpProduct]:
        category_ids = sorted({c for row in rows for c in row.get("categories") or []}
                              | {row["account_category"] for row in rows if row.get("account_category")})
        categories = {r["id"]: r for r in self.client.read(
            "product.category", category_ids, ["name", "customer_taxes", "supplier_taxes"])} if category_ids else {}
        products = []
        for row in rows:
            account_category = categories.get(row.get("account_category") or 0) or {}
            product = ErpProduct(
                id=str(row["id"]), code=row.get("code") or "", name=row.get("name") or "",
                kind=row.get("type") or "goods", description=row.get("description") or "",
                category=account_category.get("name") or "",
                categories=tuple(categories[c]["name"] for c in row.get("categories") or [] if c in categories),
                unit=(row.get("default_uom.") or {}).get("name") or "",
                sale_price=row.get("list_price_used"), purchase_price=row.get("cost_price"),
                sale_taxes=self._taxes(account_category.get("customer_taxes") or [], None),
                purchase_taxes=self._taxes(account_category.get("supplier_taxes") or [], None),
                salable=bool(row.get("salable")), purchasable=bool(row.get("purchasable")),
                active=bool(row.get("active", True)), updated_at=_utc(self._product_time(row)))
            product.version = content_version(product)
            products.append(product)
        return products

    # --- documents -----------------------------------------------------------------------------
    def list_documents(self, kind: ErpKind | str, since: dt.datetime | None = None, *,
                       page_size: int = PAGE_SIZE) -> Iterator[ErpDocument]:
        """The documents of one kind, oldest change first, ``since`` inclusive."""
        kind = ErpKind(kind)
        source = SOURCES[kind]
        domain = [*source.domain, ("company", "=", self.company()["id"])]
        for rows in self._pages(source.model, domain, DOCUMENT_FIELDS[source.model], since, page_size):
            yield from self._documents(kind, rows)

    def list_quotes(self, since: dt.datetime | None = None, **kwargs) -> Iterator[ErpDocument]:
        return self.list_documents(ErpKind.QUOTE, since, **kwargs)

    def list_sales_orders(self, since: dt.datetime | None = None, **kwargs) -> Iterator[ErpDocument]:
        return self.list_documents(ErpKind.SALES_ORDER, since, **kwargs)

    def list_sale_invoices(self, since: dt.datetime | None = None, **kwargs) -> Iterator[ErpDocument]:
        """Posted (or paid, or later cancelled) customer invoices of sales orders, with the order's number."""
        return self.list_documents(ErpKind.INVOICE, since, **kwargs)

    def list_purchase_orders(self, since: dt.datetime | None = None, **kwargs) -> Iterator[ErpDocument]:
        return self.list_documents(ErpKind.PURCHASE_ORDER, since, **kwargs)

    def list_bills(self, since: dt.datetime | None = None, **kwargs) -> Iterator[ErpDocument]:
        """Posted (or paid, or later cancelled) supplier invoices of purchase orders, with the order's number."""
        return self.list_documents(ErpKind.BILL, since, **kwargs)

    def get_document(self, kind: ErpKind | str, document_id: str) -> ErpDocument | None:
        """One document as ``list_documents`` gives it; None when it is not (or no longer) of that kind."""
        kind = ErpKind(kind)
        if not str(document_id).isdigit():
            return None
        source = SOURCES[kind]
        domain = [*source.domain, ("company", "=", self.company()["id"]), ("id", "=", int(document_id))]
        rows = self.client.search_read(source.model, domain, DOCUMENT_FIELDS[source.model])
        return self._documents(kind, rows)[0] if rows else None

    def _documents(self, kind: ErpKind, rows: list[dict]) -> list[ErpDocument]:
        source = SOURCES[kind]
        line_ids = [i for row in rows for i in row.get("lines") or []]
        lines = self.client.read(source.line_model, line_ids, LINE_FIELDS) if line_ids else []
        by_id = {line["id"]: line for line in lines}
        origins = self._origins(kind, rows)
        due_dates = self._due_dates(rows) if source.model == "account.invoice" else {}
        documents = []
        for row in rows:
            day = row.get(source.date_field) or row.get("sale_date")
            try:
                doc_lines = [self._line(by_id[i], day) for i in row.get("lines") or [] if i in by_id]
            except Exception:  # noqa: BLE001 - a line we cannot read never stops the listing
                logger.warning("Tryton %s %s: a line could not be read", source.model, row.get("id"), exc_info=True)
                doc_lines = []
            origin_id, origin_number = origins.get(row["id"], ("", ""))
            document = ErpDocument(
                kind=kind, id=str(row["id"]), number=row.get("number") or "", state=row.get("state") or "",
                party_id=str(row.get("party") or ""), party_name=(row.get("party.") or {}).get("name") or "",
                date=day, lines=[line for line in doc_lines if line is not None],
                untaxed_amount=_decimal(row.get("untaxed_amount")), tax_amount=_decimal(row.get("tax_amount")),
                total_amount=_decimal(row.get("total_amount")),
                currency=(row.get("currency.") or {}).get("code") or "", origin_id=origin_id,
                origin_number=origin_number, reference=row.get("reference") or "",
                description=row.get("description") or "", due_date=due_dates.get(row["id"]),
                expiry_date=row.get("quotation_expire") if kind is ErpKind.QUOTE else None,
                delivery_date=row.get("delivery_date"),
                updated_at=_utc(row.get("last_modified_at")))
            document.version = content_version(document)
            documents.append(document)
        return documents

    def _line(self, row: dict, day: dt.date | None) -> ErpLine | None:
        if row.get("type") == "comment":
            return ErpLine(id=str(row["id"]), product_id=None, description=row.get("description") or "",
                           quantity=Decimal("0"), unit_price=Decimal("0"), description_only=True)
        if row.get("type", "line") != "line":
            return None  # titles and subtotals are layout
        taxes = self._taxes(row.get("taxes") or [], day)
        rates = tuple(t.rate for t in taxes if t.rate is not None)
        amount = _decimal(row.get("amount"))
        tax_amount = sum((amount * rate / 100 for rate in rates), Decimal("0")).quantize(CENT, ROUND_HALF_UP)
        product = row.get("product")
        return ErpLine(id=str(row["id"]), product_id=str(product) if product else None,
                       product_code=(row.get("product.") or {}).get("code") or "",
                       description=row.get("description") or "", quantity=_quantity(row.get("quantity")),
                       unit_price=_decimal(row.get("unit_price")), tax_rates=rates, taxes=taxes, amount=amount,
                       tax_amount=tax_amount)

    def _origins(self, kind: ErpKind, rows: list[dict]) -> dict[int, tuple[str, str]]:
        """The order an invoice or bill comes from (its first, when Tryton merged several)."""
        if kind not in (ErpKind.INVOICE, ErpKind.BILL):
            return {}
        field, model = ("sales", "sale.sale") if kind is ErpKind.INVOICE else ("purchases", "purchase.purchase")
        order_ids = sorted({i for row in rows for i in row.get(field) or []})
        numbers = {r["id"]: r.get("number") or "" for r in self.client.read(model, order_ids, ["number"])} \
            if order_ids else {}
        found = {}
        for row in rows:
            ids = sorted(row.get(field) or [])
            if ids:
                found[row["id"]] = (str(ids[0]), ", ".join(numbers.get(i, "") for i in ids))
        return found

    def _due_dates(self, rows: list[dict]) -> dict[int, dt.date]:
        """The first maturity of each invoice's receivable or payable lines."""
        line_ids = [i for row in rows for i in row.get("lines_to_pay") or []]
        if not line_ids:
            return {}
        maturity = {r["id"]: r.get("maturity_date") for r in self.client.read(
            "account.move.line", line_ids, ["maturity_date"])}
        found = {}
        for row in rows:
            dates = [maturity[i] for i in row.get("lines_to_pay") or [] if maturity.get(i)]
            if dates:
                found[row["id"]] = min(dates)
        return found

    # --- write-back ----------------------------------------------------------------------------
    def write_back_number(self, kind: ErpKind | str, document_id: str, text: str) -> bool:
        """Note the target's number (``"Xero INV-0042"``) on the ERP document, where Tryton's users see it:
        a line appended to the document's *Comment* (tab *Other Info* of the sale, purchase and invoice
        forms), which stays writable on confirmed sales and purchases and on posted invoices.  What a person
        typed there is kept; a line already there is not added twice (returns False).  Guarded by Tryton's
        optimistic lock: a document changed between the read and the write is read again."""
        kind = ErpKind(kind)
        model = SOURCES[kind].model
        text = " ".join(str(text).split())
        if not text:
            raise ValueError("nothing to write back")
        if not str(document_id).isdigit():
            raise NotFound(f"no Tryton {model} {document_id!r}", provider=PROVIDER.key)
        self.company()
        for attempt in range(3):
            rows = self.client.read(model, [int(document_id)], [WRITE_BACK_FIELD, "_timestamp"])
            if not rows:
                raise NotFound(f"no Tryton {model} {document_id}", provider=PROVIDER.key)
            current = rows[0].get(WRITE_BACK_FIELD) or ""
            if text in (line.strip() for line in current.splitlines()):
                return False
            new = f"{current.rstrip()}\n{text}" if current.strip() else text
            stamp = {f"{model},{document_id}": rows[0].get("_timestamp")}
            try:
                self.client.write(model, [int(document_id)], {WRITE_BACK_FIELD: new},
                                  context={**self._user_context, "_timestamp": stamp})
                return True
            except RetryableError as exc:
                if "concurrent" not in str(exc).lower() or attempt == 2:
                    raise
            except PermanentError as exc:
                if model == "account.invoice" and "not allowed to modify" in str(exc):
                    raise PermanentError(
                        "Tryton lets only its account administrators note a number on a posted invoice: give the "
                        "hub's Tryton user the group Account Administration", provider=PROVIDER.key,
                        provider_message=exc.provider_message) from exc
                raise
        return False  # pragma: no cover - the loop returns or raises

    def written_back(self, kind: ErpKind | str, document_id: str) -> list[str]:
        """The lines of the write-back field (what a user sees on the form), for checks and support."""
        model = SOURCES[ErpKind(kind)].model
        self.company()
        rows = self.client.read(model, [int(document_id)], [WRITE_BACK_FIELD])
        return [line for line in (rows[0].get(WRITE_BACK_FIELD) or "").splitlines() if line.strip()] if rows else []


__all__ = ["TrytonErp", "SOURCES", "WRITE_BACK_FIELD"]
