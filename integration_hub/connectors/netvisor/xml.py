"""Netvisor's XML, both ways: the request documents the hub sends and the answers it reads.

Netvisor writes decimals with a comma (``123,45``) and dates in two forms: ANSI (``2024-01-31``, with
``format="ansi"`` on the element) and Finnish (``31.1.2024``, in ledger and payment lists). Requests are
sent ISO-8859-15 encoded, as Netvisor asks for messages with Scandinavian letters. Answers are parsed
with defusedxml only; every answer is ``<Root><ResponseStatus>`` with ``OK``, or ``FAILED`` and a second
``<Status>CODE :: text</Status>``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, SubElement, tostring  # building only; parsing goes through defusedxml

from defusedxml import ElementTree as SafeET

ENCODING = "iso-8859-15"


# ---- values -------------------------------------------------------------------------------------


def fi_decimal(value: Decimal | int | str, places: int | None = 2) -> str:
    """``Decimal("1234.5")`` -> ``"1234,50"`` (``places=None`` keeps the value's own digits)."""
    value = Decimal(value)
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    return f"{value:f}".replace(".", ",")


def parse_decimal(text: str | None) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        return Decimal(text.strip().replace(" ", "").replace("\u00a0", "").replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"not a Netvisor decimal: {text!r}") from None


def parse_date(text: str | None) -> dt.date | None:
    """An ANSI (2024-01-31) or Finnish (31.1.2024) date; None for an empty element."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if "." in text:
        day, month, year = text.split(" ")[0].split(".")
        return dt.date(int(year), int(month), int(day))
    return dt.date.fromisoformat(text[:10])


# ---- answers ------------------------------------------------------------------------------------


class Node:
    """An answer element, its children found whatever the case of their names (Netvisor is not consistent:
    ``Netvisorkey`` next to ``NetvisorKey``)."""

    def __init__(self, element: Element | None):
        self.element = element

    def __bool__(self) -> bool:
        return self.element is not None

    def children(self, name: str) -> list["Node"]:
        if self.element is None:
            return []
        low = name.lower()
        return [Node(c) for c in self.element if isinstance(c.tag, str) and c.tag.lower() == low]

    def child(self, name: str) -> "Node":
        found = self.children(name)
        return found[0] if found else Node(None)

    def has_children(self) -> bool:
        return self.element is not None and len(self.element) > 0

    @property
    def text(self) -> str:
        return "" if self.element is None else (self.element.text or "").strip()

    def str(self, name: str) -> str:
        return self.child(name).text

    def int(self, name: str) -> int | None:
        text = self.str(name)
        return int(text) if text.lstrip("-").isdigit() else None

    def decimal(self, name: str) -> Decimal | None:
        return parse_decimal(self.str(name))

    def date(self, name: str) -> dt.date | None:
        return parse_date(self.str(name))

    def attr(self, name: str, default: str = "") -> str:
        if self.element is None:
            return default
        low = name.lower()
        return next((v for k, v in self.element.attrib.items() if k.lower() == low), default)


@dataclass
class Envelope:
    ok: bool
    code: str = ""
    message: str = ""
    root: Node = field(default_factory=lambda: Node(None))


class NotNetvisorXml(ValueError):
    """The answer is not Netvisor's XML envelope."""


def read_envelope(content: bytes) -> Envelope:
    """The ResponseStatus of an answer; ``code``/``message`` split from FAILED's "CODE :: text"."""
    if not content.strip():
        raise NotNetvisorXml("empty answer")
    try:
        root = SafeET.fromstring(content)
    except SafeET.ParseError as exc:
        raise NotNetvisorXml(f"not XML: {exc}") from None
    except Exception as exc:  # defusedxml refusals: entities, DTDs
        raise NotNetvisorXml(f"refused XML: {type(exc).__name__}") from None
    node = Node(root)
    if root.tag.lower() != "root" or not node.child("ResponseStatus"):
        raise NotNetvisorXml("no <Root><ResponseStatus>")
    statuses = [s.text for s in node.child("ResponseStatus").children("Status")]
    if statuses and statuses[0].upper() == "OK":
        return Envelope(ok=True, root=node)
    detail = next((s for s in statuses[1:] if s), "")
    code, _, message = detail.partition("::")
    if not message:
        code, message = "", detail
    return Envelope(ok=False, code=code.strip().upper(), message=message.strip() or detail, root=node)


def inserted_key(envelope: Envelope) -> int | None:
    """``<Replies><InsertedDataIdentifier>`` of a write."""
    return envelope.root.child("Replies").int("InsertedDataIdentifier")


# ---- requests: the documents --------------------------------------------------------------------


@dataclass
class Dimension:
    name: str
    item: str


@dataclass
class CustomerData:
    name: str
    code: str = ""  # InternalIdentifier: the hub's customer code
    business_id: str = ""  # ExternalIdentifier: Y-tunnus
    street: str = ""
    city: str = ""
    post_number: str = ""
    country: str = "FI"
    email: str = ""
    email_invoicing: str = ""
    phone: str = ""
    active: bool = True


@dataclass
class SalesInvoiceLine:
    product: str  # the product's code (type="customer") in Netvisor
    name: str
    unit_price: Decimal
    vat_percent: Decimal
    vat_code: str
    quantity: Decimal = Decimal(1)
    price_type: str = "net"
    discount_percent: Decimal | None = None
    free_text: str = ""
    account: str = ""
    dimensions: list[Dimension] = field(default_factory=list)
    product_type: str = "customer"


@dataclass
class SalesInvoiceData:
    """A sales invoice, or a credit note (negative quantities and amount)."""

    date: dt.date
    amount: Decimal
    customer: str  # the customer's code (customer_type="customer") or Netvisor key ("netvisor")
    lines: list[SalesInvoiceLine]
    number: str = ""
    due_date: dt.date | None = None
    delivery_date: dt.date | None = None
    reference: str = ""
    currency: str = "EUR"
    status: str = "open"  # or unsent
    customer_type: str = "customer"
    customer_name: str = ""
    our_reference: str = ""
    your_reference: str = ""
    private_comment: str = ""
    payment_term_days: int | None = None
    invoice_type: str = "invoice"


@dataclass
class VoucherLineData:
    amount: Decimal  # positive debit, negative credit
    account: str
    vat_percent: Decimal = Decimal(0)
    vat_code: str = "NONE"
    description: str = ""
    dimensions: list[Dimension] = field(default_factory=list)


@dataclass
class VoucherData:
    date: dt.date
    voucher_class: str
    lines: list[VoucherLineData]
    description: str = ""
    mode: str = "net"  # the line sums are net (Netvisor adds VAT lines) or gross
    number: int | None = None


@dataclass
class SalesPaymentData:
    amount: Decimal
    date: dt.date
    target: str
    source_name: str
    target_type: str = "invoicenumber"  # or reference, netvisor
    currency: str = "EUR"
    method: str = "Pankki"
    bank_account: str = ""  # OverrideAccountingAccountNumber


@dataclass
class PurchaseInvoiceLineData:
    line_sum: Decimal  # gross
    vat_percent: Decimal
    name: str = ""
    vat_code: str = "KOOS"
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None
    account: str = ""
    description: str = ""
    dimensions: list[Dimension] = field(default_factory=list)


@dataclass
class PurchaseInvoiceData:
    number: str
    date: dt.date
    vendor_name: str
    amount: Decimal
    lines: list[PurchaseInvoiceLineData] = field(default_factory=list)
    due_date: dt.date | None = None
    value_date: dt.date | None = None
    vendor_business_id: str = ""
    reference: str = ""
    bank_account: str = ""
    comment: str = ""


def _add(parent: Element, tag: str, text=None, **attrs) -> Element:
    element = SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v not in (None, "")})
    if text is not None:
        element.text = str(text)
    return element


