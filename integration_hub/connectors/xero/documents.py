"""The Xero side of a document flow: an ERP's items, contacts, quotes, sales orders, invoices, purchase orders and
bills written into Xero, through the connector's client (its budget, retries, token and organisation).

- Every write is a batch of up to 50 documents per endpoint with `summarizeErrors=false` (one refusal is that
  document's, the others are saved) and an Idempotency-Key derived from the hub references, their versions and
  the body: a repeat after a lost answer is answered with the first answer.
- A document the hub already wrote (`existing_id`) is read first and updated in place only while Xero still lets
  the ERP change it (a quote DRAFT/SENT, a purchase order DRAFT/SUBMITTED, an invoice or bill DRAFT/SUBMITTED).
  One that already says what the ERP says is left alone ("unchanged": a repeat never writes twice); any other
  is refused with the reason "locked" and never written again as a new document.
- The ERP's number goes on every document as a line with a Description only (no quantity, amount or account):
  Xero's LineItem description allows exactly that, and such a line adds nothing to the totals.
- The hub's tag (`[hub <reference>]`) ends the document's Reference (quotes, sales invoices, purchase orders) or,
  for bills, its InvoiceNumber: Xero keeps Reference on ACCREC invoices only, a bill's visible reference *is* its
  InvoiceNumber. `find_by_reference` finds documents again by that tag after a crash.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Sequence
from urllib.parse import quote

from integration_hub.connectors.errors import NotFound, PermanentError
from integration_hub.connectors.types import CENT, ZERO, Partner
from integration_hub.connectors.xero import mapper
from integration_hub.connectors.xero.client import PAGE_SIZE, encode, validation_messages
from integration_hub.connectors.xero.connector import (
    BATCH,
    LOOKUP_BATCH,
    XeroConnector,
    _idempotency_key,
    refusal_reason,
)
from integration_hub.connectors.xero.provider import PROVIDER

UNIT_PLACES = Decimal("0.0001")  # Xero keeps unit amounts to 4 places at most (unitdp=4)
GONE = ("DELETED", "VOIDED")
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class _Kind:
    """What differs between the Xero documents an ERP document becomes."""

    name: str
    label: str  # words for people ("sales order")
    endpoint: str
    id_field: str
    number_field: str
    type: str  # Invoices' Type (ACCREC, ACCPAY); "" for quotes and purchase orders
    second_date: str  # where OutDocument.due_date goes
    line_amount_types: str
    open: tuple[str, ...]  # statuses in which the hub still updates the document
    ranks: dict  # status -> how far along its life the document is
    create: tuple[str, ...]  # statuses a document may be created with

    @property
    def tag_field(self) -> str:
        """The field that ends with the hub tag."""
        return "InvoiceNumber" if self.type == "ACCPAY" else "Reference"


_INVOICE_RANKS = {"DRAFT": 0, "SUBMITTED": 1, "AUTHORISED": 2, "PAID": 3}
_SALES = dict(endpoint="Invoices", id_field="InvoiceID", number_field="InvoiceNumber", type="ACCREC",
              second_date="DueDate", line_amount_types="Exclusive", open=("DRAFT", "SUBMITTED"), ranks=_INVOICE_RANKS,
              create=("DRAFT", "SUBMITTED", "AUTHORISED"))
KINDS: dict[str, _Kind] = {k.name: k for k in (
    _Kind("quote", "quote", "Quotes", "QuoteID", "QuoteNumber", "", "ExpiryDate", "EXCLUSIVE", ("DRAFT", "SENT"),
          {"DRAFT": 0, "SENT": 1, "ACCEPTED": 2, "DECLINED": 2, "INVOICED": 3}, ("DRAFT", "SENT")),
    _Kind("sales_order", "sales order", **_SALES),
    _Kind("invoice", "invoice", **_SALES),
    _Kind("purchase_order", "purchase order", "PurchaseOrders", "PurchaseOrderID", "PurchaseOrderNumber", "",
          "DeliveryDate", "Exclusive", ("DRAFT", "SUBMITTED"),
          {"DRAFT": 0, "SUBMITTED": 1, "AUTHORISED": 2, "BILLED": 3}, ("DRAFT", "SUBMITTED", "AUTHORISED")),
    _Kind("bill", "supplier invoice", "Invoices", "InvoiceID", "InvoiceNumber", "ACCPAY", "DueDate", "Exclusive",
          ("DRAFT", "SUBMITTED"), _INVOICE_RANKS, ("DRAFT", "SUBMITTED", "AUTHORISED")),
)}


# --- what the hub hands over -----------------------------------------------------------------
@dataclass
class OutLine:
    """One line of an ERP document, in Xero's terms (the ERP side maps products to items and accounts)."""

    description: str
    quantity: Decimal
    unit_amount: Decimal  # net of tax (documents are sent with line amounts exclusive of tax)
    account_code: str = ""  # "" lets Xero take the item's account
    tax_type: str = ""  # "" lets Xero take the account's (or item's) tax type
    item_code: str = ""
    tax_amount: Decimal | None = None  # the ERP's tax on the line; None lets Xero compute it


