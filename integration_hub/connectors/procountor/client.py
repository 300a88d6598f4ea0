"""Procountor's REST API: the only code that speaks HTTP to Procountor.

- Tokens: machine-to-machine authentication (OAuth2 client credentials with the user's API key,
  ``POST {api}/oauth/token``). An access token lives 3600 s; it is kept in a token store (shared by
  workers when the hub gives one), taken again when less than ``TOKEN_MARGIN`` seconds are left, and
  once more when Procountor answers 401. A refused client or API key is NeedsReauthorization: someone
  must give the hub a new API key.
- Every call goes through HubSession(provider="procountor"): timeouts, retries of safe calls, 429s,
  call log and budget. The client secret, the API key and every access token are in ``session.secrets``,
  so nothing stored or shown can carry them.
- Errors: Procountor's ``{"errors": [{"status", "field", "message"}]}`` becomes a PermanentError (PeriodClosed
  for CLOSED_FISCAL_PERIOD, NotFound for 404) whose message names each field, and whose
  ``details["errors"]`` keeps them as a list; 401/403 AuthenticationError; 5xx/timeouts RetryableError.
- Lists are read with Procountor's keyset paging (``previousId``, 50 a page); amounts are Decimal both
  ways (JSON numbers, never floats in between).
- Procountor has no idempotency key: a POST is never repeated by the client. When one fails without an
  answer (RetryableError), ask Procountor whether it landed before sending it again: ``find_invoices``
  (by orderReference / originalInvoiceNumber), ``find_ledger_receipts`` (by name or a line of invoiceNotes)
  and ``find_payments`` (by invoice and amount) are those look-ups.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from email import policy
from email.parser import BytesParser
from typing import Any, Callable, Iterable, Iterator

import requests

from integration_hub.connectors.errors import (AuthenticationError, NeedsReauthorization, NotFound, PeriodClosed,
                                               PermanentError)
from integration_hub.connectors.http import CallLog, HubSession
from integration_hub.connectors.oauth import MemoryTokenStore, TokenStore

PROVIDER = "procountor"
PAGE_SIZE = 50
BATCH_MAX = 200
TOKEN_MARGIN = 300  # seconds: take a new token when the current one has less than this to live
TOKEN_REFUSALS = ("invalid_client", "invalid_grant", "unauthorized_client", "access_denied")


def field_errors(payload: Any) -> list[dict]:
    """Procountor's error list ({"errors": [{"status", "field", "message"}]}), whatever else was answered."""
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        return [e for e in payload["errors"] if isinstance(e, dict)]
    return []


def error_text(response: requests.Response) -> str:
    """Procountor's words about a refused call, one line: "field: message; ..." or the OAuth error."""
    try:
        payload = response.json()
    except ValueError:
        return response.text or ""
    errors = field_errors(payload)
    if errors:
        return "; ".join(dict.fromkeys(
            f"{e['field']}: {e.get('message', '')}" if e.get("field") else str(e.get("message", "")) for e in errors))
    if isinstance(payload, dict) and payload.get("error"):
        return f"{payload['error']}: {payload.get('error_description', '')}".strip(": ")
    return str(payload)[:300]


def _number(value: Decimal) -> float:
    """A Decimal as the JSON number Procountor reads; refused when a float would not carry it exactly."""
    number = float(value)
    if Decimal(repr(number)) != value:
        raise ValueError(f"{value} cannot be written as an exact JSON number")
    return number


def encode(body: Any) -> bytes:
    def default(value):
        if isinstance(value, Decimal):
            return _number(value)
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} is not JSON")

    return json.dumps(body, default=default, ensure_ascii=False).encode("utf-8")


def api_root(base_url: str) -> str:
    """The API's root with its version prefix: ``https://host/api``, ``.../latest/api``, ``.../v2501/api``.
    A bare host gets ``/api``."""
    root = base_url.rstrip("/")
    return root if root.endswith("/api") else f"{root}/api"


