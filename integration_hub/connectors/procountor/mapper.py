"""Between the hub's language (types.py) and Procountor's JSON: pure functions, no HTTP.

- Reference data: the chart (``/coa``), VAT codes built from the company's VAT percentages and statuses
  (``/vats/default``), dimensions, business partners.
- Entries: a balanced ``JournalEntry`` becomes either a Procountor invoice (its rows, then the accounting of its
  own ledger receipt) or a JOURNAL ledger receipt (its transactions).
- Statuses: Procountor's invoice and receipt statuses in the hub's words (``TargetState``).

Entry ids carry what they are: ``invoice:<invoice id>``, ``receipt:<ledger receipt id>`` and, for payments,
``payment:<invoice id>:<payment event id or ->:<receipt id or ->``.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable

from integration_hub.connectors import finnish
from integration_hub.connectors.types import (ZERO, Account, Address, EntryLine, Journal, JournalEntry, Partner,
                                              TargetState, VatCode)

CENT = Decimal("0.01")
NAME_MAX = 80  # a ledger receipt's name, Procountor's limit

SALES_INVOICES = Journal(id="invoice:sales", code="SALES_INVOICE", kind="sale",
                         name="Sales invoices (receivables followed for status and payments)")
PURCHASE_INVOICES = Journal(id="invoice:purchase", code="PURCHASE_INVOICE", kind="purchase",
                            name="Purchase invoices (payables followed for status and payments)")
JOURNAL_RECEIPTS = Journal(id="receipt:JOURNAL", code="JOURNAL", kind="general",
                           name="Ledger receipt (journal voucher: accounts, VAT, dimensions as the hub books them)")

# Procountor's country names for the ISO codes the hub's partners carry (the ones Finnish companies meet most).
COUNTRIES = {"FI": "FINLAND", "SE": "SWEDEN", "EE": "ESTONIA", "NO": "NORWAY", "DK": "DENMARK", "DE": "GERMANY",
             "FR": "FRANCE", "GB": "UNITED_KINGDOM", "NL": "NETHERLANDS", "BE": "BELGIUM", "ES": "SPAIN",
             "IT": "ITALY", "PL": "POLAND", "LV": "LATVIA", "LT": "LITHUANIA", "US": "UNITED_STATES",
             "RU": "RUSSIA", "AT": "AUSTRIA", "IE": "IRELAND", "CH": "SWITZERLAND"}
COUNTRY_CODES = {name: code for code, name in COUNTRIES.items()}

# Invoice statuses -> the hub's word. PAYMENT_DENIED is a refusal; INVALIDATED and its kin are cancellations.
INVOICE_STATES = {
    "EMPTY": TargetState.PENDING, "UNSAVED": TargetState.PENDING, "UNFINISHED": TargetState.PENDING,
    "STARTED": TargetState.PENDING,
    "NOT_SENT": TargetState.ACCEPTED, "SENT": TargetState.ACCEPTED, "RECEIVED": TargetState.ACCEPTED,
    "VERIFIED": TargetState.ACCEPTED, "APPROVED": TargetState.ACCEPTED, "INVOICED": TargetState.ACCEPTED,
    "PAYMENT_QUEUED": TargetState.ACCEPTED, "PAYMENT_SENT_TO_BANK": TargetState.ACCEPTED,
    "PAID": TargetState.PAID, "MARKED_PAID": TargetState.PAID, "PARTLY_PAID": TargetState.PARTLY_PAID,
    "PAYMENT_DENIED": TargetState.REJECTED,
    "INVALIDATED": TargetState.CANCELLED, "DELETED": TargetState.CANCELLED, "OVERRIDDEN": TargetState.CANCELLED,
}
GONE = ("INVALIDATED", "DELETED", "OVERRIDDEN")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value if value is not None else 0))


def text(value, limit: int) -> str:
    return str(value or "").strip()[:limit]


# --- entry ids ---------------------------------------------------------------------------------------------

def invoice_entry_id(invoice_id) -> str:
    return f"invoice:{int(invoice_id)}"


def receipt_entry_id(receipt_id) -> str:
    return f"receipt:{int(receipt_id)}"


def payment_entry_id(invoice_id, event_id, receipt_id) -> str:
    return f"payment:{int(invoice_id)}:{event_id or '-'}:{receipt_id or '-'}"


@dataclass(frozen=True)
class EntryId:
    kind: str  # invoice | receipt | payment
    id: int
    event_id: int | None = None
    receipt_id: int | None = None


def parse_entry_id(entry_id: str) -> EntryId:
    parts = str(entry_id or "").split(":")
    try:
        if parts[0] in ("invoice", "receipt") and len(parts) == 2:
            return EntryId(parts[0], int(parts[1]))
        if parts[0] == "payment" and len(parts) == 4:
            return EntryId("payment", int(parts[1]), None if parts[2] == "-" else int(parts[2]),
                           None if parts[3] == "-" else int(parts[3]))
    except ValueError:
        pass
    raise ValueError(f"{entry_id!r} is not an entry id the Procountor connector made")


def receipt_tag(reference: str) -> str:
    """What a JOURNAL's name holds for the hub's reference: the reference itself when it fits in the name
    (80 characters), else a digest of it (the reference then travels in invoiceNotes)."""
    if len(reference) <= NAME_MAX:
        return reference
    return "hub-" + hashlib.sha256(reference.encode()).hexdigest()[:40]


# --- reference data ----------------------------------------------------------------------------------------

def accounts(rows: Iterable[dict]) -> list[Account]:
    return [Account(id=str(r["ledgerAccountCode"]), number=str(r["ledgerAccountCode"]), name=str(r.get("name") or ""))
            for r in rows if r.get("ledgerAccountCode")]


def vat_code_id(kind: str, status: int, percent: Decimal) -> str:
    return f"{kind}:{status}:{format(percent.normalize(), 'f')}"


@dataclass(frozen=True)
class VatChoice:
    kind: str  # sale | purchase
    status: int | None
    percent: Decimal


def parse_vat_code(code_id: str) -> VatChoice:
    match = re.fullmatch(r"(sale|purchase):(\d+|-):(\d+(?:\.\d+)?)", code_id or "")
    if not match:
        raise ValueError(f"{code_id!r} is not a Procountor VAT code of the hub (kind:status:percent)")
    status = None if match.group(2) == "-" else int(match.group(2))
    return VatChoice(match.group(1), status, Decimal(match.group(3)))


def vat_codes(defaults: dict, chart: dict[str, str]) -> list[VatCode]:
    """One code per VAT status and percentage the company accepts, for sales and for purchases.

    Domestic trade (status 1) takes each percentage in use; the other statuses (EU trade, reverse charge,
    export, import, tax-free) are booked at 0 % on the invoice, so they come with 0 % only. The VAT account is
    the chart's VAT payable (sales) or VAT receivable (purchases) account: Procountor posts the VAT there
    itself, the hub's VAT lines only check the amount."""
    info = (defaults.get("vatInformation") or [{}])[0] if defaults.get("vatInformation") else {}
    percents = info.get("percentages") or []
    statuses = defaults.get("vatStatuses") or []
    sale_account = _vat_account(chart, ("2939",), "arvonlisäverovelka")
    purchase_account = _vat_account(chart, ("1763",), "arvonlisäverosaami")
    codes: list[VatCode] = []
    for kind, flag, account in (("sale", "sales", sale_account), ("purchase", "purchase", purchase_account)):
        in_use = sorted({dec(p["vatPercent"]) for p in percents if p.get(flag)}, reverse=True)
        for status in statuses:
            if not status.get(flag):
                continue
            number = int(status["vatStatus"])
            for percent in (in_use if number == 1 else [Decimal(0)] if Decimal(0) in in_use else []):
                label = f"{format(percent.normalize(), 'f')} % - {status.get('description') or ''} (vat_{number})"
                codes.append(VatCode(id=vat_code_id(kind, number, percent), code=f"vat_{number} "
                                     f"{format(percent.normalize(), 'f')}%", name=label.strip(), rate=percent,
                                     kind=kind, account_number=account, credit_note_account_number=account))
    return codes


