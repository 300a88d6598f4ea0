"""Between the hub's language and Xero's: accounts, tax rates, contacts, and an entry as a Xero document.

Xero books documents, not journal entries: the hub's entry for an invoice becomes an invoice (ACCREC, ACCPAY)
or a credit note (ACCRECCREDIT, ACCPAYCREDIT) whose line items are the entry's base lines (account code, tax
type), and Xero posts the receivable/payable side itself. Xero computes each line's tax as the line amount
times the rate, rounded per line; the source computed its VAT its own way (per invoice, per rate). The hub
sends each line's tax explicitly (Xero accepts an explicit line TaxAmount), spread from the source's VAT per
VAT code, so Xero's VAT and total are the source's to the cent. A rounding line of the entry (source total
against lines + VAT) becomes a line item on the flow's rounding account.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from integration_hub.connectors.types import (
    CENT,
    ZERO,
    Account,
    Address,
    JournalEntry,
    Partner,
    VatCode,
)

CREDIT_NOTE_PREFIX = "CN:"
# Where the hub's tag lives, by document type: Reference is "ACCREC only" / "ACCRECCREDIT only" in Xero.
TAG_FIELD = {"ACCREC": "Reference", "ACCRECCREDIT": "Reference", "ACCPAY": "InvoiceNumber",
             "ACCPAYCREDIT": "CreditNoteNumber"}  # entry ids of credit notes, so one id names the Xero endpoint it lives under
HUB_TAG = re.compile(r"\[hub ([^\]]+)\]\s*$")
NO_TAX_TYPE = "NONE"
MAX_REFERENCE = 255
MAX_DESCRIPTION = 4000
_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def reference_tag(reference: str) -> str:
    """What the hub appends to a document's Reference so that it finds the document again after a crash."""
    return f"[hub {reference}]"


def reference_field(source_number: str, reference: str) -> str:
    """Xero's Reference: the source's number (what people read), then the hub's tag."""
    tag = reference_tag(reference)
    room = MAX_REFERENCE - len(tag) - 1
    number = (source_number or "").strip()[:max(room, 0)]
    return f"{number} {tag}".strip()


def reference_from(value: str | None) -> str:
    match = HUB_TAG.search(value or "")
    return match.group(1) if match else ""


def reference_of(row: dict) -> str:
    """The hub reference a Xero document carries, wherever its type keeps the tag."""
    tag_field = TAG_FIELD.get(str(row.get("Type") or ""), "Reference")
    return reference_from(row.get(tag_field)) or reference_from(row.get("Reference"))


def parse_date(value) -> dt.datetime | None:
    """Xero writes dates as "/Date(1518685950940+0000)/" (JSON) or ISO strings ("2026-11-30T00:00:00")."""
    if not value:
        return None
    match = _DATE.fullmatch(str(value).strip())
    if match:
        return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, tz=dt.timezone.utc)
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def decimal(value, default: Decimal = ZERO) -> Decimal:
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default


def account_from_xero(row: dict) -> Account | None:
    code = str(row.get("Code") or "").strip()
    if not code:  # bank accounts may have no code: nothing a line item can name
        return None
    return Account(id=code, number=code, name=str(row.get("Name") or ""),
                   active=(row.get("Status") or "ACTIVE") == "ACTIVE",
                   postable=(row.get("Type") or "") != "BANK" and not row.get("SystemAccount"))


def vat_code_from_xero(row: dict) -> VatCode | None:
    tax_type = str(row.get("TaxType") or "").strip()
    if not tax_type or (row.get("Status") or "ACTIVE") != "ACTIVE":
        return None
    revenue, expenses = _flag(row.get("CanApplyToRevenue")), _flag(row.get("CanApplyToExpenses"))
    kind = "both" if revenue == expenses else ("sale" if revenue else "purchase")
    rate = row.get("EffectiveRate", row.get("DisplayTaxRate"))
    # Xero keeps the VAT on its own VAT account: the entry's tax lines name the tax type instead of an account.
    return VatCode(id=tax_type, code=tax_type, name=str(row.get("Name") or tax_type),
                   rate=None if rate is None else decimal(rate), kind=kind,
                   account_number=f"VAT {tax_type}", credit_note_account_number=f"VAT {tax_type}")


