"""Turn one unified invoice into one balanced journal entry. Pure: no database, no network.

Signs: amounts are first gathered as "normal side" amounts (credit for a sales invoice, debit for
a purchase invoice, the other way round for credit notes); a negative amount goes to the other side.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from integration_hub.connectors.text import readable_error
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
from mappings.models import NO_VAT
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
    vat_by_rate: dict = field(default_factory=dict)  # {(kind, "20"): vat code id}; reverse charge: (kind, "rc:20")
    due_by_tax: dict = field(default_factory=dict)  # reverse charge: {(kind, source tax id): due VAT code id}
    due_by_rate: dict = field(default_factory=dict)  # reverse charge: {(kind, "rc:20"): due VAT code id}
    dimension_map: dict = field(default_factory=dict)  # {(dimension, source value id): target analytic account id}
    unmapped_dimension: str = "ignore"  # "ignore": book the line without it; "error": DIMENSION_NOT_MAPPED
    # False for targets that book documents (Xero): no journal, and the third-party line goes to the target's
    # own receivable/payable account, which it chooses itself.
    books_entries: bool = True


@dataclass
class TargetCatalog:
    accounts: dict[str, Account]
    vat_codes: dict[str, VatCode]


# The third-party line of a target that books documents: the target posts it to its own account.
DOCUMENT_PARTNER_ACCOUNT = {"sale": "accounts receivable", "purchase": "accounts payable"}


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
        return self.tax_target(tax_code, rate, description).code

    def tax_target(self, tax_code: str, rate: Decimal | None, description: str, *,
                   reverse_charge: bool = False) -> "_TaxTarget":
        """The VAT code(s) a tax of the source books to: one code, or a reverse-charge pair (deductible, due).

        A tax the source says is a reverse charge must be mapped to a pair; it is never booked as 0 %."""
        settings, kind = self.settings, self.kind
        target_id = settings.vat_by_tax.get((kind, tax_code)) if tax_code else None
        due_id = settings.due_by_tax.get((kind, tax_code), "") if target_id is not None else ""
        if target_id is None:
            key = ("rc:" if reverse_charge else "") + rate_key(rate)
            target_id = settings.vat_by_rate.get((kind, key))
            due_id = settings.due_by_rate.get((kind, key), "")
        what = "reverse-charge " if reverse_charge else ""
        if target_id is not None and str(target_id) == NO_VAT:
            if rate is not None and Decimal(rate) != 0:
                raise DocumentProblem(catalogue.MAPPING_TAX_RATE_NOT_FOUND,
                                      f"The {self.word} tax rate {rate_key(rate)} % (line “{description}”) is mapped to "
                                      "“no VAT”, which only fits a 0 % rate: map it to a VAT code.",
                                      details={"rate": rate_key(rate), "tax": tax_code, "kind": kind})
            return _TaxTarget(code=_NO_VAT_CODE, rate=rate)
        if target_id is None:
            raise DocumentProblem(catalogue.MAPPING_TAX_RATE_NOT_FOUND,
                                  f"The {self.word} {what}tax rate {rate_key(rate)} % (line “{description}”) is not mapped "
                                  "to a VAT code.",
                                  details={"rate": rate_key(rate), "tax": tax_code, "kind": kind})
        code = self.catalog.vat_codes.get(str(target_id))
        due = self.catalog.vat_codes.get(str(due_id)) if due_id else None
        if code is None or (due_id and due is None):
            raise DocumentProblem(catalogue.MAPPING_TAX_RATE_NOT_FOUND,
                                  f"The VAT code mapped to the {self.word} {what}rate {rate_key(rate)} % no longer exists "
                                  "in accounting.", details={"rate": rate_key(rate), "vat_code": due_id or target_id})
        if due is None and (reverse_charge or code.reverse_charge):
            raise DocumentProblem(catalogue.REVERSE_CHARGE_NOT_MAPPED,
                                  f"The {self.word} tax “{description}” is a reverse charge (autoliquidation) at "
                                  f"{rate_key(rate)} %, but its mapping names no due VAT code: booking it would leave out "
                                  "the VAT due and deductible.",
                                  details={"rate": rate_key(rate), "tax": tax_code, "kind": kind})
        return _TaxTarget(code=code, due=due, rate=rate)

    def journal(self) -> str:
        if not self.settings.books_entries:
            return ""
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
    def line_analytic(self, line) -> dict[str, str]:
        """The target's analytic accounts for a line ({dimension: target id}), see syncs/dimensions.py."""
        from syncs.dimensions import line_analytic

        return line_analytic(line, self.settings.dimension_map, self.settings.unmapped_dimension)

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
        reverse_sources = {t.tax_code for t in invoice.taxes if t.reverse_charge}

        # base lines, grouped by account, VAT code(s) and analytic accounts
        groups: dict[tuple, _Row] = {}
        line_vat: dict[str, list] = {}  # vat id -> [amount, company amount or None]
        reverse_vat: list[tuple[_TaxTarget, Decimal, Decimal | None]] = []
        for line in invoice.lines:
            if line.tax_rate is None and not line.tax_code:
                raise DocumentProblem(catalogue.LINE_VALIDATION,
                                      f"The line “{line.description}” has no tax code or tax rate.",
                                      details={"line": line.description})
            targets = [self.tax_target(code, rate, line.description, reverse_charge=code in reverse_sources)
                       for code, rate in [(line.tax_code, line.tax_rate), *line.more_taxes]]
            vat_ids = tuple(dict.fromkeys(i for t in targets for i in t.ids if i)) or ("",)  # "": no VAT
            account = self.line_account(line.account_number, line.description)
            analytic = self.line_analytic(line)
            discount = line.discount_amount if settings.separate_discounts else ZERO
            key = (account, vat_ids, tuple(sorted(analytic.items())))
            group = groups.setdefault(key, _Row(account, ZERO, "", "line", vat_ids[0], "base" if vat_ids[0] else "",
                                                vat_ids[1:], company=ZERO, analytic=analytic))
            group.add(line.untaxed_amount + discount, None if discount else line.company_amount, line.description)
            if discount:
                discount_account = self.usable_account(settings.discount_accounts.get(self.kind, ""),
                                                       f"{self.word} discount account")
                dkey = (discount_account, vat_ids, key[2])
                dgroup = groups.setdefault(dkey, _Row(discount_account, ZERO, "", "line", vat_ids[0],
                                                      "base" if vat_ids[0] else "", vat_ids[1:], company=ZERO,
                                                      analytic=analytic))
                dgroup.add(-discount, None, f"Discount {line.description}".strip())
            primary = targets[0]
            if primary.due is not None:
                if not invoice.taxes:  # no summary: the self-assessed VAT is the line's base at the rate
                    reverse_vat.append((primary, primary.self_assessed(line.untaxed_amount), None))
            else:
                line_vat.setdefault(primary.code.id, [ZERO, ZERO])[0] += line.tax_amount
                line_vat[primary.code.id][1] = None

        # VAT lines: the invoice's own tax summary when it has one, else the lines' VAT
        vat: dict[str, list] = {}
        if invoice.taxes:
            for tax in invoice.taxes:
                target = self.tax_target(tax.tax_code, tax.rate, f"tax {rate_key(tax.rate)} %",
                                         reverse_charge=tax.reverse_charge)
                if target.due is not None:
                    amount = tax.amount if tax.reverse_charge else target.self_assessed(tax.base)
                    reverse_vat.append((target, amount, tax.company_amount))
                    continue
                slot = vat.setdefault(target.code.id, [ZERO, ZERO])
                slot[0] += tax.amount
                slot[1] = None if slot[1] is None or tax.company_amount is None else slot[1] + tax.company_amount
        else:
            vat = line_vat

        base_total = sum((g.amount for g in groups.values()), ZERO)
        vat_total = sum((v[0] for v in vat.values()), ZERO)
        difference = invoice.total_amount - (base_total + vat_total)
        if abs(difference) > tolerance:
            raise DocumentProblem(catalogue.AMOUNT_VALIDATION,
                                  f"The lines add up to {base_total + vat_total} but the invoice total is "
                                  f"{invoice.total_amount} (difference {difference}, tolerance {tolerance}).",
                                  details={"lines": str(base_total + vat_total), "total": str(invoice.total_amount)})

        rows: list[_Row] = list(groups.values())
        for vat_id, (amount, company) in vat.items():
            if amount == 0:
                continue
            if not vat_id:
                raise DocumentProblem(catalogue.AMOUNT_VALIDATION,
                                      f"The invoice carries {amount} of VAT on a rate mapped to “no VAT”.",
                                      details={"vat": str(amount)})
            code = self.catalog.vat_codes[vat_id]
            rows.append(_Row(self.vat_account(code), amount, code.name or code.code, "vat", vat_id, "tax",
                             company=company))
        for target, amount, company in reverse_vat:
            # Reverse charge: the same VAT both deductible (normal side) and due (other side); they cancel out.
            for code, sign in ((target.code, 1), (target.due, -1)):
                rows.append(_Row(self.vat_account(code), amount * sign, code.name or code.code, "vat", code.id, "tax",
                                 company=None if company is None else company * sign))
        if difference:
            # Lines below the total need more on the normal side; above, on the other side.
            credit_side = (difference > 0) == (self.normal_side() == "credit")
            account = settings.credit_rounding_account if credit_side else settings.debit_rounding_account
            purpose = "credit rounding account" if credit_side else "debit rounding account"
            self.usable_account(account, purpose)
            rounding_vat = settings.rounding_vat.get(self.kind, "")
            known = rounding_vat in self.catalog.vat_codes
            rows.append(_Row(account, difference, "Rounding", "rounding", rounding_vat if known else "",
                             "base" if known else ""))
        if settings.books_entries:
            collective = self.usable_account(settings.collectives.get(self.kind, ""), "customer collective account"
                                             if self.kind == "sale" else "supplier collective account")
        else:
            collective = DOCUMENT_PARTNER_ACCOUNT[self.kind]
        partner_row = _Row(collective, -invoice.total_amount, "", "partner")

        all_rows = [partner_row, *rows]
        foreign = self.convert_currency(all_rows)
        # A rounding that comes to nothing once in cents is no line at all.
        all_rows = [row for row in all_rows if not (row.kind == "rounding" and row.company == 0)]
        name = partner_name or invoice.partner.name
        everything = _join([r.label for r in rows if r.kind == "line"])
        lines = []
        for row in all_rows:
            label = self.label(row.kind, name, row.label, everything)
            debit, credit = self.sides(row.company)
            line = EntryLine(account_number=row.account, debit=debit, credit=credit, label=label,
                             partner_id=partner_target_id if row.kind == "partner" else "",
                             vat_code_id=row.vat_id, vat_role=row.vat_role, more_vat_code_ids=tuple(row.more_vat),
                             analytic=dict(row.analytic))
            if foreign:
                line.amount_currency = self.signed(row.amount)
                line.currency = invoice.currency
            lines.append(line)
        entry = JournalEntry(reference=reference, journal_id=journal_id, date=self.booking_date(),
                             label=_clip(f"{invoice.number} {name}"), lines=lines, currency=settings.base_currency,
                             source_number=invoice.number, kind=self.kind, due_date=invoice.due_date,
                             document_currency=invoice.currency or settings.base_currency,
                             is_credit_note=bool(invoice.is_credit_note), version=invoice.version or "")
        entry.check_balanced()
        return entry

    def vat_account(self, code: VatCode) -> str:
        account = (code.credit_note_account_number if self.invoice.is_credit_note else "") or code.account_number
        if not account:
            raise DocumentProblem(catalogue.MAPPING_TAX_RATE_NOT_FOUND,
                                  f"The VAT code {code.code} has no VAT account in accounting.",
                                  details={"vat_code": code.code})
        if self.settings.books_entries:  # a tool that books documents keeps VAT on its own account
            self.usable_account(account, f"VAT account of {code.code}")
        return account

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

    def signed(self, amount: Decimal) -> Decimal:
        """A normal-side amount as debit-positive, two decimals."""
        debit, credit = self.sides(amount)
        return debit - credit

    def label(self, line_kind: str, name: str, source_label: str, everything: str) -> str:
        return label_for(self.settings.label_option, line_kind, name=name, number=self.invoice.number,
                         source_label=source_label, everything=everything)

    def convert_currency(self, rows: list["_Row"]) -> bool:
        """Each row's amount in the company's currency; True when the invoice is in another currency.

        The source's own company-currency amounts win (Tryton's move, Factorial's base amount); the rest is
        converted at the invoice's rate. The third-party line is the sum of the others, as accounting tools
        book it, unless the source states the company-currency total: then cents go to the largest line."""
        invoice, settings = self.invoice, self.settings
        partner, others = rows[0], rows[1:]
        foreign = bool(invoice.currency) and invoice.currency != settings.base_currency
        if not foreign:
            for row in rows:
                row.company = row.amount.quantize(CENT, rounding=ROUND_HALF_UP)
        else:
            rate = invoice.exchange_rate
            if any(row.company is None for row in others) and (not rate or rate <= 0):
                day = self.booking_date()
                raise DocumentProblem(
                    catalogue.EXCHANGE_RATE_NOT_FOUND,
                    f"Invoice {invoice.number} is in {invoice.currency} and no {invoice.currency} to "
                    f"{settings.base_currency} rate was found for {day.isoformat() if day else 'its date'}: the "
                    "document carries none, the accounting tool has none for that day, and no rate source answered.",
                    details={"currency": invoice.currency, "base": settings.base_currency,
                             "date": day.isoformat() if day else ""})
            for row in others:
                row.company = (row.amount * rate if row.company is None else row.company).quantize(
                    CENT, rounding=ROUND_HALF_UP)
        stated = invoice.company_total if foreign else None
        if stated is not None:
            partner.company = -stated.quantize(CENT, rounding=ROUND_HALF_UP)
            residual = -sum((row.company for row in rows), ZERO)
            if residual:
                max(others, key=lambda r: abs(r.company)).company += residual
        else:
            partner.company = -sum((row.company for row in others), ZERO)
        return foreign


