"""Between the hub's language and Netvisor's: VAT codes, journals, and an entry as a Netvisor document.

An entry becomes, by the journal it is mapped to (``journal_id``):
- ``invoice:sales``: a sales invoice (or credit note: negative quantities) whose lines are the entry's base
  lines; the customer is the partner line's Netvisor customer, the amount its total;
- ``invoice:purchase``: a purchase invoice, the vendor named on it (Netvisor matches or creates the vendor);
- ``voucher:<class>``: a voucher (accounting.nv) of that voucher class, every line with its account, VAT code
  and percentage, and dimensions.

VAT: Netvisor computes each line's VAT itself from the line and its percentage. The hub sends gross line sums
(base plus its share of the entry's VAT line of the same VAT code), so the totals Netvisor books are the source's
to the cent; Netvisor's split of a line into net and VAT may differ from the source's by a cent per line.
Amounts are Decimal throughout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Mapping

from integration_hub.connectors import finnish
from integration_hub.connectors.types import CENT, ZERO, EntryLine, Journal, JournalEntry, TargetState, VatCode

from .xml import (Dimension, PurchaseInvoiceData, PurchaseInvoiceLineData, SalesInvoiceData, SalesInvoiceLine,
                  VoucherData, VoucherLineData)

SALES_INVOICE = "invoice:sales"
PURCHASE_INVOICE = "invoice:purchase"
VOUCHER_PREFIX = "voucher:"
# Voucher classes an entry may be booked in (Netvisor's own names; "Suoritus" is where payments go).
VOUCHER_CLASSES = {"Muistiotosite": "memo voucher", "Myyntilasku": "sales invoice voucher",
                   "Ostolasku": "purchase invoice voucher", "Suoritus": "payment voucher", "Tiliote": "bank statement"}
PAYMENT_VOUCHER_CLASS = "Suoritus"
HUB_TAG = re.compile(r"\[hub ([^\]]+)\]")
MAX_TEXT = 255
# The rates the VAT codes are listed with: every Finnish rate in force since 2023, so older documents map too.
LISTED_SINCE = (2023, 1, 1)


class EntryNotMappable(ValueError):
    """The entry cannot be sent as Netvisor wants it; the message says why (an accountant can act on it)."""


def tag(reference: str) -> str:
    """What the hub writes on a document so it finds it again after a lost answer."""
    return f"[hub {reference}]"


def reference_in(text: str | None) -> str:
    match = HUB_TAG.search(text or "")
    return match.group(1) if match else ""


def tagged(text: str, reference: str, limit: int = MAX_TEXT) -> str:
    """``text`` shortened so that the hub's tag fits after it."""
    suffix = tag(reference)
    room = max(limit - len(suffix) - 1, 0)
    return f"{(text or '').strip()[:room]} {suffix}".strip()


# ---- entry ids --------------------------------------------------------------------------------------------


def entry_id(kind: str, key: int | str) -> str:
    """The hub's id of what it booked: ``salesinvoice:123``, ``purchaseinvoice:45``, ``voucher:67``."""
    return f"{kind}:{key}"


def split_entry_id(value: str) -> tuple[str, int]:
    kind, _, key = (value or "").partition(":")
    if kind not in ("salesinvoice", "purchaseinvoice", "voucher", "payment") or not key.split(";")[0].isdigit():
        raise EntryNotMappable(f"{value!r} is not an id of something the hub booked in Netvisor")
    return kind, int(key.split(";")[0])


# ---- VAT codes and journals -------------------------------------------------------------------------------


