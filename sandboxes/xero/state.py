"""In-memory data of the Xero sandbox and Xero's rules, one ``Organisation`` per tenant.

Stdlib only, no Django. Records are plain dicts keyed with Xero's field names but holding native
values (``Decimal`` money, ``date``/``datetime`` dates, contact ids instead of nested contacts);
``Organisation.render_*`` turn them into Xero's JSON shapes and ``dumps`` writes money as exact
JSON numbers. ``XeroState.lock`` (an RLock) guards every read and change, so one state serves a
threading server and a test thread at once.

Field names, shapes and enums follow Xero's OpenAPI description (xero_accounting.yaml v16.1.0);
the rules and their messages follow Xero's documented behaviour. Where neither says, the choice
is the sandbox's and is written down in docs/sandbox-xero.md.
"""
from __future__ import annotations

import collections
import copy
import datetime as dt
import json
import mimetypes
import re
import threading
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Iterable

from .limits import SandboxClock
from .where import WhereError, compile_where, parse_order, sort_records

UTC = dt.timezone.utc
ZERO_ID = "00000000-0000-0000-0000-000000000000"
CENT = Decimal("0.01")
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
IDEMPOTENCY_KEY_MAX = 128
IDEMPOTENCY_MEMORY = 20000  # keys remembered per organisation (oldest forgotten first)
NAMESPACE = uuid.UUID("6f1c1a4e-3d2b-4f55-9a57-0c8f3e4b2a11")  # seeded ids are stable across restarts

# Fixed sandbox exchange rates: units of the currency per one unit of the base currency.
DEFAULT_RATES = {"GBP": Decimal("1"), "EUR": Decimal("1.150000"), "USD": Decimal("1.270000")}


def stable_id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


# --------------------------------------------------------------------------------------------
# Answers other than 200


class XeroError(Exception):
    """An answer the API gives instead of the resource: status, body (dict or text), headers."""

    def __init__(self, status: int, body: dict | str, headers: dict[str, str] | None = None):
        super().__init__(body if isinstance(body, str) else body.get("Message") or body.get("Detail") or status)
        self.status, self.body, self.headers = status, body, dict(headers or {})


def validation_exception(elements: list[dict]) -> XeroError:
    return XeroError(400, {"ErrorNumber": 10, "Type": "ValidationException",
                           "Message": "A validation exception occurred", "Elements": elements})


def post_data_invalid(message: str) -> XeroError:
    """The body could not be read (bad JSON, a number or date that is not one): ErrorNumber 14."""
    return XeroError(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                           "Message": f"JSON for post data was invalid,{message}"})


def query_parse(message: str) -> XeroError:
    return XeroError(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message})


def not_found() -> XeroError:
    """Xero answers an unknown id or path with this plain-text sentence, not JSON."""
    return XeroError(404, "The resource you're looking for cannot be found")


def simple_validation(message: str) -> XeroError:
    return validation_exception([{"ValidationErrors": [{"Message": message}]}])


# --------------------------------------------------------------------------------------------
# JSON: exact money, Xero's dates

_NUMBER_MARK = "\u0000num:"
_NUMBER_RE = re.compile(r'"\\u0000num:(-?[0-9.]+)"')


def _prepare(value):
    if isinstance(value, Decimal):
        return _NUMBER_MARK + format(value, "f")
    if isinstance(value, dict):
        return {k: _prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    return value


def dumps(value) -> bytes:
    """JSON with every Decimal written as an exact number (40.00 stays 40.00, never 40.0 or a float)."""
    text = json.dumps(_prepare(value), ensure_ascii=False)
    return _NUMBER_RE.sub(lambda m: m.group(1), text).encode()


def loads(raw: bytes):
    """A request body: numbers with a fraction become Decimal, never float."""
    return json.loads(raw, parse_float=Decimal)


def ms(moment: dt.datetime | dt.date, *, offset: bool = True) -> str:
    """Xero's Microsoft JSON date: ``/Date(1518685950940+0000)/`` (a date is its UTC midnight)."""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(), tzinfo=UTC)
    millis = int(moment.timestamp() * 1000) if moment.tzinfo else int(moment.replace(tzinfo=UTC).timestamp() * 1000)
    return f"/Date({millis}+0000)/" if offset else f"/Date({millis})/"


def date_string(day: dt.date) -> str:
    return f"{day:%Y-%m-%d}T00:00:00"


