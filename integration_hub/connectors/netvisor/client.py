"""Netvisor's XML API (``<resource>.nv``): the only code that speaks HTTP to Netvisor.

Every attempt is signed anew (HubSession's ``sign`` hook): a timestamp and a single-use transaction id
go into the MAC, so a repeated attempt with old headers would be refused as REQUEST_NOT_UNIQUE.
The keys never leave this object except inside the MAC, and are registered as the session's secrets so
no error or log can show them.

Netvisor has no idempotency key. A write (POST) is never repeated once it may have reached Netvisor:
a timeout or a lost answer becomes RetryableError with ``details["maybe_still_running"]`` or a "may have
reached the server" message, and the caller must look before writing again: ``find_sales_invoice``
(by invoice number), ``find_purchase_invoice`` (number and vendor), ``find_voucher`` (date and
description) and ``find_sales_payment`` (invoice number, date and amount) answer whether it landed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from decimal import Decimal
from typing import Callable
from urllib.parse import quote, urlencode

from integration_hub.connectors.budget import CallBudget
from integration_hub.connectors.errors import (AuthenticationError, ConnectorError, NotFound, PeriodClosed,
                                               PermanentError, RetryableError)
from integration_hub.connectors.http import CallLog, HubSession

from . import xml as nvxml

PROVIDER = "netvisor"
LANGUAGES = ("FI", "EN", "SE")

# Netvisor's error categories and the hub's error classes. REQUEST_NOT_UNIQUE means this attempt's transaction id
# was seen before: nothing was done with it, a freshly signed attempt is safe.
ERROR_CLASSES: dict[str, type[ConnectorError]] = {
    "AUTHENTICATION_FAILED": AuthenticationError,
    "SERVICE_ACCESS_ERROR": AuthenticationError,  # the user's rights do not cover the resource
    "INVALID_DATA": PermanentError,
    "INVALID_DATA_SIZE": PermanentError,
    "DUPLICATE_DATA": PermanentError,
    "PERIOD_LOCK": PeriodClosed,
    "REQUEST_NOT_UNIQUE": RetryableError,
    "SYSTEM_MAINTANANCE": RetryableError,  # Netvisor's own spelling
    "SYSTEM_MAINTENANCE": RetryableError,
    "TECHNICAL_ERROR": RetryableError,
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def mac(*, url: str, sender: str, customer_id: str, timestamp: str, language: str, organisation_id: str,
        transaction_id: str, timestamp_unix: str, customer_key: str, partner_key: str) -> str:
    """Netvisor's HMACSHA256 MAC (hex) of one request."""
    message = "&".join([url, sender, customer_id, timestamp, language, organisation_id, transaction_id,
                        timestamp_unix, customer_key, partner_key])
    return hmac.new(f"{customer_key}&{partner_key}".encode("iso-8859-1", "replace"),
                    message.encode("iso-8859-1", "replace"), hashlib.sha256).hexdigest()


def error_text(response) -> str:
    """Netvisor's words about a refused call ("CODE :: text"), for HubSession's error excerpts."""
    try:
        envelope = nvxml.read_envelope(response.content)
    except nvxml.NotNetvisorXml:
        return response.text or ""
    return f"{envelope.code} :: {envelope.message}" if envelope.code else envelope.message