@dataclass
class OutDocument:
    """An ERP document to write into Xero.

    `reference`: the hub's own reference for it (unique per flow and object type), tagged on the document.
    `kind`: quote | sales_order | invoice | purchase_order | bill. `existing_id`: the Xero document the hub wrote
    for it before (a sales order's draft for its invoice), updated in place. `version`: changes whenever the ERP
    document changes (it is part of the Idempotency-Key). `number_text`: the text of the ERP-number line when the
    default ("ERP sales order SO-0042") will not do. `supplier_number`: a bill's number at the supplier, its
    number in Xero (default: `source_number`)."""

    reference: str
    kind: str
    contact_id: str
    date: dt.date
    due_date: dt.date | None = None
    currency: str = ""
    lines: list[OutLine] = field(default_factory=list)
    source_number: str = ""
    existing_id: str = ""
    version: str = ""
    number_text: str = ""
    supplier_number: str = ""


@dataclass
class SavedDocument:
    """What became of one document in Xero. `action`: created | updated | unchanged | found; `error` is set when
    that document alone was refused (its `details["reason"]` says why, see REASONS)."""

    reference: str
    kind: str
    xero_id: str = ""
    number: str = ""
    status: str = ""
    action: str = ""
    error: PermanentError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.xero_id)


@dataclass(frozen=True)
class OutItem:
    """A product to create as a Xero item. A price or account left empty leaves that side out of the item."""

    code: str
    name: str
    sale_price: Decimal | None = None
    purchase_price: Decimal | None = None
    sales_account: str = ""
    purchase_account: str = ""
    sales_tax_type: str = ""
    purchase_tax_type: str = ""
    description: str = ""


@dataclass
class XeroItem:
    id: str
    code: str
    name: str
    description: str = ""
    sale_price: Decimal | None = None
    purchase_price: Decimal | None = None
    sales_account: str = ""
    purchase_account: str = ""
    sales_tax_type: str = ""
    purchase_tax_type: str = ""
    is_sold: bool = False
    is_purchased: bool = False


@dataclass
class XeroContact:
    """A contact for the link page's picker: the partner, and what Xero says about it."""

    partner: Partner
    archived: bool = False
    is_customer: bool = False
    is_supplier: bool = False

    @property
    def id(self) -> str:
        return self.partner.id

    @property
    def name(self) -> str:
        return self.partner.name


# The hub's catalogued reasons for a refused document (details["reason"]).
REASONS = {
    "locked": "Xero no longer lets the document change (authorised, paid, accepted, invoiced, billed)",
    "deleted": "the document the hub wrote was deleted or voided in Xero",
    "contact": "the Xero contact does not exist",
    "contact_archived": "the Xero contact is archived",
    "item": "the Xero item code does not exist",
    "account": "the account code cannot be used on this document",
    "tax": "the tax type cannot be used on this document",
    "number_taken": "the number is already used in Xero",
    "code_taken": "an item with this code exists in Xero (create_items answers with that item instead)",
    "currency": "the organisation does not use this currency",
    "": "Xero refused the document for another reason (its words are in the message)",
}