def _flag(value) -> bool:
    return value is True or str(value).lower() == "true"


def partner_from_xero(row: dict) -> Partner:
    address = None
    for item in row.get("Addresses") or []:
        if item.get("AddressLine1") or item.get("City"):
            address = Address(street=str(item.get("AddressLine1") or ""), postal_code=str(item.get("PostalCode") or ""),
                              city=str(item.get("City") or ""), country_code=str(item.get("Country") or "")[:2])
            break
    return Partner(id=str(row.get("ContactID") or ""), name=str(row.get("Name") or ""),
                   vat_number=str(row.get("TaxNumber") or ""), registration_number=str(row.get("CompanyNumber") or ""),
                   auxiliary_account=str(row.get("AccountNumber") or ""), address=address,
                   email=str(row.get("EmailAddress") or ""))


def contact_payload(partner: Partner, *, kind: str) -> dict:
    """A new Xero contact for a source third party (kind: customer | supplier)."""
    body: dict = {"Name": partner.name[:255]}
    if partner.vat_number:
        body["TaxNumber"] = partner.vat_number[:50]
    if partner.registration_number:
        body["CompanyNumber"] = partner.registration_number[:50]
    if partner.auxiliary_account:
        body["AccountNumber"] = partner.auxiliary_account[:50]
    if partner.email:
        body["EmailAddress"] = partner.email[:255]
    if partner.address and (partner.address.street or partner.address.city):
        body["Addresses"] = [{"AddressType": "POBOX", "AddressLine1": partner.address.street[:500],
                              "City": partner.address.city[:255], "PostalCode": partner.address.postal_code[:50],
                              "Country": partner.address.country_code[:50]}]
    return body


def normalised(value: str) -> str:
    return re.sub(r"[\s.\-/]", "", value or "").casefold()


class UnsendableEntry(ValueError):
    """The entry cannot be written as a Xero document (no third-party line, no line item...)."""


@dataclass
class Document:
    """An entry as a Xero document, and what the hub says about it in previews."""

    endpoint: str  # Invoices | CreditNotes
    type: str  # ACCREC | ACCPAY | ACCRECCREDIT | ACCPAYCREDIT
    body: dict
    total: Decimal
    notes: list[str] = field(default_factory=list)

    @property
    def id_field(self) -> str:
        return "InvoiceID" if self.endpoint == "Invoices" else "CreditNoteID"


def xero_date(day: dt.date) -> str:
    return day.isoformat()