def _date(parent: Element, tag: str, value: dt.date | None) -> None:
    if value is not None:
        _add(parent, tag, value.isoformat(), format="ansi")


def _dimensions(parent: Element, dimensions: list[Dimension]) -> None:
    for dimension in dimensions:
        node = _add(parent, "Dimension")
        _add(node, "DimensionName", dimension.name)
        _add(node, "DimensionItem", dimension.item)


def _percent(value: Decimal) -> str:
    """25.50 -> "25,5", 24 -> "24": a VAT percentage as the rate's own digits."""
    return f"{Decimal(value).normalize():f}".replace(".", ",")


def document(root: Element) -> bytes:
    """The bytes sent: ISO-8859-15, letters it lacks as character references, no declaration (Netvisor's
    messages start with <Root>)."""
    return tostring(root, encoding="unicode").encode(ENCODING, "xmlcharrefreplace")


def customer_xml(data: CustomerData) -> bytes:
    root = Element("Root")
    base = _add(_add(root, "Customer"), "CustomerBaseInformation")
    for tag, value in [("InternalIdentifier", data.code), ("ExternalIdentifier", data.business_id),
                       ("Name", data.name), ("StreetAddress", data.street), ("City", data.city),
                       ("PostNumber", data.post_number), ("Country", data.country), ("PhoneNumber", data.phone),
                       ("Email", data.email), ("IsActive", "1" if data.active else "0"),
                       ("EmailInvoicingAddress", data.email_invoicing)]:
        if value:
            _add(base, tag, value)
    return document(root)


