"""What one Netvisor organisation holds in the sandbox, and the rules Netvisor applies when data arrives.

Everything is in memory behind one lock. Writes raise ``NetvisorFailure(code, text)`` with Netvisor's
error categories (INVALID_DATA, DUPLICATE_DATA, PERIOD_LOCK...), which the app turns into the FAILED
envelope. Amounts are Decimal; a line sum's sign follows Netvisor's ledger: positive is debit,
negative is credit.

A sales invoice's status is what Netvisor reports in its lists: ``unsent`` (saved, not sent, nothing
paid), ``open`` (sent or partly paid; substatus ``overdue`` once the sandbox clock passes the due
date), ``paid`` (nothing left open). Payments and matched credit notes move it along.
"""
from __future__ import annotations

import copy
import datetime as dt
import threading
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

from integration_hub.connectors.finnish import NETVISOR_KNOWN_CODES, NETVISOR_ZERO_ONLY_CODES, finnish_vat_rates

CENT = Decimal("0.01")

# Netvisor's VAT codes and Finnish VAT rates: the project's Finnish rules (docs/finnish-rules.md) are the source.
VAT_CODES = NETVISOR_KNOWN_CODES
ZERO_RATE_CODES = NETVISOR_ZERO_ONLY_CODES
# Codes of purchases: their VAT goes to the purchase VAT receivable, and a sales invoice cannot use them.
PURCHASE_CODES = frozenset({"KOOS", "EUOS", "EUPO", "EUUO", "100", "EVTO", "EVPO", "EVKV", "KAVE", "RAOS", "EVRO",
                            "MAAL", "EVMA"})
# How long after an invoice is sent Netvisor's delivery (e-invoice, print service) reports a failure (sandbox choice).
DELIVERY_DELAY = dt.timedelta(minutes=10)
VOUCHER_CLASSES = ("Muistiotosite", "Myyntilasku", "Ostolasku", "Suoritus", "Palkka", "Tiliote")


class NetvisorFailure(Exception):
    """A refusal in Netvisor's words: ``code`` is the category (INVALID_DATA...), ``text`` what follows '::'."""

    def __init__(self, code: str, text: str):
        super().__init__(f"{code} :: {text}")
        self.code = code
        self.text = text


def invalid(text: str) -> NetvisorFailure:
    return NetvisorFailure("INVALID_DATA", f"Data form incorrect:. {text}")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def reference_check_digit(base: str) -> int:
    """The Finnish reference number's check digit (weights 7, 3, 1 from the right)."""
    weights = (7, 3, 1)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(base)))
    return (10 - total % 10) % 10


def reference_number(base: int | str) -> str:
    digits = str(base)
    if len(digits) < 3:
        digits = digits.rjust(3, "1")  # a reference is at least 4 digits long
    return f"{digits}{reference_check_digit(digits)}"


def valid_reference(value: str) -> bool:
    digits = value.replace(" ", "")
    if digits.upper().startswith("RF"):  # the international form: accepted as given
        return len(digits) >= 5
    return digits.isdigit() and 4 <= len(digits) <= 20 and reference_check_digit(digits[:-1]) == int(digits[-1])


class Clock:
    """Sandbox time (aware UTC). Without ``start`` it follows the real clock; ``advance`` moves it on."""

    def __init__(self, start: dt.datetime | None = None, *, source: Callable[[], dt.datetime] | None = None):
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        self._start = start
        self._source = source or (lambda: dt.datetime.now(dt.timezone.utc))
        self._offset = dt.timedelta()
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            base = self._start if self._start is not None else self._source()
            return base + self._offset

    def today(self) -> dt.date:
        return self.now().date()

    def advance(self, seconds: float = 0, *, days: float = 0) -> dt.datetime:
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds, days=days)
        return self.now()

    def __call__(self) -> dt.datetime:
        return self.now()


@dataclass
class Account:
    number: str
    name: str
    key: int
    kind: str = "account"  # or "accountgroup"
    active: bool = True
    father: int = 0


