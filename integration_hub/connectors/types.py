"""The hub's one language for accounting data. Money is Decimal, always."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from integration_hub.connectors.text import readable_error

ZERO = Decimal("0")
CENT = Decimal("0.01")


class InvoiceKind(StrEnum):
    SALE = "sale"
    PURCHASE = "purchase"


class Scope(StrEnum):
    ALL = "all"
    SALES = "sales"
    PURCHASES = "purchases"

    def includes(self, kind: InvoiceKind | str) -> bool:
        kind = InvoiceKind(kind)
        return self is Scope.ALL or (self is Scope.SALES) == (kind is InvoiceKind.SALE)

    @property
    def kinds(self) -> tuple[InvoiceKind, ...]:
        return tuple(k for k in InvoiceKind if self.includes(k))


@dataclass
class Address:
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country_code: str = ""


@dataclass
class Partner:
    id: str
    name: str
    vat_number: str = ""
    registration_number: str = ""  # SIREN / SIRET in France
    auxiliary_account: str = ""
    address: Address | None = None
    email: str = ""
    receivable_account: str = ""  # the third party's own accounts in accounting, when it has them
    payable_account: str = ""


@dataclass
class TaxRate:
    """A tax rate as the invoicing tool knows it."""

    id: str
    name: str
    rate: Decimal  # percent: Decimal("20") for 20 %
    kind: str = "both"  # sale | purchase | both
    reverse_charge: bool = False  # the buyer self-assesses it (due and deductible at `rate`); invoices show 0 VAT


@dataclass
class VatCode:
    """A VAT code as the accounting tool knows it, with the accounts its amounts go to."""

    id: str
    code: str
    name: str
    rate: Decimal | None  # percent
    kind: str = "both"  # sale | purchase | both
    account_number: str = ""  # where the VAT of an invoice goes
    credit_note_account_number: str = ""  # where the VAT of a credit note goes
    reverse_charge: str = ""  # "deductible" | "due": one half of a reverse-charge pair; "" for ordinary VAT
    pair: str = ""  # reverse charge: the id of the other half


@dataclass
class Journal:
    id: str
    code: str
    name: str
    kind: str = "general"  # sale | purchase | general | cash | ...


@dataclass
class Account:
    id: str
    number: str
    name: str
    active: bool = True  # false when closed or outside its validity dates
    postable: bool = True  # false for grouping (view) accounts
    requires_party: bool = False

    @property
    def account_class(self) -> str:
        return self.number[:1]

    @property
    def usable(self) -> bool:
        return self.active and self.postable


@dataclass
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    untaxed_amount: Decimal  # after discount
    tax_amount: Decimal = ZERO
    discount_amount: Decimal = ZERO  # amount taken off quantity * unit_price
    tax_rate: Decimal | None = None  # percent; None when the line carries no tax at all
    tax_code: str = ""  # the source's id of the tax
    account_number: str = ""
    more_taxes: list[tuple[str, Decimal | None]] = field(default_factory=list)  # further (tax id, rate) of the line
    company_amount: Decimal | None = None  # untaxed_amount in the company's currency, when the source booked it
    dimensions: dict[str, tuple[str, str]] = field(default_factory=dict)  # {"cost_center": (id, label), ...}

    @property
    def gross_amount(self) -> Decimal:
        return self.untaxed_amount + self.discount_amount


@dataclass
class InvoiceTax:
    """One line of the invoice's tax summary, as the source states it."""

    tax_code: str
    rate: Decimal | None
    base: Decimal
    amount: Decimal  # reverse charge: the self-assessed amount (base x rate), which the invoice total leaves out
    reverse_charge: bool = False
    company_amount: Decimal | None = None  # amount in the company's currency, when the source booked it


@dataclass
class Invoice:
    id: str
    number: str
    kind: InvoiceKind
    issue_date: dt.date
    currency: str
    lines: list[InvoiceLine]
    untaxed_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    updated_at: dt.datetime
    is_credit_note: bool = False  # amounts are stated positive; the flag says which way they go
    due_date: dt.date | None = None
    accounting_date: dt.date | None = None  # the day the source booked it, when it differs from issue_date
    exchange_rate: Decimal | None = None  # units of base currency per unit of `currency`
    partner_id: str = ""
    partner: Partner | None = None  # None: the source has no such contact (or none was set)
    journal_ref: str = ""
    taxes: list[InvoiceTax] = field(default_factory=list)  # empty: sum the lines' tax amounts
    has_attachment: bool = False
    version: str = ""  # changes whenever the document changes
    raw_state: str = ""
    extra: dict = field(default_factory=dict)  # source facts that travel along (file link, card, project...)
    company_total: Decimal | None = None  # total in the company's currency, when the source states it
    exchange_rate_source: str = ""  # where exchange_rate comes from ("invoicing tool", ...), when set
    cancelled: bool = False  # cancelled in the source after it was issued
    payments: list["Payment"] = field(default_factory=list)  # what the source says was paid (when it says)