class ProcountorClient:
    def __init__(self, *, base_url: str, client_id: str, client_secret: str, api_key: str,
                 call_log: CallLog | None = None, budget=None, token_store: TokenStore | None = None,
                 clock: Callable[[], float] = time.time, **session_options) -> None:
        """``session_options`` go to HubSession (timeouts, max_retries, sleep...)."""
        self.api_url = api_root(base_url)
        self.client_id, self.client_secret, self.api_key = client_id, client_secret, api_key
        self.clock = clock
        self.http = HubSession(provider=PROVIDER, call_log=call_log, budget=budget, error_text=error_text,
                               **session_options)
        self.http.secrets.update(s for s in (client_secret, api_key) if s)
        self.store: TokenStore = token_store or MemoryTokenStore({})
        self._current: dict | None = None

    # ---- tokens ----------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.api_url}/oauth/token"

    def _fresh(self, credentials: dict) -> bool:
        if not credentials.get("access_token"):
            return False
        expires_at = credentials.get("expires_at")
        return expires_at not in (None, "") and float(expires_at) - self.clock() > TOKEN_MARGIN

    def _grant(self) -> dict:
        """A new access token from the token endpoint (safe to repeat: a grant changes nothing)."""
        response = self.http.request(
            "POST", self.token_url, operation="POST oauth/token", retry_unsafe=True, raise_for_status=False,
            data={"grant_type": "client_credentials", "client_id": self.client_id,
                  "client_secret": self.client_secret, "api_key": self.api_key},
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"})
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code == 200 and isinstance(payload, dict) and payload.get("access_token"):
            self.http.secrets.add(payload["access_token"])
            return {"access_token": payload["access_token"], "token_type": payload.get("token_type", "bearer"),
                    "expires_at": self.clock() + float(payload.get("expires_in") or 3600)}
        said = self.http.describe(response)
        error = payload.get("error") if isinstance(payload, dict) else None
        if response.status_code in (400, 401, 403) and (error in TOKEN_REFUSALS or response.status_code != 400):
            raise NeedsReauthorization("Procountor refused the client or the API key: someone must give the hub a "
                                       "new API key", provider=PROVIDER, status=response.status_code,
                                       provider_message=said)
        raise PermanentError(f"Procountor's token endpoint did not grant a token ({response.status_code})",
                             provider=PROVIDER, status=response.status_code, provider_message=said)

    def access_token(self, *, rejected: str | None = None) -> str:
        """A token good for a while; ``rejected``: the one Procountor just answered 401 to."""
        current = self._current or self.store.load()
        if rejected is None and self._fresh(current):
            self._current = current
            self.http.secrets.add(current["access_token"])
            return current["access_token"]

        def decide(stored: dict) -> dict:
            # Another worker may have taken a token while we waited for the lock: use theirs.
            if self._fresh(stored) and stored.get("access_token") != rejected:
                return stored
            return {**stored, **self._grant()}

        self._current = self.store.refresh_locked(decide)
        self.http.secrets.add(self._current["access_token"])
        return self._current["access_token"]

    # ---- calls -----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
                files: dict | None = None, accept: str = "application/json") -> requests.Response:
        token = self.access_token()
        headers = {"Accept": accept, "Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = encode(body)
            headers["Content-Type"] = "application/json"

        def reauthenticate() -> dict[str, str]:
            return {"Authorization": f"Bearer {self.access_token(rejected=token)}"}

        operation = f"{method} {path.split('?')[0].strip('/').split('/')[0]}"
        response = self.http.request(method, self.url(path), params=params, data=data, files=files, headers=headers,
                                     operation=operation, reauthenticate=reauthenticate, raise_for_status=False)
        if response.status_code < 400:
            return response
        self._raise(response, operation)

    def _raise(self, response: requests.Response, operation: str):
        status = response.status_code
        try:
            errors = field_errors(response.json())
        except ValueError:
            errors = []
        said = self.http.describe(response)
        details = {"errors": [{"field": e.get("field"), "message": self.http.excerpt(str(e.get("message", "")))}
                              for e in errors]}
        if status in (401, 403):
            raise AuthenticationError(f"procountor: access refused ({status}) on {operation}", provider=PROVIDER,
                                      status=status, provider_message=said, details=details)
        if status == 404:
            raise NotFound(f"procountor: not found ({operation})", provider=PROVIDER, status=status,
                           provider_message=said, details=details)
        if any("CLOSED_FISCAL_PERIOD" in str(e.get("message")) for e in errors):
            raise PeriodClosed(f"procountor: the date is in a closed fiscal period ({operation})", provider=PROVIDER,
                               status=status, provider_message=said, details=details)
        raise PermanentError(f"procountor: request refused ({status}) on {operation}", provider=PROVIDER,
                             status=status, provider_message=said, details=details)

    def call(self, method: str, path: str, **kwargs) -> Any:
        """The JSON Procountor answered (Decimal amounts), None for an empty answer."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json(parse_float=Decimal)
        except ValueError:
            raise PermanentError(f"Procountor did not answer {method} {path} with JSON", provider=PROVIDER,
                                 status=response.status_code,
                                 provider_message=self.http.excerpt(response.text)) from None

    def get(self, path: str, **params) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.call("GET", path, params=clean or None)

    def pages(self, path: str, **params) -> Iterator[dict]:
        """Every row of a list, page after page: ``previousId`` is the last id of the page before."""
        previous = None
        while True:
            answer = self.get(path, size=PAGE_SIZE, previousId=previous, **params) or {}
            rows = answer.get("results") or []
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            previous = rows[-1]["id"]

    def batch(self, resource: str, ids: Iterable[int]) -> list[dict]:
        """Full records for many ids (Procountor's batch GET, 200 ids a call); unknown ids are left out."""
        wanted = sorted({int(i) for i in ids})
        found: list[dict] = []
        for start in range(0, len(wanted), BATCH_MAX):
            chunk = wanted[start:start + BATCH_MAX]
            try:
                answer = self.get(f"{resource}/{','.join(map(str, chunk))}")
            except NotFound:
                continue
            found += answer if isinstance(answer, list) else [answer]
        return found

    # ---- settings --------------------------------------------------------------------------

    def company(self) -> dict:
        return self.get("company")

    def chart_of_accounts(self) -> list[dict]:
        return (self.get("coa") or {}).get("ledgerAccounts") or []

    def vat_information(self) -> list[dict]:
        return (self.get("vats") or {}).get("vatInformation") or []

    def vat_defaults(self) -> dict:
        """``vatInformation`` (percentages for sales/purchases) and ``vatStatuses`` (the codes of VAT defaults)."""
        return self.get("vats/default") or {}

    def dimensions(self) -> list[dict]:
        return self.get("dimensions") or []

    def dimension(self, dimension_id: int) -> dict:
        return self.get(f"dimensions/{int(dimension_id)}")

    def fiscal_years(self) -> list[dict]:
        return (self.get("fiscalyears") or {}).get("fiscalYears") or []

    # ---- business partners -----------------------------------------------------------------

    def business_partners(self, **filters) -> Iterator[dict]:
        """type (CUSTOMER, SUPPLIER, PERSON), name, customerNumber, active."""
        return self.pages("businesspartners", **filters)

    def business_partner(self, partner_id: int) -> dict:
        return self.get(f"businesspartners/{int(partner_id)}")

    def create_business_partner(self, partner: dict) -> dict:
        return self.call("POST", "businesspartners", body=partner)

    # ---- invoices --------------------------------------------------------------------------

    def invoices(self, *, types: Iterable[str] | None = None, **filters) -> Iterator[dict]:
        """Invoice summaries: status, startDate, endDate (billing date), createdStartDate, createdEndDate,
        versionStartDate, versionEndDate (yyyy-MM-ddTHH:mm:ss), businessPartnerId, types."""
        if types:
            filters["types"] = ",".join(types)
        return self.pages("invoices", **filters)

    def invoice(self, invoice_id: int) -> dict:
        return self.get(f"invoices/{int(invoice_id)}")

    def invoices_by_id(self, ids: Iterable[int]) -> list[dict]:
        return self.batch("invoices", ids)

    def create_invoice(self, invoice: dict) -> dict:
        """POST /invoices. Never repeated on a lost answer: see ``find_invoices``."""
        return self.call("POST", "invoices", body=invoice)

    def _action(self, invoice_id: int, action: str) -> None:
        # These changes are PUTs: doing one twice ends in the same status (the second is refused, not repeated).
        self.call("PUT", f"invoices/{int(invoice_id)}/{action}")

    def send_invoice(self, invoice_id: int) -> None:
        self._action(invoice_id, "send")

    def send_to_circulation(self, invoice_id: int) -> None:
        self._action(invoice_id, "sendToCirculation")

    def verify_invoice(self, invoice_id: int) -> None:
        self._action(invoice_id, "verify")

    def approve_invoice(self, invoice_id: int) -> None:
        self._action(invoice_id, "approve")

    def invalidate_invoice(self, invoice_id: int) -> None:
        self._action(invoice_id, "invalidate")

    def payment_events(self, invoice_id: int) -> Iterator[dict]:
        return self.pages(f"invoices/{int(invoice_id)}/paymentevents")

    def mark_paid(self, invoice_id: int, *, amount: Decimal, payment_date: dt.date | str, currency: str = "EUR",
                  payment_method: str = "BANK_TRANSFER") -> None:
        """Record a payment received for a sales invoice (PUT .../paymentevents/markpaid)."""
        self.call("PUT", f"invoices/{int(invoice_id)}/paymentevents/markpaid",
                  body={"paymentDate": str(payment_date), "amount": Decimal(amount), "currency": currency,
                        "paymentMethod": payment_method})

    def find_invoices(self, reference: str, *, types: Iterable[str] = ("SALES_INVOICE", "PURCHASE_INVOICE"),
                      created_since: dt.datetime | str | None = None, start_date: dt.date | str | None = None,
                      partner_id: int | None = None) -> list[dict]:
        """The invoices whose orderReference (sales) or originalInvoiceNumber (purchase) is ``reference``: how
        the hub learns whether a POST whose answer was lost landed. Narrow it with created_since (the moment
        before the POST), start_date or partner_id; the summaries are read page by page, the candidates in
        batches."""
        if isinstance(created_since, dt.datetime):
            created_since = created_since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        rows = self.invoices(types=types, createdStartDate=created_since,
                             startDate=str(start_date) if start_date else None, businessPartnerId=partner_id)
        candidates = [row["id"] for row in rows
                      if row.get("originalInvoiceNumber") in (None, "", reference)]
        return [invoice for invoice in self.invoices_by_id(candidates)
                if reference in (invoice.get("orderReference"), invoice.get("originalInvoiceNumber"))]

    # ---- ledger receipts -------------------------------------------------------------------

    def ledger_receipts(self, *, types: Iterable[str] | None = None, **filters) -> Iterator[dict]:
        """Receipt summaries: types (JOURNAL, SALES_INVOICE, PURCHASE_INVOICE...), startDate, endDate."""
        if types:
            filters["types"] = ",".join(types)
        return self.pages("ledgerreceipts", **filters)

    def ledger_receipt(self, receipt_id: int) -> dict:
        return self.get(f"ledgerreceipts/{int(receipt_id)}")

    def ledger_receipts_by_id(self, ids: Iterable[int]) -> list[dict]:
        return self.batch("ledgerreceipts", ids)

    def create_ledger_receipt(self, receipt: dict, *, create_reconciliation: bool = False) -> dict:
        """POST a JOURNAL. Never repeated on a lost answer: see ``find_ledger_receipts``."""
        params = {"createReconciliation": "true"} if create_reconciliation else None
        return self.call("POST", "ledgerreceipts", body=receipt, params=params)

    def update_ledger_receipt(self, receipt_id: int, receipt: dict, *, create_reconciliation: bool = False) -> dict:
        """PUT new accounting for a receipt; ``receipt["version"]`` must be the version last read."""
        params = {"createReconciliation": "true"} if create_reconciliation else None
        return self.call("PUT", f"ledgerreceipts/{int(receipt_id)}", body=receipt, params=params)

    def find_ledger_receipts(self, reference: str, *, start_date: dt.date | str, end_date: dt.date | str,
                             types: Iterable[str] = ("JOURNAL",)) -> list[dict]:
        """Receipts dated start..end whose name is ``reference`` or whose invoiceNotes has it as a line."""
        rows = list(self.ledger_receipts(types=types, startDate=str(start_date), endDate=str(end_date)))
        candidates = [row["id"] for row in rows]
        return [receipt for receipt in self.ledger_receipts_by_id(candidates)
                if receipt.get("name") == reference or
                reference in (receipt.get("invoiceNotes") or "").splitlines()]

    # ---- payments --------------------------------------------------------------------------

    def create_payments(self, payments: list[dict]) -> list[dict]:
        """Pay purchase invoices (one payment a row: invoiceId, amount, currency, paymentDate; a row may pay part
        of an invoice, several rows several invoices). Never repeated on a lost answer: see ``find_payments``."""
        answer = self.call("POST", "payments", body={"payments": payments}) or {}
        return answer.get("payments") or []

    def payment(self, payment_id: int) -> dict:
        return self.get(f"payments/{int(payment_id)}")

    def payments(self, **filters) -> Iterator[dict]:
        """invoiceId, startDate, endDate (payment date)."""
        return self.pages("payments", **filters)

    def cancel_payment(self, payment_id: int) -> None:
        self.call("PUT", f"payments/{int(payment_id)}/cancel")

    def find_payments(self, invoice_id: int, *, amount: Decimal | None = None) -> list[dict]:
        return [p for p in self.payments(invoiceId=int(invoice_id))
                if amount is None or Decimal(str(p.get("amount"))) == Decimal(amount)]

    # ---- attachments -----------------------------------------------------------------------

    def upload_attachment(self, *, reference_type: str, reference_id: int, name: str, content: bytes,
                          content_type: str = "application/octet-stream") -> dict:
        """Attach a file to an invoice (INVOICE) or a ledger receipt (LEDGER_RECEIPT): multipart/form-data."""
        meta = {"name": name, "referenceType": reference_type, "referenceId": int(reference_id),
                "mimeType": content_type}
        files = {"meta": (None, json.dumps(meta), "application/json"), "file": (name, content, content_type)}
        return self.call("POST", "attachments", files=files)

    def attachment(self, attachment_id: int) -> tuple[dict, bytes]:
        """(metadata, content) of an attachment: Procountor answers multipart/mixed."""
        response = self.request("GET", f"attachments/{int(attachment_id)}", accept="multipart/mixed")
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + response.headers.get("Content-Type", "").encode("latin-1") + b"\r\n\r\n" +
            response.content)
        parts = list(message.iter_parts()) if message.is_multipart() else []
        if len(parts) < 2:
            raise PermanentError("Procountor's attachment answer is not multipart/mixed with metadata and file",
                                 provider=PROVIDER, provider_message=self.http.excerpt(response.text))
        meta = json.loads(parts[0].get_payload(decode=True) or b"{}")
        return meta, parts[1].get_payload(decode=True) or b""

    def delete_attachment(self, attachment_id: int) -> None:
        self.call("DELETE", f"attachments/{int(attachment_id)}")

    def close(self) -> None:
        self.http.close()