class NetvisorClient:
    def __init__(self, *, base_url: str, sender: str, customer_id: str, customer_key: str, partner_id: str,
                 partner_key: str, organisation_id: str, language: str = "FI", call_log: CallLog | None = None,
                 budget: CallBudget | None = None, clock: Callable[[], dt.datetime] = utcnow,
                 transaction_ids: Callable[[], str] = lambda: uuid.uuid4().hex,
                 http: HubSession | None = None) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        self.base_url = base_url.rstrip("/")
        self.sender, self.customer_id, self.partner_id = sender, customer_id, partner_id
        self._customer_key, self._partner_key = customer_key, partner_key
        self.organisation_id, self.language = organisation_id, language
        self.clock, self.transaction_ids = clock, transaction_ids
        # Netvisor asks for generous timeouts (its guide: at least 120 s) and one message at a time per customer.
        self.http = http or HubSession.from_settings(provider=PROVIDER, call_log=call_log, budget=budget,
                                                     error_text=error_text, read_timeout=120.0)
        self.http.secrets.update(s for s in (customer_key, partner_key) if s)

    # ---- signing -------------------------------------------------------------------------

    def auth_headers(self, url: str) -> dict[str, str]:
        """The headers of one attempt at ``url`` (the whole address, query string included)."""
        now = self.clock().astimezone(dt.timezone.utc)
        timestamp = now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}"
        unix, transaction = str(int(now.timestamp())), self.transaction_ids()
        signature = mac(url=url, sender=self.sender, customer_id=self.customer_id, timestamp=timestamp,
                        language=self.language, organisation_id=self.organisation_id, transaction_id=transaction,
                        timestamp_unix=unix, customer_key=self._customer_key, partner_key=self._partner_key)
        prefix = "X-Netvisor-Authentication-"
        return {f"{prefix}Sender": self.sender, f"{prefix}CustomerId": self.customer_id,
                f"{prefix}PartnerId": self.partner_id, f"{prefix}Timestamp": timestamp,
                f"{prefix}TimestampUnix": unix, f"{prefix}TransactionId": transaction,
                f"{prefix}MACHashCalculationAlgorithm": "HMACSHA256", f"{prefix}MAC": signature,
                f"{prefix}UseHTTPResponseStatusCodes": "1", "X-Netvisor-Interface-Language": self.language,
                "X-Netvisor-Organisation-Id": self.organisation_id}

    def url(self, resource: str, params: dict | None = None) -> str:
        """The address called and signed: the query is encoded here, once, so the MAC covers exactly what is sent."""
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        suffix = f"?{urlencode(query, quote_via=quote)}" if query else ""
        return f"{self.base_url}/{resource}{suffix}"

    # ---- calling -------------------------------------------------------------------------

    def call(self, method: str, resource: str, *, params: dict | None = None,
             body: bytes | None = None) -> nvxml.Envelope:
        """One call; the OK envelope, or the connector error Netvisor's ResponseStatus stands for."""
        url = self.url(resource, params)
        headers = {"Accept": "text/xml"}
        if body is not None:
            headers["Content-Type"] = f"text/xml; charset={nvxml.ENCODING}"
        operation = f"{method} {resource}"
        response = self.http.request(method, url, data=body, headers=headers, operation=operation,
                                     sign=lambda: self.auth_headers(url), raise_for_status=False)
        try:
            envelope = nvxml.read_envelope(response.content)
        except nvxml.NotNetvisorXml as exc:
            status = response.status_code
            cls = (AuthenticationError if status in (401, 403) else NotFound if status == 404 else PermanentError)
            raise cls(f"{PROVIDER}: {operation} did not answer with Netvisor's XML ({exc})", provider=PROVIDER,
                      status=status, provider_message=self.http.excerpt(response.text)) from None
        if envelope.ok:
            return envelope
        cls = ERROR_CLASSES.get(envelope.code, PermanentError)
        raise cls(f"{PROVIDER}: {operation} refused ({envelope.code or 'FAILED'})", provider=PROVIDER,
                  status=response.status_code, provider_message=self.http.excerpt(envelope.message),
                  details={"code": envelope.code})

    def get(self, resource: str, **params) -> nvxml.Node:
        return self.call("GET", resource, params=params).root

    def write(self, resource: str, body: bytes, **params) -> int | None:
        """A POST; the Netvisor key of what it created when Netvisor tells it."""
        return nvxml.inserted_key(self.call("POST", resource, params=params, body=body))

    # ---- customers -----------------------------------------------------------------------

    def customers(self, keyword: str = "") -> list[dict]:
        return nvxml.customer_rows(self.get("customerlist.nv", keyword=keyword))

    def customer(self, key: int) -> dict:
        found = nvxml.customer_detail(self.get("getcustomer.nv", id=key))
        if found is None:
            raise NotFound(f"{PROVIDER}: no customer {key}", provider=PROVIDER)
        return found

    def add_customer(self, data: nvxml.CustomerData) -> int | None:
        return self.write("customer.nv", nvxml.customer_xml(data), method="add")

    def edit_customer(self, key: int, data: nvxml.CustomerData) -> None:
        self.write("customer.nv", nvxml.customer_xml(data), method="edit", id=key)

    def products(self) -> list[dict]:
        return nvxml.product_rows(self.get("productlist.nv"))

    # ---- sales invoices ------------------------------------------------------------------

    def add_sales_invoice(self, data: nvxml.SalesInvoiceData) -> int | None:
        """Adds a sales invoice or credit note; its Netvisor key."""
        return self.write("salesinvoice.nv", nvxml.sales_invoice_xml(data), method="add")

    def sales_invoices(self, *, status: str = "", number: str = "", above_key: int | None = None,
                       start: dt.date | None = None, end: dt.date | None = None) -> list[dict]:
        return nvxml.sales_invoice_rows(self.get(
            "salesinvoicelist.nv", InvoiceStatus=status, InvoiceNumber=number, InvoicesAboveNetvisorKey=above_key,
            BeginInvoiceDate=start.isoformat() if start else None, EndInvoiceDate=end.isoformat() if end else None))

    def sales_invoice(self, key: int) -> dict:
        found = nvxml.sales_invoice_detail(self.get("getsalesinvoice.nv", NetvisorKey=key))
        if found is None:
            raise NotFound(f"{PROVIDER}: no sales invoice {key}", provider=PROVIDER)
        return found

    def find_sales_invoice(self, number: str) -> dict | None:
        """The sales invoice with this number, if Netvisor has it: whether an add whose answer was lost landed."""
        rows = [row for row in self.sales_invoices(number=str(number)) if row["number"] == str(number)]
        return rows[-1] if rows else None

    def match_credit_note(self, credit_note_key: int, invoice_key: int) -> None:
        self.write("matchcreditnote.nv", nvxml.match_credit_note_xml(credit_note_key, invoice_key))

    # ---- purchase invoices ---------------------------------------------------------------

    def add_purchase_invoice(self, data: nvxml.PurchaseInvoiceData) -> int | None:
        return self.write("purchaseinvoice.nv", nvxml.purchase_invoice_xml(data))

    def purchase_invoices(self, *, status: str = "", number: str = "", start: dt.date | None = None,
                          end: dt.date | None = None) -> list[dict]:
        return nvxml.purchase_invoice_rows(self.get(
            "purchaseinvoicelist.nv", invoicestatus=status, invoicenumber=number,
            begininvoicedate=start.isoformat() if start else None, endinvoicedate=end.isoformat() if end else None))

    def purchase_invoice(self, key: int) -> dict:
        found = nvxml.purchase_invoice_detail(self.get("getpurchaseinvoice.nv", NetvisorKey=key))
        if found is None:
            raise NotFound(f"{PROVIDER}: no purchase invoice {key}", provider=PROVIDER)
        return found

    def find_purchase_invoice(self, number: str, vendor_name: str = "") -> dict | None:
        rows = [row for row in self.purchase_invoices(number=number)
                if row["number"] == number and (not vendor_name or row["vendor_name"] == vendor_name)]
        return rows[-1] if rows else None

    # ---- accounting ----------------------------------------------------------------------

    def add_voucher(self, data: nvxml.VoucherData) -> int | None:
        """Books a voucher (accounting.nv). The hub checks the balance itself before; Netvisor checks it too."""
        total = sum((line.amount for line in data.lines), Decimal(0))
        if data.mode == "gross" and total != 0:
            raise PermanentError(f"{PROVIDER}: the voucher's lines add up to {total}, not 0", provider=PROVIDER)
        return self.write("accounting.nv", nvxml.voucher_xml(data))

    def ledger(self, start: dt.date, end: dt.date, *, account_from: str = "", account_to: str = "",
               keys: list[int] | None = None) -> list[dict]:
        """The vouchers of a period (accountingledger.nv), with their lines."""
        return nvxml.voucher_rows(self.get(
            "accountingledger.nv", StartDate=start.isoformat(), EndDate=end.isoformat(),
            AccountNumberStart=account_from, AccountNumberEnd=account_to,
            NetvisorKeyList=",".join(str(k) for k in keys) if keys else None))

    def find_voucher(self, date: dt.date, description: str, voucher_class: str = "") -> dict | None:
        """The voucher booked on ``date`` with this description (the hub puts its own reference in it)."""
        rows = [v for v in self.ledger(date, date) if v["description"] == description
                and (not voucher_class or v["voucher_class"] == voucher_class) and v["status"] == "valid"]
        return rows[-1] if rows else None

    def accounts(self) -> dict:
        """The chart of accounts and the company's default accounts (accountlist.nv)."""
        return nvxml.account_list(self.get("accountlist.nv"))

    # ---- dimensions ----------------------------------------------------------------------

    def dimensions(self, *, show_hidden: bool = False) -> list[dict]:
        return nvxml.dimension_rows(self.get("dimensionlist.nv", showhidden=1 if show_hidden else None))

    def add_dimension_item(self, name: str, item: str, *, father_item: str = "", hidden: bool = False) -> int | None:
        return self.write("dimensionitem.nv", nvxml.dimension_item_xml(name, item, father_item=father_item,
                                                                       hidden=hidden), method="add")

    # ---- payments ------------------------------------------------------------------------

    def add_sales_payment(self, data: nvxml.SalesPaymentData) -> int | None:
        return self.write("salespayment.nv", nvxml.sales_payment_xml(data))

    def sales_payments(self) -> list[dict]:
        return nvxml.sales_payment_rows(self.get("salespaymentlist.nv"))

    def find_sales_payment(self, invoice_number: str, date: dt.date, amount: Decimal) -> dict | None:
        rows = [p for p in self.sales_payments()
                if p["invoice_number"] == str(invoice_number) and p["date"] == date and p["amount"] == amount]
        return rows[-1] if rows else None

    def close(self) -> None:
        self.http.close()