def sales_invoice_xml(data: SalesInvoiceData) -> bytes:
    root = Element("Root")
    node = _add(root, "SalesInvoice")
    if data.number:
        _add(node, "SalesInvoiceNumber", data.number)
    _date(node, "SalesInvoiceDate", data.date)
    _date(node, "SalesInvoiceDeliveryDate", data.delivery_date)
    _date(node, "SalesInvoiceDueDate", data.due_date)
    if data.reference:
        _add(node, "SalesInvoiceReferenceNumber", data.reference)
    _add(node, "SalesInvoiceAmount", fi_decimal(data.amount), iso4217currencycode=data.currency)
    _add(node, "InvoiceType", data.invoice_type)
    _add(node, "SalesInvoiceStatus", data.status, type="netvisor")
    for tag, value in [("SalesInvoiceOurReference", data.our_reference),
                       ("SalesInvoiceYourReference", data.your_reference),
                       ("SalesInvoicePrivateComment", data.private_comment)]:
        if value:
            _add(node, tag, value)
    _add(node, "InvoicingCustomerIdentifier", data.customer, type=data.customer_type)
    if data.customer_name:
        _add(node, "InvoicingCustomerName", data.customer_name)
    if data.payment_term_days is not None:
        _add(node, "PaymentTermNetDays", data.payment_term_days)
    lines = _add(node, "InvoiceLines")
    for line in data.lines:
        item = _add(_add(lines, "InvoiceLine"), "SalesInvoiceProductLine")
        _add(item, "ProductIdentifier", line.product, type=line.product_type)
        _add(item, "ProductName", line.name)
        _add(item, "ProductUnitPrice", fi_decimal(line.unit_price, None), type=line.price_type)
        _add(item, "ProductVatPercentage", _percent(line.vat_percent), vatcode=line.vat_code)
        _add(item, "SalesInvoiceProductLineQuantity", fi_decimal(line.quantity, None))
        if line.discount_percent is not None:
            _add(item, "SalesInvoiceProductLineDiscountPercentage", fi_decimal(line.discount_percent, None))
        if line.free_text:
            _add(item, "SalesInvoiceProductLineFreeText", line.free_text)
        if line.account:
            _add(item, "AccountingAccountSuggestion", line.account)
        _dimensions(item, line.dimensions)
    return document(root)