@dataclass
class Customer:
    key: int
    name: str
    code: str = ""
    business_id: str = ""
    street: str = ""
    city: str = ""
    post_number: str = ""
    country: str = "FI"
    email: str = ""
    email_invoicing: str = ""
    phone: str = ""
    active: bool = True
    reference: str = ""


@dataclass
class Product:
    key: int
    code: str
    name: str
    unit_price: Decimal
    vat: Decimal
    account: str = "3000"


@dataclass
class DimensionItem:
    key: int
    name: str
    hidden: bool = False
    father: int = 0
    level: int = 1


@dataclass
class Dimension:
    key: int
    name: str
    hidden: bool = False
    items: list[DimensionItem] = field(default_factory=list)

    def item(self, name: str) -> DimensionItem | None:
        return next((i for i in self.items if i.name == name), None)


@dataclass
class InvoiceLine:
    product_code: str
    name: str
    unit_price: Decimal
    price_type: str  # net or gross
    vat_percent: Decimal
    vat_code: str
    quantity: Decimal
    discount: Decimal = Decimal(0)
    free_text: str = ""
    account: str = ""
    dimensions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def net(self) -> Decimal:
        total = self.unit_price * self.quantity * (1 - self.discount / 100)
        if self.price_type == "gross":
            total = total / (1 + self.vat_percent / 100)
        return cents(total)

    @property
    def vat(self) -> Decimal:
        if self.price_type == "gross":
            gross = cents(self.unit_price * self.quantity * (1 - self.discount / 100))
            return gross - self.net
        return cents(self.net * self.vat_percent / 100)

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


@dataclass
class SalesInvoice:
    key: int
    number: str
    date: dt.date
    due_date: dt.date
    delivery_date: dt.date | None
    reference: str
    amount: Decimal
    currency: str
    customer_key: int
    customer_name: str
    sent: bool
    invoice_type: str = "invoice"
    lines: list[InvoiceLine] = field(default_factory=list)
    our_reference: str = ""
    your_reference: str = ""
    free_text_before: str = ""
    private_comment: str = ""
    payment_term_days: int = 14
    paid: Decimal = Decimal(0)
    credited: Decimal = Decimal(0)
    voucher_key: int = 0
    created: dt.datetime | None = None
    undeliverable: str = ""  # why sending it fails (no address to deliver it to); "" when it can be delivered

    @property
    def open_sum(self) -> Decimal:
        return self.amount - self.paid - self.credited

    def delivery_failure(self, now: dt.datetime, delay: dt.timedelta = DELIVERY_DELAY) -> str:
        """Netvisor's reason for not delivering a sent invoice, once the delivery was tried (`delay` after it was
        sent, sandbox choice); "" while it is not known or when the invoice was delivered."""
        if not self.undeliverable or not self.sent or self.created is None or now < self.created + delay:
            return ""
        return self.undeliverable

    def status(self, today: dt.date) -> tuple[str, str]:
        """(status, substatus) as salesinvoicelist.nv reports them."""
        if self.amount != 0 and (self.open_sum <= 0 if self.amount > 0 else self.open_sum >= 0):
            return "paid", ""
        if self.sent or self.paid or self.credited:
            return "open", "overdue" if today > self.due_date else ""
        return "unsent", ""


@dataclass
class PurchaseInvoiceLine:
    name: str
    quantity: Decimal
    unit_price: Decimal
    vat_percent: Decimal
    vat_code: str
    line_sum: Decimal  # gross
    description: str = ""
    account: str = ""
    dimensions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def net(self) -> Decimal:
        return cents(self.line_sum / (1 + self.vat_percent / 100))


@dataclass
class PurchaseInvoice:
    key: int
    number: str
    date: dt.date
    value_date: dt.date | None
    due_date: dt.date
    vendor_name: str
    vendor_business_id: str
    amount: Decimal
    reference: str = ""
    bank_account: str = ""
    comment: str = ""
    lines: list[PurchaseInvoiceLine] = field(default_factory=list)
    paid: Decimal = Decimal(0)
    status: str = "open"  # approval status
    voucher_key: int = 0