_NO_VAT_CODE = VatCode(id="", code="", name="No VAT", rate=ZERO)  # see mappings.models.NO_VAT


@dataclass
class _TaxTarget:
    """Where one tax of the source books: a VAT code, or for a reverse charge the deductible and the due one."""

    code: VatCode
    due: VatCode | None = None
    rate: Decimal | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.code.id, self.due.id) if self.due is not None else (self.code.id,)

    def self_assessed(self, base: Decimal) -> Decimal:
        rate = self.rate if self.rate is not None else (self.code.rate or ZERO)
        return (base * Decimal(rate) / 100).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class _Row:
    """One line of the entry being built: `amount` in the document's currency on the normal side."""

    account: str
    amount: Decimal
    label: str
    kind: str  # partner | line | vat | rounding
    vat_id: str = ""
    vat_role: str = ""
    more_vat: tuple = ()
    company: Decimal | None = None  # in the company's currency; None: to convert
    analytic: dict = field(default_factory=dict)
    descriptions: list = field(default_factory=list)

    def add(self, amount: Decimal, company: Decimal | None, description: str) -> None:
        self.amount += amount
        self.company = None if self.company is None or company is None else self.company + company
        self.descriptions.append(description)
        self.label = _join(self.descriptions)


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
    detail = readable_error(error, limit=300)
    return DocumentProblem(catalogue.UNEXPECTED,
                           f"Invoice {invoice.number or '#' + str(invoice.id)}: unexpected {type(error).__name__} "
                           f"while {stage}{': ' + detail if detail else ''}.")