def rate_text(rate: Decimal) -> str:
    text = format(Decimal(rate).normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def vat_code_id(code: str, rate: Decimal) -> str:
    return f"{code}:{rate_text(rate)}"


def parse_vat_code_id(value: str) -> tuple[str, Decimal]:
    code, _, rate = (value or "").partition(":")
    if not code or not rate:
        raise EntryNotMappable(f"VAT code {value!r} is not one of Netvisor's (code:rate); map the rate again")
    return code.upper(), Decimal(rate)


def listed_rates() -> list[Decimal]:
    import datetime as dt

    since = dt.date(*LISTED_SINCE)
    rates = {r.rate for r in finnish.FINNISH_VAT_RATES if r.end is None or r.end >= since}
    return sorted(rates, reverse=True)


def vat_codes(*, sales_vat_account: str, purchase_vat_account: str) -> list[VatCode]:
    """One VatCode per Netvisor VAT code (by the Finnish VAT status it stands for) and rate it takes."""
    codes: list[VatCode] = []
    for status, code in finnish.NETVISOR_VAT_CODES.items():
        zero_only = code in finnish.NETVISOR_ZERO_ONLY_CODES
        rates = [Decimal(0)] if zero_only else [r for r in listed_rates() if r]
        kind = "both" if status is finnish.VatStatus.NOT_VAT_LIABLE else ("sale" if status.is_sale else "purchase")
        account = "" if zero_only else (sales_vat_account if status.is_sale else purchase_vat_account)
        label = status.name.lower().replace("_", " ")
        for rate in rates:
            codes.append(VatCode(id=vat_code_id(code, rate), code=code,
                                 name=f"{code} {rate_text(rate)} % - {finnish.NETVISOR_KNOWN_CODES[code]} ({label})",
                                 rate=rate, kind=kind, account_number=account))
    return codes


def journals() -> list[Journal]:
    """What an entry can become in Netvisor, as journals the flow's journal step maps to."""
    found = [Journal(id=SALES_INVOICE, code="SALES", name="Sales invoices (followed for status and payments)",
                     kind="sale"),
             Journal(id=PURCHASE_INVOICE, code="PURCHASE", name="Purchase invoices", kind="purchase")]
    for name, what in VOUCHER_CLASSES.items():
        kind = {"Myyntilasku": "sale", "Ostolasku": "purchase", "Suoritus": "cash", "Tiliote": "cash"}.get(
            name, "general")
        found.append(Journal(id=f"{VOUCHER_PREFIX}{name}", code=name[:8].upper(),
                             name=f"Voucher: {name} ({what}), booked as a ledger entry", kind=kind))
    return found


def voucher_class(journal_id: str) -> str:
    name = journal_id[len(VOUCHER_PREFIX):]
    if not journal_id.startswith(VOUCHER_PREFIX) or name not in VOUCHER_CLASSES:
        raise EntryNotMappable(f"journal {journal_id!r} is not a Netvisor voucher class; map the journal again")
    return name


# ---- amounts ----------------------------------------------------------------------------------------------


@dataclass
class GrossLine:
    """One line as Netvisor takes it: its gross amount (debit positive), VAT code and percentage."""

    line: EntryLine
    amount: Decimal
    vat_code: str
    vat_percent: Decimal


def _vat_of(line: EntryLine, codes: Mapping[str, VatCode]) -> tuple[str, Decimal]:
    if not line.vat_code_id:
        return "NONE", ZERO
    known = codes.get(line.vat_code_id)
    if known is not None and known.rate is not None:
        return known.code, Decimal(known.rate)
    return parse_vat_code_id(line.vat_code_id)


def gross_lines(entry: JournalEntry, codes: Mapping[str, VatCode], *, keep_partner: bool) -> list[GrossLine]:
    """The entry's lines with each VAT (tax) line spread over the base lines of its VAT code, in proportion,
    the last cent to the largest. Debit positive. Partner lines are kept only when ``keep_partner``."""
    bases = [line for line in entry.lines if line.vat_role != "tax" and (keep_partner or not line.partner_id)]
    taxes: dict[str, Decimal] = {}
    for line in entry.lines:
        if line.vat_role == "tax":
            taxes[line.vat_code_id] = taxes.get(line.vat_code_id, ZERO) + line.amount
    result = [GrossLine(line, line.amount, *_vat_of(line, codes)) for line in bases]
    for code_id, vat in taxes.items():
        if not vat:
            continue
        mine = [g for g in result if g.line.vat_code_id == code_id and g.line.vat_role == "base"
                and not g.line.partner_id]
        total = sum((g.line.amount for g in mine), ZERO)
        if not mine or not total:
            raise EntryNotMappable(f"the entry has {vat} of VAT on code {code_id} but no line it is the VAT of")
        given = ZERO
        for g in mine:
            share = (vat * g.line.amount / total).quantize(CENT, rounding=ROUND_HALF_UP)
            g.amount += share
            given += share
        max(mine, key=lambda g: abs(g.line.amount)).amount += vat - given
    return result


def partner_line(entry: JournalEntry) -> EntryLine:
    found = [line for line in entry.lines if line.partner_id]
    if len(found) != 1:
        raise EntryNotMappable(f"an invoice needs exactly one third-party line, the entry has {len(found)}")
    return found[0]


def dimensions(line: EntryLine, items: Mapping[str, tuple[str, str]]) -> list[Dimension]:
    found = []
    for dimension, item_id in sorted(line.analytic.items()):
        if not item_id:
            continue
        if item_id not in items:
            raise EntryNotMappable(f"dimension item {item_id!r} ({dimension}) is not in Netvisor any more; "
                                   "map the dimension again")
        name, item = items[item_id]
        found.append(Dimension(name, item))
    return found


def payment_reference(source_number: str, fallback: str) -> str:
    """The Finnish reference number (viitenumero) of a sales invoice: from the invoice number's digits, or from
    the hub reference's when the number has fewer than three."""
    digits = re.sub(r"\D", "", source_number or "")
    if len(digits) < 3:
        digits = re.sub(r"\D", "", fallback or "") or "100"
    digits = digits[-19:].lstrip("0").rjust(3, "1")
    return finnish.make_reference(digits)


# ---- documents --------------------------------------------------------------------------------------------


def sales_invoice(entry: JournalEntry, *, codes: Mapping[str, VatCode], items: Mapping[str, tuple[str, str]],
                  product: str, post: bool) -> SalesInvoiceData:
    if entry.kind != "sale":
        raise EntryNotMappable("only sales entries can become Netvisor sales invoices; map the purchase journal "
                               "to purchase invoices or a voucher class")
    partner = partner_line(entry)
    if not partner.partner_id.isdigit():
        raise EntryNotMappable(f"the customer {partner.partner_id!r} is not a Netvisor customer")
    lines = []
    for g in gross_lines(entry, codes, keep_partner=False):
        amount = -g.amount  # a sale credits its lines: positive on an invoice, negative on a credit note
        if not amount:
            continue
        lines.append(SalesInvoiceLine(
            product=product, name=(g.line.label or entry.label or "-")[:200], unit_price=abs(amount),
            quantity=Decimal(1) if amount > 0 else Decimal(-1), price_type="gross", vat_percent=g.vat_percent,
            vat_code=g.vat_code, account=g.line.account_number, dimensions=dimensions(g.line, items)))
    if not lines:
        raise EntryNotMappable("the entry has no line to invoice")
    number = (entry.source_number or "").strip()
    return SalesInvoiceData(
        date=entry.date, amount=partner.amount, customer=partner.partner_id, customer_type="netvisor", lines=lines,
        number=number if number.isdigit() else "", due_date=entry.due_date,
        reference=payment_reference(number, entry.reference), currency=entry.currency or "EUR",
        status="open" if post else "unsent", our_reference=number[:50],
        private_comment=tagged(entry.label, entry.reference),
        invoice_type="invoice")


def purchase_invoice(entry: JournalEntry, *, codes: Mapping[str, VatCode], items: Mapping[str, tuple[str, str]],
                     vendor_name: str, vendor_business_id: str) -> PurchaseInvoiceData:
    if entry.kind != "purchase":
        raise EntryNotMappable("only purchase entries can become Netvisor purchase invoices")
    partner = partner_line(entry)
    lines = []
    for g in gross_lines(entry, codes, keep_partner=False):
        if not g.amount:
            continue
        lines.append(PurchaseInvoiceLineData(
            line_sum=g.amount, vat_percent=g.vat_percent, vat_code=g.vat_code,
            name=(g.line.label or entry.label or "-")[:200], account=g.line.account_number,
            dimensions=dimensions(g.line, items)))
    number = (entry.source_number or "").strip() or entry.reference
    return PurchaseInvoiceData(number=number[:50], date=entry.date, vendor_name=vendor_name, amount=-partner.amount,
                               lines=lines, due_date=entry.due_date, vendor_business_id=vendor_business_id,
                               comment=tagged(entry.label, entry.reference))


def voucher(entry: JournalEntry, *, codes: Mapping[str, VatCode], items: Mapping[str, tuple[str, str]],
            voucher_class_name: str) -> VoucherData:
    lines = [VoucherLineData(amount=g.amount, account=g.line.account_number, vat_percent=g.vat_percent,
                             vat_code=g.vat_code, description=(g.line.label or entry.label)[:255],
                             dimensions=dimensions(g.line, items))
             for g in gross_lines(entry, codes, keep_partner=True) if g.amount]
    if sum((line.amount for line in lines), ZERO) != 0:
        raise EntryNotMappable("the voucher's lines do not balance")
    return VoucherData(date=entry.date, voucher_class=voucher_class_name, lines=lines, mode="gross",
                       description=tagged(entry.label, entry.reference))


# ---- statuses ---------------------------------------------------------------------------------------------


def sales_state(row: dict) -> TargetState:
    """The hub's word for a sales invoice row of salesinvoicelist.nv."""
    status, substatus = row.get("status") or "", row.get("substatus") or ""
    if substatus in ("undelivered", "rejected") or row.get("delivery_error"):
        return TargetState.REJECTED
    if status == "paid":
        return TargetState.PAID
    if status in ("creditloss", "cancelled", "invalidated"):
        return TargetState.CANCELLED
    if status == "unsent":
        return TargetState.PENDING
    amount, open_amount = row.get("amount"), row.get("open_amount")
    if amount is not None and open_amount is not None and amount and open_amount != amount \
            and abs(open_amount) < abs(amount):
        return TargetState.PARTLY_PAID
    return TargetState.ACCEPTED


def purchase_state(row: dict) -> TargetState:
    amount, paid = row.get("amount") or ZERO, row.get("paid") or ZERO
    if amount and abs(paid) >= abs(amount):
        return TargetState.PAID
    if paid:
        return TargetState.PARTLY_PAID
    return TargetState.ACCEPTED