def document_refusal_reason(messages: Sequence[str]) -> str:
    """The connector's reasons, plus the ones only documents meet (unknown contact, item, currency)."""
    text = " ".join(messages).lower()
    if "item code" in text and "not valid" in text:
        return "item"
    if "contact" in text and ("could not be found" in text or "must be specified" in text):
        return "contact"
    if "not subscribed to currency" in text:
        return "currency"
    return refusal_reason(messages)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _refusal(message: str, reason: str, provider_message: str = "") -> PermanentError:
    return PermanentError(message, provider=PROVIDER.key, provider_message=provider_message,
                          details={"reason": reason})


class XeroDocuments:
    """The Xero half of a document flow, on one connected organisation."""

    def __init__(self, connector: XeroConnector) -> None:
        self.connector = connector
        self.client = connector.client

    # --- items ---------------------------------------------------------------------------------
    def list_items(self) -> list[XeroItem]:
        """Every item of the organisation (Xero lists items in one answer, without pages)."""
        return [self._item(row) for row in self.client.get("Items").get("Items") or []]

    @staticmethod
    def _item(row: dict) -> XeroItem:
        sales, purchase = row.get("SalesDetails") or {}, row.get("PurchaseDetails") or {}

        def price(details: dict) -> Decimal | None:
            return None if details.get("UnitPrice") is None else mapper.decimal(details["UnitPrice"])

        return XeroItem(id=str(row.get("ItemID") or ""), code=str(row.get("Code") or ""),
                        name=str(row.get("Name") or ""), description=str(row.get("Description") or ""),
                        sale_price=price(sales), purchase_price=price(purchase),
                        sales_account=str(sales.get("AccountCode") or ""),
                        purchase_account=str(purchase.get("AccountCode") or ""),
                        sales_tax_type=str(sales.get("TaxType") or ""),
                        purchase_tax_type=str(purchase.get("TaxType") or ""),
                        is_sold=bool(row.get("IsSold")), is_purchased=bool(row.get("IsPurchased")))

    @staticmethod
    def _item_payload(item: OutItem) -> dict:
        body: dict = {"Code": item.code.strip(), "Name": (item.name or item.code)[:50]}
        if item.description or item.name:
            body["Description"] = (item.description or item.name)[:4000]
        for side, price, account, tax in (("SalesDetails", item.sale_price, item.sales_account, item.sales_tax_type),
                                          ("PurchaseDetails", item.purchase_price, item.purchase_account,
                                           item.purchase_tax_type)):
            details: dict = {}
            if price is not None:
                details["UnitPrice"] = price.quantize(UNIT_PLACES, rounding=ROUND_HALF_UP)
            if account:
                details["AccountCode"] = account
            if tax:
                details["TaxType"] = tax
            if details:
                body[side] = details
        return body

    def create_items(self, items: Sequence[OutItem | tuple]) -> list[str | PermanentError]:
        """Create items, 50 per call; per item its Xero id or the refusal. An item whose code Xero already has
        (created meanwhile by another worker or a person) is that item: its id is returned."""
        wanted = [i if isinstance(i, OutItem) else OutItem(*i) for i in items]
        results: list[str | PermanentError] = []
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start:start + BATCH]
            body = {"Items": [self._item_payload(i) for i in chunk]}
            key = _idempotency_key("PUT Items", json.dumps(body, sort_keys=True, default=str))
            fine = any(p is not None and p != _money(p) for i in chunk for p in (i.sale_price, i.purchase_price))
            rows = self._write("PUT", "Items", body, key, unitdp4=fine).get("Items") or []
            for position in range(len(chunk)):
                row = rows[position] if position < len(rows) else {}
                messages = validation_messages(row)
                if row.get("StatusAttributeString") == "ERROR" or messages or not row.get("ItemID"):
                    taken = any("already exists" in m for m in messages)
                    results.append(_refusal("Xero refused to create the item", "code_taken" if taken else
                                            document_refusal_reason(messages), "; ".join(messages) or "no item id"))
                else:
                    results.append(str(row["ItemID"]))
        taken = [i for i, r in enumerate(results) if isinstance(r, PermanentError)
                 and r.details.get("reason") == "code_taken"]
        if taken:
            by_code = {item.code.lower(): item.id for item in self.list_items()}
            for i in taken:
                results[i] = by_code.get(wanted[i].code.strip().lower(), results[i])
        return results

    # --- contacts ------------------------------------------------------------------------------
    def list_contacts(self, include_archived: bool = False) -> list[XeroContact]:
        """The organisation's contacts (pages of 100), for the link page's picker and the import into the ERP."""
        params = {"includeArchived": "true"} if include_archived else {}
        return [XeroContact(partner=mapper.partner_from_xero(row),
                            archived=(row.get("ContactStatus") or "ACTIVE") == "ARCHIVED",
                            is_customer=bool(row.get("IsCustomer")), is_supplier=bool(row.get("IsSupplier")))
                for row in self.client.all("Contacts", "Contacts", **params)]

    def create_contacts(self, partners: Sequence[tuple[Partner, str]]) -> list[Partner | Exception]:
        """New contacts for (partner, "customer" | "supplier"), 50 per call: the connector's own, so a name Xero
        already has is that contact."""
        return self.connector.create_partners(partners)

    # --- documents -----------------------------------------------------------------------------
    def save_quotes(self, docs: Sequence[OutDocument], status: str = "DRAFT") -> list[SavedDocument]:
        return self._save(docs, status, ("quote",))

    def save_sales_invoices(self, docs: Sequence[OutDocument], status: str) -> list[SavedDocument]:
        """DRAFT for sales orders, AUTHORISED for invoices: an invoice whose `existing_id` is its order's draft
        updates that draft in place (same Xero number) and authorises it."""
        return self._save(docs, status, ("sales_order", "invoice"))

    def save_purchase_orders(self, docs: Sequence[OutDocument], status: str = "DRAFT") -> list[SavedDocument]:
        return self._save(docs, status, ("purchase_order",))

    def save_bills(self, docs: Sequence[OutDocument], status: str = "AUTHORISED") -> list[SavedDocument]:
        return self._save(docs, status, ("bill",))

    def _save(self, docs: Sequence[OutDocument], status: str, kinds: tuple[str, ...]) -> list[SavedDocument]:
        kind = KINDS[kinds[0]]
        status = status.upper()
        if status not in kind.create:
            raise ValueError(f"a Xero {kind.label} is not created as {status} (one of {', '.join(kind.create)})")
        results = [SavedDocument(reference=d.reference, kind=d.kind) for d in docs]
        bodies: dict[int, dict] = {}
        for index, doc in enumerate(docs):
            if doc.kind not in kinds:
                results[index].error = _refusal(f"A {doc.kind} is not sent as a Xero {kind.label}", "")
            elif not doc.contact_id:
                results[index].error = _refusal(f"The {KINDS[doc.kind].label} {doc.source_number} has no Xero "
                                                "contact", "contact")
            else:
                try:
                    bodies[index] = self._body(KINDS[doc.kind], doc, status)
                    encode(bodies[index])
                except (ValueError, ArithmeticError) as exc:  # an amount Xero's JSON cannot carry exactly
                    bodies.pop(index, None)
                    results[index].error = _refusal(f"The {KINDS[doc.kind].label} {doc.source_number} cannot be "
                                                    f"sent to Xero: {exc}", "")
        creates = [i for i in bodies if not docs[i].existing_id]
        updates = self._prepare_updates(kind, docs, [i for i in bodies if docs[i].existing_id], bodies, status,
                                        results)
        for method, indexes in (("PUT", creates), ("POST", updates)):
            for start in range(0, len(indexes), BATCH):
                self._write_batch(kind, method, indexes[start:start + BATCH], docs, bodies, results)
        return results

    # building
    def _body(self, kind: _Kind, doc: OutDocument, status: str) -> dict:
        text = (doc.number_text or (f"ERP {kind.label} {doc.source_number}" if doc.source_number else "")).strip()
        lines = [{"Description": text[:mapper.MAX_DESCRIPTION]}] if text else []
        lines += [self._line(kind, line) for line in doc.lines]
        body: dict = {"Contact": {"ContactID": doc.contact_id}, "Date": mapper.xero_date(doc.date),
                      "LineAmountTypes": kind.line_amount_types, "LineItems": lines, "Status": status}
        if kind.type:
            body["Type"] = kind.type
        second = doc.due_date or (doc.date if kind.endpoint == "Invoices" else None)
        if second is not None:
            body[kind.second_date] = mapper.xero_date(second)
        if doc.currency:
            body["CurrencyCode"] = doc.currency
        number = (doc.supplier_number or doc.source_number) if kind.type == "ACCPAY" else doc.source_number
        body[kind.tag_field] = mapper.reference_field(number, doc.reference)
        return body

    @staticmethod
    def _line(kind: _Kind, line: OutLine) -> dict:
        """A line item. Xero rounds UnitAmount to 2 places (4 with unitdp=4, which only invoices take): a finer unit
        price goes as the line's amount instead, which Xero keeps as given, so its totals are the ERP's."""
        item: dict = {}
        if line.description or not line.item_code:
            item["Description"] = (line.description or "-")[:mapper.MAX_DESCRIPTION]
        quantity, unit = Decimal(str(line.quantity)), Decimal(str(line.unit_amount))
        item["Quantity"] = quantity
        if unit == _money(unit) or (kind.endpoint == "Invoices" and unit == unit.quantize(UNIT_PLACES)):
            item["UnitAmount"] = unit
        else:
            item["LineAmount"] = _money(quantity * unit)
        if line.item_code:
            item["ItemCode"] = line.item_code
        if line.account_code:
            item["AccountCode"] = line.account_code
        if line.tax_type:
            item["TaxType"] = line.tax_type
        if line.tax_amount is not None:
            item["TaxAmount"] = _money(Decimal(line.tax_amount))
        return item

    # updating
    def _prepare_updates(self, kind: _Kind, docs: Sequence[OutDocument], indexes: list[int], bodies: dict[int, dict],
                         status: str, results: list[SavedDocument]) -> list[int]:
        """Read the documents to update; keep those Xero still lets the ERP change and that differ from what is
        sent. The others are `unchanged` (already as the ERP says) or refused (locked, deleted)."""
        current = self._current(kind, [docs[i].existing_id for i in indexes])
        to_write = []
        for index in indexes:
            doc, body = docs[index], bodies[index]
            row = current.get(doc.existing_id.lower())
            label = KINDS[doc.kind].label
            xero_status = str((row or {}).get("Status") or "")
            if row is None or xero_status in GONE:
                what = f"was {xero_status} in Xero" if row else "no longer exists in Xero"
                results[index].error = _refusal(
                    f"The Xero {label} {self._number(kind, row or {}) or doc.existing_id} written for "
                    f"{doc.source_number or doc.reference} {what}; it is not written again without a person's "
                    "decision", "deleted")
                continue
            effective = status if kind.ranks.get(status, 0) >= kind.ranks.get(xero_status, 0) else xero_status
            body.update({kind.id_field: row[kind.id_field], "Status": effective})
            if self._same(kind, row, body):
                results[index] = self._result(doc, kind, row, "unchanged")
                continue
            paid = mapper.decimal(row.get("AmountPaid")) or row.get("Payments")
            if xero_status not in kind.open or paid:
                why = "it has a payment" if paid else f"it is {xero_status}"
                results[index].error = _refusal(
                    f"The Xero {label} {self._number(kind, row)} was not changed: {why} in Xero, which no longer "
                    f"lets it change. Record the change from {doc.source_number or doc.reference} in Xero by hand",
                    "locked")
                continue
            to_write.append(index)
        return to_write

    def _current(self, kind: _Kind, ids: Sequence[str]) -> dict[str, dict]:
        """The documents as Xero has them now, by lower-case id. Invoices come 50 per call (IDs); Xero lists quotes
        and purchase orders by no id, so each is read on its own."""
        wanted = list(dict.fromkeys(i for i in ids if GUID.fullmatch(i or "")))  # anything else is no Xero id
        found: dict[str, dict] = {}
        if kind.endpoint == "Invoices":
            for start in range(0, len(wanted), BATCH):
                chunk = wanted[start:start + BATCH]  # page=1: Xero includes the lines only in paged lists
                for row in self.client.get("Invoices", IDs=",".join(chunk), page=1).get("Invoices") or []:
                    found[str(row.get("InvoiceID") or "").lower()] = row
            return found
        for xero_id in wanted:
            try:
                rows = self.client.get(f"{kind.endpoint}/{quote(xero_id)}").get(kind.endpoint) or []
            except NotFound:
                continue
            if rows:
                found[xero_id.lower()] = rows[0]
        return found

    @staticmethod
    def _same(kind: _Kind, row: dict, body: dict) -> bool:
        """Whether the document in Xero already says what the hub would send (at least as far along its life)."""
        status = str(row.get("Status") or "")
        if status not in kind.ranks or kind.ranks[status] < kind.ranks.get(body["Status"], 0):
            return False
        if str((row.get("Contact") or {}).get("ContactID") or "").lower() != body["Contact"]["ContactID"].lower():
            return False
        for name in ("Date", kind.second_date):
            if name in body:
                moment = mapper.parse_date(row.get(name))
                if moment is None or moment.date().isoformat() != body[name]:
                    return False
        if "CurrencyCode" in body and str(row.get("CurrencyCode") or "") != body["CurrencyCode"]:
            return False
        if str(row.get(kind.tag_field) or "").strip() != body[kind.tag_field].strip():
            return False
        theirs, ours = row.get("LineItems") or [], body["LineItems"]
        return len(theirs) == len(ours) and all(_same_line(t, o) for t, o in zip(theirs, ours))

    # writing
    def _write(self, method: str, endpoint: str, body: dict, key: str, *, unitdp4: bool = False) -> dict:
        params = {"summarizeErrors": "false", **({"unitdp": "4"} if unitdp4 else {})}
        return self.client.call(method, endpoint, data=encode(body), params=params, idempotency_key=key,
                                headers={"Content-Type": "application/json"})

    def _write_batch(self, kind: _Kind, method: str, indexes: list[int], docs: Sequence[OutDocument],
                     bodies: dict[int, dict], results: list[SavedDocument]) -> None:
        body = {kind.endpoint: [bodies[i] for i in indexes]}
        versions = [f"{docs[i].reference}@{docs[i].version}" for i in indexes]
        key = _idempotency_key(f"{method} {kind.endpoint}", *versions, json.dumps(body, sort_keys=True, default=str))
        unitdp4 = any(line.get("UnitAmount") is not None and line["UnitAmount"] != _money(line["UnitAmount"])
                      for i in indexes for line in bodies[i]["LineItems"])
        try:
            rows = self._write(method, kind.endpoint, body, key, unitdp4=unitdp4).get(kind.endpoint) or []
        except PermanentError:
            if len(indexes) == 1:
                raise
            for index in indexes:  # the batch as a whole was refused: one by one, to find whose fault
                try:
                    self._write_batch(kind, method, [index], docs, bodies, results)
                except PermanentError as exc:
                    results[index].error = exc
            return
        for position, index in enumerate(indexes):
            row = rows[position] if position < len(rows) else {}
            messages = validation_messages(row)
            if row.get("StatusAttributeString") == "ERROR" or row.get("HasErrors") or messages:
                label = KINDS[docs[index].kind].label
                results[index].error = _refusal(f"Xero refused the {label} {docs[index].source_number}".strip(),
                                                document_refusal_reason(messages),
                                                "; ".join(messages) or "no reason given")
            elif not row.get(kind.id_field):
                results[index].error = _refusal("Xero answered without the document's id", "")
            else:
                results[index] = self._result(docs[index], kind, row, "created" if method == "PUT" else "updated")

    @staticmethod
    def _number(kind: _Kind, row: dict) -> str:
        """Xero's number for the document (a bill's without the hub tag: the supplier's number people read)."""
        number = str(row.get(kind.number_field) or "")
        return mapper.HUB_TAG.sub("", number).strip() if kind.type == "ACCPAY" else number

    def _result(self, doc: OutDocument | None, kind: _Kind, row: dict, action: str, *,
                reference: str = "") -> SavedDocument:
        return SavedDocument(reference=doc.reference if doc else reference, kind=doc.kind if doc else kind.name,
                             xero_id=str(row.get(kind.id_field) or ""), number=self._number(kind, row),
                             status=str(row.get("Status") or ""), action=action)

    # --- recovery ------------------------------------------------------------------------------
    def find_by_reference(self, kind: str, references: Sequence[str], *,
                          modified_since: dt.datetime | None = None) -> dict[str, SavedDocument]:
        """The live documents (not deleted or voided) of this kind whose hub tag names one of these references:
        what a worker that died mid-write did write. Invoices and bills are looked up with `where` (15 references
        a call); Xero's quotes and purchase orders take no `where`, so their pages are read (only those changed
        since `modified_since`, when given) and the tag matched here."""
        spec = KINDS[kind]
        wanted = [r for r in dict.fromkeys(references) if r and '"' not in r]
        found: dict[str, SavedDocument] = {}
        if not wanted:
            return found
        if spec.endpoint == "Invoices":
            for start in range(0, len(wanted), LOOKUP_BATCH):
                chunk = wanted[start:start + LOOKUP_BATCH]
                tags = " OR ".join(f'{spec.tag_field}.EndsWith("{mapper.reference_tag(r)}")' for r in chunk)
                self._collect(spec, self.client.all("Invoices", "Invoices", where=f'Type=="{spec.type}" AND ({tags})'),
                              set(chunk), found)
            return found
        headers = {"If-Modified-Since": modified_since.isoformat()} if modified_since else None
        page = 1
        while len(found) < len(wanted):
            rows = self.client.get(spec.endpoint, headers=headers, page=page).get(spec.endpoint) or []
            self._collect(spec, rows, set(wanted), found)
            if len(rows) < PAGE_SIZE:
                break
            page += 1
        return found

    def _collect(self, spec: _Kind, rows: Iterable[dict], wanted: set[str], found: dict[str, SavedDocument]) -> None:
        for row in rows:
            reference = mapper.reference_from(str(row.get(spec.tag_field) or ""))
            if reference in wanted and reference not in found and row.get("Status") not in GONE:
                found[reference] = self._result(None, spec, row, "found", reference=reference)