def document_for(entry: JournalEntry, *, status: str, rates: dict[str, Decimal | None],
                 tracking: dict[str, tuple[str, str]] | None = None) -> Document:
    """The Xero document for an entry. `rates`: the tax types' rates (to say what Xero alone would compute);
    `tracking`: {option id: (category name, option name)} for the lines' analytic accounts."""
    entry.check_balanced()  # never leaves the hub unbalanced, not even as a Xero document
    partner_lines = [line for line in entry.lines if line.partner_id]
    if len(partner_lines) != 1:
        raise UnsendableEntry("the entry has no single third-party line to make a Xero document from")
    partner_line = partner_lines[0]
    direction = 1 if _doc_amount(partner_line) > 0 else -1  # the third party's side: debit for a sale invoice

    def amount(line) -> Decimal:
        return -_doc_amount(line) * direction

    kind = entry.kind if entry.kind in ("sale", "purchase") else "sale"
    # A sale whose receivable is credited (or a purchase whose payable is debited) gives money back: a credit note.
    credit_note = (direction < 0) if kind == "sale" else (direction > 0)
    doc_type = {("sale", False): "ACCREC", ("purchase", False): "ACCPAY",
                ("sale", True): "ACCRECCREDIT", ("purchase", True): "ACCPAYCREDIT"}[(kind, credit_note)]
    items: list[dict] = []
    bases: dict[str, list[tuple[int, Decimal]]] = {}
    taxes: dict[str, Decimal] = {}
    for line in entry.lines:
        if line is partner_line:
            continue
        if line.vat_role == "tax":
            taxes[line.vat_code_id] = taxes.get(line.vat_code_id, ZERO) + amount(line)
            continue
        item = {"Description": (line.label or "-")[:MAX_DESCRIPTION], "Quantity": Decimal(1),
                "UnitAmount": _cents(amount(line)), "LineAmount": _cents(amount(line)), "AccountCode": line.account_number,
                "TaxType": line.vat_code_id or NO_TAX_TYPE, "TaxAmount": ZERO}
        options = [tracking[value] for value in (line.analytic or {}).values() if tracking and value in tracking]
        if options:
            item["Tracking"] = [{"Name": category, "Option": option} for category, option in options[:2]]
        for code in dict.fromkeys(c for c in (line.vat_code_id, *line.more_vat_code_ids) if c):
            bases.setdefault(code, []).append((len(items), amount(line)))  # reverse charge: both halves, 0 net
        items.append(item)
    if not items:
        raise UnsendableEntry("the entry has no line to send as a Xero line item")
    notes = _spread_taxes(items, bases, taxes, rates)
    total = sum((decimal(i["LineAmount"]) + decimal(i["TaxAmount"]) for i in items), ZERO)
    expected = amount(partner_line) * -1
    if total != expected:  # cannot happen for a balanced entry; a guard against a wrong Xero document
        raise UnsendableEntry(f"the Xero document would total {total}, not the entry's {expected}")
    if any(line.vat_role == "base" and not line.vat_code_id for line in entry.lines):
        notes.append("lines without VAT go to Xero with tax type NONE")
    body: dict = {"Type": doc_type, "Contact": {"ContactID": partner_line.partner_id}, "Date": xero_date(entry.date),
                  "LineAmountTypes": "Exclusive", "LineItems": items, "Status": status,
                  "CurrencyCode": entry.document_currency or entry.currency}
    # Xero keeps Reference on sales documents only: a bill's (or supplier credit note's) tag goes after the
    # supplier's number, in the number field, which is what Xero shows as a bill's reference.
    tagged = reference_field(entry.source_number, entry.reference)
    body[TAG_FIELD[doc_type]] = tagged
    if doc_type in ("ACCREC", "ACCPAY"):
        body["DueDate"] = xero_date(entry.due_date or entry.date)
    endpoint = "Invoices" if doc_type in ("ACCREC", "ACCPAY") else "CreditNotes"
    if any(line.amount_currency is not None for line in entry.lines):
        notes.append(f"amounts in {entry.document_currency}; Xero converts them at its own rate for the day "
                     "unless one is given")
    return Document(endpoint=endpoint, type=doc_type, body=body, total=total, notes=notes)


def _doc_amount(line) -> Decimal:
    """The line's amount in the document's currency, debit positive."""
    return line.amount_currency if line.amount_currency is not None else line.debit - line.credit


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _text(value: Decimal) -> str:
    return format(value.quantize(CENT, rounding=ROUND_HALF_UP), "f")


def _spread_taxes(items: list[dict], bases: dict[str, list[tuple[int, Decimal]]], taxes: dict[str, Decimal],
                  rates: dict[str, Decimal | None]) -> list[str]:
    """Set each line's TaxAmount from the source's VAT per tax type, spread over that type's lines in proportion
    to their amounts (the last line takes what is left), and say where it differs from Xero's own per-line
    computation."""
    notes: list[str] = []
    xero_own = ZERO
    source = ZERO
    for tax_type, lines in bases.items():
        vat = taxes.pop(tax_type, ZERO)
        source += vat
        base_total = sum((a for _, a in lines), ZERO)
        left = vat
        for position, (index, line_amount) in enumerate(lines):
            if position == len(lines) - 1 or not base_total:
                share = left
            else:
                share = (vat * line_amount / base_total).quantize(CENT, rounding=ROUND_HALF_UP)
            left -= share
            items[index]["TaxAmount"] = _cents(items[index]["TaxAmount"] + share)
            rate = rates.get(tax_type)
            if rate is not None:
                xero_own += (line_amount * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
            else:
                xero_own += share
    leftover = sum(taxes.values(), ZERO)  # VAT on a code no line is the base of (reverse-charge halves cancel out)
    if leftover:
        raise UnsendableEntry(f"{leftover} of VAT belongs to no line of the document")
    if xero_own != source:
        notes.append(f"Xero would compute {_text(xero_own)} of tax line by line; the hub sends the source's VAT "
                     f"({_text(source)}) on the lines so that Xero's total equals the source's to the cent")
    return notes
