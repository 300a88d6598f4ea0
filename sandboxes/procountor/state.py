"""What the Procountor sandbox remembers, and the rules Procountor applies to what it is sent.

One company (the API key's), held in memory: chart of accounts, VAT percentages and statuses,
dimensions, fiscal years, business partners, invoices (each with its own ledger receipt, as in
Procountor), journals, payments, payment events and attachments. Every write is validated the way
Procountor's REST API does it and refused with its error body::

    {"errors": [{"status": 400, "field": "invoiceRows[0].vatPercent", "message": "..."}]}

Nothing here speaks HTTP: ``app.py`` turns requests into calls on ``ProcountorState`` under its lock.
Amounts are Decimal from the JSON parser to the JSON writer (``loads``/``dumps``).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
from collections import deque
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Iterable

CENT = Decimal("0.01")
PAGE_SIZE = 50  # Procountor's largest page of a list (invoices, ledger receipts, partners, payments)
BATCH_MAX = 200  # ids in one batch GET (/invoices/1,2,3)
TOKEN_SECONDS = 3600
ATTACHMENT_MAX = 10_000_000
EINVOICE_REJECT_SECONDS = 600  # an undeliverable e-invoice is refused this long after it was sent (sandbox choice)

INVOICE_TYPES = ("SALES_INVOICE", "PURCHASE_INVOICE")
# Every status Procountor reports for an invoice; the sandbox moves through a few of them (see docs).
INVOICE_STATUSES = ("EMPTY", "UNFINISHED", "NOT_SENT", "SENT", "RECEIVED", "PAID", "PAYMENT_DENIED", "VERIFIED",
                    "APPROVED", "INVALIDATED", "PAYMENT_QUEUED", "PARTLY_PAID", "PAYMENT_SENT_TO_BANK", "MARKED_PAID",
                    "STARTED", "INVOICED", "OVERRIDDEN", "DELETED", "UNSAVED")
LEDGER_RECEIPT_TYPES = ("JOURNAL", "PURCHASE_INVOICE", "SALES_INVOICE")
TRANSACTION_TYPES = ("ENTRY", "REVERSING_ENTRY", "RECONCILIATION_ENTRY")
PAYMENT_METHODS = ("BANK_TRANSFER", "DIRECT_DEBIT", "DIRECT_PAYMENT", "CLEARING", "CREDIT_CARD_CHARGE",
                   "FOREIGN_PAYMENT", "OTHER", "CASH", "NETTING", "OTHER_PAYMENT_METHOD")
INVOICE_CHANNELS = ("EMAIL", "MAIL", "ELECTRONIC_INVOICE", "EDI", "NO_SENDING", "PAPER_INVOICE")
PARTNER_TYPES = ("CUSTOMER", "SUPPLIER", "PERSON")
REFERENCE_TYPES = ("INVOICE", "LEDGER_RECEIPT")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --------------------------------------------------------------------------------------------
# JSON with Decimal amounts


def loads(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"), parse_float=Decimal)


_NUMBER_MARK = "\u0000num:"


def _marked(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _NUMBER_MARK + format(value, "f")
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_marked(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """JSON where a Decimal is written as the number it is (never a string, never through a float)."""
    text = json.dumps(_marked(value), ensure_ascii=False)
    return re.sub(r'"\\u0000num:(-?[0-9.]+)"', r"\1", text).encode("utf-8")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------------------------
# Errors and clock


class ProcountorError(Exception):
    """An answer other than success: the status and Procountor's error list."""

    def __init__(self, status: int, errors: list[dict] | str, headers: dict | None = None):
        if isinstance(errors, str):
            errors = [{"status": status, "message": errors}]
        super().__init__(f"{status}: {errors}")
        self.status, self.errors, self.headers = status, errors, dict(headers or {})

    @property
    def body(self) -> dict:
        return {"errors": self.errors}


def not_found(what: str) -> ProcountorError:
    return ProcountorError(404, f"{what} not found")


class Problems:
    """Field errors collected while validating one request body; ``raise_if_any`` answers them all at once."""

    def __init__(self):
        self.items: list[dict] = []

    def add(self, field: str | None, message: str) -> None:
        entry = {"status": 400, "field": field, "message": message}
        if field is None:
            entry.pop("field")
        self.items.append(entry)

    def blank(self, field: str) -> None:
        self.add(field, f"Value of the '{field}' cannot be blank.")

    def raise_if_any(self) -> None:
        if self.items:
            raise ProcountorError(400, self.items)


class SandboxClock:
    """The sandbox's time. Pinned to ``start`` when given (it then moves only by ``advance``), else the real UTC
    clock plus whatever ``advance`` added. Tokens, rate-limit windows and status changes over time read it."""

    def __init__(self, start: dt.datetime | None = None, source: Callable[[], dt.datetime] | None = None):
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        self._start = start
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            offset = self._offset
        if self._source is not None:
            base = self._source()
        elif self._start is not None:
            base = self._start
        else:
            base = dt.datetime.now(dt.timezone.utc)
        if base.tzinfo is None:
            base = base.replace(tzinfo=dt.timezone.utc)
        return base + dt.timedelta(seconds=offset)

    def time(self) -> float:
        return self.now().timestamp()

    def today(self) -> dt.date:
        return self.now().date()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += float(seconds)


def as_clock(clock) -> SandboxClock:
    if clock is None:
        return SandboxClock()
    if isinstance(clock, SandboxClock):
        return clock
    if isinstance(clock, dt.datetime):
        return SandboxClock(start=clock)
    if isinstance(clock, dt.date):
        return SandboxClock(start=dt.datetime.combine(clock, dt.time(9, 0), tzinfo=dt.timezone.utc))
    if callable(clock):
        return SandboxClock(source=clock)
    raise TypeError(f"not a clock: {clock!r}")


# --------------------------------------------------------------------------------------------
# Tokens, rate limit, faults, request log