def voucher_xml(data: VoucherData) -> bytes:
    root = Element("Root")
    node = _add(root, "Voucher")
    _add(node, "CalculationMode", data.mode)
    _date(node, "VoucherDate", data.date)
    if data.number is not None:
        _add(node, "VoucherNumber", data.number)
    if data.description:
        _add(node, "Description", data.description)
    _add(node, "VoucherClass", data.voucher_class)
    for line in data.lines:
        item = _add(node, "VoucherLine")
        _add(item, "LineSum", fi_decimal(line.amount), type=data.mode)
        _add(item, "Description", line.description)
        _add(item, "AccountNumber", line.account)
        _add(item, "VatPercent", _percent(line.vat_percent), vatcode=line.vat_code)
        _dimensions(item, line.dimensions)
    return document(root)


def sales_payment_xml(data: SalesPaymentData) -> bytes:
    root = Element("Root")
    node = _add(root, "SalesPayment")
    _add(node, "Sum", fi_decimal(data.amount), currency=data.currency)
    _add(node, "PaymentDate", data.date.isoformat())
    _add(node, "TargetIdentifier", data.target, type=data.target_type, targettype="invoice")
    _add(node, "SourceName", data.source_name)
    _add(node, "PaymentMethod", data.method, type="alternative",
         overrideaccountingaccountnumber=data.bank_account or None)
    return document(root)


def purchase_invoice_xml(data: PurchaseInvoiceData) -> bytes:
    root = Element("Root")
    node = _add(root, "PurchaseInvoice")
    _add(node, "InvoiceNumber", data.number)
    _date(node, "InvoiceDate", data.date)
    _date(node, "ValueDate", data.value_date)
    _date(node, "DueDate", data.due_date)
    _add(node, "VendorName", data.vendor_name)
    if data.vendor_business_id:
        _add(node, "VendorBusinessId", data.vendor_business_id)
    _add(node, "Amount", fi_decimal(data.amount))
    for tag, value in [("AccountNumber", data.bank_account), ("BankReferenceNumber", data.reference),
                       ("Comment", data.comment)]:
        if value:
            _add(node, tag, value)
    if data.lines:
        lines = _add(node, "PurchaseInvoiceLines")
        for line in data.lines:
            item = _add(lines, "PurchaseInvoiceLine")
            _add(item, "ProductName", line.name)
            _add(item, "DeliveredAmount", fi_decimal(line.quantity, None))
            _add(item, "UnitPrice", fi_decimal(line.unit_price if line.unit_price is not None else line.line_sum))
            _add(item, "VatPercent", _percent(line.vat_percent), vatcode=line.vat_code)
            _add(item, "LineSum", fi_decimal(line.line_sum))
            if line.description:
                _add(item, "Description", line.description)
            if line.account:
                _add(item, "AccountingSuggestion", line.account)
            _dimensions(item, line.dimensions)
    return document(root)


def dimension_item_xml(name: str, item: str, *, old_item: str = "", father_item: str = "",
                       hidden: bool = False) -> bytes:
    root = Element("Root")
    node = _add(root, "DimensionItem")
    _add(node, "Name", name)
    _add(node, "Item", item)
    if old_item:
        _add(node, "OldItem", old_item)
    if father_item:
        _add(node, "FatherItem", father_item)
    _add(node, "IsHidden", "true" if hidden else "false")
    return document(root)


def match_credit_note_xml(credit_note_key: int, invoice_key: int) -> bytes:
    root = Element("Root")
    node = _add(root, "MatchCreditNote")
    _add(node, "CreditNoteNetvisorKey", credit_note_key)
    _add(node, "InvoiceNetvisorKey", invoice_key)
    return document(root)


# ---- answers: the lists -------------------------------------------------------------------------


def sales_invoice_rows(root: Node) -> list[dict]:
    rows = []
    for row in root.child("SalesInvoiceList").children("SalesInvoice"):
        status = row.child("InvoiceStatus")
        rows.append({"key": row.int("NetvisorKey"), "number": row.str("InvoiceNumber"),
                     "date": row.date("InvoiceDate"), "status": status.text.lower(),
                     "substatus": status.attr("substatus").lower(), "customer_code": row.str("CustomerCode"),
                     "customer_name": row.str("CustomerName"), "reference": row.str("ReferenceNumber"),
                     "amount": row.decimal("InvoiceSum"), "open_amount": row.decimal("OpenSum"),
                     "delivery_error": row.str("DeliveryErrorMessage")})
    return rows