_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_date(value, where: str) -> dt.date | None:
    """A date as clients send it: "2026-11-30", "2026-11-30T00:00:00", or "/Date(ms+0000)/"."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        match = _MS_DATE.match(text)
        try:
            if match:
                return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).date()
            if len(text) >= 10 and re.match(r"^\d{4}-\d{2}-\d{2}", text):
                return dt.date.fromisoformat(text[:10])
        except (ValueError, OverflowError):
            pass
    raise post_data_invalid(f"Could not convert string to DateTime: {value}. Path '{where}'.")


def parse_since(header: str | None) -> dt.datetime | None:
    """If-Modified-Since: ISO 8601 (what Xero's SDKs send) or an HTTP date; unreadable -> ignored."""
    if not header:
        return None
    text = header.strip()
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        from email.utils import parsedate_to_datetime
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def as_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def is_guid(value) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# Reading request bodies: Xero matches property names without regard to case.

KNOWN_NAMES = """
AccountID AccountNumber AccountsPayableTaxType AccountsReceivableTaxType Account Accounts Addresses AddressLine1
AddressLine2 AddressLine3 AddressLine4 AddressType Amount AmountCredited AmountDue AmountPaid AttentionTo
BankAccountDetails BankAccountNumber BrandingThemeID City Code COGSAccountCode CompanyNumber Contact ContactID
ContactNumber ContactPersons ContactStatus Contacts Country CreditNote CreditNoteID CreditNoteNumber CreditNotes
CurrencyCode CurrencyRate Date DefaultCurrency DeliveryAddress DeliveryDate DeliveryInstructions Description
Details DiscountAmount DiscountRate DueDate EmailAddress ExpectedArrivalDate ExpectedPaymentDate ExpiryDate
FirstName IncludeInEmails Invoice InvoiceID InvoiceNumber Invoices IsCustomer IsPurchased IsSold IsSupplier
IsTrackedAsInventory Item ItemCode ItemID Items LastName LineAmount LineAmountTypes LineItemID LineItems Name
Option Payments Payment PaymentID Phones PhoneAreaCode PhoneCountryCode PhoneNumber PhoneType PlannedPaymentDate
PostalCode PurchaseDescription PurchaseDetails PurchaseOrderID PurchaseOrderNumber PurchaseOrders
PurchasesDefaultAccountCode Quantity Quote QuoteID QuoteNumber Quotes Reference Region SalesDefaultAccountCode
SalesDetails SentToContact Status SubTotal Summary TaxAmount TaxNumber TaxType Telephone Terms Title Total
TotalTax Tracking TrackingCategoryID TrackingOptionID Type UnitAmount UnitPrice Url Website
""".split()
_CANONICAL = {name.lower(): name for name in KNOWN_NAMES}


def canonical(value):
    """Request JSON with known property names spelt as Xero does (``invoiceNumber`` -> ``InvoiceNumber``)."""
    if isinstance(value, dict):
        return {_CANONICAL.get(str(k).lower(), k): canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def elements(body, plural: str) -> list[dict]:
    """``{"Invoices": [...]}``, a bare list, or one bare object -> the list of elements."""
    if isinstance(body, dict) and plural in body:
        items = body[plural]
        items = items if isinstance(items, list) else [items]
    elif isinstance(body, list):
        items = body
    elif isinstance(body, dict) and body:
        items = [body]
    else:
        items = []
    if not items or not all(isinstance(i, dict) for i in items):
        raise post_data_invalid(f"Expected {plural} to be an array of objects. Path '{plural}'.")
    return [canonical(i) for i in items]


def decimal_in(value, where: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise post_data_invalid(f"Could not convert {value} to decimal. Path '{where}'.")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise post_data_invalid(f"Could not convert string to decimal: {value}. Path '{where}'.") from None
    if not result.is_finite():
        raise post_data_invalid(f"Could not convert string to decimal: {value}. Path '{where}'.")
    return result


def text_in(value) -> str | None:
    if value is None:
        return None
    return str(value)


# --------------------------------------------------------------------------------------------
# Field tables for where/order (kinds as in where.py)

CONTACT_FIELDS: dict = {
    "ContactID": "guid", "ContactNumber": "str", "AccountNumber": "str", "ContactStatus": "str", "Name": "str",
    "FirstName": "str", "LastName": "str", "CompanyNumber": "str", "EmailAddress": "str", "TaxNumber": "str",
    "BankAccountDetails": "str", "AccountsReceivableTaxType": "str", "AccountsPayableTaxType": "str",
    "IsSupplier": "bool", "IsCustomer": "bool", "DefaultCurrency": "str", "UpdatedDateUTC": "datetime",
    "HasAttachments": "bool", "SalesDefaultAccountCode": "str", "PurchasesDefaultAccountCode": "str",
    "Website": "str",
}
ACCOUNT_FIELDS: dict = {
    "AccountID": "guid", "Code": "str", "Name": "str", "Type": "str", "Status": "str", "Description": "str",
    "Class": "str", "TaxType": "str", "EnablePaymentsToAccount": "bool", "ShowInExpenseClaims": "bool",
    "BankAccountNumber": "str", "BankAccountType": "str", "CurrencyCode": "str", "SystemAccount": "str",
    "ReportingCode": "str", "HasAttachments": "bool", "UpdatedDateUTC": "datetime", "AddToWatchlist": "bool",
}
TAX_RATE_FIELDS: dict = {
    "Name": "str", "TaxType": "str", "Status": "str", "ReportTaxType": "str", "CanApplyToAssets": "bool",
    "CanApplyToEquity": "bool", "CanApplyToExpenses": "bool", "CanApplyToLiabilities": "bool",
    "CanApplyToRevenue": "bool", "DisplayTaxRate": "decimal", "EffectiveRate": "decimal",
}
CURRENCY_FIELDS: dict = {"Code": "str", "Description": "str"}
TRACKING_FIELDS: dict = {"TrackingCategoryID": "guid", "Name": "str", "Status": "str"}
ITEM_FIELDS: dict = {
    "ItemID": "guid", "Code": "str", "Name": "str", "Description": "str", "PurchaseDescription": "str",
    "IsSold": "bool", "IsPurchased": "bool", "IsTrackedAsInventory": "bool", "UpdatedDateUTC": "datetime",
    "SalesDetails": {"UnitPrice": "decimal", "AccountCode": "str", "TaxType": "str"},
    "PurchaseDetails": {"UnitPrice": "decimal", "AccountCode": "str", "TaxType": "str"},
}
_DOCUMENT_COMMON: dict = {
    "Type": "str", "Reference": "str", "Status": "str", "Date": "date", "DueDate": "date",
    "LineAmountTypes": "str", "SubTotal": "decimal", "TotalTax": "decimal", "Total": "decimal",
    "TotalDiscount": "decimal", "CurrencyCode": "str", "CurrencyRate": "decimal", "UpdatedDateUTC": "datetime",
    "HasAttachments": "bool", "SentToContact": "bool", "BrandingThemeID": "guid", "FullyPaidOnDate": "date",
    "Contact": CONTACT_FIELDS,
}
INVOICE_FIELDS: dict = dict(_DOCUMENT_COMMON, InvoiceID="guid", InvoiceNumber="str", AmountDue="decimal",
                            AmountPaid="decimal", AmountCredited="decimal", IsDiscounted="bool", HasErrors="bool",
                            ExpectedPaymentDate="date", PlannedPaymentDate="date", Url="str")
CREDIT_NOTE_FIELDS: dict = dict(_DOCUMENT_COMMON, CreditNoteID="guid", CreditNoteNumber="str",
                                RemainingCredit="decimal", AppliedAmount="decimal")
QUOTE_FIELDS: dict = {
    "QuoteID": "guid", "QuoteNumber": "str", "Reference": "str", "Terms": "str", "Title": "str", "Summary": "str",
    "Date": "date", "ExpiryDate": "date", "Status": "str", "CurrencyCode": "str", "CurrencyRate": "decimal",
    "SubTotal": "decimal", "TotalTax": "decimal", "Total": "decimal", "TotalDiscount": "decimal",
    "LineAmountTypes": "str", "UpdatedDateUTC": "datetime", "BrandingThemeID": "guid", "Contact": CONTACT_FIELDS,
}
PURCHASE_ORDER_FIELDS: dict = {
    "PurchaseOrderID": "guid", "PurchaseOrderNumber": "str", "Reference": "str", "Date": "date",
    "DeliveryDate": "date", "ExpectedArrivalDate": "date", "Status": "str", "LineAmountTypes": "str",
    "CurrencyCode": "str", "CurrencyRate": "decimal", "SubTotal": "decimal", "TotalTax": "decimal",
    "Total": "decimal", "TotalDiscount": "decimal", "SentToContact": "bool", "HasAttachments": "bool",
    "UpdatedDateUTC": "datetime", "DeliveryAddress": "str", "AttentionTo": "str", "Telephone": "str",
    "DeliveryInstructions": "str", "BrandingThemeID": "guid", "Contact": CONTACT_FIELDS,
}
PAYMENT_FIELDS: dict = {
    "PaymentID": "guid", "Date": "date", "Amount": "decimal", "BankAmount": "decimal", "CurrencyRate": "decimal",
    "Reference": "str", "Status": "str", "PaymentType": "str", "IsReconciled": "bool", "HasAccount": "bool",
    "UpdatedDateUTC": "datetime",
    "Invoice": {"InvoiceID": "guid", "InvoiceNumber": "str", "Type": "str", "Contact": CONTACT_FIELDS},
    "CreditNote": {"CreditNoteID": "guid", "CreditNoteNumber": "str", "Type": "str", "Contact": CONTACT_FIELDS},
    "Account": {"AccountID": "guid", "Code": "str"},
}

ACCOUNT_CLASSES = {
    "BANK": "ASSET", "CURRENT": "ASSET", "FIXED": "ASSET", "INVENTORY": "ASSET", "NONCURRENT": "ASSET",
    "PREPAYMENT": "ASSET", "CURRLIAB": "LIABILITY", "LIABILITY": "LIABILITY", "TERMLIAB": "LIABILITY",
    "PAYG": "LIABILITY", "EQUITY": "EQUITY", "DEPRECIATN": "EXPENSE", "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE", "OVERHEADS": "EXPENSE", "OTHERINCOME": "REVENUE", "REVENUE": "REVENUE", "SALES": "REVENUE",
}
CLASS_PERMISSION = {"ASSET": "CanApplyToAssets", "LIABILITY": "CanApplyToLiabilities", "EQUITY": "CanApplyToEquity",
                    "EXPENSE": "CanApplyToExpenses", "REVENUE": "CanApplyToRevenue"}


# --------------------------------------------------------------------------------------------
# Documents: what differs between invoices, credit notes, quotes and purchase orders


@dataclass(frozen=True)
class DocKind:
    plural: str
    singular: str  # the word in messages ("Invoice")
    id_field: str
    number_field: str
    fields: dict
    types: tuple[str, ...] = ()
    create_statuses: tuple[str, ...] = ("DRAFT", "SUBMITTED", "AUTHORISED")
    statuses: tuple[str, ...] = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
    auto_number: dict = field(default_factory=dict)  # Type (or "") -> prefix
    unique_number_types: tuple[str, ...] = ()
    payable: bool = False
    quote_line_types: bool = False  # Quotes spell LineAmountTypes EXCLUSIVE/INCLUSIVE/NOTAX
    approved: tuple[str, ...] = ("SUBMITTED", "AUTHORISED")  # statuses that need account codes and dates
    has_due_date: bool = True
    type_enum: tuple[str, ...] = ()  # every Type the description knows (others do not even parse)


INVOICES = DocKind("Invoices", "Invoice", "InvoiceID", "InvoiceNumber", INVOICE_FIELDS, types=("ACCREC", "ACCPAY"),
                   auto_number={"ACCREC": "INV-"}, unique_number_types=("ACCREC",), payable=True,
                   type_enum=("ACCPAY", "ACCPAYCREDIT", "APOVERPAYMENT", "APPREPAYMENT", "ACCREC", "ACCRECCREDIT",
                              "AROVERPAYMENT", "ARPREPAYMENT"))
CREDIT_NOTES = DocKind("CreditNotes", "Credit Note", "CreditNoteID", "CreditNoteNumber", CREDIT_NOTE_FIELDS,
                       types=("ACCRECCREDIT", "ACCPAYCREDIT"), auto_number={"ACCRECCREDIT": "CN-"},
                       unique_number_types=("ACCRECCREDIT",), payable=True, has_due_date=False,
                       type_enum=("ACCRECCREDIT", "ACCPAYCREDIT"))
QUOTES = DocKind("Quotes", "Quote", "QuoteID", "QuoteNumber", QUOTE_FIELDS, create_statuses=("DRAFT", "SENT"),
                 statuses=("DRAFT", "SENT", "DECLINED", "ACCEPTED", "INVOICED", "DELETED"), auto_number={"": "QU-"},
                 unique_number_types=("",), quote_line_types=True, approved=(), has_due_date=False)
PURCHASE_ORDERS = DocKind("PurchaseOrders", "Purchase Order", "PurchaseOrderID", "PurchaseOrderNumber",
                          PURCHASE_ORDER_FIELDS, create_statuses=("DRAFT", "SUBMITTED", "AUTHORISED"),
                          statuses=("DRAFT", "SUBMITTED", "AUTHORISED", "BILLED", "DELETED"), auto_number={"": "PO-"},
                          unique_number_types=("",), approved=(), has_due_date=False)
DOC_KINDS = {k.plural: k for k in (INVOICES, CREDIT_NOTES, QUOTES, PURCHASE_ORDERS)}
LINE_AMOUNT_TYPES = {"EXCLUSIVE": "Exclusive", "INCLUSIVE": "Inclusive", "NOTAX": "NoTax"}


@dataclass
class Outcome:
    """One element of a PUT/POST: the record (saved or not), its messages, and whether it was saved."""

    record: dict
    errors: list[str]
    saved: bool = False


# --------------------------------------------------------------------------------------------
# One organisation (tenant)


class Organisation:
    """All data of one Xero organisation, and its rules. Callers hold ``XeroState.lock``."""

    def __init__(self, state: "XeroState", tenant_id: str, info: dict):
        self.state = state
        self.tenant_id = tenant_id
        self.info = info  # the Organisation resource, native values
        self.accounts: dict[str, dict] = {}
        self.tax_rates: dict[str, dict] = {}  # TaxType -> record
        self.currencies: dict[str, dict] = {}
        self.tracking: dict[str, dict] = {}
        self.contacts: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.documents: dict[str, dict[str, dict]] = {kind: {} for kind in DOC_KINDS}
        self.payments: dict[str, dict] = {}
        self.attachments: dict[tuple[str, str], list[dict]] = {}
        self.idempotency: collections.OrderedDict[str, dict] = collections.OrderedDict()
        self._last_stamp = dt.datetime(2000, 1, 1, tzinfo=UTC)
        self.id_source: Callable[[], str] | None = None
        self._sequence = 0

    # ---- small helpers -----------------------------------------------------------------------

    @property
    def base_currency(self) -> str:
        return self.info["BaseCurrency"]

    def today(self) -> dt.date:
        return self.state.clock.utcnow().date()

    def stamp(self) -> dt.datetime:
        """UpdatedDateUTC for a change now: sandbox time in whole milliseconds, strictly increasing."""
        now = self.state.clock.utcnow()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_stamp:
            now = self._last_stamp + dt.timedelta(milliseconds=1)
        self._last_stamp = now
        return now

    def new_id(self) -> str:
        """A fresh Xero id; while seeding, a stable one (the demo keeps its ids across restarts)."""
        if self.id_source is not None:
            return self.id_source()
        return str(uuid.uuid4())

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def account_by_code(self, code: str | None) -> dict | None:
        if not code:
            return None
        code = str(code).strip().lower()
        return next((a for a in self.accounts.values() if a["Code"].lower() == code), None)

    def account_by_any(self, given: dict | None) -> dict | None:
        if not isinstance(given, dict):
            return None
        if given.get("AccountID"):
            return self.accounts.get(str(given["AccountID"]).lower())
        return self.account_by_code(given.get("Code"))

    def snapshot(self) -> tuple:
        """Cheap copies of the tables a write changes (records are replaced, never edited in place)."""
        return ({k: dict(v) for k, v in self.documents.items()}, dict(self.contacts), dict(self.items),
                dict(self.payments))

    def restore(self, snapshot: tuple) -> None:
        documents, contacts, items, payments = snapshot
        self.documents, self.contacts, self.items, self.payments = documents, contacts, items, payments

    # ---- generic listing ---------------------------------------------------------------------

    def lookup(self, record: dict, path: tuple[str, ...]):
        """The native value of a field path, for where/order (nested contacts resolved by id)."""
        value: Any = record
        for index, name in enumerate(path):
            if not isinstance(value, dict):
                return None
            if name == "Contact" and "ContactID" in value and "Contact" not in value:
                value = self.contacts.get(value["ContactID"]) or {}
                continue
            if name in ("Invoice", "CreditNote", "Account") and index == 0 and name not in value:
                ref = value.get(f"_{name}")
                value = self.resolve_ref(name, ref) or {}
                continue
            value = value.get(name)
        return value

    def resolve_ref(self, name: str, ref: str | None) -> dict | None:
        if not ref:
            return None
        if name == "Invoice":
            return self.documents["Invoices"].get(ref)
        if name == "CreditNote":
            return self.documents["CreditNotes"].get(ref)
        return self.accounts.get(ref)

    def select(self, records: Iterable[dict], query: "Query", fields: dict, type_name: str, *,
               default_order: Callable[[dict], Any] | None = None, since_field: str | None = "UpdatedDateUTC",
               since: dt.datetime | None = None) -> list[dict]:
        """Filter (where, If-Modified-Since) and order records as Xero does."""
        try:
            predicate = compile_where(query.one("where"), fields, type_name)
            order = parse_order(query.one("order"), fields, type_name)
        except WhereError as exc:
            raise query_parse(exc.message) from None
        result = list(records)
        if default_order is not None:
            result.sort(key=default_order)
        if since is not None and since_field:
            result = [r for r in result if r.get(since_field) is not None and r[since_field] > since]
        if predicate is not None:
            result = [r for r in result if predicate(r, self.lookup)]
        if order:
            result = sort_records(result, order, self.lookup)
        return result

    @staticmethod
    def page(records: list[dict], query: "Query", *, always: bool = True) -> tuple[list[dict], dict | None]:
        """One page (1-based ``page``, ``pageSize`` up to 1000) and Xero's ``pagination`` object."""
        page_text, size_text = query.one("page"), query.one("pageSize")
        if page_text is None and not always:
            return records, None
        try:
            page = max(int(page_text), 1) if page_text else 1
            size = int(size_text) if size_text else PAGE_SIZE
        except ValueError:
            raise query_parse("The page and pageSize parameters must be whole numbers") from None
        size = min(max(size, 1), MAX_PAGE_SIZE)
        count = len(records)
        chunk = records[(page - 1) * size: page * size]
        pagination = {"page": page, "pageSize": size, "pageCount": (count + size - 1) // size, "itemCount": count}
        return chunk, pagination

    # ---- rendering ---------------------------------------------------------------------------

    def render_account(self, a: dict) -> dict:
        out = {"AccountID": a["AccountID"], "Code": a["Code"], "Name": a["Name"], "Status": a["Status"],
               "Type": a["Type"], "TaxType": a.get("TaxType") or "NONE", "Class": a["Class"],
               "EnablePaymentsToAccount": a.get("EnablePaymentsToAccount", False),
               "ShowInExpenseClaims": a.get("ShowInExpenseClaims", False)}
        for name in ("Description", "BankAccountNumber", "BankAccountType", "CurrencyCode", "SystemAccount",
                     "ReportingCode", "ReportingCodeName"):
            if a.get(name):
                out[name] = a[name]
        out.update({"HasAttachments": False, "AddToWatchlist": a.get("AddToWatchlist", False),
                    "UpdatedDateUTC": ms(a["UpdatedDateUTC"])})
        return out

    def save_tax_rates(self, items: list[dict], *, upsert: bool) -> list[Outcome]:
        """Custom tax rates (PUT creates; POST also updates by Name or TaxType): Xero names new ones TAX001..."""
        outcomes = []
        for given in items:
            given = given if isinstance(given, dict) else {}
            name = text_in(given.get("Name")) or ""
            report = (text_in(given.get("ReportTaxType")) or "").upper()
            errors: list[str] = []
            components = given.get("TaxComponents") if isinstance(given.get("TaxComponents"), list) else []
            rates = []
            for component in components:
                try:
                    rates.append(Decimal(str((component or {}).get("Rate"))))
                except (InvalidOperation, ValueError):
                    errors.append("A tax component's Rate must be a number.")
            if not name:
                errors.append("Name is a required field.")
            if not components:
                errors.append("At least one tax component is required.")
            existing = next((t for t in self.tax_rates.values() if t["Name"] == name or
                             t["TaxType"] == (text_in(given.get("TaxType")) or "").upper()), None)
            if existing is not None and not upsert:
                errors.append(f"A tax rate with the name '{name}' already exists.")
            if report not in ("OUTPUT", "INPUT", "EXEMPTOUTPUT", "EXEMPTEXPENSES", "NONE", ""):
                errors.append(f"'{report}' is not a valid ReportTaxType.")
            if errors:
                outcomes.append(Outcome({"Name": name, "TaxType": "", "ReportTaxType": report or "NONE",
                                         "Status": "ACTIVE", "CanApplyToAssets": False, "CanApplyToEquity": False,
                                         "CanApplyToLiabilities": False, "CanApplyToRevenue": False,
                                         "CanApplyToExpenses": False, "EffectiveRate": Decimal(0),
                                         "TaxComponents": []}, errors))
                continue
            record = existing or {"TaxType": f"TAX{len([t for t in self.tax_rates if t.startswith('TAX')]) + 1:03d}"}
            record.update({"Name": name, "ReportTaxType": report or "NONE", "Status": "ACTIVE",
                           "CanApplyToAssets": True, "CanApplyToEquity": True, "CanApplyToLiabilities": True,
                           "CanApplyToRevenue": report in ("OUTPUT", "EXEMPTOUTPUT", "NONE", ""),
                           "CanApplyToExpenses": report in ("INPUT", "EXEMPTEXPENSES", "NONE", ""),
                           "EffectiveRate": sum(rates, Decimal(0)),
                           "TaxComponents": [{"Name": text_in((c or {}).get("Name")) or "Tax", "Rate": r}
                                             for c, r in zip(components, rates)]})
            self.tax_rates[record["TaxType"]] = record
            outcomes.append(Outcome(record, [], saved=True))
        return outcomes

    @staticmethod
    def render_tax_rate(t: dict) -> dict:
        rate = t["EffectiveRate"]
        return {"Name": t["Name"], "TaxType": t["TaxType"], "ReportTaxType": t["ReportTaxType"],
                "CanApplyToAssets": t["CanApplyToAssets"], "CanApplyToEquity": t["CanApplyToEquity"],
                "CanApplyToExpenses": t["CanApplyToExpenses"], "CanApplyToLiabilities": t["CanApplyToLiabilities"],
                "CanApplyToRevenue": t["CanApplyToRevenue"], "DisplayTaxRate": rate.quantize(Decimal("0.0001")),
                "EffectiveRate": rate.quantize(Decimal("0.0001")), "Status": t["Status"],
                "TaxComponents": [{"Name": c["Name"], "Rate": c["Rate"].quantize(Decimal("0.0001")),
                                   "IsCompound": False, "IsNonRecoverable": False} for c in t["TaxComponents"]]}

    @staticmethod
    def render_tracking(t: dict, include_archived: bool = False) -> dict:
        options = [o for o in t["Options"] if include_archived or o["Status"] == "ACTIVE"]
        return {"Name": t["Name"], "Status": t["Status"], "TrackingCategoryID": t["TrackingCategoryID"],
                "Options": [{"TrackingOptionID": o["TrackingOptionID"], "Name": o["Name"], "Status": o["Status"]}
                            for o in options]}

    def render_organisation(self) -> dict:
        i = self.info
        out = {k: v for k, v in i.items() if not isinstance(v, (dt.date, dt.datetime))}
        out["CreatedDateUTC"] = ms(i["CreatedDateUTC"], offset=False)
        return out

    def render_contact(self, c: dict, *, summary: bool = False) -> dict:
        out: dict = {"ContactID": c["ContactID"]}
        for name in ("ContactNumber", "AccountNumber"):
            if c.get(name):
                out[name] = c[name]
        out.update({"ContactStatus": c.get("ContactStatus") or "ACTIVE", "Name": c.get("Name") or ""})
        for name in ("FirstName", "LastName", "CompanyNumber", "EmailAddress", "BankAccountDetails", "TaxNumber",
                     "AccountsReceivableTaxType", "AccountsPayableTaxType", "DefaultCurrency",
                     "SalesDefaultAccountCode", "PurchasesDefaultAccountCode", "Website"):
            if c.get(name):
                out[name] = c[name]
        if not summary:
            out.update({"Addresses": copy.deepcopy(c.get("Addresses") or []),
                        "Phones": copy.deepcopy(c.get("Phones") or []),
                        "ContactPersons": copy.deepcopy(c.get("ContactPersons") or []),
                        "ContactGroups": []})
        if c.get("UpdatedDateUTC") is not None:
            out["UpdatedDateUTC"] = ms(c["UpdatedDateUTC"])
        out.update({"IsSupplier": bool(c.get("IsSupplier")), "IsCustomer": bool(c.get("IsCustomer")),
                    "HasAttachments": False, "HasValidationErrors": False})
        return out

    def contact_stub(self, contact_id: str | None, fallback: dict | None = None) -> dict:
        """The Contact inside a document: the essentials of the current contact record."""
        c = self.contacts.get(contact_id) if contact_id else None
        if c is None:
            stub = {k: v for k, v in (fallback or {}).items() if k in ("ContactID", "Name", "ContactNumber")}
            return dict(stub, Addresses=[], Phones=[], ContactGroups=[], ContactPersons=[], HasValidationErrors=False)
        out = {"ContactID": c["ContactID"]}
        for name in ("ContactNumber", "AccountNumber"):
            if c.get(name):
                out[name] = c[name]
        out.update({"ContactStatus": c["ContactStatus"], "Name": c["Name"]})
        for name in ("FirstName", "LastName", "EmailAddress", "TaxNumber", "CompanyNumber"):
            if c.get(name):
                out[name] = c[name]
        out.update({"Addresses": copy.deepcopy(c.get("Addresses") or []),
                    "Phones": copy.deepcopy(c.get("Phones") or []),
                    "ContactGroups": [], "ContactPersons": [], "HasValidationErrors": False})
        return out

    def render_item(self, i: dict, unitdp: int = 2) -> dict:
        out = {"ItemID": i["ItemID"], "Code": i.get("Code") or ""}
        for name in ("Name", "Description", "PurchaseDescription"):
            if i.get(name):
                out[name] = i[name]
        for name in ("PurchaseDetails", "SalesDetails"):
            details = i.get(name) or {}
            rendered = {}
            if details.get("UnitPrice") is not None:
                rendered["UnitPrice"] = details["UnitPrice"].quantize(Decimal(1).scaleb(-unitdp), ROUND_HALF_UP)
            for key in ("AccountCode", "COGSAccountCode", "TaxType"):
                if details.get(key):
                    rendered[key] = details[key]
            out[name] = rendered
        out.update({"IsTrackedAsInventory": False, "IsSold": bool(i.get("IsSold")),
                    "IsPurchased": bool(i.get("IsPurchased"))})
        if i.get("UpdatedDateUTC") is not None:
            out["UpdatedDateUTC"] = ms(i["UpdatedDateUTC"])
        return out

    def render_line(self, line: dict, kind: DocKind, unitdp: int = 2) -> dict:
        out: dict = {}
        if line.get("ItemCode"):
            out["ItemCode"] = line["ItemCode"]
            item = next((i for i in self.items.values() if i["Code"] == line["ItemCode"]), None)
            if item is not None:
                out["Item"] = {"ItemID": item["ItemID"], "Name": item.get("Name") or item["Code"], "Code": item["Code"]}
        out["Description"] = line.get("Description") or ""
        if line.get("UnitAmount") is not None:
            out["UnitAmount"] = line["UnitAmount"].quantize(Decimal(1).scaleb(-unitdp), ROUND_HALF_UP)
        if line.get("TaxType"):
            out["TaxType"] = line["TaxType"]
        out["TaxAmount"] = line["TaxAmount"]
        out["LineAmount"] = line["LineAmount"]
        if line.get("AccountCode"):
            out["AccountCode"] = line["AccountCode"]
        if line.get("AccountID"):
            out["AccountID"] = line["AccountID"]
        out["Tracking"] = [dict(t) for t in line.get("Tracking") or []]
        if line.get("Quantity") is not None:
            out["Quantity"] = line["Quantity"].quantize(Decimal("0.0001"), ROUND_HALF_UP)
        if line.get("DiscountRate") is not None:
            out["DiscountRate"] = line["DiscountRate"]
        if line.get("DiscountAmount") is not None:
            out["DiscountAmount"] = line["DiscountAmount"]
        out["LineItemID"] = line["LineItemID"]
        out["ValidationErrors"] = []
        return out

    def payment_stub(self, payment: dict) -> dict:
        return {"PaymentID": payment["PaymentID"], "Date": ms(payment["Date"]), "Amount": payment["Amount"],
                "Reference": payment.get("Reference") or "", "CurrencyRate": payment["CurrencyRate"],
                "HasAccount": True, "HasValidationErrors": False}

    def attachment_meta(self, kind: str, doc_id: str, attachment: dict, base_url: str) -> dict:
        from urllib.parse import quote
        out = {"AttachmentID": attachment["AttachmentID"], "FileName": attachment["FileName"],
               "Url": f"{base_url}/api.xro/2.0/{kind}/{doc_id}/Attachments/{quote(attachment['FileName'])}",
               "MimeType": attachment["MimeType"], "ContentLength": len(attachment["Content"])}
        if attachment.get("IncludeOnline"):
            out["IncludeOnline"] = True
        return out

    def render_document(self, kind: DocKind, d: dict, *, summary: bool = False, full_contact: bool = False,
                        unitdp: int = 2, base_url: str = "", with_attachments: bool = False) -> dict:
        out: dict = {}
        if d.get("Type") in kind.types:
            out["Type"] = d["Type"]
        out[kind.id_field] = d.get(kind.id_field) or ZERO_ID
        if d.get(kind.number_field):
            out[kind.number_field] = d[kind.number_field]
        out["Reference"] = d.get("Reference") or ""
        if kind is INVOICES:
            if not summary:
                out["Payments"] = [self.payment_stub(self.payments[p]) for p in d.get("Payments", [])
                                   if p in self.payments]
                out.update({"CreditNotes": [], "Prepayments": [], "Overpayments": []})
            out.update({"AmountDue": d.get("AmountDue", Decimal("0.00")),
                        "AmountPaid": d.get("AmountPaid", Decimal("0.00")),
                        "AmountCredited": d.get("AmountCredited", Decimal("0.00"))})
            if d.get("SentToContact") is not None:
                out["SentToContact"] = d["SentToContact"]
            out.update({"CurrencyRate": d.get("CurrencyRate", Decimal("1")),
                        "IsDiscounted": bool(d.get("IsDiscounted")),
                        "HasErrors": bool(d.get("HasErrors"))})
        elif kind is CREDIT_NOTES:
            out.update({"RemainingCredit": d.get("RemainingCredit", Decimal("0.00")),
                        "AppliedAmount": d.get("AppliedAmount", Decimal("0.00")),
                        "CurrencyRate": d.get("CurrencyRate", Decimal("1")), "Allocations": []})
            if not summary:
                out["Payments"] = [self.payment_stub(self.payments[p]) for p in d.get("Payments", [])
                                   if p in self.payments]
            out["HasErrors"] = bool(d.get("HasErrors"))
        else:
            out["CurrencyRate"] = d.get("CurrencyRate", Decimal("1"))
        if kind is not QUOTES:
            out["HasAttachments"] = bool(d.get("HasAttachments"))
        if with_attachments and d.get("HasAttachments"):
            out["Attachments"] = [self.attachment_meta(kind.plural, d[kind.id_field], a, base_url)
                                  for a in self.attachments.get((kind.plural, d[kind.id_field]), [])]
        if full_contact and d.get("ContactID") in self.contacts:
            out["Contact"] = self.render_contact(self.contacts[d["ContactID"]])
        else:
            out["Contact"] = self.contact_stub(d.get("ContactID"), d.get("_contact_input"))
        if d.get("Date") is not None:
            out["DateString"] = date_string(d["Date"])
            out["Date"] = ms(d["Date"])
        second = {"Quotes": "ExpiryDate", "PurchaseOrders": "DeliveryDate"}.get(kind.plural, "DueDate")
        if d.get(second) is not None:
            out[f"{second}String"] = date_string(d[second])
            out[second] = ms(d[second])
        if kind is PURCHASE_ORDERS and d.get("ExpectedArrivalDate") is not None:
            out["ExpectedArrivalDate"] = ms(d["ExpectedArrivalDate"])
        out["Status"] = d.get("Status") or "DRAFT"
        out["LineAmountTypes"] = d.get("LineAmountTypes") or ("EXCLUSIVE" if kind.quote_line_types else "Exclusive")
        if not summary:
            out["LineItems"] = [self.render_line(line, kind, unitdp) for line in d.get("LineItems") or []]
        out.update({"SubTotal": d.get("SubTotal", Decimal("0.00")), "TotalTax": d.get("TotalTax", Decimal("0.00")),
                    "Total": d.get("Total", Decimal("0.00"))})
        if d.get("TotalDiscount"):
            out["TotalDiscount"] = d["TotalDiscount"]
        for name in ("Title", "Summary", "Terms", "DeliveryAddress", "AttentionTo", "Telephone",
                     "DeliveryInstructions", "Url", "BrandingThemeID"):
            if d.get(name):
                out[name] = d[name]
        if kind is PURCHASE_ORDERS and d.get("SentToContact") is not None:
            out["SentToContact"] = d["SentToContact"]
        if d.get("UpdatedDateUTC") is not None:
            out["UpdatedDateUTC"] = ms(d["UpdatedDateUTC"])
            if kind in (INVOICES, CREDIT_NOTES):
                out["UpdatedDateUTCString"] = d["UpdatedDateUTC"].strftime("%Y-%m-%dT%H:%M:%SZ")
        out["CurrencyCode"] = d.get("CurrencyCode") or self.base_currency
        if d.get("FullyPaidOnDate") is not None:
            out["FullyPaidOnDate"] = ms(d["FullyPaidOnDate"])
        for name in ("ExpectedPaymentDate", "PlannedPaymentDate"):
            if kind is INVOICES and d.get(name) is not None:
                out[name] = ms(d[name])
        return out

    def render_payment(self, p: dict) -> dict:
        out: dict = {"PaymentID": p.get("PaymentID") or ZERO_ID, "Date": ms(p["Date"]),
                     "BankAmount": p.get("BankAmount", p["Amount"]), "Amount": p["Amount"],
                     "Reference": p.get("Reference") or "", "CurrencyRate": p.get("CurrencyRate", Decimal("1.000000"))}
        if p.get("PaymentType"):
            out["PaymentType"] = p["PaymentType"]
        out["Status"] = p["Status"]
        if p.get("UpdatedDateUTC") is not None:
            out["UpdatedDateUTC"] = ms(p["UpdatedDateUTC"])
        out.update({"HasAccount": p.get("_Account") is not None, "IsReconciled": bool(p.get("IsReconciled"))})
        account = self.accounts.get(p.get("_Account") or "")
        if account is not None:
            out["Account"] = {"AccountID": account["AccountID"], "Code": account["Code"]}
        for name, kind in (("Invoice", INVOICES), ("CreditNote", CREDIT_NOTES)):
            doc = self.documents[kind.plural].get(p.get(f"_{name}") or "")
            if doc is not None:
                stub = {"Type": doc["Type"], kind.id_field: doc[kind.id_field]}
                if doc.get(kind.number_field):
                    stub[kind.number_field] = doc[kind.number_field]
                stub.update({"Contact": self.contact_stub(doc.get("ContactID")), "CurrencyCode": doc["CurrencyCode"]})
                stub.update({"LineItems": [], "Payments": []} if kind is INVOICES else {"LineItems": []})
                out[name] = stub
        out["HasValidationErrors"] = False
        return out

    # ---- contacts ----------------------------------------------------------------------------

    def save_contacts(self, items: list[dict], *, upsert: bool, contact_id: str | None = None) -> list[Outcome]:
        """PUT (create) or POST (create or update); ``contact_id``: POST /Contacts/{id} (404 if unknown)."""
        if contact_id is not None and self.contacts.get(contact_id.lower()) is None:
            raise not_found()
        return [self._save_contact(given, upsert=upsert, where=f"Contacts[{index}]",
                                   contact_id=contact_id.lower() if contact_id else None)
                for index, given in enumerate(items)]

    def _find_contact_for_update(self, given: dict) -> dict | None:
        if given.get("ContactID"):
            return self.contacts.get(str(given["ContactID"]).lower())
        if given.get("ContactNumber"):
            number = str(given["ContactNumber"])
            return next((c for c in self.contacts.values() if c.get("ContactNumber") == number), None)
        return None

    def _save_contact(self, given: dict, *, upsert: bool, where: str, contact_id: str | None = None) -> Outcome:
        if contact_id:
            given = dict(given, ContactID=contact_id)
        existing = self._find_contact_for_update(given) if (upsert or contact_id) else None
        errors: list[str] = []
        if given.get("ContactID") and existing is None:
            if upsert or contact_id:
                return Outcome({"ContactID": ZERO_ID, "Name": text_in(given.get("Name")) or "",
                                "ContactStatus": "ACTIVE"},
                               [f"Contact with ContactID '{given['ContactID']}' could not be found."])
            if str(given["ContactID"]).lower() in self.contacts:
                errors.append("A contact with this ContactID already exists. Use POST to update it.")
        record = copy.deepcopy(existing) if existing else {
            "ContactID": self.new_id(), "ContactStatus": "ACTIVE", "Addresses": [], "Phones": [],
            "ContactPersons": [], "IsSupplier": False, "IsCustomer": False}
        for name in ("Name", "ContactNumber", "AccountNumber", "FirstName", "LastName", "CompanyNumber", "EmailAddress",
                     "BankAccountDetails", "TaxNumber", "AccountsReceivableTaxType", "AccountsPayableTaxType",
                     "DefaultCurrency", "SalesDefaultAccountCode", "PurchasesDefaultAccountCode", "Website"):
            if name in given:
                value = text_in(given[name])
                record[name] = value.strip() if isinstance(value, str) else value
        for name in ("Addresses", "Phones", "ContactPersons"):
            if isinstance(given.get(name), list):
                record[name] = [self._clean_part(name, part) for part in given[name] if isinstance(part, dict)]
        if "ContactStatus" in given:
            status = str(given["ContactStatus"]).upper()
            if status not in ("ACTIVE", "ARCHIVED"):
                errors.append(f"ContactStatus '{given['ContactStatus']}' is not valid.")
            else:
                record["ContactStatus"] = status
        name = (record.get("Name") or "").strip()
        if not name:
            errors.append("Contact Name cannot be empty.")
        elif len(name) > 255:
            errors.append("Contact Name must not exceed 255 characters.")
        elif record["ContactStatus"] == "ACTIVE" and any(
                c["Name"].lower() == name.lower() and c["ContactStatus"] == "ACTIVE"
                and c["ContactID"] != record["ContactID"]
                for c in self.contacts.values()):
            errors.append(f"The contact name {name} is already assigned to another contact. The contact name must "
                          "be unique across all active contacts.")
        if record.get("AccountNumber") and any(
                c.get("AccountNumber") == record["AccountNumber"] and c["ContactID"] != record["ContactID"]
                for c in self.contacts.values()):
            errors.append("The Account Number already exists. Please enter a different Account Number.")
        if record.get("ContactNumber") and len(record["ContactNumber"]) > 50:
            errors.append("The ContactNumber must not exceed 50 characters.")
        if record.get("EmailAddress") and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", record["EmailAddress"]):
            errors.append("Email address must be valid.")
        for name in ("AccountsReceivableTaxType", "AccountsPayableTaxType"):
            if record.get(name) and record[name] not in self.tax_rates:
                errors.append(f"The TaxType code '{record[name]}' does not exist or cannot be used for this type of "
                              "transaction.")
        if record.get("DefaultCurrency") and record["DefaultCurrency"] not in self.currencies:
            errors.append(f"Organisation is not subscribed to currency {record['DefaultCurrency']}")
        if errors:
            if existing is None:
                record["ContactID"] = ZERO_ID
            return Outcome(record, errors)
        record["UpdatedDateUTC"] = self.stamp()
        self.contacts[record["ContactID"]] = record
        return Outcome(record, [], True)

    @staticmethod
    def _clean_part(name: str, part: dict) -> dict:
        """Addresses, phones and persons keep only the fields (and enum values) Xero knows."""
        keys = {"Addresses": ("AddressType", "AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4", "City",
                              "Region", "PostalCode", "Country", "AttentionTo"),
                "Phones": ("PhoneType", "PhoneNumber", "PhoneAreaCode", "PhoneCountryCode"),
                "ContactPersons": ("FirstName", "LastName", "EmailAddress", "IncludeInEmails")}[name]
        out = {k: part[k] for k in keys if k in part and part[k] is not None}
        if name == "Addresses" and out.get("AddressType") not in ("POBOX", "STREET"):
            out["AddressType"] = "STREET"
        if name == "Phones" and out.get("PhoneType") not in ("DEFAULT", "DDI", "MOBILE", "FAX", "OFFICE"):
            out["PhoneType"] = "DEFAULT"
        if name == "ContactPersons":
            out["IncludeInEmails"] = bool(as_bool(out.get("IncludeInEmails")))
        return out

    # ---- items -------------------------------------------------------------------------------

    def save_items(self, items: list[dict], *, upsert: bool, item_id: str | None = None) -> list[Outcome]:
        """PUT (create) or POST (create or update, by ItemID or Code); ``item_id``: POST /Items/{id or code}."""
        if item_id is not None:
            found = self.find_item(item_id)
            if found is None:
                raise not_found()
            item_id = found["ItemID"]
        outcomes = []
        for given in items:
            if item_id:
                given = dict(given, ItemID=item_id)
            existing = None
            if upsert or item_id:
                if given.get("ItemID"):
                    existing = self.items.get(str(given["ItemID"]).lower())
                    if existing is None:
                        outcomes.append(Outcome({"ItemID": ZERO_ID, "Code": text_in(given.get("Code")) or ""},
                                                [f"Item with ItemID '{given['ItemID']}' could not be found."]))
                        continue
                elif given.get("Code"):
                    existing = next((i for i in self.items.values() if i["Code"].lower() == str(given["Code"]).lower()),
                                    None)
            record = copy.deepcopy(existing) if existing else {"ItemID": self.new_id(), "IsSold": False,
                                                               "IsPurchased": False, "SalesDetails": {},
                                                               "PurchaseDetails": {}}
            errors: list[str] = []
            for name in ("Code", "Name", "Description", "PurchaseDescription"):
                if name in given:
                    record[name] = text_in(given[name])
            for name, flag in (("SalesDetails", "IsSold"), ("PurchaseDetails", "IsPurchased")):
                details = given.get(name)
                if isinstance(details, dict) and details:
                    merged = dict(record.get(name) or {})
                    if "UnitPrice" in details:
                        merged["UnitPrice"] = decimal_in(details["UnitPrice"], f"Items.{name}.UnitPrice")
                    for key in ("AccountCode", "COGSAccountCode", "TaxType"):
                        if key in details:
                            merged[key] = text_in(details[key])
                    record[name] = merged
                    if merged.get("AccountCode"):
                        account = self.account_by_code(merged["AccountCode"])
                        if account is None or account["Status"] != "ACTIVE":
                            errors.append(f"Account code '{merged['AccountCode']}' is not a valid code for this "
                                          "document.")
                        else:
                            merged["AccountCode"] = account["Code"]
                    if merged.get("TaxType") and merged["TaxType"] not in self.tax_rates:
                        errors.append(f"The TaxType code '{merged['TaxType']}' does not exist or cannot be used for "
                                      "this type of transaction.")
                for given_flag in (flag,):
                    if given_flag in given and as_bool(given[given_flag]) is not None:
                        record[given_flag] = as_bool(given[given_flag])
                if isinstance(details, dict) and details and flag not in given:
                    record[flag] = True
            code = (record.get("Code") or "").strip()
            if not code:
                errors.append("Item Code must be specified.")
            elif len(code) > 30:
                errors.append("Item Code must not exceed 30 characters.")
            elif any(i["Code"].lower() == code.lower() and i["ItemID"] != record["ItemID"]
                     for i in self.items.values()):
                errors.append(f"Item code '{code}' already exists.")
            if record.get("Name") and len(record["Name"]) > 50:
                errors.append("Item Name must not exceed 50 characters.")
            if errors:
                if existing is None:
                    record["ItemID"] = ZERO_ID
                outcomes.append(Outcome(record, errors))
                continue
            record["UpdatedDateUTC"] = self.stamp()
            self.items[record["ItemID"]] = record
            outcomes.append(Outcome(record, [], True))
        return outcomes

    def find_item(self, key: str) -> dict | None:
        if is_guid(key) and key.lower() in self.items:
            return self.items[key.lower()]
        return next((i for i in self.items.values() if i["Code"].lower() == key.lower()), None)

    def find_contact(self, key: str) -> dict | None:
        if is_guid(key) and key.lower() in self.contacts:
            return self.contacts[key.lower()]
        return next((c for c in self.contacts.values() if c.get("ContactNumber") == key), None)

    # ---- documents ---------------------------------------------------------------------------

    def find_document(self, kind: DocKind, key: str) -> dict | None:
        """By id, or (Invoices, CreditNotes, PurchaseOrders) by number."""
        docs = self.documents[kind.plural]
        if is_guid(key):
            found = docs.get(str(key).lower())
            if found is not None:
                return found
        matches = [d for d in docs.values() if d.get(kind.number_field) == key and d["Status"] != "DELETED"]
        return matches[0] if matches else None

    def save_documents(self, kind: DocKind, items: list[dict], *, upsert: bool, unitdp: int = 2,
                       document_id: str | None = None) -> list[Outcome]:
        """PUT (create) or POST (create or update) elements; ``document_id``: POST /{kind}/{id} (404 if unknown)."""
        if document_id is not None and self.find_document(kind, document_id) is None:
            raise not_found()
        outcomes = []
        for index, given in enumerate(items):
            if document_id:
                given = dict(given, **{kind.id_field: self.find_document(kind, document_id)[kind.id_field]})
            try:
                outcomes.append(self._save_document(kind, given, upsert=upsert or bool(document_id), unitdp=unitdp,
                                                    where=f"{kind.plural}[{index}]"))
            except LookupError as exc:
                record = {kind.id_field: None, "LineItems": [], "HasErrors": True, "Type": given.get("Type"),
                          "_contact_input": given.get("Contact") if isinstance(given.get("Contact"), dict) else None}
                outcomes.append(Outcome(record, [str(exc.args[0])]))
        return outcomes

    def _existing_for(self, kind: DocKind, given: dict, upsert: bool) -> dict | None:
        """The document an element names (None: a new one). Raises LookupError when it names none that exists."""
        docs = self.documents[kind.plural]
        if given.get(kind.id_field):
            value = str(given[kind.id_field])
            found = docs.get(value.lower()) if is_guid(value) else None
            if found is None and upsert:
                found = self.find_document(kind, value)
            if found is None:
                raise LookupError(f"{kind.singular} with {kind.id_field} '{value}' could not be found.")
            return found
        if upsert and given.get(kind.number_field):
            number = str(given[kind.number_field])
            wanted_type = given.get("Type")
            matches = [d for d in docs.values() if d.get(kind.number_field) == number
                       and d["Status"] not in ("DELETED", "VOIDED")
                       and (not wanted_type or d.get("Type") == wanted_type)]
            if len(matches) == 1:
                return matches[0]
        return None

    def _save_document(self, kind: DocKind, given: dict, *, upsert: bool, unitdp: int, where: str) -> Outcome:
        # As for Xero, a value outside the description's enums does not even parse: the whole body is refused.
        if given.get("Status") and str(given["Status"]).upper() not in kind.statuses:
            raise post_data_invalid(f"Error converting value \"{given['Status']}\" to type "
                                    f"'{kind.singular.replace(' ', '')}Status'. Path '{where}.Status'.")
        if given.get("Type") and kind.types and str(given["Type"]).upper() not in kind.type_enum:
            raise post_data_invalid(f"Error converting value \"{given['Type']}\" to type "
                                    f"'{kind.singular.replace(' ', '')}Type'. Path '{where}.Type'.")
        existing = self._existing_for(kind, given, upsert)
        if existing is not None and not upsert:
            record = self._preview(kind, existing, given)
            return Outcome(record, [f"A {kind.singular.lower()} with this {kind.id_field} already exists. "
                                    "Use POST to update it."])
        errors: list[str] = []
        record = copy.deepcopy(existing) if existing else {kind.id_field: None, "LineItems": [], "Payments": []}
        old_status = existing["Status"] if existing else None
        status = str(given.get("Status") or old_status or "DRAFT").upper()

        # Status changes first: a locked document refuses everything.
        if existing is not None:
            locked = existing["Status"] in ("PAID", "VOIDED", "DELETED", "BILLED", "INVOICED") or \
                existing.get("AmountPaid", Decimal(0)) > 0 or bool(existing.get("Payments"))
            if locked:
                record = self._preview(kind, existing, given)
                return Outcome(record, [f"{kind.singular} not of valid status for modification"])
            if not self._transition_ok(kind, existing["Status"], status):
                record = self._preview(kind, existing, given)
                return Outcome(record, [f"{kind.singular} not of valid status for modification"])
            if status in ("VOIDED", "DELETED"):
                record["Status"] = status
                record["UpdatedDateUTC"] = self.stamp()
                if kind.payable and kind is INVOICES:
                    record["AmountDue"] = Decimal("0.00")
                self.documents[kind.plural][record[kind.id_field]] = record
                return Outcome(record, [], True)
        elif status not in kind.create_statuses:
            errors.append(f"{kind.singular}s cannot be created with a status of {status}.")
        record["Status"] = status

        # Type
        if kind.types:
            doc_type = str(given.get("Type") or (existing or {}).get("Type") or "").upper()
            if existing is not None and given.get("Type") and doc_type != existing["Type"]:
                errors.append(f"The Type of an existing {kind.singular.lower()} cannot be changed.")
                doc_type = existing["Type"]
            if doc_type not in kind.types:
                errors.append(f"{kind.singular} Type must be one of {', '.join(kind.types)}." if doc_type
                              else f"{kind.singular} Type must be specified.")
            record["Type"] = doc_type
        doc_type = record.get("Type") or ""

        # Simple fields
        for name in ("Reference", "Url", "BrandingThemeID", "Title", "Summary", "Terms", "DeliveryAddress",
                     "AttentionTo", "Telephone", "DeliveryInstructions"):
            if name in given:
                record[name] = text_in(given[name])
        if doc_type in ("ACCPAY", "ACCPAYCREDIT"):
            # Xero keeps Reference for sales documents only ("ACCREC only"): on a bill it is silently dropped.
            record["Reference"] = ""
        if record.get("Reference") and len(record["Reference"]) > 255:
            errors.append("Reference must not exceed 255 characters.")
        if "SentToContact" in given and as_bool(given["SentToContact"]) is not None:
            record["SentToContact"] = as_bool(given["SentToContact"])

        # Contact
        contact_given = given.get("Contact")
        pending_contact: dict | None = None
        if contact_given is not None or existing is None:
            contact, pending_contact, message = self._resolve_contact(contact_given)
            if message:
                errors.append(message)
            record["ContactID"] = contact["ContactID"] if contact else None
            record["_contact_input"] = contact_given if isinstance(contact_given, dict) else None
            changed = existing is None or (contact and contact["ContactID"] != existing.get("ContactID"))
            if contact is not None and contact["ContactStatus"] == "ARCHIVED" and changed:
                errors.append("The contact with the specified contact details has been archived. The archived contact "
                              "cannot have new invoices created against it.")

        # Dates
        for name in ("Date", "DueDate", "ExpiryDate", "DeliveryDate", "ExpectedArrivalDate", "ExpectedPaymentDate",
                     "PlannedPaymentDate"):
            if name in given:
                record[name] = parse_date(given[name], f"{where}.{name}")
        approved = status in kind.approved
        if record.get("Date") is None:
            if approved:
                errors.append("The Date field must be specified.")
            else:
                record["Date"] = self.today()
        if kind.has_due_date and approved and record.get("DueDate") is None:
            errors.append("The document DueDate field must be specified.")

        # Number
        if kind.number_field in given and given[kind.number_field] not in (None, ""):
            record[kind.number_field] = str(given[kind.number_field]).strip()
        number = record.get(kind.number_field)
        unique_key = doc_type if kind.types else ""
        if number:
            if len(number) > 255:
                errors.append(f"{kind.singular} number must not exceed 255 characters.")
            elif unique_key in kind.unique_number_types and any(
                    d.get(kind.number_field, "").lower() == number.lower() and d[kind.id_field] != record[kind.id_field]
                    and d.get("Type", "") == doc_type and d["Status"] != "DELETED"
                    for d in self.documents[kind.plural].values()):
                errors.append(f"{kind.singular} # must be unique." if kind is not QUOTES else
                              "Quote number must be unique.")

        # Currency
        if "CurrencyCode" in given and given["CurrencyCode"]:
            record["CurrencyCode"] = str(given["CurrencyCode"]).upper()
        record.setdefault("CurrencyCode", self.base_currency)
        if record["CurrencyCode"] not in self.currencies:
            errors.append(f"Organisation is not subscribed to currency {record['CurrencyCode']}")
        rate = decimal_in(given.get("CurrencyRate"), f"{where}.CurrencyRate")
        if record["CurrencyCode"] == self.base_currency:
            record["CurrencyRate"] = Decimal("1.000000")
        elif rate is not None:
            record["CurrencyRate"] = rate
        else:
            record["CurrencyRate"] = record.get("CurrencyRate") or DEFAULT_RATES.get(record["CurrencyCode"],
                                                                                     Decimal("1.000000"))

        # Lines and totals
        line_types = self._line_amount_types(kind, given, record, errors)
        if "LineItems" in given or existing is None:
            lines_in = given.get("LineItems")
            if lines_in is None:
                lines_in = []
            if not isinstance(lines_in, list):
                raise post_data_invalid(f"Expected LineItems to be an array. Path '{where}.LineItems'.")
        else:
            lines_in = [self._line_as_input(line) for line in record["LineItems"]]
        lines = self._lines(kind, doc_type, lines_in, line_types, approved, unitdp, errors, where,
                            previous={line["LineItemID"]: line for line in (existing or {}).get("LineItems", [])})
        if not lines:
            errors.append("One or more line items must be specified")
        record["LineItems"] = lines
        self._totals(record, lines, line_types)
        record["LineAmountTypes"] = ({v: k for k, v in LINE_AMOUNT_TYPES.items()}[line_types]
                                     if kind.quote_line_types else line_types)
        sent_total = decimal_in(given.get("Total"), f"{where}.Total")
        if sent_total is not None and money(sent_total) != record["Total"]:
            errors.append("The document total does not equal the sum of the lines.")

        if kind is INVOICES:
            record["AmountPaid"] = record.get("AmountPaid", Decimal("0.00"))
            record["AmountCredited"] = record.get("AmountCredited", Decimal("0.00"))
            record["AmountDue"] = record["Total"] - record["AmountPaid"] - record["AmountCredited"]
            record["IsDiscounted"] = any(line.get("DiscountRate") or line.get("DiscountAmount") for line in lines)
        elif kind is CREDIT_NOTES:
            paid = sum((self.payments[p]["Amount"] for p in record.get("Payments", []) if p in self.payments),
                       Decimal("0.00"))
            record["RemainingCredit"] = record["Total"] - paid
            record["AppliedAmount"] = record.get("AppliedAmount", Decimal("0.00"))

        if errors:
            record["HasErrors"] = True
            if existing is None:
                record[kind.id_field] = None
            return Outcome(record, errors)

        # Commit
        if pending_contact is not None:
            pending_contact["UpdatedDateUTC"] = self.stamp()
            self.contacts[pending_contact["ContactID"]] = pending_contact
            record["ContactID"] = pending_contact["ContactID"]
        if not record.get(kind.number_field) and unique_key in kind.auto_number:
            record[kind.number_field] = self._next_number(kind, kind.auto_number[unique_key], doc_type)
        if existing is None:
            record[kind.id_field] = self.new_id()
            record["_seq"] = self.next_sequence()
            record.setdefault("HasAttachments", False)
        record.pop("_contact_input", None)
        record["HasErrors"] = False
        record["UpdatedDateUTC"] = self.stamp()
        self.documents[kind.plural][record[kind.id_field]] = record
        contact = self.contacts.get(record.get("ContactID") or "")
        if contact is not None and status not in ("DRAFT",) and kind in (INVOICES, CREDIT_NOTES):
            flag = "IsCustomer" if doc_type.startswith("ACCREC") else "IsSupplier"
            if not contact.get(flag):
                contact = dict(contact, **{flag: True, "UpdatedDateUTC": self.stamp()})
                self.contacts[contact["ContactID"]] = contact
        return Outcome(record, [], True)

    def _preview(self, kind: DocKind, existing: dict, given: dict) -> dict:
        record = copy.deepcopy(existing)
        record["HasErrors"] = True
        return record

    @staticmethod
    def _transition_ok(kind: DocKind, old: str, new: str) -> bool:
        if old == new:
            return True
        if kind is QUOTES:
            return new in ("DRAFT", "SENT", "DECLINED", "ACCEPTED", "INVOICED", "DELETED") and old != "DELETED"
        if kind is PURCHASE_ORDERS:
            allowed = {"DRAFT": {"SUBMITTED", "AUTHORISED", "DELETED"}, "SUBMITTED": {"DRAFT", "AUTHORISED", "DELETED"},
                       "AUTHORISED": {"BILLED", "DELETED"}}
            return new in allowed.get(old, set())
        allowed = {"DRAFT": {"SUBMITTED", "AUTHORISED", "DELETED"}, "SUBMITTED": {"DRAFT", "AUTHORISED", "DELETED"},
                   "AUTHORISED": {"VOIDED"}}
        return new in allowed.get(old, set())

    def _line_amount_types(self, kind: DocKind, given: dict, record: dict, errors: list[str]) -> str:
        value = given.get("LineAmountTypes")
        if value is None:
            current = record.get("LineAmountTypes")
            if current is None:
                return "Exclusive"
            return LINE_AMOUNT_TYPES.get(str(current).upper(), "Exclusive")
        normal = LINE_AMOUNT_TYPES.get(str(value).replace(" ", "").upper())
        if normal is None:
            raise post_data_invalid(f"Error converting value \"{value}\" to type 'LineAmountTypes'. "
                                    "Path 'LineAmountTypes'.")
        return normal

    @staticmethod
    def _line_as_input(line: dict) -> dict:
        names = ("LineItemID", "Description", "Quantity", "UnitAmount", "ItemCode", "AccountCode", "TaxType",
                 "DiscountRate", "DiscountAmount", "Tracking", "LineAmount")
        keep = {k: v for k, v in line.items() if k in names}
        if line.get("Quantity") is None and line.get("UnitAmount") is None and not line.get("AccountCode") \
                and not line.get("ItemCode"):
            keep.pop("LineAmount", None)  # a line with only a Description stays one when other fields change
        if line.get("_explicit_tax"):
            keep["TaxAmount"] = line["TaxAmount"]
        return keep

    def _resolve_contact(self, given) -> tuple[dict | None, dict | None, str | None]:
        """(existing contact, contact to create on commit, error message)."""
        if not isinstance(given, dict) or not any(given.get(k) for k in ("ContactID", "ContactNumber", "Name")):
            return None, None, "A Contact must be specified for this type of transaction"
        if given.get("ContactID"):
            contact = self.contacts.get(str(given["ContactID"]).lower())
            if contact is None:
                return None, None, f"The contact with ContactID '{given['ContactID']}' could not be found."
            return contact, None, None
        if given.get("ContactNumber"):
            number = str(given["ContactNumber"])
            contact = next((c for c in self.contacts.values() if c.get("ContactNumber") == number), None)
            if contact is not None:
                return contact, None, None
            if not given.get("Name"):
                return None, None, f"The contact with ContactNumber '{number}' could not be found."
        name = str(given["Name"]).strip()
        matches = [c for c in self.contacts.values() if c["Name"].lower() == name.lower()]
        if matches:
            active = [c for c in matches if c["ContactStatus"] == "ACTIVE"]
            return (active or matches)[0], None, None
        new = {"ContactID": self.new_id(), "ContactStatus": "ACTIVE", "Name": name, "Addresses": [], "Phones": [],
               "ContactPersons": [], "IsSupplier": False, "IsCustomer": False}
        for key in ("ContactNumber", "EmailAddress", "FirstName", "LastName", "AccountNumber", "TaxNumber"):
            if given.get(key):
                new[key] = str(given[key])
        return new, new, None

    def _lines(self, kind: DocKind, doc_type: str, lines_in: list, line_types: str, approved: bool, unitdp: int,
               errors: list[str], where: str, previous: dict[str, dict]) -> list[dict]:
        lines = []
        sales = doc_type in ("ACCREC", "ACCRECCREDIT") or kind is QUOTES
        for index, given in enumerate(lines_in):
            if not isinstance(given, dict):
                raise post_data_invalid(f"Expected a line item object. Path '{where}.LineItems[{index}]'.")
            given = canonical(given)
            path = f"{where}.LineItems[{index}]"
            line: dict = {}
            old_id = str(given.get("LineItemID") or "").lower()
            line["LineItemID"] = old_id if old_id in previous else self.new_id()
            quantity = decimal_in(given.get("Quantity"), f"{path}.Quantity")
            unit = decimal_in(given.get("UnitAmount"), f"{path}.UnitAmount")
            line_amount = decimal_in(given.get("LineAmount"), f"{path}.LineAmount")
            discount_rate = decimal_in(given.get("DiscountRate"), f"{path}.DiscountRate")
            discount_amount = decimal_in(given.get("DiscountAmount"), f"{path}.DiscountAmount")
            tax_amount = decimal_in(given.get("TaxAmount"), f"{path}.TaxAmount")
            description = text_in(given.get("Description"))
            account_code = text_in(given.get("AccountCode"))
            tax_type = text_in(given.get("TaxType"))

            item_ref = given.get("Item")
            item_code = text_in(given.get("ItemCode")) or (text_in(item_ref.get("Code")) if isinstance(item_ref, dict)
                                                           else None)
            if item_code:
                item = next((i for i in self.items.values() if i["Code"].lower() == item_code.lower()), None)
                if item is None:
                    errors.append(f"Item code '{item_code}' is not valid.")
                else:
                    line["ItemCode"] = item["Code"]
                    details = item.get("SalesDetails" if sales else "PurchaseDetails") or {}
                    if description is None:
                        description = item.get("Description") if sales else (
                            item.get("PurchaseDescription") or item.get("Description"))
                    if unit is None and line_amount is None and details.get("UnitPrice") is not None:
                        unit = details["UnitPrice"]
                    account_code = account_code or details.get("AccountCode")
                    tax_type = tax_type or details.get("TaxType")
            if (discount_rate or discount_amount) and doc_type in ("ACCPAY", "ACCPAYCREDIT", "ACCRECCREDIT"):
                errors.append("Discounts can only be applied to sales invoices and quotes.")
            if discount_rate is not None and not (Decimal(0) <= discount_rate <= Decimal(100)):
                errors.append("The discount rate must be between 0 and 100.")
            line["Description"] = description or ""

            # amounts
            places = Decimal(1).scaleb(-(4 if unitdp == 4 else 2))
            if unit is not None:
                unit = unit.quantize(places, ROUND_HALF_UP)
            amounts_given = any(v is not None for v in (quantity, unit, line_amount))
            if quantity is None and amounts_given:
                quantity = Decimal(1)
            derived_unit = False
            if unit is None and line_amount is not None:
                unit = (line_amount / quantity).quantize(places, ROUND_HALF_UP) if quantity else Decimal(0)
                derived_unit = True
            if amounts_given:
                gross = quantity * unit
                if discount_rate:
                    expected = money(gross * (Decimal(100) - discount_rate) / Decimal(100))
                elif discount_amount:
                    expected = money(gross - discount_amount)
                else:
                    expected = money(gross)
                if line_amount is not None and not derived_unit and money(line_amount) != expected:
                    errors.append(f"The line total {money(line_amount)} does not match the expected line total "
                                  f"{expected}")
                line_amount = money(line_amount) if line_amount is not None else expected
            else:
                line_amount = Decimal("0.00")
            line["Quantity"] = quantity
            line["UnitAmount"] = unit
            line["LineAmount"] = line_amount
            if discount_rate is not None:
                line["DiscountRate"] = discount_rate
            if discount_amount is not None:
                line["DiscountAmount"] = money(discount_amount)

            # account
            account = None
            if given.get("AccountID") and not account_code:
                account = self.accounts.get(str(given["AccountID"]).lower())
                if account is None:
                    errors.append(f"Account code '{given['AccountID']}' is not a valid code for this document.")
            elif account_code:
                account = self.account_by_code(account_code)
                if account is None or not self._account_usable(account):
                    errors.append(f"Account code '{account_code}' is not a valid code for this document.")
                    account = None
            elif approved and line_amount != 0:
                errors.append("Account code must be specified.")
            if account is not None and not self._account_usable(account):
                errors.append(f"Account code '{account['Code']}' is not a valid code for this document.")
                account = None
            if account is not None:
                line["AccountCode"] = account["Code"]
                line["AccountID"] = account["AccountID"]
            elif account_code:
                line["AccountCode"] = account_code

            # tax
            rate_record = None
            if tax_type:
                rate_record = self.tax_rates.get(tax_type.upper())
                if rate_record is None or rate_record["Status"] != "ACTIVE":
                    errors.append(f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of "
                                  "transaction.")
                    rate_record = None
                elif account is not None and not rate_record[CLASS_PERMISSION[account["Class"]]]:
                    errors.append(f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of "
                                  "transaction.")
                    rate_record = None
                line["TaxType"] = rate_record["TaxType"] if rate_record else tax_type
            elif line_types == "NoTax":
                line["TaxType"] = "NONE"
            elif account is not None:
                rate_record = self.tax_rates.get(account.get("TaxType") or "NONE")
                line["TaxType"] = rate_record["TaxType"] if rate_record else "NONE"
            else:
                line["TaxType"] = "NONE" if amounts_given else None
            percent = rate_record["EffectiveRate"] if rate_record else Decimal(0)
            if line_types == "NoTax":
                line["TaxAmount"] = Decimal("0.00")
            elif tax_amount is not None:
                line["TaxAmount"] = money(tax_amount)
                line["_explicit_tax"] = True
            elif line_types == "Inclusive":
                line["TaxAmount"] = money(line_amount * percent / (Decimal(100) + percent))
            else:
                line["TaxAmount"] = money(line_amount * percent / Decimal(100))

            # tracking
            tracking = given.get("Tracking") or []
            if not isinstance(tracking, list):
                raise post_data_invalid(f"Expected Tracking to be an array. Path '{path}.Tracking'.")
            if len(tracking) > 2:
                errors.append("A line item can have a maximum of 2 tracking categories.")
            line["Tracking"] = []
            for entry in tracking[:2]:
                resolved = self._tracking(canonical(entry) if isinstance(entry, dict) else {}, errors)
                if resolved:
                    line["Tracking"].append(resolved)
            lines.append(line)
        return lines

    @staticmethod
    def _account_usable(account: dict) -> bool:
        return account["Status"] == "ACTIVE" and account["Type"] != "BANK" and not account.get("SystemAccount")

    def _tracking(self, entry: dict, errors: list[str]) -> dict | None:
        category = None
        if entry.get("TrackingCategoryID"):
            category = self.tracking.get(str(entry["TrackingCategoryID"]).lower())
        elif entry.get("Name"):
            wanted = str(entry["Name"]).lower()
            category = next((t for t in self.tracking.values() if t["Name"].lower() == wanted), None)
        if category is None or category["Status"] != "ACTIVE":
            errors.append(f"Tracking category '{entry.get('Name') or entry.get('TrackingCategoryID')}' does not exist "
                          "or has been archived.")
            return None
        option = None
        if entry.get("TrackingOptionID"):
            option = next((o for o in category["Options"]
                           if o["TrackingOptionID"] == str(entry["TrackingOptionID"]).lower()), None)
        elif entry.get("Option"):
            option = next((o for o in category["Options"] if o["Name"].lower() == str(entry["Option"]).lower()), None)
        if option is None or option["Status"] != "ACTIVE":
            errors.append(f"Tracking option '{entry.get('Option') or entry.get('TrackingOptionID')}' does not exist in "
                          f"tracking category '{category['Name']}' or has been archived.")
            return None
        return {"Name": category["Name"], "Option": option["Name"],
                "TrackingCategoryID": category["TrackingCategoryID"], "TrackingOptionID": option["TrackingOptionID"]}

    @staticmethod
    def _totals(record: dict, lines: list[dict], line_types: str) -> None:
        amounts = sum((line["LineAmount"] for line in lines), Decimal("0.00"))
        tax = sum((line["TaxAmount"] for line in lines), Decimal("0.00"))
        if line_types == "Inclusive":
            record["Total"], record["TotalTax"], record["SubTotal"] = amounts, tax, amounts - tax
        else:
            record["SubTotal"], record["TotalTax"], record["Total"] = amounts, tax, amounts + tax
        discount = Decimal("0.00")
        for line in lines:
            if (line.get("DiscountRate") or line.get("DiscountAmount")) and line.get("UnitAmount") is not None:
                discount += money(line["Quantity"] * line["UnitAmount"]) - line["LineAmount"]
        record["TotalDiscount"] = discount if discount else None

    def _next_number(self, kind: DocKind, prefix: str, doc_type: str) -> str:
        highest = 0
        for d in self.documents[kind.plural].values():
            number = d.get(kind.number_field) or ""
            if number.startswith(prefix) and number[len(prefix):].isdigit() and d.get("Type", "") == doc_type:
                highest = max(highest, int(number[len(prefix):]))
        return f"{prefix}{highest + 1:04d}"

    # ---- payments ----------------------------------------------------------------------------

    def save_payments(self, items: list[dict]) -> list[Outcome]:
        return [self._save_payment(given, f"Payments[{index}]") for index, given in enumerate(items)]

    def _save_payment(self, given: dict, where: str) -> Outcome:
        errors: list[str] = []
        record: dict = {"PaymentID": None, "Status": "AUTHORISED", "IsReconciled": False}
        doc, kind = None, None
        for name, candidate in (("Invoice", INVOICES), ("CreditNote", CREDIT_NOTES)):
            ref = given.get(name)
            if isinstance(ref, dict) and (ref.get(candidate.id_field) or ref.get(candidate.number_field)):
                key = ref.get(candidate.id_field) or ref.get(candidate.number_field)
                doc = self.find_document(candidate, str(key))
                kind = candidate
                if doc is None:
                    errors.append(f"{candidate.singular} could not be found.")
                break
        else:
            errors.append("An Invoice or Credit Note must be specified for the payment.")
        account = self.account_by_any(given.get("Account"))
        if account is None:
            errors.append("A valid Account must be specified for the payment.")
        elif account["Status"] != "ACTIVE" or not (account["Type"] == "BANK" or account.get("EnablePaymentsToAccount")):
            errors.append(f"Account code '{account['Code']}' cannot be used for payments: it is not a bank account and "
                          "payments are not enabled on it.")
        amount = decimal_in(given.get("Amount"), f"{where}.Amount")
        record["Date"] = parse_date(given.get("Date"), f"{where}.Date") or self.today()
        record["Reference"] = text_in(given.get("Reference")) or ""
        if amount is None or amount <= 0:
            errors.append("Payment amount must be greater than zero.")
        if doc is not None:
            if doc["Status"] != "AUTHORISED":
                errors.append(f"Payments can only be made against AUTHORISED documents; this {kind.singular.lower()} "
                              f"is {doc['Status']}.")
            outstanding = doc["AmountDue"] if kind is INVOICES else doc["RemainingCredit"]
            if amount is not None and amount > 0 and money(amount) > outstanding:
                errors.append(f"Payment amount {money(amount)} exceeds the amount outstanding on this document "
                              f"({outstanding}).")
        if errors:
            record.update({"Amount": money(amount) if amount else Decimal("0.00"), "PaymentID": ZERO_ID})
            record["_Invoice" if kind is INVOICES else "_CreditNote"] = doc[kind.id_field] if doc else None
            return Outcome(record, errors)
        amount = money(amount)
        doc_type = doc["Type"]
        record.update({
            "PaymentID": self.new_id(), "Amount": amount, "BankAmount": amount,
            "CurrencyRate": decimal_in(given.get("CurrencyRate"), f"{where}.CurrencyRate") or doc["CurrencyRate"],
            "PaymentType": {"ACCREC": "ACCRECPAYMENT", "ACCPAY": "ACCPAYPAYMENT", "ACCRECCREDIT": "ARCREDITPAYMENT",
                            "ACCPAYCREDIT": "APCREDITPAYMENT"}[doc_type],
            "_Account": account["AccountID"], "_seq": self.next_sequence(),
        })
        record["_Invoice" if kind is INVOICES else "_CreditNote"] = doc[kind.id_field]
        record["UpdatedDateUTC"] = self.stamp()
        self.payments[record["PaymentID"]] = record
        doc = dict(doc, Payments=list(doc.get("Payments") or []) + [record["PaymentID"]])
        self.documents[kind.plural][doc[kind.id_field]] = doc
        self._apply_payments(kind, doc)
        return Outcome(record, [], True)

    def _apply_payments(self, kind: DocKind, doc: dict) -> None:
        """Amounts and status of ``doc`` (a copy already stored) from its payments that still stand."""
        live = [self.payments[p] for p in doc.get("Payments", []) if self.payments[p]["Status"] == "AUTHORISED"]
        paid = sum((p["Amount"] for p in live), Decimal("0.00"))
        if kind is INVOICES:
            doc["AmountPaid"] = paid
            doc["AmountDue"] = doc["Total"] - paid - doc.get("AmountCredited", Decimal("0.00"))
            outstanding = doc["AmountDue"]
        else:
            doc["RemainingCredit"] = doc["Total"] - paid
            outstanding = doc["RemainingCredit"]
        if outstanding <= 0 and live:
            doc["Status"] = "PAID"
            doc["FullyPaidOnDate"] = max(p["Date"] for p in live)
        elif doc["Status"] == "PAID":
            doc["Status"] = "AUTHORISED"
            doc.pop("FullyPaidOnDate", None)
        doc["Payments"] = [p["PaymentID"] for p in live]
        doc["UpdatedDateUTC"] = self.stamp()

    def delete_payment(self, payment_id: str, given: dict) -> Outcome:
        payment = self.payments.get(payment_id.lower())
        if payment is None:
            raise not_found()
        if str(given.get("Status") or "").upper() != "DELETED":
            return Outcome(payment, ["Only the Status of a payment can be changed, to DELETED."])
        if payment["Status"] == "DELETED":
            return Outcome(payment, [], True)
        payment = dict(payment, Status="DELETED", UpdatedDateUTC=self.stamp())
        self.payments[payment["PaymentID"]] = payment
        for name, kind in (("_Invoice", INVOICES), ("_CreditNote", CREDIT_NOTES)):
            doc = self.documents[kind.plural].get(payment.get(name) or "")
            if doc is not None:
                doc = dict(doc, Payments=list(doc.get("Payments") or []))
                self.documents[kind.plural][doc[kind.id_field]] = doc
                self._apply_payments(kind, doc)
        return Outcome(payment, [], True)

    # ---- attachments -------------------------------------------------------------------------

    def add_attachment(self, kind: DocKind, doc_id: str, file_name: str, content: bytes, content_type: str | None,
                       include_online: bool) -> dict:
        doc = self.find_document(kind, doc_id)
        if doc is None:
            raise not_found()
        if not content:
            raise simple_validation("The attachment is empty: send the file's bytes as the request body.")
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise simple_validation("The attachment is larger than the 25 MB Xero accepts.")
        if not file_name or "/" in file_name or len(file_name) > 255:
            raise simple_validation("The file name is not valid.")
        mime = (content_type or "").split(";")[0].strip().lower()
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        key = (kind.plural, doc[kind.id_field])
        current = self.attachments.setdefault(key, [])
        same = next((a for a in current if a["FileName"].lower() == file_name.lower()), None)
        if same is None and len(current) >= MAX_ATTACHMENTS:
            raise simple_validation(f"A {kind.singular.lower()} can have at most {MAX_ATTACHMENTS} attachments.")
        attachment = {"AttachmentID": same["AttachmentID"] if same else self.new_id(), "FileName": file_name,
                      "MimeType": mime, "Content": bytes(content), "IncludeOnline": include_online}
        if same is not None:
            current[current.index(same)] = attachment
        else:
            current.append(attachment)
        doc["HasAttachments"] = True
        return attachment

    def attachment_list(self, kind: DocKind, doc_id: str) -> tuple[dict, list[dict]]:
        doc = self.find_document(kind, doc_id)
        if doc is None:
            raise not_found()
        return doc, self.attachments.get((kind.plural, doc[kind.id_field]), [])

    def attachment(self, kind: DocKind, doc_id: str, key: str) -> dict:
        _, attachments = self.attachment_list(kind, doc_id)
        for attachment in attachments:
            if attachment["AttachmentID"] == key.lower() or attachment["FileName"].lower() == key.lower():
                return attachment
        raise not_found()


# --------------------------------------------------------------------------------------------
# Query strings


class Query:
    def __init__(self, params: dict[str, list[str]]):
        self.params = {k.lower(): v for k, v in params.items()}

    def one(self, name: str) -> str | None:
        values = self.params.get(name.lower())
        return values[-1] if values else None

    def many(self, name: str) -> list[str] | None:
        values = self.params.get(name.lower())
        if not values:
            return None
        out = []
        for value in values:
            out += [part.strip().strip('"') for part in value.split(",") if part.strip().strip('"')]
        return out

    def flag(self, name: str) -> bool | None:
        return as_bool(self.one(name))


# --------------------------------------------------------------------------------------------
# Faults and the whole sandbox


@dataclass
class Fault:
    kind: str  # "500" | "503" | "drop" | "500_after" | "drop_after"
    remaining: int
    method: str | None = None
    path_contains: str | None = None


class Faults:
    """Queued faults: the next N matching calls answer 500/503 or lose their connection, before or after the work."""

    KINDS = ("500", "503", "drop", "500_after", "drop_after")

    def __init__(self):
        self.queue: list[Fault] = []
        self.fired: collections.Counter[str] = collections.Counter()

    def add(self, kind: str, count: int = 1, method: str | None = None, path_contains: str | None = None) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(self.KINDS)}")
        self.queue.append(Fault(kind, max(int(count), 1), method.upper() if method else None, path_contains))

    def pick(self, method: str, path: str) -> str | None:
        for fault in self.queue:
            if fault.method and fault.method != method:
                continue
            if fault.path_contains and fault.path_contains.lower() not in path.lower():
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.queue.remove(fault)
            self.fired[fault.kind] += 1
            return fault.kind
        return None

    def describe(self) -> dict:
        return {"queue": [{"kind": f.kind, "remaining": f.remaining, "method": f.method,
                           "path_contains": f.path_contains} for f in self.queue], "fired": dict(self.fired)}


class XeroState:
    """Every organisation of the sandbox, the request log and the faults; ``lock`` guards them all."""

    def __init__(self, *, clock: SandboxClock | None = None, seed: str | None = "demo", today: dt.date | None = None,
                 provider_name: str = "Integration Hub (Xero sandbox)", log_size: int = 2000):
        self.clock = clock or SandboxClock()
        self.lock = threading.RLock()
        self.provider_name = provider_name
        self.today = today
        self.seed = seed
        self.request_log: collections.deque[dict] = collections.deque(maxlen=log_size)
        self.faults = Faults()
        self.orgs: dict[str, Organisation] = {}
        self.reset(seed)

    def reset(self, seed: str | None | bool = True) -> None:
        """Back to the seed (True: the one given at creation), forgetting every change, key and fault."""
        from . import seed as seeding
        with self.lock:
            if seed is not True:
                self.seed = seed
            self.orgs = {}
            self.request_log.clear()
            self.faults = Faults()
            seeding.populate(self, self.seed, today=self.today)

    def add_organisation(self, tenant_id: str, info: dict) -> Organisation:
        org = Organisation(self, tenant_id, info)
        self.orgs[tenant_id] = org
        return org

    def tenants(self) -> list[dict]:
        """The organisations as the identity service lists them."""
        return [{"tenantId": t, "tenantName": o.info["Name"], "tenantType": "ORGANISATION"}
                for t, o in self.orgs.items()]

    def org(self, tenant_id: str) -> Organisation:
        return self.orgs[tenant_id]

    def envelope(self, **content) -> dict:
        """Xero's answer wrapper: Id, Status, ProviderName, DateTimeUTC, then the content."""
        return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": self.provider_name,
                "DateTimeUTC": ms(self.clock.utcnow(), offset=False), **content}

    def log(self, entry: dict) -> None:
        self.request_log.append(entry)

    def summary(self) -> dict:
        with self.lock:
            return {"organisations": [{"tenantId": t, "name": o.info["Name"], "contacts": len(o.contacts),
                                       "invoices": len(o.documents["Invoices"]),
                                       "credit_notes": len(o.documents["CreditNotes"]), "items": len(o.items),
                                       "payments": len(o.payments)} for t, o in self.orgs.items()],
                    "seed": self.seed, "now": self.clock.utcnow().isoformat()}