def _same_line(theirs: dict, ours: dict) -> bool:
    """A line in Xero against the line the hub would send: only what the hub sends is compared (Xero fills the
    rest from the item or account), amounts as Xero computes them."""
    if "Description" in ours and str(theirs.get("Description") or "").strip() != ours["Description"].strip():
        return False
    if set(ours) == {"Description"}:  # the ERP-number line: however Xero writes its (nil) quantity and price
        return mapper.decimal(theirs.get("LineAmount")) == ZERO
    quantity = Decimal(ours["Quantity"]) if "Quantity" in ours else ZERO
    if mapper.decimal(theirs.get("Quantity")) != quantity:
        return False
    if "LineAmount" in ours:
        amount = ours["LineAmount"]
    elif "UnitAmount" in ours:
        amount = _money(quantity * ours["UnitAmount"])
    else:
        amount = ZERO
    if mapper.decimal(theirs.get("LineAmount")) != amount:
        return False
    for name in ("AccountCode", "ItemCode", "TaxType"):
        if name in ours and str(theirs.get(name) or "").upper() != ours[name].upper():
            return False
    return "TaxAmount" not in ours or mapper.decimal(theirs.get("TaxAmount")) == ours["TaxAmount"]


__all__ = ["KINDS", "REASONS", "OutDocument", "OutItem", "OutLine", "SavedDocument", "XeroContact", "XeroDocuments",
           "XeroItem", "document_refusal_reason"]