class Tokens:
    """Access tokens granted by the token endpoint (client credentials + the user's API key), 3600 s each."""

    def __init__(self, clock: SandboxClock, *, client_id: str, client_secret: str, api_key: str):
        self.clock = clock
        self.client_id, self.client_secret, self.api_key = client_id, client_secret, api_key
        self.issued: dict[str, float] = {}  # token -> expires at (epoch seconds on the sandbox clock)
        self.revoked_keys: set[str] = set()

    def grant(self, form: dict[str, str]) -> tuple[int, dict]:
        grant_type = form.get("grant_type", "")
        if grant_type != "client_credentials":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": f"Grant type '{grant_type}' is not supported; use client_credentials "
                                              "with an API key (M2M authentication)"}
        if not form.get("client_id") or not form.get("client_secret"):
            return 400, {"error": "invalid_request", "error_description": "client_id and client_secret are required"}
        if not secrets.compare_digest(form["client_id"], self.client_id) or \
                not secrets.compare_digest(form["client_secret"], self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        key = form.get("api_key", "")
        if not key:
            return 400, {"error": "invalid_request", "error_description": "api_key is required"}
        if not secrets.compare_digest(key, self.api_key) or key in self.revoked_keys:
            return 400, {"error": "invalid_grant", "error_description": "The API key is invalid or has been revoked"}
        token = "pc-" + secrets.token_urlsafe(24)
        self.issued[token] = self.clock.time() + TOKEN_SECONDS
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS}

    def check(self, authorization: str | None) -> str | None:
        """None when the bearer token is good, else why not."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return "Missing access token"
        token = authorization[7:].strip()
        expires = self.issued.get(token)
        if expires is None:
            return "Invalid access token"
        if self.clock.time() >= expires:
            return "Access token expired"
        return None

    def revoke(self, authorization: str | None) -> None:
        if authorization and authorization.lower().startswith("bearer "):
            self.issued.pop(authorization[7:].strip(), None)

    def expire_all(self) -> None:
        for token in self.issued:
            self.issued[token] = 0.0


class RateLimiter:
    """At most ``per_second`` calls in any second per API client (sliding window on the sandbox clock)."""

    def __init__(self, clock: SandboxClock, per_second: int | None = 20, enabled: bool = True):
        self.clock, self.per_second, self.enabled = clock, per_second, enabled
        self.calls: deque[float] = deque()
        self.lock = threading.Lock()

    def admit(self) -> float | None:
        """None when the call may go on, else the seconds to wait."""
        if not self.enabled or not self.per_second:
            return None
        now = self.clock.time()
        with self.lock:
            while self.calls and self.calls[0] <= now - 1.0:
                self.calls.popleft()
            if len(self.calls) >= self.per_second:
                return max(0.0, self.calls[0] + 1.0 - now)
            self.calls.append(now)
            return None


class Faults:
    """Injected failures for the next matching calls: 500, 503, drop (no answer), drop_after/500_after (the call
    is done, then its answer is lost)."""

    KINDS = ("500", "503", "drop", "drop_after", "500_after")

    def __init__(self):
        self.queue: list[dict] = []

    def add(self, kind: str, count: int = 1, method: str | None = None, path_contains: str | None = None) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(self.KINDS)}")
        self.queue.append({"kind": kind, "left": max(1, int(count)), "method": (method or "").upper() or None,
                           "path_contains": path_contains or None})

    def pick(self, method: str, path: str) -> str | None:
        for fault in self.queue:
            if fault["method"] and fault["method"] != method:
                continue
            if fault["path_contains"] and fault["path_contains"] not in path:
                continue
            fault["left"] -= 1
            if fault["left"] <= 0:
                self.queue.remove(fault)
            return fault["kind"]
        return None


# --------------------------------------------------------------------------------------------
# Reading request bodies


def _date(value, field: str, problems: Problems, *, required: bool = True) -> dt.date | None:
    if value in (None, ""):
        if required:
            problems.blank(field)
        return None
    if not isinstance(value, str) or not DATE_RE.match(value):
        problems.add(field, f"Value of the '{field}' must be a date in format yyyy-MM-dd.")
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.add(field, f"Value of the '{field}' is not a valid date.")
        return None


def _decimal(value, field: str, problems: Problems, *, required: bool = True, scale: int = 2) -> Decimal | None:
    if value is None or value == "":
        if required:
            problems.blank(field)
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        problems.add(field, f"Value of the '{field}' must be a number.")
        return None
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        problems.add(field, f"Value of the '{field}' must be a number.")
        return None
    if number.as_tuple().exponent < -scale:
        problems.add(field, f"Value of the '{field}' has more than {scale} decimals.")
    return number


def _text(value, field: str, problems: Problems, *, required: bool = False, max_length: int = 255) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.blank(field)
        return None
    if not isinstance(value, str):
        problems.add(field, f"Value of the '{field}' must be a string.")
        return None
    if len(value) > max_length:
        problems.add(field, f"Value of the '{field}' is longer than {max_length} characters.")
    return value


def _choice(value, field: str, allowed: Iterable[str], problems: Problems, *, required: bool = True) -> str | None:
    if value in (None, ""):
        if required:
            problems.blank(field)
        return None
    if value not in allowed:
        problems.add(field, f"Value '{value}' of the '{field}' is not allowed. Allowed values: {', '.join(allowed)}.")
        return None
    return value


def _object(value, field: str, problems: Problems, *, required: bool = True) -> dict:
    if value is None:
        if required:
            problems.add(field, f"Value of the '{field}' cannot be null.")
        return {}
    if not isinstance(value, dict):
        problems.add(field, f"Value of the '{field}' must be an object.")
        return {}
    return value


def _int(value, field: str, problems: Problems, *, required: bool = True) -> int | None:
    if value in (None, ""):
        if required:
            problems.blank(field)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(field, f"Value of the '{field}' must be an integer.")
        return None
    return value


def version_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


# --------------------------------------------------------------------------------------------
# The company


class ProcountorState:
    """One Procountor company, its settings and its documents."""

    def __init__(self, *, clock: SandboxClock, seed: str | None = "demo"):
        self.clock = clock
        self.lock = threading.RLock()
        self.faults = Faults()
        self.requests: deque[dict] = deque(maxlen=2000)
        self.seed_name = seed
        self.reset()

    # ---- setup -----------------------------------------------------------------------------

    def reset(self) -> None:
        from .seed import apply_seed, base_settings

        self._ids = {"invoice": 100_000, "receipt": 500_000, "transaction": 900_000, "partner": 2_000,
                     "payment": 700_000, "event": 800_000, "attachment": 300_000}
        self._invoice_number = 1000
        self._receipt_number = 1
        self.company = {"id": 12345, "name": "Esimerkki Oy", "businessId": "1234567-8", "country": "FINLAND",
                        "currency": "EUR"}
        self.accounts: dict[str, dict] = {}
        self.vat_percents: list[dict] = []
        self.vat_statuses: dict[int, dict] = {}
        self.dimensions: dict[int, dict] = {}
        self.fiscal_years: list[dict] = []
        self.partners: dict[int, dict] = {}
        self.invoices: dict[int, dict] = {}
        self.receipts: dict[int, dict] = {}
        self.journal_invoices: dict[int, int] = {}  # the invoice id Procountor gives a journal -> the journal
        self.payments: dict[int, dict] = {}
        self.events: dict[int, list[dict]] = {}  # invoice id -> payment events
        self.attachments: dict[int, dict] = {}
        self.faults.queue.clear()
        self.requests.clear()
        base_settings(self)
        if self.seed_name:
            apply_seed(self, self.seed_name)

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def log(self, entry: dict) -> None:
        self.requests.append(entry)

    # ---- settings reads --------------------------------------------------------------------

    def coa(self) -> dict:
        return {"ledgerAccounts": [{"ledgerAccountCode": a["ledgerAccountCode"], "name": a["name"]}
                                   for a in sorted(self.accounts.values(), key=lambda a: a["ledgerAccountCode"])]}

    def vat_information(self) -> list[dict]:
        return [{"country": self.company["country"],
                 "percentages": [dict(p) for p in self.vat_percents]}]

    def vat_defaults(self) -> dict:
        return {"vatInformation": self.vat_information(),
                "vatStatuses": [dict(s) for _, s in sorted(self.vat_statuses.items())]}

    def fiscal_years_answer(self) -> dict:
        years = sorted(self.fiscal_years, key=lambda y: y["startDate"], reverse=True)
        return {"fiscalYears": [json.loads(json.dumps(y)) for y in years]}

    def dimensions_answer(self) -> list[dict]:
        return [json.loads(json.dumps(d)) for _, d in sorted(self.dimensions.items())]

    def dimension(self, dimension_id: int) -> dict:
        if dimension_id not in self.dimensions:
            raise not_found("Dimension")
        return json.loads(json.dumps(self.dimensions[dimension_id]))

    # ---- rules shared by invoices and ledger receipts --------------------------------------

    def check_period(self, day: dt.date | None, field: str, problems: Problems) -> None:
        if day is None:
            return
        iso = day.isoformat()
        for year in self.fiscal_years:
            if year["startDate"] <= iso <= year["endDate"]:
                if year["status"] != "OPEN":
                    problems.add(field, "CLOSED_FISCAL_PERIOD")
                return
        problems.add(field, "FISCAL_YEAR_NOT_FOUND")

    def check_vat(self, percent: Decimal | None, status: int | None, vat_type: str, prefix: str,
                  problems: Problems) -> None:
        if percent is not None:
            allowed = [p for p in self.vat_percents if p[vat_type.lower()]]
            if not any(Decimal(str(p["vatPercent"])) == percent for p in allowed):
                shown = ", ".join(format(p["vatPercent"], "f") for p in allowed)
                problems.add(f"{prefix}vatPercent", f"VAT percent {format(percent, 'f')} is not in use for the "
                                                    f"company. Allowed VAT percents: {shown}.")
        if status is not None:
            known = self.vat_statuses.get(status)
            if known is None or not known[vat_type.lower()]:
                usable = [str(k) for k, s in sorted(self.vat_statuses.items()) if s[vat_type.lower()]]
                problems.add(f"{prefix}vatStatus", f"VAT status {status} is not allowed for {vat_type.lower()}. "
                                                   f"Allowed VAT statuses: {', '.join(usable)}.")

    # ---- business partners -----------------------------------------------------------------

    def create_partner(self, body: dict) -> dict:
        problems = Problems()
        body = _object(body, "businessPartner", problems)
        kind = _choice(body.get("type"), "type", PARTNER_TYPES, problems)
        name = _text(body.get("name"), "name", problems, required=True, max_length=80)
        identifier = _text(body.get("identifier"), "identifier", problems, max_length=30)
        customer_number = _text(body.get("customerNumber"), "customerNumber", problems, max_length=40)
        address = _object(body.get("address"), "address", problems, required=False)
        if address:
            _text(address.get("country"), "address.country", problems, required=True)
        if identifier and kind != "PERSON" and not re.match(r"^\d{7}-\d$", identifier) and \
                (address.get("country") or "FINLAND") == "FINLAND":
            problems.add("identifier", "ERROR_BRN_CODE")
        if name and any(p["name"] == name and p.get("customerNumber") == customer_number and
                        p.get("identifier") != identifier for p in self.partners.values()):
            problems.add("identifier", f"Another partner {name} with the same number and different business "
                                       "identifier already exists.")
        problems.raise_if_any()
        partner = {"id": self.next_id("partner"), "type": kind, "name": name, "identifier": identifier,
                   "customerNumber": customer_number, "active": bool(body.get("active", True)),
                   "email": body.get("email"), "address": address or None,
                   "version": version_of(self.clock.now())}
        self.partners[partner["id"]] = partner
        return dict(partner)

    def partner(self, partner_id: int) -> dict:
        if partner_id not in self.partners:
            raise not_found("Business partner")
        return dict(self.partners[partner_id])

    def list_partners(self, query: dict[str, str]) -> dict:
        rows = sorted(self.partners.values(), key=lambda p: p["id"])
        if query.get("type"):
            rows = [p for p in rows if p["type"] == query["type"]]
        if query.get("name"):
            rows = [p for p in rows if query["name"].lower() in p["name"].lower()]
        if query.get("customerNumber"):
            rows = [p for p in rows if p.get("customerNumber") == query["customerNumber"]]
        if query.get("active") in ("true", "false"):
            rows = [p for p in rows if p["active"] == (query["active"] == "true")]
        return paged(rows, query, lambda p: {k: p[k] for k in ("id", "type", "name", "identifier", "customerNumber",
                                                                "active")})

    # ---- invoices --------------------------------------------------------------------------

    def create_invoice(self, body: dict) -> dict:
        problems = Problems()
        body = _object(body, "invoice", problems)
        kind = _choice(body.get("type"), "type", INVOICE_TYPES, problems)
        bill_date = _date(body.get("date"), "date", problems)
        vat_type = "PURCHASE" if kind == "PURCHASE_INVOICE" else "SALES"
        partner_id = _int(body.get("partnerId"), "partnerId", problems, required=False)
        if partner_id is not None and partner_id not in self.partners:
            problems.add("partnerId", f"Business partner {partner_id} does not exist.")
        party = _object(body.get("counterParty"), "counterParty", problems)
        address = _object(party.get("counterPartyAddress"), "counterParty.counterPartyAddress", problems)
        _text(address.get("name"), "counterParty.counterPartyAddress.name", problems, required=True, max_length=80)
        if address:
            _text(address.get("country"), "counterParty.counterPartyAddress.country", problems, required=True)
        pay = _object(body.get("paymentInfo"), "paymentInfo", problems)
        _choice(pay.get("paymentMethod"), "paymentInfo.paymentMethod", PAYMENT_METHODS, problems)
        currency = _text(pay.get("currency"), "paymentInfo.currency", problems, required=True, max_length=3)
        if currency and not re.match(r"^[A-Z]{3}$", currency):
            problems.add("paymentInfo.currency", f"Currency '{currency}' is not a valid ISO 4217 code.")
        due = _date(pay.get("dueDate"), "paymentInfo.dueDate", problems)
        if due and bill_date and due < bill_date:
            problems.add("paymentInfo.dueDate", "DUE_DATE_BEFORE_BILL_DATE")
        extra = _object(body.get("extraInfo"), "extraInfo", problems)
        for flag in ("accountingByRow", "unitPricesIncludeVat"):
            if extra and not isinstance(extra.get(flag), bool):
                problems.add(f"extraInfo.{flag}", f"Value of the 'extraInfo.{flag}' cannot be null.")
        _choice(body.get("invoiceChannel"), "invoiceChannel", INVOICE_CHANNELS, problems, required=False)
        discount = _decimal(body.get("discountPercent"), "discountPercent", problems, required=False) or Decimal(0)
        status = _int(body.get("vatStatus"), "vatStatus", problems, required=False)
        if kind:
            self.check_vat(None, status, vat_type, "", problems)
        if kind == "PURCHASE_INVOICE":
            _text(body.get("originalInvoiceNumber"), "originalInvoiceNumber", problems, required=True, max_length=40)
        rows = body.get("invoiceRows")
        if not isinstance(rows, list) or not rows:
            problems.add("invoiceRows", "Invoice must have at least one invoice row.")
            rows = []
        includes_vat = bool(extra.get("unitPricesIncludeVat"))
        priced = []
        for n, row in enumerate(rows):
            prefix = f"invoiceRows[{n}]."
            row = _object(row, f"invoiceRows[{n}]", problems)
            _text(row.get("product"), prefix + "product", problems, required=True, max_length=1000)
            quantity = _decimal(row.get("quantity"), prefix + "quantity", problems, scale=4)
            price = _decimal(row.get("unitPrice"), prefix + "unitPrice", problems, scale=6)
            percent = _decimal(row.get("vatPercent"), prefix + "vatPercent", problems)
            row_status = _int(row.get("vatStatus"), prefix + "vatStatus", problems, required=False)
            row_discount = _decimal(row.get("discountPercent"), prefix + "discountPercent", problems,
                                    required=False) or Decimal(0)
            if kind:
                self.check_vat(percent, row_status, vat_type, prefix, problems)
            if quantity is not None and price is not None and percent is not None:
                gross_or_net = quantity * price * (1 - row_discount / 100) * (1 - discount / 100)
                net = money(gross_or_net / (1 + percent / 100)) if includes_vat else money(gross_or_net)
                priced.append({**row, "_net": net, "_vat": money(net * percent / 100), "_percent": percent,
                               "_status": row_status if row_status is not None else (status or 1)})
        self.check_period(bill_date, "date", problems)
        problems.raise_if_any()

        now = self.clock.now()
        invoice_id = self.next_id("invoice")
        invoice = json.loads(dumps(body), parse_float=Decimal)
        for key in ("id", "status", "invoiceNumber", "version", "ledgerReceiptId", "attachments"):
            invoice.pop(key, None)
        self._invoice_number += 1
        invoice.update({"id": invoice_id, "status": "UNFINISHED", "invoiceNumber": self._invoice_number,
                        "version": version_of(now), "created": version_of(now)})
        invoice["invoiceChannel"] = invoice.get("invoiceChannel") or "NO_SENDING"
        invoice["_net"] = sum((r["_net"] for r in priced), Decimal(0))
        invoice["_vat"] = sum((r["_vat"] for r in priced), Decimal(0))
        self.invoices[invoice_id] = invoice
        self.events[invoice_id] = []
        self._invoice_receipt(invoice, priced, vat_type)
        return self.render_invoice(invoice)

    def _invoice_receipt(self, invoice: dict, priced: list[dict], vat_type: str) -> None:
        """The ledger receipt Procountor keeps with every invoice: receivable/payable against sales/purchases."""
        sales = vat_type == "SALES"
        gross = invoice["_net"] + invoice["_vat"]
        default_account = "3000" if sales else "4000"
        transactions = [{"id": self.next_id("transaction"), "transactionType": "REVERSING_ENTRY",
                         "account": "1701" if sales else "2871", "accountingValue": gross if sales else -gross,
                         "vatPercent": Decimal(0), "vatType": vat_type, "description": invoice.get("notes") or "",
                         "dimensionItemValues": []}]
        for row in priced:
            transactions.append({"id": self.next_id("transaction"), "transactionType": "ENTRY",
                                 "account": default_account, "accountingValue": -row["_net"] if sales else row["_net"],
                                 "vatPercent": row["_percent"], "vatType": vat_type, "vatStatus": row["_status"],
                                 "description": row.get("product") or "", "dimensionItemValues": []})
        receipt = {"id": self.next_id("receipt"), "type": invoice["type"], "status": invoice["status"],
                   "name": invoice["counterParty"]["counterPartyAddress"].get("name"),
                   "receiptDate": invoice["date"], "vatType": vat_type, "vatStatus": invoice.get("vatStatus") or 1,
                   "invoiceId": invoice["id"], "invoiceNumber": invoice["invoiceNumber"],
                   "receiptNumber": self._next_receipt_number(), "invoiceNotes": invoice.get("notes") or "",
                   "accountantsNotes": "", "transactionDescription": invoice.get("notes") or "",
                   "version": invoice["version"], "transactions": transactions}
        self.receipts[receipt["id"]] = receipt
        invoice["_receipt"] = receipt["id"]

    def _next_receipt_number(self) -> int:
        self._receipt_number += 1
        return self._receipt_number

    def invoice(self, invoice_id: int) -> dict:
        self.settle()
        if invoice_id not in self.invoices:
            raise not_found("Invoice")
        return self.render_invoice(self.invoices[invoice_id])

    def render_invoice(self, invoice: dict) -> dict:
        shown = {k: v for k, v in invoice.items() if not k.startswith("_")}
        shown["ledgerReceiptId"] = invoice.get("_receipt")
        shown["attachments"] = [self.attachment_meta(a) for a in self.attachments.values()
                                if a["referenceType"] == "INVOICE" and a["referenceId"] == invoice["id"]]
        return json.loads(dumps(shown), parse_float=Decimal)

    def invoice_summary(self, invoice: dict) -> dict:
        party = (invoice.get("counterParty") or {}).get("counterPartyAddress") or {}
        return {"id": invoice["id"], "type": invoice["type"], "status": invoice["status"], "date": invoice["date"],
                "dueDate": invoice["paymentInfo"].get("dueDate"), "invoiceNumber": invoice["invoiceNumber"],
                "originalInvoiceNumber": invoice.get("originalInvoiceNumber"), "partnerId": invoice.get("partnerId"),
                "partnerName": party.get("name"), "sum": invoice["_net"] + invoice["_vat"],
                "vatSum": invoice["_vat"], "currency": invoice["paymentInfo"].get("currency"),
                "created": invoice["created"], "version": invoice["version"]}

    def list_invoices(self, query: dict[str, str]) -> dict:
        self.settle()
        rows = sorted(self.invoices.values(), key=lambda i: i["id"])
        problems = Problems()
        if query.get("types"):
            wanted = query["types"].split(",")
            rows = [i for i in rows if i["type"] in wanted]
        if query.get("status"):
            rows = [i for i in rows if i["status"] == query["status"]]
        if query.get("businessPartnerId"):
            rows = [i for i in rows if str(i.get("partnerId")) == query["businessPartnerId"]]
        for name, key in (("startDate", "date"), ("endDate", "date")):
            if query.get(name):
                day = _date(query[name], name, problems)
                if day:
                    rows = [i for i in rows if (i[key] >= day.isoformat() if name == "startDate"
                                                else i[key] <= day.isoformat())]
        for name, key in (("createdStartDate", "created"), ("createdEndDate", "created"),
                          ("versionStartDate", "version"), ("versionEndDate", "version")):
            if query.get(name):
                bound = query[name]
                if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", bound):
                    problems.add(name, f"Value of the '{name}' must be a timestamp yyyy-MM-ddTHH:mm:ss.")
                    continue
                rows = [i for i in rows if (i[key] >= bound if "Start" in name else i[key] <= bound)]
        problems.raise_if_any()
        return paged(rows, query, self.invoice_summary)

    def _invoice_for_change(self, invoice_id: int) -> dict:
        self.settle()
        invoice = self.invoices.get(invoice_id)
        if invoice is None:
            raise not_found("Invoice")
        return invoice

    def _set_status(self, invoice: dict, status: str) -> None:
        invoice["status"] = status
        invoice["version"] = version_of(self.clock.now())
        receipt = self.receipts.get(invoice.get("_receipt"))
        if receipt:
            receipt["status"] = status
            receipt["version"] = invoice["version"]

    def transition(self, invoice_id: int, action: str) -> None:
        """send (sales), sendToCirculation / verify / approve (purchase), invalidate (either)."""
        invoice = self._invoice_for_change(invoice_id)
        rules = {
            "send": ("SALES_INVOICE", ("UNFINISHED", "NOT_SENT"), None),
            "sendToCirculation": ("PURCHASE_INVOICE", ("UNFINISHED",), "RECEIVED"),
            "verify": ("PURCHASE_INVOICE", ("RECEIVED",), "VERIFIED"),
            "approve": ("PURCHASE_INVOICE", ("RECEIVED", "VERIFIED"), "APPROVED"),
            "invalidate": (None, ("UNFINISHED", "NOT_SENT", "SENT", "RECEIVED", "VERIFIED", "APPROVED"),
                           "INVALIDATED"),
        }
        kind, allowed_from, target = rules[action]
        if kind and invoice["type"] != kind:
            raise ProcountorError(400, [{"status": 400, "field": "type",
                                         "message": f"Action '{action}' is not supported for invoice type "
                                                    f"{invoice['type']}."}])
        if invoice["status"] not in allowed_from:
            raise ProcountorError(400, [{"status": 400, "field": "status",
                                         "message": f"INVALID_INVOICE_STATUS: cannot {action} an invoice in status "
                                                    f"{invoice['status']}; allowed: {', '.join(allowed_from)}."}])
        if action == "send":
            target = "NOT_SENT" if invoice.get("invoiceChannel") == "NO_SENDING" else "SENT"
            address = (invoice.get("counterParty") or {}).get("einvoiceAddress") or {}
            if invoice.get("invoiceChannel") == "ELECTRONIC_INVOICE" and \
                    not (address.get("operator") and address.get("address")):
                # The operator refuses it later, as e-invoicing does: the status follows on the sandbox clock.
                invoice["_undeliverable_at"] = (self.clock.now() + dt.timedelta(seconds=EINVOICE_REJECT_SECONDS))
        self._set_status(invoice, target)

    def gross(self, invoice: dict) -> Decimal:
        return invoice["_net"] + invoice["_vat"]

    def paid_amount(self, invoice_id: int) -> Decimal:
        return sum((e["amount"] for e in self.events.get(invoice_id, []) if e["status"] != "CANCELLED"),
                   Decimal(0))

    def mark_paid(self, invoice_id: int, body: dict) -> None:
        invoice = self._invoice_for_change(invoice_id)
        problems = Problems()
        body = _object(body, "markInvoiceAsPaid", problems)
        day = _date(body.get("paymentDate"), "paymentDate", problems)
        amount = _decimal(body.get("amount"), "amount", problems)
        currency = _text(body.get("currency"), "currency", problems, required=True, max_length=3)
        method = _choice(body.get("paymentMethod") or "BANK_TRANSFER", "paymentMethod", PAYMENT_METHODS, problems)
        if amount is not None and amount <= 0:
            problems.add("amount", "Value of the 'amount' must be greater than 0.")
        if currency and currency != invoice["paymentInfo"].get("currency"):
            problems.add("currency", f"Currency {currency} differs from the invoice currency "
                                     f"{invoice['paymentInfo'].get('currency')}.")
        if invoice["status"] in ("UNFINISHED", "INVALIDATED", "PAID", "MARKED_PAID"):
            problems.add(None, f"INVALID_INVOICE_STATUS: an invoice in status {invoice['status']} cannot be marked "
                               "paid.")
        if amount is not None and amount > 0 and invoice["status"] not in ("PAID", "MARKED_PAID"):
            left = self.gross(invoice) - self.paid_amount(invoice_id)
            if amount > left:
                problems.add("amount", f"The amount {format(amount, 'f')} exceeds the open amount "
                                       f"{format(left, 'f')} of the invoice.")
        problems.raise_if_any()
        self.events[invoice_id].append({"id": self.next_id("event"), "paymentDate": day.isoformat(), "amount": amount,
                                        "currency": currency, "paymentMethod": method, "status": "MARKED_PAID"})
        self._settle_invoice(invoice)

    def _settle_invoice(self, invoice: dict) -> None:
        paid = self.paid_amount(invoice["id"])
        today = self.clock.today().isoformat()
        queued = [p for p in self.payments.values()
                  if p["invoiceId"] == invoice["id"] and p["status"] == "PAYMENT_QUEUED"]
        if paid >= self.gross(invoice) and paid > 0:
            status = "PAID"
        elif queued:
            status = "PAYMENT_QUEUED" if all(p["paymentDate"] > today for p in queued) else "PAYMENT_SENT_TO_BANK"
        elif paid > 0:
            status = "PARTLY_PAID"
        else:
            return
        if invoice["status"] != status:
            self._set_status(invoice, status)

    def payment_events(self, invoice_id: int, query: dict[str, str]) -> dict:
        self._invoice_for_change(invoice_id)
        return paged(self.events[invoice_id], query, dict)

    # ---- payments (purchase invoices, paid from the company's bank account) --------------------

    def create_payments(self, body: dict) -> dict:
        problems = Problems()
        body = _object(body, "paymentsList", problems)
        items = body.get("payments")
        if not isinstance(items, list) or not items:
            problems.add("payments", "Value of the 'payments' cannot be empty.")
            items = []
        planned: list[dict] = []
        for n, item in enumerate(items):
            prefix = f"payments[{n}]."
            item = _object(item, f"payments[{n}]", problems)
            invoice_id = _int(item.get("invoiceId"), prefix + "invoiceId", problems)
            amount = _decimal(item.get("amount"), prefix + "amount", problems)
            currency = _text(item.get("currency"), prefix + "currency", problems, required=True, max_length=3)
            day = _date(item.get("paymentDate"), prefix + "paymentDate", problems)
            invoice = self.invoices.get(invoice_id) if invoice_id is not None else None
            if invoice_id is not None and invoice is None:
                problems.add(prefix + "invoiceId", f"Invoice {invoice_id} does not exist.")
            if invoice is not None:
                if invoice["type"] != "PURCHASE_INVOICE":
                    problems.add(prefix + "invoiceId", "Only purchase invoices can be paid; record sales invoice "
                                                       "payments with PUT /invoices/{id}/paymentevents/markpaid.")
                elif invoice["status"] in ("UNFINISHED", "INVALIDATED", "PAID", "MARKED_PAID", "PAYMENT_QUEUED"):
                    problems.add(prefix + "invoiceId", f"INVALID_INVOICE_STATUS: an invoice in status "
                                                       f"{invoice['status']} cannot be paid.")
                if currency and currency != invoice["paymentInfo"].get("currency"):
                    problems.add(prefix + "currency", "Payment currency differs from the invoice currency.")
                if amount is not None:
                    left = self.gross(invoice) - self.paid_amount(invoice_id) - sum(
                        (p["amount"] for p in planned if p["invoiceId"] == invoice_id), Decimal(0))
                    if amount <= 0:
                        problems.add(prefix + "amount", "Value of the 'amount' must be greater than 0.")
                    elif amount > left:
                        problems.add(prefix + "amount", f"The amount {format(amount, 'f')} exceeds the open amount "
                                                        f"{format(left, 'f')} of the invoice.")
            if day and day < self.clock.today():
                problems.add(prefix + "paymentDate", "Payment date cannot be in the past.")
            planned.append({"invoiceId": invoice_id, "amount": amount or Decimal(0), "currency": currency,
                            "paymentDate": day.isoformat() if day else None,
                            "message": item.get("message"), "bankReference": item.get("bankReference")})
        problems.raise_if_any()
        created = []
        for plan in planned:
            payment = {"id": self.next_id("payment"), **plan, "status": "PAYMENT_QUEUED",
                       "version": version_of(self.clock.now())}
            self.payments[payment["id"]] = payment
            created.append(payment)
            self._settle_invoice(self.invoices[plan["invoiceId"]])
        self.settle()
        return {"payments": [self.render_payment(p) for p in created]}

    def render_payment(self, payment: dict) -> dict:
        return json.loads(dumps(payment), parse_float=Decimal)

    def payment(self, payment_id: int) -> dict:
        self.settle()
        if payment_id not in self.payments:
            raise not_found("Payment")
        return self.render_payment(self.payments[payment_id])

    def list_payments(self, query: dict[str, str]) -> dict:
        self.settle()
        rows = sorted(self.payments.values(), key=lambda p: p["id"])
        if query.get("invoiceId"):
            rows = [p for p in rows if str(p["invoiceId"]) == query["invoiceId"]]
        if query.get("startDate"):
            rows = [p for p in rows if p["paymentDate"] >= query["startDate"]]
        if query.get("endDate"):
            rows = [p for p in rows if p["paymentDate"] <= query["endDate"]]
        return paged(rows, query, self.render_payment)

    def cancel_payment(self, payment_id: int) -> None:
        self.settle()
        payment = self.payments.get(payment_id)
        if payment is None:
            raise not_found("Payment")
        if payment["status"] != "PAYMENT_QUEUED":
            raise ProcountorError(400, [{"status": 400, "field": "status",
                                         "message": f"A payment in status {payment['status']} cannot be cancelled."}])
        payment["status"] = "CANCELLED"
        invoice = self.invoices[payment["invoiceId"]]
        self._set_status(invoice, "APPROVED" if self.paid_amount(invoice["id"]) == 0 else "PARTLY_PAID")

    def settle(self) -> None:
        """Time passes: a queued payment whose day has come is paid (the invoice with it); an e-invoice with no
        e-invoice address is refused by the operator (the invoice goes back to NOT_SENT with ``sendingError``)."""
        today = self.clock.today().isoformat()
        now = self.clock.now()
        for invoice in self.invoices.values():
            due = invoice.get("_undeliverable_at")
            if due is not None and due <= now:
                invoice.pop("_undeliverable_at")
                if invoice["status"] == "SENT":
                    invoice["sendingError"] = {
                        "time": version_of(due), "channel": "ELECTRONIC_INVOICE",
                        "message": "E-invoice delivery failed: the recipient has no e-invoice address "
                                   "(counterParty.einvoiceAddress operator and address) in the operator's register."}
                    self._set_status(invoice, "NOT_SENT")
        for payment in self.payments.values():
            if payment["status"] == "PAYMENT_QUEUED" and payment["paymentDate"] <= today:
                payment["status"] = "PAID"
                payment["version"] = version_of(self.clock.now())
                self.events.setdefault(payment["invoiceId"], []).append(
                    {"id": self.next_id("event"), "paymentDate": payment["paymentDate"], "amount": payment["amount"],
                     "currency": payment["currency"], "paymentMethod": "BANK_TRANSFER", "status": "PAID",
                     "paymentId": payment["id"]})
                self._settle_invoice(self.invoices[payment["invoiceId"]])

    # ---- ledger receipts -------------------------------------------------------------------

    def _transactions(self, items, vat_type: str, problems: Problems, reconcile: bool) -> list[dict]:
        if not isinstance(items, list) or not items:
            problems.add("transactions", "Ledger receipt must have at least one transaction.")
            return []
        out = []
        counts = {"REVERSING_ENTRY": 0, "RECONCILIATION_ENTRY": 0}
        for n, item in enumerate(items):
            prefix = f"transactions[{n}]."
            item = _object(item, f"transactions[{n}]", problems)
            kind = _choice(item.get("transactionType") or "ENTRY", prefix + "transactionType", TRANSACTION_TYPES,
                           problems)
            account = _text(item.get("account"), prefix + "account", problems, required=True, max_length=10)
            if account and account not in self.accounts:
                problems.add(prefix + "account", f"Ledger account {account} does not exist in the chart of accounts.")
            value = _decimal(item.get("accountingValue"), prefix + "accountingValue", problems)
            percent = _decimal(item.get("vatPercent"), prefix + "vatPercent", problems, required=False) or Decimal(0)
            line_vat_type = _choice(item.get("vatType") or vat_type, prefix + "vatType", ("SALES", "PURCHASE"),
                                    problems) or vat_type
            status = _int(item.get("vatStatus"), prefix + "vatStatus", problems, required=False)
            if kind in counts:
                counts[kind] += 1
                if status is not None or percent != 0:
                    problems.add(prefix + "vatStatus", f"{kind} cannot have a VAT status and its VAT percent must "
                                                       "be 0.")
            else:
                self.check_vat(percent, status, line_vat_type, prefix, problems)
            dims = item.get("dimensionItemValues") or []
            seen, per_dimension = set(), {}
            if not isinstance(dims, list):
                problems.add(prefix + "dimensionItemValues", "Value of the 'dimensionItemValues' must be a list.")
                dims = []
            for m, dim in enumerate(dims):
                where = f"{prefix}dimensionItemValues[{m}]."
                dim = _object(dim, where[:-1], problems)
                dimension_id = _int(dim.get("dimensionId"), where + "dimensionId", problems)
                item_id = _int(dim.get("itemId"), where + "itemId", problems)
                amount = _decimal(dim.get("value"), where + "value", problems)
                dimension = self.dimensions.get(dimension_id) if dimension_id is not None else None
                if dimension_id is not None and dimension is None:
                    problems.add(where + "dimensionId", f"Dimension {dimension_id} does not exist.")
                elif dimension is not None and item_id is not None and \
                        not any(i["id"] == item_id and i["status"] == "ACTIVE" for i in dimension["items"]):
                    problems.add(where + "itemId", f"Dimension item {item_id} does not exist in dimension "
                                                   f"{dimension['name']} or is not active.")
                if (dimension_id, item_id) in seen:
                    problems.add(where + "itemId", "Dimension item pairs must be unique within a transaction.")
                seen.add((dimension_id, item_id))
                if amount is not None and dimension_id is not None:
                    per_dimension[dimension_id] = per_dimension.get(dimension_id, Decimal(0)) + amount
            for dimension_id, total in per_dimension.items():
                if value is not None and total != value:
                    problems.add(prefix + "dimensionItemValues",
                                 f"The sum of dimension item values ({format(total, 'f')}) on dimension "
                                 f"{dimension_id} must equal the accounting value {format(value, 'f')}.")
            out.append({"id": self.next_id("transaction"), "transactionType": kind or "ENTRY", "account": account,
                        "accountingValue": value if value is not None else Decimal(0), "vatPercent": percent,
                        "vatType": line_vat_type, **({"vatStatus": status} if status is not None else {}),
                        "description": item.get("description") or "",
                        "dimensionItemValues": [{"dimensionId": d.get("dimensionId"), "itemId": d.get("itemId"),
                                                 "value": d.get("value")} for d in dims if isinstance(d, dict)],
                        **{k: item[k] for k in ("startDate", "endDate", "partnerId") if item.get(k) is not None}})
        for kind, count in counts.items():
            if count > 1:
                problems.add("transactions", f"A ledger receipt can have at most one {kind}.")
        if problems.items:
            return out
        total = sum((money(t["accountingValue"] * (1 + t["vatPercent"] / 100)) for t in out), Decimal(0))
        if total != 0:
            if reconcile and counts["RECONCILIATION_ENTRY"] == 0:
                first = out[0]["account"]
                out.append({"id": self.next_id("transaction"), "transactionType": "RECONCILIATION_ENTRY",
                            "account": first, "accountingValue": -total, "vatPercent": Decimal(0),
                            "vatType": vat_type, "description": "", "dimensionItemValues": []})
            else:
                problems.add("transactions", f"TRANSACTIONS_NOT_BALANCED: the transactions with VAT sum to "
                                             f"{format(total, 'f')}, they must sum to 0 (or use "
                                             "createReconciliation=true).")
        return out

    def create_receipt(self, body: dict, *, reconcile: bool = False) -> dict:
        problems = Problems()
        body = _object(body, "ledgerReceipt", problems)
        kind = body.get("type")
        if kind != "JOURNAL":
            problems.add("type", f"Ledger receipt type '{kind}' cannot be created; only JOURNAL is allowed in POST "
                                 "(invoice receipts are created with their invoices).")
        _text(body.get("name"), "name", problems, required=True, max_length=80)
        day = _date(body.get("receiptDate"), "receiptDate", problems)
        self.check_period(day, "receiptDate", problems)
        vat_type = _choice(body.get("vatType") or "PURCHASE", "vatType", ("SALES", "PURCHASE"), problems) or "PURCHASE"
        vat_status = _int(body.get("vatStatus"), "vatStatus", problems, required=False)
        self.check_vat(None, vat_status, vat_type, "", problems)
        for field in ("periodStartDate", "periodEndDate"):
            _date(body.get(field), field, problems, required=False)
        if body.get("periodStartDate") and body.get("periodEndDate") and \
                body["periodStartDate"] > body["periodEndDate"]:
            problems.add("periodEndDate", "PERIOD_END_DATE_BEFORE_START_DATE")
        transactions = self._transactions(body.get("transactions"), vat_type, problems, reconcile)
        problems.raise_if_any()
        now = self.clock.now()
        receipt = {k: v for k, v in json.loads(dumps(body), parse_float=Decimal).items()
                   if k not in ("id", "status", "invoiceId", "invoiceNumber", "receiptNumber", "version")}
        invoice_id = self.next_id("invoice")  # Procountor keeps a journal's data fields on an invoice of its own
        receipt.update({"id": self.next_id("receipt"), "type": "JOURNAL", "status": "UNFINISHED",
                        "vatType": vat_type, "vatStatus": vat_status, "invoiceId": invoice_id,
                        "receiptNumber": self._next_receipt_number(), "version": version_of(now),
                        "transactions": transactions})
        self.receipts[receipt["id"]] = receipt
        self.journal_invoices[invoice_id] = receipt["id"]
        return self.render_receipt(receipt)

    def update_receipt(self, receipt_id: int, body: dict, *, reconcile: bool = False) -> dict:
        """PUT: new accounting (transactions, notes) for a journal or an invoice's receipt; needs the version."""
        receipt = self.receipts.get(receipt_id)
        if receipt is None:
            raise not_found("Ledger receipt")
        problems = Problems()
        body = _object(body, "ledgerReceipt", problems)
        if body.get("version") != receipt["version"]:
            problems.add("version", "VERSION_MISMATCH: the ledger receipt was modified after the given version "
                                    f"(current version {receipt['version']}).")
            problems.raise_if_any()
        if receipt["status"] in ("PAID", "MARKED_PAID", "INVALIDATED", "APPROVED") and receipt["type"] == "JOURNAL":
            problems.add("status", f"A ledger receipt in status {receipt['status']} cannot be modified.")
        transactions = self._transactions(body.get("transactions"), receipt["vatType"], problems, reconcile)
        problems.raise_if_any()
        for key in ("accountantsNotes", "invoiceNotes", "transactionDescription", "name", "periodStartDate",
                    "periodEndDate", "receiptValidity"):
            if key in body:
                receipt[key] = body[key]
        receipt["transactions"] = transactions
        receipt["version"] = version_of(self.clock.now())
        return self.render_receipt(receipt)

    def receipt(self, receipt_id: int) -> dict:
        self.settle()
        if receipt_id not in self.receipts:
            raise not_found("Ledger receipt")
        return self.render_receipt(self.receipts[receipt_id])

    def render_receipt(self, receipt: dict) -> dict:
        shown = dict(receipt)
        shown["attachments"] = [self.attachment_meta(a) for a in self.attachments.values()
                                if (a["referenceType"] == "LEDGER_RECEIPT" and a["referenceId"] == receipt["id"]) or
                                (a["referenceType"] == "INVOICE" and a["referenceId"] == receipt.get("invoiceId"))]
        return json.loads(dumps(shown), parse_float=Decimal)

    def list_receipts(self, query: dict[str, str]) -> dict:
        self.settle()
        rows = sorted(self.receipts.values(), key=lambda r: r["id"])
        if query.get("types"):
            wanted = query["types"].split(",")
            rows = [r for r in rows if r["type"] in wanted]
        if query.get("startDate"):
            rows = [r for r in rows if r["receiptDate"] >= query["startDate"]]
        if query.get("endDate"):
            rows = [r for r in rows if r["receiptDate"] <= query["endDate"]]
        return paged(rows, query, lambda r: {k: r.get(k) for k in ("id", "type", "status", "name", "receiptDate",
                                                                     "invoiceId", "receiptNumber", "version")})

    # ---- attachments -----------------------------------------------------------------------

    def create_attachment(self, meta: dict, content: bytes, content_type: str) -> dict:
        problems = Problems()
        meta = _object(meta, "meta", problems)
        name = _text(meta.get("name"), "name", problems, required=True, max_length=255)
        kind = _choice(meta.get("referenceType"), "referenceType", REFERENCE_TYPES, problems)
        reference = _int(meta.get("referenceId"), "referenceId", problems)
        if kind == "INVOICE" and reference is not None and reference not in self.invoices and \
                reference not in self.journal_invoices:
            problems.add("referenceId", f"Invoice {reference} does not exist.")
        if kind == "LEDGER_RECEIPT" and reference is not None and reference not in self.receipts:
            problems.add("referenceId", f"Ledger receipt {reference} does not exist.")
        if not content:
            problems.add("file", "The attachment file is empty.")
        if len(content) > ATTACHMENT_MAX:
            problems.add("file", f"The attachment is larger than {ATTACHMENT_MAX} bytes.")
        problems.raise_if_any()
        attachment = {"id": self.next_id("attachment"), "name": name, "referenceType": kind, "referenceId": reference,
                      "mimeType": meta.get("mimeType") or content_type or "application/octet-stream",
                      "content": content}
        self.attachments[attachment["id"]] = attachment
        return self.attachment_meta(attachment)

    @staticmethod
    def attachment_meta(attachment: dict) -> dict:
        return {k: attachment[k] for k in ("id", "name", "referenceType", "referenceId", "mimeType")}

    def attachment(self, attachment_id: int) -> dict:
        if attachment_id not in self.attachments:
            raise not_found("Attachment")
        return self.attachments[attachment_id]

    def delete_attachment(self, attachment_id: int) -> None:
        if self.attachments.pop(attachment_id, None) is None:
            raise not_found("Attachment")

    # ---- summary ---------------------------------------------------------------------------

    def summary(self) -> dict:
        return {"company": self.company, "counts": {"invoices": len(self.invoices),
                                                   "ledgerReceipts": len(self.receipts),
                                                   "businessPartners": len(self.partners),
                                                   "payments": len(self.payments),
                                                   "attachments": len(self.attachments)},
                "today": self.clock.today().isoformat()}