def _vat_account(chart: dict[str, str], numbers: tuple[str, ...], word: str) -> str:
    for number in numbers:
        if number in chart:
            return number
    return next((n for n, name in sorted(chart.items()) if word in name.lower()), "")


def dimension_items(dimensions: Iterable[dict]) -> list[tuple[str, str, str]]:
    """(id, label, dimension) of every active item: the id says both the dimension and the item ("101:1011")."""
    out = []
    for dimension in dimensions:
        for item in dimension.get("items") or []:
            if item.get("status", "ACTIVE") == "ACTIVE":
                label = " ".join(x for x in (item.get("codeName"), item.get("description")) if x)
                out.append((f"{dimension['id']}:{item['id']}", label, str(dimension.get("name") or "")))
    return out


def dimension_values(line: EntryLine, value: Decimal) -> list[dict]:
    values = []
    for target in sorted(set(line.analytic.values())):
        match = re.fullmatch(r"(\d+):(\d+)", str(target))
        if not match:
            raise ValueError(f"{target!r} is not a Procountor dimension item (dimension:item)")
        values.append({"dimensionId": int(match.group(1)), "itemId": int(match.group(2)), "value": value})
    return values


# --- partners ----------------------------------------------------------------------------------------------

def partner_from_procountor(row: dict) -> Partner:
    identifier = str(row.get("identifier") or "")
    vat = ""
    address = row.get("address") or {}
    country = COUNTRY_CODES.get(str(address.get("country") or "FINLAND"), "")
    if identifier and country in ("FI", ""):
        try:
            vat = finnish.business_id_to_vat(identifier)
        except finnish.FinnishRuleError:
            vat = ""
    return Partner(id=str(row["id"]), name=str(row.get("name") or ""), vat_number=vat,
                   registration_number=identifier, auxiliary_account=str(row.get("customerNumber") or ""),
                   email=str(row.get("email") or ""),
                   address=Address(street=str(address.get("street") or ""), postal_code=str(address.get("zip") or ""),
                                   city=str(address.get("city") or ""), country_code=country) if address else None)


