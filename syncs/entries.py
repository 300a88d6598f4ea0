"""Turn one unified invoice into one balanced journal entry. Pure: no database, no network.

Signs: amounts are first gathered as "normal side" amounts (credit for a sales invoice, debit for
a purchase invoice, the other way round for credit notes); a negative amount goes to the other side.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from integration_hub.connectors.types import (
    CENT,
    ZERO,
    Account,
    EntryLine,
    Invoice,
    InvoiceKind,
    JournalEntry,
    VatCode,
)
from syncs import catalogue

MAX_LABEL = 200


class DocumentProblem(Exception):
    """The document cannot be synced as it stands; `code` is a catalogue code."""

    def __init__(self, code: str, message: str, *, details: dict | None = None, provider_message: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.provider_message = provider_message


@dataclass(frozen=True)
class FlowSettings:
    """Everything the builder needs to know about a flow, frozen for one run."""

    flow_id: int
    label_option: str = "partner_then_description"
    booking_date: str = "accounting"  # "accounting": the source's accounting date when it has one; "invoice"
    separate_discounts: bool = False
    journal_mode: str = "by_kind"
    tolerance: Decimal = Decimal("0.05")
    base_currency: str = "EUR"
    journals: dict = field(default_factory=dict)  # {"sale": target journal id, "purchase": ...}
    journal_map: dict = field(default_factory=dict)  # {source journal: target journal id}
    default_accounts: dict = field(default_factory=dict)  # {"sale": "7071", "purchase": "6071"}
    collectives: dict = field(default_factory=dict)  # {"sale": "4111", "purchase": "4011"}
    discount_accounts: dict = field(default_factory=dict)
    credit_rounding_account: str = ""
    debit_rounding_account: str = ""
    rounding_vat: dict = field(default_factory=dict)  # {"sale": vat code id, ...}
    vat_by_tax: dict = field(default_factory=dict)  # {(kind, source tax id): vat code id}
    vat_by_rate: dict = field(default_factory=dict)  # {(kind, "20"): vat code id}


@dataclass
class TargetCatalog:
    accounts: dict[str, Account]
    vat_codes: dict[str, VatCode]


def rate_key(rate: Decimal | None) -> str:
    if rate is None:
        return ""
    text = format(Decimal(rate).normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def reference_for(flow_id: int, source_id: str) -> str:
    return f"{flow_id}-{source_id}"


def _clip(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _join(descriptions: list[str]) -> str:
    seen: list[str] = []
    for d in descriptions:
        d = " ".join((d or "").split())
        if d and d not in seen:
            seen.append(d)
    return " / ".join(seen)


def label_for(option: str, line_kind: str, *, name: str, number: str, source_label: str, everything: str) -> str:
    """The label of one entry line under one of the four label options.

    line_kind: "partner" (the third-party line), "line", "vat" or "rounding"; source_label: what the
    line itself would say; everything: the joined descriptions of all invoice lines.
    """
    if option == "partner":
        return _clip(name)
    if option == "partner_and_number":
        return _clip(f"{name} - {number}")
    if option == "partner_and_description":
        detail = everything if line_kind == "partner" else source_label
        return _clip(f"{name} - {detail}" if detail else name)
    return _clip(name if line_kind == "partner" else source_label)  # partner_then_description


class _Builder:
    def __init__(self, invoice: Invoice, settings: FlowSettings, catalog: TargetCatalog):
        self.invoice, self.settings, self.catalog = invoice, settings, catalog
        self.kind = InvoiceKind(invoice.kind).value
        self.word = "sales" if self.kind == "sale" else "purchase"

    # --- checks ---------------------------------------------------------------------------
    def usable_account(self, number: str, purpose: str) -> str:
        account = self.catalog.accounts.get(number) if number else None
        if account is None:
            raise DocumentProblem(catalogue.ACCOUNT_NUMBER_NOT_FOUND,
                                  f"The {purpose} {number or '(not set)'} does not exist in accounting.",
                                  details={"account": number, "purpose": purpose})
        if not account.usable:
            raise DocumentProblem(catalogue.ACCOUNT_NUMBER_NOT_ACTIVE,
                                  f"The {purpose} {number} is closed or cannot receive entries in accounting.",
                                  details={"account": number, "purpose": purpose})
        return number

    def line_account(self, number: str, description: str) -> str:
        own = self.catalog.accounts.get(number) if number else None
        if own is None and number and number.rstrip("0") != number:
            # French charts write the same account padded with zeros ("625700" for 6257).
            own = self.catalog.accounts.get(number.rstrip("0"))
            number = number.rstrip("0") if own is not None else number
        if own is not None and own.usable:
            return number
        default_number = self.settings.default_accounts.get(self.kind, "")
        default = self.catalog.accounts.get(default_number) if default_number else None
        if default is not None and default.usable:
            return default_number
        where = f"line “{description}”" if description else "a line"
        own_text = (f"account {number} of {where} is closed in accounting" if own is not None
                    else f"account {number} of {where} does not exist in accounting" if number
                    else f"{where} has no account")
        default_text = (f"the default {self.word} account {default_number} is closed too" if default is not None
                        else f"the default {self.word} account {default_number} does not exist either" if default_number
                        else f"no default {self.word} account is set")
        inactive = (own is not None) if number else (default is not None)
        code = catalogue.ACCOUNT_NUMBER_NOT_ACTIVE if inactive else catalogue.ACCOUNT_NUMBER_NOT_FOUND
        raise DocumentProblem(code, f"The {own_text}, and {default_text}.",
                              details={"line_account": number, "default_account": default_number})

    def vat_code(self, tax_code: str, rate: Decimal | None, description: str) -> VatCode:
        target_id = self.settings.vat_by_tax.get((self.kind, tax_code)) if tax_code else None
        if target_id is None:
            target_id = self.settings.vat_by_rate.get((self.kind, rate_key(rate)))
        if target_id is None:
            raise DocumentProblem(catalogue.MAPPING_TAX_RATE_NOT_FOUND,
                                  f"The {self.word} tax rate {rate_key(rate)} % (line “{description}”) is not mapped to a VAT code.",
                                  details={"rate": rate_key(rate), "tax": tax_code, "kind": self.kind})
        code = self.catalog.vat_codes.get(str(target_id))
        if code is None:
            raise DocumentProblem(catalogue.MAPPING_TAX_RATE_NOT_FOUND,
                                  f"The VAT code mapped to the {self.word} rate {rate_key(rate)} % no longer exists in accounting.",
                                  details={"rate": rate_key(rate), "vat_code": target_id})
        return code

    def journal(self) -> str:
        if self.settings.journal_mode == "by_source_journal":
            if not self.invoice.journal_ref:
                raise DocumentProblem(catalogue.JOURNAL_NOT_LINKED, "The invoice has no journal in the invoicing tool.")
            target = self.settings.journal_map.get(self.invoice.journal_ref)
            if not target:
                raise DocumentProblem(catalogue.MAPPING_JOURNAL_NOT_FOUND,
                                      f"The invoicing tool's journal “{self.invoice.journal_ref}” is not mapped.",
                                      details={"journal": self.invoice.journal_ref})
            return str(target)
        target = self.settings.journals.get(self.kind)
        if not target:
            raise DocumentProblem(catalogue.MAPPING_JOURNAL_NOT_FOUND, f"No {self.word} journal is mapped.")
        return str(target)

    # --- the entry ---------------------------------------------------------------------------
    def build(self, partner_target_id: str, partner_name: str, reference: str) -> JournalEntry:
        invoice, settings = self.invoice, self.settings
        if not invoice.partner_id and invoice.partner is None:
            raise DocumentProblem(catalogue.PARTNER_VALIDATION, "The invoice has no customer or supplier.")
        if invoice.partner is None:
            raise DocumentProblem(catalogue.CONTACT_NOT_FOUND,
                                  f"The contact {invoice.partner_id} of the invoice does not exist in the invoicing tool.",
                                  details={"contact": invoice.partner_id})
        if not invoice.lines:
            raise DocumentProblem(catalogue.LINE_VALIDATION, "The invoice has no lines.")
        journal_id = self.journal()
        tolerance = settings.tolerance
        stated = invoice.untaxed_amount + invoice.tax_amount
        if abs(stated - invoice.total_amount) > tolerance:
            raise DocumentProblem(catalogue.AMOUNT_VALIDATION,
                                  f"Untaxed {invoice.untaxed_amount} + tax {invoice.tax_amount} = {stated}, "
                                  f"but the invoice total is {invoice.total_amount}.",
                                  details={"untaxed": str(invoice.untaxed_amount), "tax": str(invoice.tax_amount),
                                           "total": str(invoice.total_amount)})

        # base lines, grouped by account and VAT code
        groups: dict[tuple[str, str], list] = {}
        line_vat: dict[str, Decimal] = {}
        for line in invoice.lines:
            if line.tax_rate is None and not line.tax_code:
                raise DocumentProblem(catalogue.LINE_VALIDATION,
                                      f"The line “{line.description}” has no tax code or tax rate.",
                                      details={"line": line.description})
            code = self.vat_code(line.tax_code, line.tax_rate, line.description)
            account = self.line_account(line.account_number, line.description)
            discount = line.discount_amount if settings.separate_discounts else ZERO
            group = groups.setdefault((account, code.id), [ZERO, []])
            group[0] += line.untaxed_amount + discount
            group[1].append(line.description)
            if discount:
                discount_account = self.usable_account(settings.discount_accounts.get(self.kind, ""),
                                                       f"{self.word} discount account")
                dgroup = groups.setdefault((discount_account, code.id), [ZERO, []])
                dgroup[0] -= discount
                dgroup[1].append(f"Discount {line.description}".strip())
            line_vat[code.id] = line_vat.get(code.id, ZERO) + line.tax_amount

        # VAT lines: the invoice's own tax summary when it has one, else the lines' VAT
        vat: dict[str, Decimal] = {}
        if invoice.taxes:
            for tax in invoice.taxes:
                code = self.vat_code(tax.tax_code, tax.rate, f"tax {rate_key(tax.rate)} %")
                vat[code.id] = vat.get(code.id, ZERO) + tax.amount
        else:
            vat = line_vat

        base_total = sum((g[0] for g in groups.values()), ZERO)
        vat_total = sum(vat.values(), ZERO)
        difference = invoice.total_amount - (base_total + vat_total)
        if abs(difference) > tolerance:
            raise DocumentProblem(catalogue.AMOUNT_VALIDATION,
                                  f"The lines add up to {base_total + vat_total} but the invoice total is "
                                  f"{invoice.total_amount} (difference {difference}, tolerance {tolerance}).",
                                  details={"lines": str(base_total + vat_total), "total": str(invoice.total_amount)})

        # (account, normal-side amount, label source, vat id, vat role, kind of line)
        rows: list[list] = []
        for (account, vat_id), (amount, descriptions) in groups.items():
            rows.append([account, amount, _join(descriptions), vat_id, "base", "line"])
        for vat_id, amount in vat.items():
            if amount == 0:
                continue
            code = self.catalog.vat_codes[vat_id]
            vat_account = (code.credit_note_account_number if invoice.is_credit_note else "") or code.account_number
            if not vat_account:
                raise DocumentProblem(catalogue.MAPPING_TAX_RATE_NOT_FOUND,
                                      f"The VAT code {code.code} has no VAT account in accounting.",
                                      details={"vat_code": code.code})
            self.usable_account(vat_account, f"VAT account of {code.code}")
            rows.append([vat_account, amount, code.name or code.code, vat_id, "tax", "vat"])
        if difference:
            # Lines below the total need more on the normal side; above, on the other side.
            credit_side = (difference > 0) == (self.normal_side() == "credit")
            account = settings.credit_rounding_account if credit_side else settings.debit_rounding_account
            purpose = "credit rounding account" if credit_side else "debit rounding account"
            self.usable_account(account, purpose)
            rounding_vat = settings.rounding_vat.get(self.kind, "")
            rows.append([account, difference, "Rounding", rounding_vat if rounding_vat in self.catalog.vat_codes else "",
                         "base" if rounding_vat in self.catalog.vat_codes else "", "rounding"])
        collective = self.usable_account(settings.collectives.get(self.kind, ""),
                                         "customer collective account" if self.kind == "sale" else "supplier collective account")
        partner_row = [collective, -invoice.total_amount, "", "", "", "partner"]

        all_rows = [partner_row, *rows]
        self.convert_currency(all_rows)
        # A rounding that comes to nothing once in cents is no line at all.
        all_rows = [row for row in all_rows if not (row[5] == "rounding" and row[1] == 0)]
        name = partner_name or invoice.partner.name
        everything = _join([d for d in (r[2] for r in rows if r[5] == "line")])
        lines = []
        for account, amount, source_label, vat_id, vat_role, line_kind in all_rows:
            label = self.label(line_kind, name, source_label, everything)
            debit, credit = self.sides(amount)
            lines.append(EntryLine(account_number=account, debit=debit, credit=credit, label=label,
                                   partner_id=partner_target_id if line_kind == "partner" else "",
                                   vat_code_id=vat_id, vat_role=vat_role))
        entry = JournalEntry(reference=reference, journal_id=journal_id, date=self.booking_date(),
                             label=_clip(f"{invoice.number} {name}"), lines=lines, currency=settings.base_currency,
                             source_number=invoice.number, kind=self.kind)
        entry.check_balanced()
        return entry

    def booking_date(self):
        """The day the entry is booked on, and so its period: the flow says which of the invoice's dates."""
        if self.settings.booking_date == "accounting" and self.invoice.accounting_date:
            return self.invoice.accounting_date
        return self.invoice.issue_date

    def normal_side(self) -> str:
        side = "credit" if self.kind == "sale" else "debit"
        if self.invoice.is_credit_note:
            side = "debit" if side == "credit" else "credit"
        return side

    def sides(self, amount: Decimal) -> tuple[Decimal, Decimal]:
        amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
        normal_credit = self.normal_side() == "credit"
        if (amount >= 0) == normal_credit:
            return ZERO, abs(amount)
        return abs(amount), ZERO

    def label(self, line_kind: str, name: str, source_label: str, everything: str) -> str:
        return label_for(self.settings.label_option, line_kind, name=name, number=self.invoice.number,
                         source_label=source_label, everything=everything)

    def convert_currency(self, rows: list[list]) -> None:
        invoice, settings = self.invoice, self.settings
        if invoice.currency and invoice.currency != settings.base_currency:
            rate = invoice.exchange_rate
            if not rate or rate <= 0:
                raise DocumentProblem(catalogue.AMOUNT_VALIDATION,
                                      f"The invoice is in {invoice.currency} and has no exchange rate to "
                                      f"{settings.base_currency}.", details={"currency": invoice.currency})
            for row in rows:
                row[1] = row[1] * rate
        for row in rows:
            row[1] = row[1].quantize(CENT, rounding=ROUND_HALF_UP)
        residual = -sum((row[1] for row in rows), ZERO)
        if residual:
            # Cents left by conversion or sub-cent amounts belong to the largest line, not to VAT rounding.
            largest = max(rows[1:], key=lambda r: abs(r[1]))
            largest[1] += residual