def sales_invoice_detail(root: Node) -> dict | None:
    node = root.child("SalesInvoice")
    if not node.has_children():  # Netvisor answers an unknown key with an empty element
        return None
    status = node.child("InvoiceStatus")
    lines = []
    for holder in node.child("InvoiceLines").children("InvoiceLine"):
        for line in holder.children("SalesInvoiceProductLine"):
            vat = line.child("ProductVatPercentage")
            lines.append({"product": line.str("ProductIdentifier"), "name": line.str("ProductName"),
                          "unit_price": line.decimal("ProductUnitPrice"),
                          "vat_percent": parse_decimal(vat.text), "vat_code": vat.attr("vatcode"),
                          "quantity": line.decimal("SalesInvoiceProductLineQuantity"),
                          "vat_amount": line.decimal("SalesInvoiceProductLineVatSum"),
                          "amount": line.decimal("SalesInvoiceProductLineSum"),
                          "account": line.str("AccountingAccountSuggestion"),
                          "dimensions": [Dimension(d.str("DimensionName"), d.str("DimensionItem"))
                                         for d in line.children("Dimension")]})
    amount = node.child("SalesInvoiceAmount")
    return {"key": node.int("SalesInvoiceNetvisorKey"), "number": node.str("SalesInvoiceNumber"),
            "date": node.date("SalesInvoiceDate"), "due_date": node.date("SalesInvoiceDueDate"),
            "reference": node.str("SalesInvoiceReferencenumber"), "amount": parse_decimal(amount.text),
            "currency": amount.attr("iso4217currencycode", "EUR"), "status": status.text.lower(),
            "substatus": status.attr("substatus").lower(), "open_amount": node.decimal("SalesInvoiceOpenSum"),
            "customer_key": node.int("InvoicingCustomerNetvisorKey"),
            "customer_name": node.str("InvoicingCustomerName"), "voucher_key": node.int("VoucherID"),
            "our_reference": node.str("SalesInvoiceOurReference"),
            "private_comment": node.str("SalesInvoicePrivateComment"), "lines": lines}


def purchase_invoice_rows(root: Node) -> list[dict]:
    return [{"key": row.int("NetvisorKey"), "number": row.str("InvoiceNumber"), "date": row.date("InvoiceDate"),
             "vendor_name": row.str("Vendor"), "vendor_business_id": row.str("VendorOrganizationIdentifier"),
             "amount": row.decimal("Sum"), "paid": row.decimal("Payments"), "open_amount": row.decimal("OpenSum")}
            for row in root.child("PurchaseInvoiceList").children("PurchaseInvoice")]


def purchase_invoice_detail(root: Node) -> dict | None:
    node = root.child("PurchaseInvoice")
    if not node.has_children():
        return None
    return {"key": node.int("PurchaseInvoiceNetvisorKey"), "number": node.str("PurchaseInvoiceNumber"),
            "date": node.date("PurchaseInvoiceDate"), "due_date": node.date("PurchaseInvoiceDueDate"),
            "amount": node.decimal("PurchaseInvoiceAmount"), "paid": node.decimal("PurchaseInvoicePaidAmount"),
            "status": node.str("InvoiceStatus"), "approval_status": node.str("ApprovalStatus"),
            "vendor_name": node.str("VendorName"), "vendor_business_id": node.str("VendorOrganizationIdentifier"),
            "voucher_key": node.int("VoucherID"), "comment": node.str("PurchaseInvoiceDescription"),
            "lines": [{"amount": line.decimal("LineSum"), "net_amount": line.decimal("LineNetSum"),
                       "vat_percent": line.decimal("VatPercent"), "vat_code": line.str("VatCode"),
                       "name": line.str("ProductName"), "description": line.str("Description")}
                      for line in node.child("InvoiceLines").children("PurchaseInvoiceLine")]}


