"""What the hub reads from an ERP (issue 16): parties, products and business documents.

Plain values, independent of the ERP that produced them (Tryton today).  Money and quantities are
Decimal.  Each record carries ``updated_at`` (the ERP's own change time, UTC; listings come oldest
change first) and ``version``, a digest of what the hub copies: it changes when the record changes
in a way that matters to the target, and stays the same when only bookkeeping around it moved (a
state of shipment, the hub's own note of the target's number), so a flow skips what it has sent.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum

from integration_hub.connectors.types import Address


class ErpKind(StrEnum):
    """The document types of a document flow (each has its own switch)."""

    QUOTE = "quote"
    SALES_ORDER = "sales_order"
    INVOICE = "invoice"  # a customer invoice of a sales order
    PURCHASE_ORDER = "purchase_order"
    BILL = "bill"  # a supplier invoice of a purchase order

    @property
    def is_sale(self) -> bool:
        return self in (ErpKind.QUOTE, ErpKind.SALES_ORDER, ErpKind.INVOICE)


@dataclass(frozen=True)
class ErpTax:
    """A tax as the ERP names it, with the percentage it applies on the document's date."""

    id: str
    name: str
    rate: Decimal | None  # percent (20 for 20 %); None when the ERP has no rate for that date


@dataclass
class ErpParty:
    """A customer and/or supplier (roles come from the documents the party appears on)."""

    id: str
    name: str
    code: str = ""
    vat_number: str = ""
    registration_number: str = ""  # SIREN in France
    email: str = ""
    phone: str = ""
    address: Address | None = None
    is_customer: bool = False
    is_supplier: bool = False
    active: bool = True
    updated_at: dt.datetime | None = None
    version: str = ""


@dataclass
class ErpProduct:
    id: str
    code: str
    name: str
    kind: str  # goods | service | assets
    description: str = ""
    category: str = ""  # the accounting category (several products share one)
    categories: tuple[str, ...] = ()
    unit: str = ""
    sale_price: Decimal | None = None
    purchase_price: Decimal | None = None
    sale_taxes: tuple[ErpTax, ...] = ()
    purchase_taxes: tuple[ErpTax, ...] = ()
    salable: bool = False
    purchasable: bool = False
    active: bool = True
    updated_at: dt.datetime | None = None
    version: str = ""


@dataclass
class ErpLine:
    """One line of a document.  ``amount`` is the ERP's untaxed amount; ``tax_amount`` is that amount at
    the line's rates, rounded to the cent (the document's totals are the ERP's own)."""

    id: str
    product_id: str | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rates: tuple[Decimal, ...] = ()
    taxes: tuple[ErpTax, ...] = ()
    amount: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0")
    product_code: str = ""
    description_only: bool = False  # a comment line: text, no quantity, no amount

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax_amount


@dataclass
class ErpDocument:
    kind: ErpKind
    id: str
    number: str
    state: str  # the ERP's own state (quotation, processing, posted, paid, cancelled...)
    party_id: str
    date: dt.date | None
    lines: list[ErpLine] = field(default_factory=list)
    untaxed_amount: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0")
    total_amount: Decimal = Decimal("0")
    currency: str = ""
    version: str = ""
    origin_number: str = ""  # the order of an invoice or bill
    origin_id: str = ""
    party_name: str = ""
    reference: str = ""  # the customer's order number, the supplier's invoice number
    description: str = ""
    due_date: dt.date | None = None  # invoices and bills
    expiry_date: dt.date | None = None  # quotes
    delivery_date: dt.date | None = None  # purchase orders, when the buyer gave one
    updated_at: dt.datetime | None = None

    @property
    def key(self) -> str:
        """Unique across kinds: a quote and the order it became share the ERP id."""
        return f"{self.kind}:{self.id}"


def content_version(record, *, leave_out: tuple[str, ...] = ("version", "updated_at")) -> str:
    """A short digest of a record's content (dataclass), ``leave_out`` fields excluded."""
    values = {k: v for k, v in asdict(record).items() if k not in leave_out}
    raw = json.dumps(values, sort_keys=True, default=_canonical, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _canonical(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 20, 20.0 and 20.00 are one amount
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    raise TypeError(f"cannot digest {type(value).__name__}")