def build_entry(invoice: Invoice, settings: FlowSettings, catalog: TargetCatalog, *, partner_target_id: str,
                partner_name: str = "", reference: str | None = None) -> JournalEntry:
    """The journal entry for `invoice`, balanced, or DocumentProblem naming the catalogue code."""
    reference = reference or reference_for(settings.flow_id, invoice.id)
    return _Builder(invoice, settings, catalog).build(partner_target_id, partner_name, reference)


def precheck(invoice: Invoice, settings: FlowSettings, catalog: TargetCatalog) -> None:
    """The checks that need no third party, run before any partner is matched or created."""
    _Builder(invoice, settings, catalog).build(partner_target_id="0", partner_name=invoice.partner.name
                                                if invoice.partner else "", reference="precheck")


#: The largest amount any accounting tool here books: 13 digits before the point (and what the hub stores).
MAX_AMOUNT = Decimal("1e13")


def usable_amount(value) -> Decimal | None:
    """``value`` as a finite Decimal within MAX_AMOUNT, else None (NaN, infinite, huge, not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        return None
    return number


def _amounts(invoice: Invoice):
    """(label, value) of every number of the invoice that ends up in an entry."""
    yield "untaxed amount", invoice.untaxed_amount
    yield "tax amount", invoice.tax_amount
    yield "total", invoice.total_amount
    if invoice.exchange_rate is not None:
        yield "exchange rate", invoice.exchange_rate
    for index, line in enumerate(invoice.lines or [], start=1):
        for name in ("quantity", "unit_price", "untaxed_amount", "tax_amount", "discount_amount"):
            yield f"line {index} {name.replace('_', ' ')}", getattr(line, name)
        if line.tax_rate is not None:
            yield f"line {index} tax rate", line.tax_rate
    for tax in invoice.taxes or []:
        yield f"tax {tax.tax_code} base", tax.base
        yield f"tax {tax.tax_code} amount", tax.amount


def validate_invoice(invoice: Invoice) -> None:
    """The checks on the document itself, before anything else looks at it: DocumentProblem when it fails.

    Each failure is its own catalogued code, naming the invoice and the field, so one malformed
    document becomes an error on that document instead of a traceback that stops the run.
    """
    number = invoice.number or f"#{invoice.id}"
    unreadable = (invoice.extra or {}).get("unreadable")
    if unreadable:
        raise DocumentProblem(catalogue.UNREADABLE, f"Invoice {number} could not be read: {unreadable}")
    if not isinstance(invoice.issue_date, dt.date):
        raise DocumentProblem(catalogue.DATE_VALIDATION, f"Invoice {number} has no invoice date.")
    for label, value in _amounts(invoice):
        if usable_amount(value) is None:
            shown = str(value)[:40]
            raise DocumentProblem(catalogue.AMOUNT_OUT_OF_RANGE,
                                  f"Invoice {number}: the {label} ({shown}) is not a usable amount "
                                  "(not a number, infinite, or more than 13 digits).")
    if invoice.partner is not None and not (invoice.partner.name or "").strip():
        raise DocumentProblem(catalogue.PARTNER_VALIDATION,
                              f"Invoice {number}: its customer or supplier has no name; a nameless third party "
                              "cannot be booked.")


def unexpected_problem(invoice: Invoice, stage: str, error: Exception) -> DocumentProblem:
    """What an unforeseen exception while handling one document becomes: an error on that document."""
    detail = str(error).splitlines()[0][:300] if str(error) else ""
    return DocumentProblem(catalogue.UNEXPECTED,
                           f"Invoice {invoice.number or '#' + str(invoice.id)}: unexpected {type(error).__name__} "
                           f"while {stage}{': ' + detail if detail else ''}.")