@dataclass
class VoucherLine:
    key: int
    line_sum: Decimal  # gross, positive = debit
    account: str
    description: str = ""
    vat_percent: Decimal = Decimal(0)
    vat_code: str = "NONE"
    dimensions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Voucher:
    key: int
    number: int
    date: dt.date
    description: str
    voucher_class: str
    lines: list[VoucherLine] = field(default_factory=list)
    status: str = "valid"
    linked: tuple[str, int] | None = None
    created: dt.datetime | None = None


@dataclass
class SalesPayment:
    key: int
    date: dt.date
    amount: Decimal
    currency: str
    source_name: str
    invoice_key: int
    invoice_number: str
    reference: str
    method: str
    bank_status: str = "OK"
    voucher_key: int = 0


@dataclass
class Organisation:
    """The data of one Netvisor organisation (company)."""

    business_id: str
    name: str = "Sandbox Oy"
    accounts: dict[str, Account] = field(default_factory=dict)
    default_accounts: dict[str, str] = field(default_factory=dict)
    customers: dict[int, Customer] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    dimensions: dict[int, Dimension] = field(default_factory=dict)
    sales_invoices: dict[int, SalesInvoice] = field(default_factory=dict)
    purchase_invoices: dict[int, PurchaseInvoice] = field(default_factory=dict)
    vouchers: dict[int, Voucher] = field(default_factory=dict)
    payments: dict[int, SalesPayment] = field(default_factory=dict)
    locked_until: dt.date | None = None
    next_key: int = 100
    voucher_numbers: dict[str, int] = field(default_factory=dict)

    def new_key(self) -> int:
        self.next_key += 1
        return self.next_key


class Faults:
    """Injected faults, consumed in order by the calls they match."""

    KINDS = ("500", "503", "timeout", "drop", "500_after", "drop_after", "maintenance")

    def __init__(self) -> None:
        self.queue: list[dict] = []

    def add(self, kind: str, count: int = 1, method: str | None = None, path_contains: str | None = None,
            delay: float = 30.0) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(self.KINDS)})")
        self.queue.append({"kind": kind, "count": max(1, int(count)), "method": (method or "").upper() or None,
                           "path_contains": (path_contains or "").lower() or None, "delay": float(delay)})

    def pick(self, method: str, path: str) -> dict | None:
        for fault in self.queue:
            if fault["method"] and fault["method"] != method:
                continue
            if fault["path_contains"] and fault["path_contains"] not in path.lower():
                continue
            fault["count"] -= 1
            if fault["count"] <= 0:
                self.queue.remove(fault)
            return dict(fault)
        return None

    def describe(self) -> dict:
        return {"faults": [dict(f) for f in self.queue]}


