"""Factorial records <-> the hub's unified types. Amounts are integer cents in Factorial."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from integration_hub.connectors.text import normalise_name
from integration_hub.connectors.types import (
    ZERO,
    Account,
    Address,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceTax,
    Partner,
    Payment,
    TaxRate,
)

HUNDRED = Decimal(100)
POSTABLE_EXPENSE_STATUSES = {"approved", "sent_to_pay", "paid", "in_payroll"}
FD_PREFIX, EXPENSE_PREFIX = "fd-", "ex-"


def cents(value) -> Decimal:
    return (Decimal(int(value or 0)) / HUNDRED).quantize(Decimal("0.01"))


def percent(value) -> Decimal:
    return Decimal(str(value)).normalize() + 0


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def parse_date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def tax_rate(row: dict, type_names: dict[str, str]) -> TaxRate:
    rate = percent(Decimal(str(row.get("rate") or 0)) * HUNDRED)
    name = row.get("description") or f"{type_names.get(str(row.get('tax_type_id')), 'Tax')} {rate} %"
    return TaxRate(id=str(row["id"]), name=name, rate=rate, kind="both")


def rate_key(tax_type_id, percentage) -> tuple[str, str]:
    return str(tax_type_id or ""), format(percent(percentage or 0), "f")


def contact_partner(row: dict) -> Partner:
    address = row.get("address") or {}
    return Partner(
        id=str(row["id"]),
        name=row.get("legal_name") or row.get("name") or "",
        vat_number=(row.get("tax_id") or "").replace(" ", "").upper(),
        email=row.get("email") or "",
        address=Address(street=address.get("line1") or "", postal_code=address.get("postal_code") or "",
                        city=address.get("city") or "", country_code=(address.get("country_code") or "").upper()),
    )


def party_from_fields(prefix: str, row: dict, *, fallback_id: str) -> Partner | None:
    """A third party described on the document itself (issuer_* / recipient_*)."""
    name = row.get(f"{prefix}_name")
    if not name:
        return None
    tax_id = (row.get(f"{prefix}_tax_id") or "").replace(" ", "").upper()
    return Partner(id=f"{prefix}:{tax_id or normalise_name(name) or fallback_id}", name=name, vat_number=tax_id,
                   address=Address(street=row.get(f"{prefix}_address_line_1") or "",
                                   postal_code=row.get(f"{prefix}_postal_code") or "",
                                   city=row.get(f"{prefix}_city") or "",
                                   country_code=(row.get(f"{prefix}_country_code") or "").upper()))


def account_from_factorial(row: dict) -> Account:
    return Account(id=str(row["id"]), number=row.get("number") or "", name=row.get("name") or "",
                   active=not row.get("disabled"), postable=True)


def _lines_from_taxes(taxes: list[dict], *, number: str, description: str, net: Decimal, rate_ids: dict,
                      amount_field: str, base_field: str, out_of_scope: bool) -> tuple[list[InvoiceLine], list[InvoiceTax]]:
    lines, summary = [], []
    for tax in taxes:
        rate = percent(tax.get("percentage") or 0)
        base, amount = cents(tax.get(base_field)), cents(tax.get(amount_field))
        code = rate_ids.get(rate_key(tax.get("tax_type_id"), rate), "")
        label = f"{description} ({rate} %)" if len(taxes) > 1 else description
        lines.append(InvoiceLine(description=label, quantity=Decimal(1), unit_price=base, untaxed_amount=base,
                                 tax_amount=amount, tax_rate=rate, tax_code=code))
        summary.append(InvoiceTax(tax_code=code, rate=rate, base=base, amount=amount))
    if not taxes:
        # A document from abroad carries no French VAT (out of scope): a 0 % line. At home, a document
        # without any tax is an error for an accountant to look at (LINE_VALIDATION).
        lines.append(InvoiceLine(description=description, quantity=Decimal(1), unit_price=net, untaxed_amount=net,
                                 tax_amount=ZERO, tax_rate=Decimal(0) if out_of_scope else None))
    return lines, summary


def dimensions(row: dict, labels: dict[tuple[str, str], str] | None = None) -> dict[str, tuple[str, str]]:
    """The cost centre and project a document or an expense is charged to, as {dimension: (id, label)}.

    Factorial lets an expense name several cost centres (``cost_center_ids``); its lines carry the first.
    Labels come from the cost centres and projects lists (the id stands in when it is not there)."""
    labels = labels or {}
    found: dict[str, tuple[str, str]] = {}
    centres = [str(c) for c in (row.get("cost_center_ids") or []) if c not in (None, "")]
    if not centres and row.get("cost_center_id") not in (None, ""):
        centres = [str(row["cost_center_id"])]
    if centres:
        found["cost_center"] = (centres[0], labels.get(("cost_center", centres[0]), centres[0]))
    project = row.get("project_id")
    if project not in (None, ""):
        found["project"] = (str(project), labels.get(("project", str(project)), str(project)))
    return found


def financial_document(row: dict, *, company_tax_id: str, company_country: str, contacts: dict[str, Partner],
                       rate_ids: dict, dimension_labels: dict | None = None) -> Invoice:
    """An invoice, receipt or credit note. Sales invoices are those the company issued."""
    issued_by_us = (row.get("issuer_tax_id") or "").replace(" ", "").upper() == company_tax_id and company_tax_id
    sale = bool(issued_by_us) or not row.get("vendor_id") and bool(row.get("recipient_name"))
    kind = InvoiceKind.SALE if sale else InvoiceKind.PURCHASE
    number = row.get("document_number") or f"FD-{row['id']}"
    net, total = cents(row.get("net_amount_cents")), cents(row.get("total_amount_cents"))
    counterpart_country = (row.get("recipient_country_code") if sale else row.get("issuer_country_code")) or ""
    description = row.get("description") or (f"Sale {number}" if sale else f"{row.get('issuer_name') or 'Purchase'} {number}")
    lines, summary = _lines_from_taxes(
        row.get("taxes") or [], number=number, description=description.strip(), net=net, rate_ids=rate_ids,
        amount_field="amount_cents", base_field="base_amount_cents",
        out_of_scope=bool(counterpart_country) and counterpart_country.upper() != company_country)
    for line in lines:
        line.dimensions = dimensions(row, dimension_labels)
    if sale:
        partner = None
        recipient_tax = (row.get("recipient_tax_id") or "").replace(" ", "").upper()
        for contact in contacts.values():
            if recipient_tax and contact.vat_number == recipient_tax:
                partner = contact
                break
        partner = partner or party_from_fields("recipient", row, fallback_id=row["id"])
        partner_id = partner.id if partner else ""
    else:
        partner_id = str(row.get("vendor_id") or "")
        partner = contacts.get(partner_id) if partner_id else party_from_fields("issuer", row, fallback_id=row["id"])
        if not partner_id and partner is not None:
            partner_id = partner.id
    file = row.get("file") or {}
    return Invoice(
        id=f"{FD_PREFIX}{row['id']}", number=number, kind=kind,
        issue_date=parse_date(row.get("document_date")) or parse_date(row.get("updated_at")),
        due_date=parse_date(row.get("due_date")), currency=(row.get("currency") or "").upper(),
        lines=lines, taxes=summary, untaxed_amount=net, tax_amount=cents(row.get("taxes_total_amount_cents")),
        total_amount=total, updated_at=parse_time(row.get("updated_at")),
        is_credit_note=row.get("document_type") == "credit_note",
        partner_id=partner_id, partner=partner, has_attachment=bool(file.get("url")),
        raw_state=row.get("status") or "",
        extra={"file_url": file.get("url") or "", "file_name": file.get("filename") or "",
               "document_type": row.get("document_type") or ""},
    )


def payments(row: dict, invoice: Invoice) -> list[Payment]:
    """Factorial tells that a document or an expense is paid, not how: one payment of its total, on the day it
    was paid (an expense's reimbursed amount is its value in the company's currency)."""
    total = invoice.total_amount
    if row.get("status") != "paid" or not isinstance(total, Decimal) or total <= 0:
        return []
    day = parse_date(row.get("paid_at") or row.get("fully_reconciled_at") or row.get("recorded_at")
                     or row.get("status_updated_at") or row.get("updated_at"))
    if day is None:
        return []
    reimbursed = (row.get("reimbursable_currency") or "").upper()
    company = cents(row["reimbursable_amount"]) if reimbursed and reimbursed != invoice.currency and \
        row.get("reimbursable_amount") else None
    return [Payment(id=f"{invoice.id}:paid", date=day, amount=total, company_amount=company, label="Paid in Factorial")]


def _company_total(row: dict, currency: str) -> Decimal | None:
    """What a foreign expense is worth in euros, as Factorial states it (its reimbursable amount in EUR)."""
    if not currency or currency == "EUR" or (row.get("reimbursable_currency") or "").upper() != "EUR":
        return None
    amount = row.get("reimbursable_amount")
    return cents(amount) if amount not in (None, "", 0) else None


def expense(row: dict, *, accounts: dict[str, Account], rate_ids: dict, employees: dict[str, str] | None = None,
            dimension_labels: dict | None = None) -> Invoice:
    """An employee expense as a purchase document: the merchant is the third party, the ledger
    account of the expense (if any) the line's account; card, project, cost centre travel along."""
    total = cents(row.get("amount"))
    taxes = row.get("taxes") or []
    tax_total = sum((cents(t.get("amount")) for t in taxes), ZERO)
    description = row.get("description") or (row.get("category") or {}).get("name") or "Expense"
    lines, summary = _lines_from_taxes(taxes, number="", description=description, net=total - tax_total,
                                       rate_ids=rate_ids, amount_field="amount", base_field="base_amount",
                                       out_of_scope=(row.get("currency") or "EUR").upper() != "EUR")
    account = accounts.get(str(row.get("ledger_account_id") or ""))
    for line in lines:
        line.account_number = account.number if account else ""
        line.dimensions = dimensions(row, dimension_labels)
    merchant = row.get("merchant_name") or ""
    tin = (row.get("merchant_tin") or "").replace(" ", "").upper()
    partner = Partner(id=f"merchant:{tin or normalise_name(merchant)}", name=merchant, vat_number=tin) if merchant else None
    files = row.get("files") or []
    card = row.get("card") or {}
    currency = (row.get("currency") or "").upper()
    rate = row.get("exchange_rate")
    return Invoice(
        id=f"{EXPENSE_PREFIX}{row['id']}", number=row.get("document_number") or f"EXP-{row['id']}",
        kind=InvoiceKind.PURCHASE, issue_date=parse_date(row.get("effective_on")), currency=currency,
        exchange_rate=Decimal(str(rate)) if rate not in (None, "") else None,
        exchange_rate_source="Factorial (the expense's exchange rate)" if rate not in (None, "") else "",
        company_total=_company_total(row, currency),
        lines=lines, taxes=summary, untaxed_amount=total - tax_total, tax_amount=tax_total, total_amount=total,
        updated_at=parse_time(row.get("status_updated_at") or row.get("paid_at")) or dt.datetime.now(dt.timezone.utc),
        partner_id=partner.id if partner else "", partner=partner,
        has_attachment=bool(files and (files[0].get("download_url") or files[0].get("url"))),
        raw_state=row.get("status") or "",
        extra={
            "file_url": (files[0].get("download_url") or files[0].get("url")) if files else "",
            "file_name": files[0].get("filename", "") if files else "",
            "document_amount": str(total), "reimbursable_amount": str(cents(row.get("reimbursable_amount"))),
            "reimbursable_currency": row.get("reimbursable_currency") or "",
            "base_amount": str(cents(row.get("reimbursable_amount")) if row.get("reimbursable_amount") else total),
            "exchange_rate": str(rate) if rate is not None else "", "approval_status": row.get("status") or "",
            "accounting_account_code": account.number if account else "", "project": str(row.get("project_id") or ""),
            "cost_centre": ",".join(row.get("cost_center_ids") or []), "card_last4": card.get("last4") or "",
            "employee": (employees or {}).get(str(row.get("employee_id")), str(row.get("employee_id") or "")),
            "payment": row.get("payment") or "",
        },
    )