def business_id_of(partner: Partner) -> str:
    """The Finnish business id to send, checked; "" when the partner has none (a foreign or private party).
    FinnishRuleError when the one given is wrong."""
    country = (partner.address.country_code if partner.address else "") or "FI"
    if partner.registration_number and country == "FI":
        return finnish.validate_business_id(partner.registration_number)
    if partner.vat_number and partner.vat_number.upper().replace(" ", "").startswith("FI"):
        return finnish.vat_to_business_id(partner.vat_number)
    return ""


def partner_body(partner: Partner, *, kind: str) -> dict:
    body: dict = {"type": "SUPPLIER" if kind == "supplier" else "CUSTOMER", "name": text(partner.name, 80),
                  "active": True}
    identifier = business_id_of(partner)
    if identifier:
        body["identifier"] = identifier
    if partner.auxiliary_account:
        body["customerNumber"] = text(partner.auxiliary_account, 40)
    if partner.email:
        body["email"] = partner.email
    if partner.address:
        a = partner.address
        body["address"] = {"street": a.street, "zip": a.postal_code, "city": a.city,
                           "country": COUNTRIES.get((a.country_code or "FI").upper(), (a.country_code or "").upper())}
    return body


# --- entries ----------------------------------------------------------------------------------------------

def partner_line(entry: JournalEntry) -> EntryLine | None:
    return next((line for line in entry.lines if line.partner_id), None)


def _sign(entry: JournalEntry) -> int:
    """Sales lines count credits as positive (revenue), purchase lines debits."""
    return 1 if entry.kind == "sale" else -1