class NetvisorState:
    """The sandbox's data and the rules it enforces. Callers hold ``lock`` around every call."""

    def __init__(self, *, organisation_id: str, clock: Clock | None = None, seed: str | None = None,
                 request_log_size: int = 500):
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.delivery_delay = DELIVERY_DELAY  # how long after sending an undeliverable invoice is reported
        self.organisation_id = organisation_id
        self.seed_name = seed
        self.faults = Faults()
        self.request_log: deque[dict] = deque(maxlen=request_log_size)
        self.org = Organisation(business_id=organisation_id)
        self.reset(seed)

    # ---- lifecycle -----------------------------------------------------------------------

    def reset(self, seed: str | None | bool = True) -> None:
        from .seed import SEEDS, base_organisation

        name = self.seed_name if seed is True else (seed or None)
        with self.lock:
            self.seed_name = name
            self.org = base_organisation(self.organisation_id)
            if name:
                if name not in SEEDS:
                    raise ValueError(f"unknown seed {name!r}")
                SEEDS[name](self)
            self.faults.queue.clear()
            self.request_log.clear()

    def snapshot(self) -> Organisation:
        return copy.deepcopy(self.org)

    def restore(self, snapshot: Organisation) -> None:
        self.org = snapshot

    def log(self, entry: dict) -> None:
        self.request_log.append(entry)

    def summary(self) -> dict:
        org = self.org
        return {"organisation": org.business_id, "name": org.name, "seed": self.seed_name,
                "now": self.clock.now().isoformat(),
                "counts": {"accounts": len(org.accounts), "customers": len(org.customers),
                           "products": len(org.products), "dimensions": len(org.dimensions),
                           "sales_invoices": len(org.sales_invoices),
                           "purchase_invoices": len(org.purchase_invoices), "vouchers": len(org.vouchers),
                           "sales_payments": len(org.payments)}}

    # ---- checks shared by the resources --------------------------------------------------

    def account(self, number: str, what: str = "AccountNumber") -> Account:
        account = self.org.accounts.get(str(number).strip())
        if account is None or account.kind != "account":
            raise invalid(f"{what}: account {number} not found in the chart of accounts")
        if not account.active:
            raise invalid(f"{what}: account {number} is not in use")
        return account

    def vat(self, percent: Decimal, code: str, on: dt.date, what: str) -> tuple[Decimal, str]:
        code = (code or "").strip().upper()
        if not code:
            raise invalid(f"{what}: attribute vatcode is missing")
        if code not in VAT_CODES:
            raise invalid(f"{what}: unknown VAT code '{code}'")
        if percent not in finnish_vat_rates(on):
            raise invalid(f"{what}: VAT percentage {percent} is not valid on {on.isoformat()}")
        if code in ZERO_RATE_CODES and percent != 0:
            raise invalid(f"{what}: VAT code {code} requires VAT percentage 0")
        return percent, code

    def dimension_pairs(self, pairs: list[tuple[str, str]], what: str) -> list[tuple[str, str]]:
        for name, item in pairs:
            dimension = next((d for d in self.org.dimensions.values() if d.name == name), None)
            if dimension is None:
                raise invalid(f"{what}: dimension name '{name}' not found")
            if not item or dimension.item(item) is None:
                raise invalid(f"{what}: dimension item '{item}' not found in dimension '{name}'")
        return pairs

    def check_period(self, day: dt.date) -> None:
        if self.org.locked_until and day <= self.org.locked_until:
            raise NetvisorFailure("PERIOD_LOCK", f"Accounting period is locked until "
                                                 f"{self.org.locked_until:%d.%m.%Y}; date {day:%d.%m.%Y} "
                                                 "cannot be booked")

    def customer_by(self, identifier: str, kind: str) -> Customer:
        kind = (kind or "netvisor").lower()
        if kind == "netvisor":
            found = self.org.customers.get(int(identifier)) if identifier.isdigit() else None
        elif kind == "customer":
            found = next((c for c in self.org.customers.values() if c.code == identifier), None)
        else:
            raise invalid(f"InvoicingCustomerIdentifier: unknown type '{kind}' (netvisor or customer)")
        if found is None:
            raise invalid(f"Customer not found with identifier: {identifier}")
        return found

    def product_by(self, identifier: str, kind: str) -> Product:
        kind = (kind or "netvisor").lower()
        if kind == "netvisor":
            found = self.org.products.get(int(identifier)) if identifier.isdigit() else None
        elif kind == "customer":
            found = next((p for p in self.org.products.values() if p.code == identifier), None)
        else:
            raise invalid(f"ProductIdentifier: unknown type '{kind}' (netvisor or customer)")
        if found is None:
            raise invalid(f"Product not found with identifier: {identifier}")
        return found

    # ---- customers -----------------------------------------------------------------------

    def save_customer(self, data: dict, key: int | None = None) -> int:
        org = self.org
        if key is not None and key not in org.customers:
            raise invalid(f"Customer not found with Netvisor identifier: {key}")
        if key is None and not (data.get("name") or "").strip():
            raise invalid("Element Name is missing or empty")
        code = (data.get("code") or "").strip()
        if code and any(c.code == code and c.key != key for c in org.customers.values()):
            raise NetvisorFailure("DUPLICATE_DATA", f"Customer code {code} is already in use")
        if key is None:
            key = org.new_key()
            org.customers[key] = Customer(key=key, name=data["name"].strip())
        customer = org.customers[key]
        for name, value in data.items():
            if value is not None and hasattr(customer, name):
                setattr(customer, name, value)
        return key

    # ---- vouchers ------------------------------------------------------------------------

    def _number(self, voucher_class: str) -> int:
        self.org.voucher_numbers[voucher_class] = self.org.voucher_numbers.get(voucher_class, 0) + 1
        return self.org.voucher_numbers[voucher_class]

    def book(self, *, date: dt.date, description: str, voucher_class: str, lines: list[VoucherLine],
             linked: tuple[str, int] | None = None, number: int | None = None) -> Voucher:
        total = sum((line.line_sum for line in lines), Decimal(0))
        if total != 0:
            raise invalid(f"Voucher is not in balance: the line sums add up to {total:f}, not 0")
        key = self.org.new_key()
        voucher = Voucher(key=key, number=number or self._number(voucher_class), date=date,
                          description=description, voucher_class=voucher_class, lines=lines, linked=linked,
                          created=self.clock.now())
        self.org.vouchers[key] = voucher
        return voucher

    def vat_account(self, code: str) -> str:
        return self.org.default_accounts["PurchaseVATReceivable" if code in PURCHASE_CODES else "SalesVATDebt"]

    def add_voucher(self, data: dict) -> int:
        """accounting.nv: lines in net or gross; a net line with VAT gets its VAT line on the VAT account."""
        self.check_period(data["date"])
        voucher_class = data.get("voucher_class") or ""
        if not voucher_class:
            raise invalid("Element VoucherClass is missing or empty")
        if voucher_class not in VOUCHER_CLASSES:
            raise invalid(f"Voucher class '{voucher_class}' not found")
        if not data["lines"]:
            raise invalid("Voucher has no VoucherLine elements")
        lines: list[VoucherLine] = []
        for index, raw in enumerate(data["lines"], 1):
            what = f"VoucherLine {index}"
            self.account(raw["account"], f"{what} AccountNumber")
            percent, code = self.vat(raw["vat_percent"], raw["vat_code"], data["date"], f"{what} VatPercent")
            dims = self.dimension_pairs(raw["dimensions"], what)
            mode = (raw.get("sum_type") or data.get("mode") or "net").lower()
            if mode not in ("net", "gross"):
                raise invalid(f"{what}: LineSum type must be net or gross, not '{mode}'")
            amount = raw["line_sum"]
            if code == "NONE" or percent == 0:
                net, vat_part = amount, Decimal(0)
            elif mode == "net":
                net, vat_part = amount, cents(amount * percent / 100)
            else:
                net = cents(amount / (1 + percent / 100))
                vat_part = amount - net
            lines.append(VoucherLine(key=self.org.new_key(), line_sum=net, account=raw["account"],
                                     description=raw.get("description") or "", vat_percent=percent, vat_code=code,
                                     dimensions=dims))
            if vat_part:
                lines.append(VoucherLine(key=self.org.new_key(), line_sum=vat_part, account=self.vat_account(code),
                                         description=raw.get("description") or "", vat_percent=percent,
                                         vat_code=code))
        return self.book(date=data["date"], description=data.get("description") or "", voucher_class=voucher_class,
                         lines=lines, number=data.get("number")).key

    # ---- sales invoices ------------------------------------------------------------------

    def add_sales_invoice(self, data: dict) -> int:
        org, today = self.org, data["date"]
        customer = self.customer_by(data["customer_id"], data["customer_id_type"])
        number = (data.get("number") or "").strip()
        if number:
            if not number.isdigit():
                raise invalid(f"SalesInvoiceNumber must be a number, not '{number}'")
            if any(i.number == number for i in org.sales_invoices.values()):
                raise NetvisorFailure("DUPLICATE_DATA", f"Sales invoice number {number} is already in use")
        else:
            used = [int(i.number) for i in org.sales_invoices.values() if i.number.isdigit()]
            number = str(max(used, default=1000) + 1)
        status = (data.get("status") or "").lower()
        if status not in ("unsent", "open"):
            raise invalid(f"SalesInvoiceStatus '{data.get('status')}' is not valid (unsent or open)")
        invoice_type = (data.get("invoice_type") or "invoice").lower()
        if invoice_type not in ("invoice", "order"):
            raise invalid(f"InvoiceType '{invoice_type}' is not valid (invoice or order)")
        lines: list[InvoiceLine] = []
        if not data["lines"]:
            raise invalid("Sales invoice has no InvoiceLine elements")
        for index, raw in enumerate(data["lines"], 1):
            what = f"InvoiceLine {index}"
            product = self.product_by(raw["product_id"], raw["product_id_type"])
            if raw["price_type"] not in ("net", "gross"):
                raise invalid(f"{what}: ProductUnitPrice type must be net or gross, not '{raw['price_type']}'")
            percent, code = self.vat(raw["vat_percent"], raw["vat_code"], today, f"{what} ProductVatPercentage")
            if code in PURCHASE_CODES:
                raise invalid(f"{what}: VAT code {code} is a purchase code and cannot be used on a sales invoice")
            account = raw.get("account") or product.account
            self.account(account, f"{what} AccountingAccountSuggestion")
            lines.append(InvoiceLine(product_code=product.code, name=raw.get("name") or product.name,
                                     unit_price=raw["unit_price"], price_type=raw["price_type"], vat_percent=percent,
                                     vat_code=code, quantity=raw["quantity"],
                                     discount=raw.get("discount") or Decimal(0),
                                     free_text=raw.get("free_text") or "", account=account,
                                     dimensions=self.dimension_pairs(raw["dimensions"], what)))
        computed = sum((line.gross for line in lines), Decimal(0))
        if abs(computed - data["amount"]) > Decimal("0.05"):
            raise invalid(f"SalesInvoiceAmount {data['amount']:f} does not match the sum of the invoice lines "
                          f"{computed:f}")
        reference = (data.get("reference") or "").replace(" ", "")
        if reference and not valid_reference(reference):
            raise invalid(f"SalesInvoiceReferenceNumber '{reference}' is not a valid reference number")
        self.check_period(today)
        key = org.new_key()
        days = data.get("payment_term_days")
        invoice = SalesInvoice(
            key=key, number=number, date=today,
            due_date=data.get("due_date") or today + dt.timedelta(days=days if days is not None else 14),
            delivery_date=data.get("delivery_date"), reference=reference or reference_number(number),
            amount=computed, currency=data.get("currency") or "EUR", customer_key=customer.key,
            customer_name=data.get("customer_name") or customer.name, sent=status == "open",
            invoice_type=invoice_type, lines=lines, our_reference=data.get("our_reference") or "",
            your_reference=data.get("your_reference") or "", free_text_before=data.get("free_text_before") or "",
            private_comment=data.get("private_comment") or "",
            payment_term_days=days if days is not None else 14, created=self.clock.now())
        if status == "open" and not (customer.email_invoicing or customer.email or
                                     (customer.street and customer.post_number)):
            invoice.undeliverable = (f"Invoice {number} could not be delivered: customer {customer.name} has no "
                                     "e-invoicing address, e-mail or postal address")
        if invoice_type == "invoice":
            invoice.voucher_key = self._book_sales_invoice(invoice)
        org.sales_invoices[key] = invoice
        return key

    def _book_sales_invoice(self, invoice: SalesInvoice) -> int:
        lines = [VoucherLine(key=self.org.new_key(), line_sum=invoice.amount,
                             account=self.org.default_accounts["SalesReceivables"],
                             description=f"{invoice.customer_name}, lasku {invoice.number}")]
        for line in invoice.lines:
            lines.append(VoucherLine(key=self.org.new_key(), line_sum=-line.net, account=line.account,
                                     description=line.name, vat_percent=line.vat_percent, vat_code=line.vat_code,
                                     dimensions=list(line.dimensions)))
            if line.vat:
                lines.append(VoucherLine(key=self.org.new_key(), line_sum=-line.vat,
                                         account=self.vat_account(line.vat_code), description=line.name,
                                         vat_percent=line.vat_percent, vat_code=line.vat_code))
        return self.book(date=invoice.date, description=f"{invoice.customer_name}, lasku {invoice.number}",
                         voucher_class="Myyntilasku", lines=lines, linked=("salesinvoice", invoice.key)).key

    def match_credit_note(self, credit_key: int, invoice_key: int) -> None:
        org = self.org
        credit, invoice = org.sales_invoices.get(credit_key), org.sales_invoices.get(invoice_key)
        if credit is None or credit.amount >= 0:
            raise invalid(f"Credit note not found with Netvisor identifier: {credit_key}")
        if invoice is None or invoice.amount <= 0:
            raise invalid(f"Sales invoice not found with Netvisor identifier: {invoice_key}")
        if credit.credited:
            raise NetvisorFailure("DUPLICATE_DATA", f"Credit note {credit.number} is already matched")
        invoice.credited += -credit.amount
        credit.credited += credit.amount

    # ---- payments ------------------------------------------------------------------------

    def add_sales_payment(self, data: dict) -> int:
        org = self.org
        kind, target = (data["target_type"] or "").lower(), data["target"]
        if kind in ("reference", "referencenumber"):
            wanted = target.replace(" ", "")
            matches = [i for i in org.sales_invoices.values() if i.reference == wanted]
        elif kind == "invoicenumber":
            matches = [i for i in org.sales_invoices.values() if i.number == target]
        elif kind == "netvisor":
            matches = [org.sales_invoices[int(target)]] if target.isdigit() and int(target) in org.sales_invoices \
                else []
        else:
            raise invalid(f"TargetIdentifier: unknown type '{data['target_type']}' "
                          "(reference, invoicenumber or netvisor)")
        if not matches:
            raise invalid(f"Sales invoice not found with {kind} {target}")
        invoice = max(matches, key=lambda i: i.key)
        if data["amount"] == 0:
            raise invalid("Sum must not be zero")
        self.check_period(data["date"])
        key = org.new_key()
        payment = SalesPayment(key=key, date=data["date"], amount=data["amount"],
                               currency=data.get("currency") or "EUR",
                               source_name=data["source_name"], invoice_key=invoice.key, invoice_number=invoice.number,
                               reference=invoice.reference, method=data.get("method") or "")
        bank = data.get("bank_account") or org.default_accounts["Bank"]
        self.account(bank, "PaymentMethod OverrideAccountingAccountNumber")
        payment.voucher_key = self.book(
            date=payment.date, description=f"{payment.source_name}, suoritus lasku {invoice.number}",
            voucher_class="Suoritus", linked=("salespayment", key),
            lines=[VoucherLine(key=org.new_key(), line_sum=payment.amount, account=bank),
                   VoucherLine(key=org.new_key(), line_sum=-payment.amount,
                               account=org.default_accounts["SalesReceivables"])]).key
        invoice.paid += payment.amount
        org.payments[key] = payment
        return key

    # ---- purchase invoices ---------------------------------------------------------------

    def add_purchase_invoice(self, data: dict) -> int:
        org = self.org
        number = (data.get("number") or "").strip()
        if not number:
            raise invalid("Element InvoiceNumber is missing or empty")
        vendor = (data.get("vendor_name") or "").strip()
        if not vendor:
            raise invalid("Element VendorName is missing or empty")
        if any(p.number == number and p.vendor_name == vendor for p in org.purchase_invoices.values()):
            raise NetvisorFailure("DUPLICATE_DATA", f"Purchase invoice {number} from {vendor} already exists")
        lines: list[PurchaseInvoiceLine] = []
        for index, raw in enumerate(data["lines"], 1):
            what = f"PurchaseInvoiceLine {index}"
            percent, code = self.vat(raw["vat_percent"], raw.get("vat_code") or "KOOS", data["date"],
                                     f"{what} VatPercent")
            account = raw.get("account") or org.default_accounts["PurchaseDomesticDefault"]
            self.account(account, f"{what} AccountingSuggestion")
            lines.append(PurchaseInvoiceLine(name=raw.get("name") or "", quantity=raw.get("quantity") or Decimal(1),
                                             unit_price=raw.get("unit_price") or raw["line_sum"],
                                             vat_percent=percent, vat_code=code, line_sum=raw["line_sum"],
                                             description=raw.get("description") or "", account=account,
                                             dimensions=self.dimension_pairs(raw["dimensions"], what)))
        if lines:
            total = sum((line.line_sum for line in lines), Decimal(0))
            if abs(total - data["amount"]) > Decimal("0.05"):
                raise invalid(f"Amount {data['amount']:f} does not match the sum of the invoice lines {total:f}")
        self.check_period(data["date"])
        key = org.new_key()
        invoice = PurchaseInvoice(key=key, number=number, date=data["date"], value_date=data.get("value_date"),
                                  due_date=data.get("due_date") or data["date"] + dt.timedelta(days=14),
                                  vendor_name=vendor, vendor_business_id=data.get("vendor_business_id") or "",
                                  amount=data["amount"], reference=data.get("reference") or "",
                                  bank_account=data.get("bank_account") or "", comment=data.get("comment") or "",
                                  lines=lines)
        if lines:
            booked = [VoucherLine(key=org.new_key(), line_sum=-invoice.amount,
                                  account=org.default_accounts["TradePayables"], description=vendor)]
            for line in lines:
                vat_part = line.line_sum - line.net
                booked.append(VoucherLine(key=org.new_key(), line_sum=line.net, account=line.account,
                                          description=line.name, vat_percent=line.vat_percent,
                                          vat_code=line.vat_code, dimensions=list(line.dimensions)))
                if vat_part:
                    booked.append(VoucherLine(key=org.new_key(), line_sum=vat_part,
                                              account=self.vat_account(line.vat_code), description=line.name,
                                              vat_percent=line.vat_percent, vat_code=line.vat_code))
            invoice.voucher_key = self.book(date=invoice.date, description=f"{vendor}, lasku {number}",
                                            voucher_class="Ostolasku", lines=booked,
                                            linked=("purchaseinvoice", key)).key
        org.purchase_invoices[key] = invoice
        return key

    # ---- dimensions ----------------------------------------------------------------------

    def save_dimension_item(self, name: str, item: str, *, old_item: str | None = None, father_item: str = "",
                            hidden: bool = False) -> int:
        org = self.org
        if not name:
            raise invalid("Element Name is missing or empty")
        if not item:
            raise invalid("Element Item is missing or empty")
        dimension = next((d for d in org.dimensions.values() if d.name == name), None)
        if dimension is None:
            dimension = Dimension(key=org.new_key(), name=name)
            org.dimensions[dimension.key] = dimension
        father = 0
        if father_item:
            parent = dimension.item(father_item)
            if parent is None:
                raise invalid(f"Father item '{father_item}' not found in dimension '{name}'")
            father = parent.key
        if old_item is not None:
            existing = dimension.item(old_item)
            if existing is None:
                raise invalid(f"Dimension item '{old_item}' not found in dimension '{name}'")
            existing.name, existing.hidden, existing.father = item, hidden, father or existing.father
            return existing.key
        if dimension.item(item) is not None:
            raise NetvisorFailure("DUPLICATE_DATA", f"Dimension item '{item}' already exists in dimension '{name}'")
        new = DimensionItem(key=org.new_key(), name=item, hidden=hidden, father=father, level=2 if father else 1)
        dimension.items.append(new)
        return new.key