# --- master data, accounting -> Factorial ------------------------------------------------------------
def account_type(number: str) -> str:
    """Factorial's account type for a French chart account number."""
    first = number[:1]
    if first == "1":
        return "equity" if number[:2] in ("10", "11", "12", "13") else "non_current_liability"
    if first == "2":
        return "non_current_asset"
    if first == "3":
        return "current_asset"
    if first == "4":
        return "current_asset" if number.startswith(("41", "409", "48", "49")) else "current_liability"
    if first == "5":
        return "bank" if number.startswith(("51", "53")) else "current_asset"
    if first == "6":
        return "expense"
    if first == "7":
        return "income"
    return "current_asset"


def ledger_account_values(account: Account, *, legal_entity_id: str, currency: str) -> dict:
    return {"number": account.number, "name": account.name[:255] or account.number, "type": account_type(account.number),
            "currency": currency, "legal_entity_id": legal_entity_id, "external_id": account.id,
            "disabled": not account.usable}


def contact_values(partner: Partner) -> dict:
    address = partner.address or Address()
    values = {"name": partner.name, "legal_name": partner.name, "external_id": partner.id,
              "address": {"line1": address.street, "city": address.city, "postal_code": address.postal_code,
                          "state": "", "country_code": address.country_code}}
    if partner.vat_number:
        values["tax_id"] = partner.vat_number
    if partner.email:
        values["email"] = partner.email
    return values