def voucher_rows(root: Node) -> list[dict]:
    vouchers = []
    for row in root.child("Vouchers").children("Voucher"):
        linked = row.child("LinkedSourceNetvisorKey")
        vouchers.append({
            "key": row.int("NetvisorKey"), "status": row.attr("Status", "valid").lower(),
            "date": row.date("VoucherDate"),
            "number": row.int("VoucherNumber"), "description": row.str("VoucherDescription"),
            "voucher_class": row.str("VoucherClass"),
            "linked": (linked.attr("type"), int(linked.text)) if linked.text.isdigit() else None,
            "lines": [{"key": line.int("NetvisorKey"), "amount": line.decimal("LineSum"),
                       "description": line.str("Description"), "account": line.str("AccountNumber"),
                       "vat_percent": line.decimal("VatPercent"),
                       "vat_code": "NONE" if line.str("VatCode") in ("", "-") else line.str("VatCode"),
                       "dimensions": [Dimension(d.str("DimensionName"), d.str("DimensionItem"))
                                      for d in line.children("Dimension")]}
                      for line in row.children("VoucherLine")]})
    return vouchers


def account_list(root: Node) -> dict:
    node = root.child("AccountList")
    defaults = node.child("CompanyDefaultAccounts")
    default_accounts = {} if defaults.element is None else {
        child.tag: (child.text or "").strip() for child in defaults.element if isinstance(child.tag, str)}
    accounts = [{"key": a.int("NetvisorKey"), "number": a.str("Number"), "name": a.str("Name"),
                 "type": a.str("AccountType"), "parent_key": a.int("FatherNetvisorKey"),
                 "active": a.str("IsActive") == "1"}
                for a in node.child("Accounts").children("Account")]
    return {"default_accounts": default_accounts, "accounts": accounts}


def dimension_rows(root: Node) -> list[dict]:
    return [{"key": d.int("Netvisorkey"), "name": d.str("Name"), "hidden": d.str("IsHidden").lower() == "true",
             "items": [{"key": i.int("Netvisorkey"), "name": i.str("Name"),
                        "hidden": i.str("IsHidden").lower() == "true", "parent_key": i.int("FatherID") or 0,
                        "level": i.int("Level")}
                       for i in d.child("DimensionDetails").children("DimensionDetail")]}
            for d in root.child("DimensionNameList").children("DimensionName")]


def sales_payment_rows(root: Node) -> list[dict]:
    return [{"key": p.int("NetvisorKey"), "name": p.str("Name"), "date": p.date("Date"), "amount": p.decimal("Sum"),
             "reference": p.str("ReferenceNumber"), "invoice_number": p.str("InvoiceNumber"),
             "bank_status": p.str("BankStatus")}
            for p in root.child("SalesPaymentList").children("SalesPayment")]


def customer_rows(root: Node) -> list[dict]:
    return [{"key": c.int("Netvisorkey"), "name": c.str("Name"), "code": c.str("Code"),
             "business_id": c.str("OrganisationIdentifier")}
            for c in root.child("Customerlist").children("Customer")]


def customer_detail(root: Node) -> dict | None:
    node = root.child("Customer")
    base = node.child("CustomerBaseInformation")
    if not base.has_children():
        return None
    return {"key": base.int("NetvisorKey"), "code": base.str("InternalIdentifier"),
            "business_id": base.str("ExternalIdentifier"), "name": base.str("Name"),
            "street": base.str("StreetAddress"), "city": base.str("City"), "post_number": base.str("PostNumber"),
            "country": base.str("Country"), "email": base.str("Email"), "active": base.str("IsActive") == "1"}


def product_rows(root: Node) -> list[dict]:
    return [{"key": p.int("NetvisorKey"), "code": p.str("ProductCode"), "name": p.str("Name"),
             "unit_price": p.decimal("UnitPrice")}
            for p in root.child("ProductList").children("Product")]