@dataclass
class Payment:
    """One payment of an invoice as the source records it. Amounts are positive, in the invoice's currency."""

    id: str
    date: dt.date
    amount: Decimal
    company_amount: Decimal | None = None  # what it was worth in the company's currency, when the source says
    label: str = ""
    # Finnish collection practice (issue 17): what of `amount` paid penalty interest and collection fees, when the
    # source says; the rest pays the invoice itself (capital). None: the source does not tell (all capital).
    interest: Decimal | None = None
    fees: Decimal | None = None


def unreadable_invoice(record_id: str, *, reason: str, number: str = "", kind: str = "purchase",
                       updated_at: dt.datetime | None = None) -> Invoice:
    """A stand-in for a source record a connector could not map: the engine turns it into an error on that
    document (ERROR_SYNC_INVOICE_UNREADABLE) and goes on with the others."""
    return Invoice(id=str(record_id), number=str(number or ""), kind=InvoiceKind(kind), issue_date=None,  # type: ignore[arg-type]
                   currency="", lines=[], untaxed_amount=ZERO, tax_amount=ZERO, total_amount=ZERO,
                   updated_at=updated_at or dt.datetime.now(dt.timezone.utc), extra={"unreadable": reason[:300]})


def describe_failure(error: Exception) -> str:
    """A short, readable account of why a record could not be mapped (never a traceback)."""
    text = readable_error(error, limit=200)
    return f"{type(error).__name__}{': ' + text if text else ''}"


@dataclass
class Attachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)


class UnbalancedEntry(ValueError):
    """Debits and credits differ: the entry must never leave the hub."""


@dataclass
class EntryLine:
    account_number: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    label: str = ""
    partner_id: str = ""
    vat_code_id: str = ""  # the VAT code the line is the base or the tax of
    vat_role: str = ""  # "base" | "tax" | ""
    vat_base: Decimal | None = None  # for tax lines: the base amount the tax was computed on
    more_vat_code_ids: tuple[str, ...] = ()  # base lines: further VAT codes the amount is the base of
    amount_currency: Decimal | None = None  # foreign-currency amount (debit positive), when the entry's is foreign
    currency: str = ""  # the foreign currency of amount_currency
    analytic: dict[str, str] = field(default_factory=dict)  # {dimension: target analytic account id}

    @property
    def amount(self) -> Decimal:
        return self.debit - self.credit


@dataclass
class JournalEntry:
    reference: str  # the hub's deterministic reference: finds the entry again after a crash
    journal_id: str
    date: dt.date
    label: str
    lines: list[EntryLine]
    currency: str = "EUR"
    source_number: str = ""
    kind: str = "general"  # sale | purchase | general: tells the target which way VAT amounts count
    attachment: Attachment | None = None
    # What targets that book documents rather than entries (Xero) need besides the lines:
    due_date: dt.date | None = None
    document_currency: str = ""  # the invoice's own currency (lines carry amount_currency when it is foreign)
    is_credit_note: bool = False
    version: str = ""  # the source document's version this entry was built from (idempotency keys)

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)

    def check_balanced(self) -> None:
        for line in self.lines:
            if not isinstance(line.debit, Decimal) or not isinstance(line.credit, Decimal):
                raise UnbalancedEntry(f"{self.reference}: amounts must be Decimal, got {type(line.debit).__name__}")
            if line.debit < 0 or line.credit < 0 or (line.debit and line.credit):
                raise UnbalancedEntry(f"{self.reference}: a line has both or negative debit/credit ({line})")
            if line.debit.as_tuple().exponent < -2 or line.credit.as_tuple().exponent < -2:
                raise UnbalancedEntry(f"{self.reference}: a line has more than two decimals ({line})")
        if len(self.lines) < 2:
            raise UnbalancedEntry(f"{self.reference}: an entry needs at least two lines")
        if self.total_debit != self.total_credit:
            raise UnbalancedEntry(
                f"{self.reference}: debits {self.total_debit} != credits {self.total_credit}"
            )


@dataclass
class EntryResult:
    """What became of one entry in the target; `error` is set when that entry alone was refused."""

    reference: str
    entry_id: str = ""
    state: str = "posted"  # draft | posted
    number: str = ""
    error: Exception | None = None
    attachment_count: int | None = None  # files on the entry, when the target said (None: not asked)
    reconciled: bool | None = None  # payments: the invoice's third-party line is now reconciled (None: not asked)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.entry_id)


class TargetState(StrEnum):
    """Where a submitted document stands in the target, as the hub follows it (issue 17: status monitoring)."""

    PENDING = "pending"  # received, not yet processed or approved (e.g. Procountor's UNFINISHED, waiting approval)
    ACCEPTED = "accepted"  # booked / sent / open, as the target says
    PAID = "paid"  # settled in full
    PARTLY_PAID = "partly_paid"
    REJECTED = "rejected"  # refused after it was received (asynchronously): `reason` says why
    CANCELLED = "cancelled"  # invalidated or credited in the target
    MISSING = "missing"  # the target no longer lists it


@dataclass(frozen=True)
class TargetStatus:
    """One submitted document's status in the target: the hub's word (`state`), the target's own (`label`, e.g.
    Procountor's "PAID" or Netvisor's "open"), why it was rejected (`reason`, the target's words, an excerpt) and
    what is paid of it when the target says."""

    entry_id: str
    state: TargetState
    label: str = ""
    reason: str = ""
    paid_amount: Decimal | None = None
    open_amount: Decimal | None = None