def paged(rows: list[dict], query: dict[str, str], render: Callable[[dict], dict]) -> dict:
    """Procountor's keyset paging: ``previousId`` (the last id of the previous page), ``orderById`` asc/desc,
    ``size`` up to 50; the answer carries ``results`` and ``meta``."""
    problems = Problems()
    previous = query.get("previousId")
    order = (query.get("orderById") or "asc").lower()
    if order not in ("asc", "desc"):
        problems.add("orderById", "Value of the 'orderById' must be asc or desc.")
    try:
        size = int(query.get("size") or PAGE_SIZE)
        if not 1 <= size <= PAGE_SIZE:
            raise ValueError
    except ValueError:
        problems.add("size", f"Value of the 'size' must be between 1 and {PAGE_SIZE}.")
        size = PAGE_SIZE
    if previous not in (None, ""):
        try:
            previous_id = int(previous)
        except ValueError:
            problems.add("previousId", "Value of the 'previousId' must be an integer.")
            previous_id = None
    else:
        previous_id = None
    problems.raise_if_any()
    rows = sorted(rows, key=lambda r: r["id"], reverse=order == "desc")
    if previous_id is not None and previous_id != 0:
        rows = [r for r in rows if (r["id"] > previous_id if order == "asc" else r["id"] < previous_id)]
    total = len(rows)
    page = rows[:size]
    return {"results": [json.loads(dumps(render(r)), parse_float=Decimal) for r in page],
            "meta": {"pageNumber": 0, "pageSize": size, "resultCount": len(page), "totalCount": total}}