@dataclass
class Row:
    line: EntryLine
    net: Decimal  # positive for an invoice, negative for a credit note
    vat: VatChoice | None


def invoice_rows(entry: JournalEntry, codes: dict[str, VatCode]) -> tuple[list[Row], Decimal]:
    """The invoice's rows (every line but the third party's and the VAT lines) and the VAT the entry states."""
    rows: list[Row] = []
    stated = ZERO
    third = partner_line(entry)
    for line in entry.lines:
        if line is third:
            continue
        amount = (line.credit - line.debit) * _sign(entry)
        if line.vat_role == "tax":
            stated += amount
            continue
        choice = None
        if line.vat_code_id:
            if line.vat_code_id not in codes:
                raise ValueError(f"VAT code {line.vat_code_id} is not one of the company's in Procountor")
            choice = parse_vat_code(line.vat_code_id)
        rows.append(Row(line, amount, choice))
    return rows, stated


def computed_vat(rows: list[Row]) -> Decimal:
    return sum((money(r.net * (r.vat.percent if r.vat else ZERO) / 100) for r in rows), ZERO)


def invoice_body(entry: JournalEntry, rows: list[Row], partner: dict, *, channel: str) -> dict:
    sale = entry.kind == "sale"
    address = dict(partner.get("address") or {})
    counter = {"counterPartyAddress": {"name": text(partner.get("name"), 80), **{
        k: address[k] for k in ("street", "zip", "city", "country") if address.get(k)}}}
    counter["counterPartyAddress"].setdefault("country", "FINLAND")
    if partner.get("identifier"):
        counter["identifier"] = partner["identifier"]
    if partner.get("customerNumber"):
        counter["customerNumber"] = partner["customerNumber"]
    if partner.get("einvoiceAddress"):
        counter["einvoiceAddress"] = partner["einvoiceAddress"]
    payment = {"paymentMethod": "BANK_TRANSFER", "currency": entry.document_currency or entry.currency,
               "dueDate": max(entry.due_date or entry.date, entry.date).isoformat()}
    digits = re.sub(r"\D", "", entry.source_number or "")
    if sale and 3 <= len(digits.lstrip("0")) <= 19:
        payment["bankReferenceCode"] = finnish.make_reference(digits.lstrip("0"))
    body = {"type": "SALES_INVOICE" if sale else "PURCHASE_INVOICE", "date": entry.date.isoformat(),
            "partnerId": int(partner["id"]), "counterParty": counter, "paymentInfo": payment,
            "extraInfo": {"accountingByRow": True, "unitPricesIncludeVat": False},
            "orderReference": entry.reference, "notes": text(entry.label, 2000),
            "invoiceRows": [_row(r, entry) for r in rows]}
    if sale:
        body["invoiceChannel"] = channel
    else:
        body["originalInvoiceNumber"] = text(entry.source_number or entry.reference, 40)
    return body


def _row(row: Row, entry: JournalEntry) -> dict:
    # A credit note is the same invoice with negative quantities: Procountor keeps its prices positive.
    quantity = Decimal(-1) if row.net < 0 else Decimal(1)
    body = {"product": text(row.line.label or entry.label, 1000) or "-", "quantity": quantity,
            "unitPrice": abs(row.net), "vatPercent": row.vat.percent if row.vat else ZERO}
    if row.vat and row.vat.status is not None:
        body["vatStatus"] = row.vat.status
    return body


def invoice_accounting(entry: JournalEntry, rows: list[Row], receipt_version: str) -> dict:
    """The accounting of the invoice's own ledger receipt: the third party's account against each row's account,
    with the row's VAT and dimensions (Procountor's defaults replaced by what the hub mapped)."""
    sale = entry.kind == "sale"
    third = partner_line(entry)
    vat_type = "SALES" if sale else "PURCHASE"
    gross = sum((r.net + money(r.net * (r.vat.percent if r.vat else ZERO) / 100) for r in rows), ZERO)
    transactions = [{"transactionType": "REVERSING_ENTRY", "account": third.account_number,
                     "accountingValue": gross if sale else -gross, "vatPercent": ZERO, "vatType": vat_type,
                     "description": text(third.label, 255)}]
    for r in rows:
        value = -r.net if sale else r.net
        item = {"transactionType": "ENTRY", "account": r.line.account_number, "accountingValue": value,
                "vatPercent": r.vat.percent if r.vat else ZERO, "vatType": vat_type,
                "description": text(r.line.label, 255)}
        if r.vat and r.vat.status is not None:
            item["vatStatus"] = r.vat.status
        if r.line.analytic:
            item["dimensionItemValues"] = dimension_values(r.line, value)
        transactions.append(item)
    return {"version": receipt_version, "transactions": transactions}


def journal_body(entry: JournalEntry, codes: dict[str, VatCode]) -> tuple[dict, bool]:
    """A JOURNAL ledger receipt for the entry, and whether Procountor must add a reconciliation line for cents
    (the entry's VAT was rounded per VAT code, Procountor rounds per transaction)."""
    vat_type = "PURCHASE" if entry.kind == "purchase" else "SALES"
    transactions = []
    for line in entry.lines:
        if line.vat_role == "tax":
            continue  # Procountor posts VAT itself from each transaction's percentage
        value = line.debit - line.credit
        item = {"transactionType": "ENTRY", "account": line.account_number, "accountingValue": value,
                "vatPercent": ZERO, "vatType": vat_type, "description": text(line.label or entry.label, 255)}
        if line.vat_code_id:
            if line.vat_code_id not in codes:
                raise ValueError(f"VAT code {line.vat_code_id} is not one of the company's in Procountor")
            choice = parse_vat_code(line.vat_code_id)
            item.update(vatPercent=choice.percent, vatType="SALES" if choice.kind == "sale" else "PURCHASE")
            if choice.status is not None:
                item["vatStatus"] = choice.status
        if line.partner_id and line.partner_id.isdigit():
            item["partnerId"] = int(line.partner_id)
        if line.analytic:
            item["dimensionItemValues"] = dimension_values(line, value)
        transactions.append(item)
    difference = sum((money(t["accountingValue"] * (1 + t["vatPercent"] / 100)) for t in transactions), ZERO)
    tax_lines = sum(1 for line in entry.lines if line.vat_role == "tax")
    if difference and abs(difference) > CENT * max(1, tax_lines):
        raise ValueError(f"the VAT Procountor computes differs from the entry's by {difference}: check the VAT "
                         "codes of the lines")
    tag = receipt_tag(entry.reference)
    notes = entry.reference if tag != entry.reference else ""
    body = {"type": "JOURNAL", "name": tag, "receiptDate": entry.date.isoformat(), "vatType": vat_type,
            "invoiceNotes": "\n".join(x for x in (notes, text(entry.label, 500)) if x),
            "transactionDescription": text(entry.label, 255), "transactions": transactions}
    return body, bool(difference)


def invoice_state(invoice: dict) -> tuple[TargetState, str]:
    """(state, reason) of an invoice as Procountor reports it."""
    status = str(invoice.get("status") or "")
    failure = invoice.get("sendingError") or {}
    if failure and status not in ("PAID", "MARKED_PAID", "PARTLY_PAID") and status not in GONE:
        return TargetState.REJECTED, str(failure.get("message") or "sending failed")
    state = INVOICE_STATES.get(status, TargetState.ACCEPTED)
    reason = str(invoice.get("paymentDeniedReason") or "") if state is TargetState.REJECTED else ""
    return state, reason or ("payment denied" if state is TargetState.REJECTED else "")


def receipt_state(receipt: dict) -> TargetState:
    status = str(receipt.get("status") or "")
    if status in GONE:
        return TargetState.CANCELLED
    if status in ("UNFINISHED", "EMPTY", "UNSAVED"):
        return TargetState.PENDING
    return TargetState.ACCEPTED
