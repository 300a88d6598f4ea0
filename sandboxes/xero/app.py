"""The Xero sandbox as a plain WSGI application, plus a threading server to run it.

``XeroSandbox(state, identity, limiter)`` is a WSGI callable serving, on one address, Xero's own
paths (see docs/sandbox-xero.md for the details):

  GET  /                                   what this is (no auth)
  GET  /identity/connect/authorize         consent page; POST: its form     -> Identity.authorize
  POST /connect/token, /connect/revocation token endpoint                   -> Identity.token / revoke
  GET  /connections, DELETE /connections/{id}                               -> Identity.connections
  *    /api.xro/2.0/<Resource>[/...]       the accounting API (Bearer token + xero-tenant-id, rate limited)
  *    /_sandbox/...                       admin (header x-sandbox-key: <client secret>)

It routes on PATH_INFO only and builds absolute URLs (attachment Urls) from SCRIPT_NAME, so it
works at the root of its own server and mounted under a prefix (``sandboxes/urls.py``).
``start_sandbox()`` runs it on a free loopback port in a background thread (tests, benchmarks).
"""
from __future__ import annotations

import contextlib
import http
import json
import socketserver
import sys
import urllib.parse
import uuid
from typing import Callable, Iterable
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import application_uri

import requests

from sandboxes.serving import ServedSandbox

from .identity import Identity, unauthorized
from .limits import RateLimiter, SandboxClock
from .state import (CREDIT_NOTES, IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_MEMORY, INVOICES, PURCHASE_ORDERS, QUOTES,
                    ACCOUNT_FIELDS, CONTACT_FIELDS, CURRENCY_FIELDS, ITEM_FIELDS, PAYMENT_FIELDS,
                    TAX_RATE_FIELDS, TRACKING_FIELDS, DocKind, Organisation, Outcome, Query, XeroError, XeroState,
                    dumps, elements, is_guid, loads, not_found, parse_date, parse_since, post_data_invalid,
                    query_parse)

JSON = "application/json; charset=utf-8"
API_PREFIX = "/api.xro/2.0"
MAX_JSON_BODY = 3_500_000  # Xero: POST bodies up to 3.5 MB (attachments excepted)
DEFAULT_SCOPE = ("openid profile email offline_access accounting.transactions accounting.contacts "
                 "accounting.settings accounting.attachments")
RESOURCES = ("Organisation", "Accounts", "TaxRates", "Currencies", "TrackingCategories", "Contacts", "Items",
             "Invoices", "CreditNotes", "Quotes", "PurchaseOrders", "Payments")
_RESOURCE_BY_LOWER = {name.lower(): name for name in RESOURCES}
# Paged list answers whose schema carries a ``pagination`` object.
PAGINATED = ("Invoices", "CreditNotes", "PurchaseOrders", "Payments", "Contacts")


class DropConnection(Exception):
    """Raised by the app to close the connection without answering (a lost answer, for fault tests)."""


class Response:
    def __init__(self, status: int, body: bytes | dict | list | str | None = None, headers: dict | None = None,
                 content_type: str = JSON):
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = dumps(body)
        elif isinstance(body, str):
            body = body.encode()
            content_type = "text/plain; charset=utf-8" if content_type == JSON else content_type
        self.body = body or b""
        if body is not None and status != 204:
            self.headers.setdefault("Content-Type", content_type)


def _from_error(exc: XeroError) -> Response:
    return Response(exc.status, exc.body, exc.headers)


def _problem(status: int, title: str, detail: str, headers: dict | None = None) -> Response:
    return Response(status, {"Type": None, "Title": title, "Status": status, "Detail": detail,
                             "Instance": str(uuid.uuid4()), "Extensions": {}}, headers)


class Request:
    def __init__(self, environ: dict):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = environ.get("PATH_INFO") or "/"
        try:  # PEP 3333: PATH_INFO carries the URL's bytes as latin-1; file names are UTF-8
            self.path = self.path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        self.query_string = environ.get("QUERY_STRING", "")
        self.query = Query(urllib.parse.parse_qs(self.query_string, keep_blank_values=True))
        self.base_url = application_uri(environ).rstrip("/")
        self.content_type = environ.get("CONTENT_TYPE", "") or ""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        self.raw = environ["wsgi.input"].read(length) if length > 0 else b""

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    def params(self) -> dict[str, str]:
        """Query string and form body together (the consent form and the token endpoint)."""
        values = {k: v[-1] for k, v in urllib.parse.parse_qs(self.query_string, keep_blank_values=True).items()}
        if self.raw and not self.content_type.startswith("application/json"):
            values.update({k: v[-1] for k, v in
                           urllib.parse.parse_qs(self.raw.decode(errors="replace"), keep_blank_values=True).items()})
        return values

    def json(self):
        if len(self.raw) > MAX_JSON_BODY:
            raise XeroError(413, "The request body is larger than the 3.5 MB Xero accepts.")
        if not self.raw.strip():
            raise post_data_invalid("The request body is empty.")
        try:
            return loads(self.raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise post_data_invalid(f"Unexpected character encountered while parsing value: {exc}") from None


@contextlib.contextmanager
def atomic(org: Organisation):
    """A write's changes stand only if it ends without an error (a body Xero cannot read saves nothing)."""
    snapshot = org.snapshot()
    try:
        yield snapshot
    except BaseException:
        org.restore(snapshot)
        raise


class XeroSandbox:
    """WSGI app over a ``XeroState``, an ``Identity`` and a ``RateLimiter`` sharing one ``SandboxClock``."""

    def __init__(self, state: XeroState, identity: Identity, limiter: RateLimiter, *, admin_key: str | None = None):
        self.state = state
        self.identity = identity
        self.limiter = limiter
        self.clock = state.clock
        self.admin_key = admin_key if admin_key is not None else identity.client_secret

    # ---- WSGI entry ------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        entry: dict = {"method": request.method, "path": request.path}
        try:
            response = self.dispatch(request, entry)
        except XeroError as exc:
            response = _from_error(exc)
        except DropConnection:
            entry.setdefault("status", 0)
            entry["dropped"] = True
            self._log(request, entry)
            if environ.get("sandbox.can_drop"):
                raise
            response = _problem(500, "Internal Server Error", "The sandbox dropped this answer (fault injection).")
        except Exception as exc:  # a sandbox bug must still answer like a server would
            response = _problem(500, "Internal Server Error", f"Sandbox error: {exc!r}")
        entry["status"] = response.status
        self._log(request, entry)
        headers = [(k, str(v)) for k, v in response.headers.items()]
        headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {http.HTTPStatus(response.status).phrase}", headers)
        return [response.body] if request.method != "HEAD" else [b""]

    def _log(self, request: Request, entry: dict) -> None:
        if request.path.startswith("/_sandbox") or entry.get("logged"):
            return
        entry["logged"] = True
        entry["at"] = self.clock.utcnow().isoformat()
        with self.state.lock:
            self.state.log({k: v for k, v in entry.items() if k != "logged"})

    def dispatch(self, request: Request, entry: dict) -> Response:
        path = request.path
        if path in ("", "/"):
            return Response(200, self.index(request))
        if path.startswith("/_sandbox"):
            return self.admin(request)
        with self.state.lock:
            fault = self.state.faults.pick(request.method, path)
        if fault:
            entry["fault"] = fault
        if fault in ("500", "503"):
            return self.fault_response(fault)
        if fault == "drop":
            raise DropConnection()
        response = self.route(request, entry)
        if fault == "500_after":
            return self.fault_response("500")
        if fault == "drop_after":
            entry["status"] = response.status
            raise DropConnection()
        return response

    @staticmethod
    def fault_response(kind: str) -> Response:
        if kind == "503":
            return _problem(503, "Service Unavailable", "The Xero API is currently unavailable (sandbox fault).",
                            {"Retry-After": "1"})
        return _problem(500, "Internal Server Error", "An unhandled error occurred (sandbox fault).")

    def route(self, request: Request, entry: dict) -> Response:
        method = request.method
        path = request.path if request.path.startswith(API_PREFIX) else request.path.lower()  # Xero ignores case
        if path.rstrip("/") == "/identity/connect/authorize":
            status, headers, body = self.identity.authorize(method, request.params())
            return Response(status, body, headers, content_type=headers.get("Content-Type", "text/html"))
        if path.rstrip("/") == "/connect/token" and method == "POST":
            status, body = self.identity.token(request.params(), request.header("Authorization"))
            return Response(status, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})
        if path.rstrip("/") == "/connect/revocation" and method == "POST":
            status, body = self.identity.revoke(request.params(), request.header("Authorization"))
            return Response(status, body if body is not None else b"")
        if path.rstrip("/") == "/connections" or path.startswith("/connections/"):
            connection_id = request.path[len("/connections/"):].strip("/") if path.startswith("/connections/") else ""
            status, body = self.identity.connections(method, request.header("Authorization"), connection_id or None,
                                                     auth_event_id=request.query.one("authEventId"))
            if status == 204 or body is None:
                return Response(status, None)
            return Response(status, body)
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return self.api(request, entry)
        raise XeroError(404, "The resource you're looking for cannot be found")

    # ---- pages -----------------------------------------------------------------------------

    def index(self, request: Request) -> dict:
        base = request.base_url
        return {"name": "Xero API sandbox (not Xero)", "base_url": base,
                "api": f"{base}{API_PREFIX}", "authorize": f"{base}/identity/connect/authorize",
                "token": f"{base}/connect/token", "connections": f"{base}/connections",
                "organisations": self.state.tenants(), "speed": self.clock.speed,
                "limits": {"per_minute": self.limiter.per_minute, "per_day": self.limiter.per_day,
                           "concurrent": self.limiter.concurrent, "app_per_minute": self.limiter.app_per_minute,
                           "enabled": self.limiter.enabled},
                "admin": f"{base}/_sandbox (header x-sandbox-key)", "docs": "docs/sandbox-xero.md"}

    # ---- the accounting API ----------------------------------------------------------------

    def api(self, request: Request, entry: dict) -> Response:
        authorization = request.header("Authorization")
        tenants = self.identity.access(authorization)
        if tenants is None:
            detail = self.identity.explain(authorization) or "AuthenticationUnsuccessful"
            return Response(401, unauthorized(detail), {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        tenant = (request.header("xero-tenant-id") or "").strip().lower()
        entry["tenant"] = tenant or None
        if not tenant and len(tenants) == 1:
            tenant = next(iter(tenants))  # a custom connection may leave the header out
        if not tenant or tenant not in tenants or tenant not in self.state.orgs:
            return _problem(403, "Forbidden", "AuthenticationUnsuccessful")
        admission = self.limiter.enter(tenant)
        if not admission.ok:
            entry["refused"] = admission.problem
            return _problem(429, "Too Many Requests", f"Rate limit exceeded ({admission.problem})", admission.headers)
        try:
            try:
                response = self.idempotent(request, tenant, entry)
            except XeroError as exc:
                response = _from_error(exc)
            response.headers.update(admission.headers)
            return response
        finally:
            self.limiter.leave(admission)

    def idempotent(self, request: Request, tenant: str, entry: dict) -> Response:
        """Writes with an Idempotency-Key: the first answer is kept and replayed for a repeat, no work redone."""
        key = request.header("Idempotency-Key")
        if request.method not in ("PUT", "POST") or key is None:
            with self.state.lock:
                return self.resource(request, self.state.org(tenant))
        entry["idempotency_key"] = key
        if len(key) > IDEMPOTENCY_KEY_MAX or not key.strip():
            raise XeroError(400, {"ErrorNumber": 10, "Type": "ValidationException",
                                  "Message": f"The Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX} "
                                             f"characters long (it has {len(key)})."})
        fingerprint = f"{request.method} {request.path.lower()}"
        with self.state.lock:  # held for the whole write, so a concurrent repeat waits and then replays
            org = self.state.org(tenant)
            kept = org.idempotency.get(key)
            if kept is not None:
                if kept["fingerprint"] != fingerprint:
                    raise XeroError(400, {"ErrorNumber": 10, "Type": "ValidationException",
                                          "Message": f"The Idempotency-Key '{key}' was already used for a different "
                                                     f"request ({kept['fingerprint']})."})
                entry["replayed"] = True
                return Response(kept["status"], kept["body"], {"Content-Type": kept["content_type"],
                                                               "Idempotent-Replayed": "true"})
            try:
                response = self.resource(request, org)
            except XeroError as exc:
                response = _from_error(exc)
            if response.status < 500:
                org.idempotency[key] = {"fingerprint": fingerprint, "status": response.status, "body": response.body,
                                        "content_type": response.headers.get("Content-Type", JSON)}
                while len(org.idempotency) > IDEMPOTENCY_MEMORY:
                    org.idempotency.popitem(last=False)
            return response

    def resource(self, request: Request, org: Organisation) -> Response:
        parts = [p for p in request.path[len(API_PREFIX):].strip("/").split("/") if p]
        if not parts:
            raise not_found()
        name = _RESOURCE_BY_LOWER.get(parts[0].lower())
        if name is None:
            raise not_found()
        rest, method = parts[1:], request.method
        handler = getattr(self, f"r_{name}")
        return handler(request, org, method, rest)

    @staticmethod
    def unsupported(request: Request) -> XeroError:
        return XeroError(501, f"The method {request.method} is not implemented for {request.path} in the sandbox.")

    def answer(self, **content) -> Response:
        return Response(200, self.state.envelope(**content))

    @staticmethod
    def unitdp(request: Request) -> int:
        return 4 if request.query.one("unitdp") == "4" else 2

    def written(self, request: Request, plural: str, outcomes: list[Outcome], render: Callable[[dict], dict],
                org: Organisation, snapshot: tuple) -> Response:
        """Xero's answer to a PUT/POST: all saved, per-element results, or one ValidationException."""
        summarize = request.query.flag("summarizeErrors") is not False
        failed = [o for o in outcomes if not o.saved]
        if summarize and failed:
            org.restore(snapshot)  # one bad element and nothing is saved
            body = []
            for outcome in failed:
                rendered = render(outcome.record)
                rendered["ValidationErrors"] = [{"Message": m} for m in outcome.errors]
                body.append(rendered)
            raise XeroError(400, {"ErrorNumber": 10, "Type": "ValidationException",
                                  "Message": "A validation exception occurred", "Elements": body})
        result = []
        for outcome in outcomes:
            rendered = render(outcome.record)
            if not summarize:
                rendered["StatusAttributeString"] = "OK" if outcome.saved else "ERROR"
            if outcome.errors:
                rendered["ValidationErrors"] = [{"Message": m} for m in outcome.errors]
            result.append(rendered)
        return self.answer(**{plural: result})

    # ---- settings resources ----------------------------------------------------------------

    def r_Organisation(self, request, org: Organisation, method, rest) -> Response:
        if method != "GET" or rest:
            raise self.unsupported(request)
        return self.answer(Organisations=[org.render_organisation()])

    def r_Accounts(self, request, org: Organisation, method, rest) -> Response:
        if method != "GET" or len(rest) > 1:
            raise self.unsupported(request)
        if rest:
            account = org.accounts.get(rest[0].lower()) if is_guid(rest[0]) else None
            if account is None:
                raise not_found()
            return self.answer(Accounts=[org.render_account(account)])
        records = org.select(org.accounts.values(), request.query, ACCOUNT_FIELDS, "Account",
                             default_order=lambda a: a["Code"], since=parse_since(request.header("If-Modified-Since")))
        return self.answer(Accounts=[org.render_account(a) for a in records])

    def r_TaxRates(self, request, org: Organisation, method, rest) -> Response:
        if method in ("PUT", "POST") and not rest:
            with atomic(org) as snapshot:
                outcomes = org.save_tax_rates(elements(request.json(), "TaxRates"), upsert=method == "POST")
                return self.written(request, "TaxRates", outcomes, org.render_tax_rate, org, snapshot)
        if method != "GET" or len(rest) > 1:
            raise self.unsupported(request)
        if rest:
            rate = org.tax_rates.get(rest[0].upper())
            if rate is None:
                raise not_found()
            return self.answer(TaxRates=[org.render_tax_rate(rate)])
        records = list(org.tax_rates.values())
        if request.query.one("TaxType"):
            records = [r for r in records if r["TaxType"] == request.query.one("TaxType").upper()]
        records = org.select(records, request.query, TAX_RATE_FIELDS, "TaxRate", default_order=lambda t: t["Name"],
                             since_field=None)
        return self.answer(TaxRates=[org.render_tax_rate(t) for t in records])

    def r_Currencies(self, request, org: Organisation, method, rest) -> Response:
        if method != "GET" or rest:
            raise self.unsupported(request)
        records = org.select(org.currencies.values(), request.query, CURRENCY_FIELDS, "Currency", since_field=None)
        return self.answer(Currencies=[dict(c) for c in records])

    def r_TrackingCategories(self, request, org: Organisation, method, rest) -> Response:
        if method != "GET" or len(rest) > 1:
            raise self.unsupported(request)
        include_archived = bool(request.query.flag("includeArchived"))
        if rest:
            category = org.tracking.get(rest[0].lower()) if is_guid(rest[0]) else None
            if category is None:
                raise not_found()
            return self.answer(TrackingCategories=[org.render_tracking(category, include_archived)])
        records = [t for t in org.tracking.values() if include_archived or t["Status"] == "ACTIVE"]
        records = org.select(records, request.query, TRACKING_FIELDS, "TrackingCategory",
                             default_order=lambda t: t["Name"], since_field=None)
        return self.answer(TrackingCategories=[org.render_tracking(t, include_archived) for t in records])

    # ---- contacts and items ----------------------------------------------------------------

    def r_Contacts(self, request, org: Organisation, method, rest) -> Response:
        if len(rest) > 1:
            raise self.unsupported(request)
        if method == "GET" and rest:
            contact = org.find_contact(rest[0])
            if contact is None:
                raise not_found()
            return self.answer(Contacts=[org.render_contact(contact)])
        if method == "GET":
            q = request.query
            records = list(org.contacts.values())
            ids = self._ids(q, "IDs")
            if ids is not None:
                records = [c for c in records if c["ContactID"] in ids]
            if not q.flag("includeArchived"):
                records = [c for c in records if c["ContactStatus"] != "ARCHIVED"]
            term = (q.one("searchTerm") or "").strip().lower()
            if term:
                records = [c for c in records if any(term in (c.get(f) or "").lower() for f in (
                    "Name", "FirstName", "LastName", "ContactNumber", "CompanyNumber", "EmailAddress"))]
            records = org.select(records, q, CONTACT_FIELDS, "Contact", default_order=lambda c: c["Name"].lower(),
                                 since=parse_since(request.header("If-Modified-Since")))
            chunk, pagination = org.page(records, q)
            summary = bool(q.flag("summaryOnly"))
            return self.answer(pagination=pagination, Contacts=[org.render_contact(c, summary=summary) for c in chunk])
        if method in ("PUT", "POST"):
            contact_id = None
            if rest:
                if method != "POST":
                    raise self.unsupported(request)
                found = org.find_contact(rest[0])
                if found is None:
                    raise not_found()
                contact_id = found["ContactID"]
            with atomic(org) as snapshot:
                outcomes = org.save_contacts(elements(request.json(), "Contacts"), upsert=method == "POST",
                                             contact_id=contact_id)
                return self.written(request, "Contacts", outcomes, org.render_contact, org, snapshot)
        raise self.unsupported(request)

    def r_Items(self, request, org: Organisation, method, rest) -> Response:
        if len(rest) > 1:
            raise self.unsupported(request)
        unitdp = self.unitdp(request)
        if method == "GET" and rest:
            item = org.find_item(rest[0])
            if item is None:
                raise not_found()
            return self.answer(Items=[org.render_item(item, unitdp)])
        if method == "GET":
            records = org.select(org.items.values(), request.query, ITEM_FIELDS, "Item",
                                 default_order=lambda i: i["Code"].lower(),
                                 since=parse_since(request.header("If-Modified-Since")))
            return self.answer(Items=[org.render_item(i, unitdp) for i in records])
        if method in ("PUT", "POST"):
            if rest and method != "POST":
                raise self.unsupported(request)
            with atomic(org) as snapshot:
                outcomes = org.save_items(elements(request.json(), "Items"), upsert=method == "POST",
                                          item_id=rest[0] if rest else None)
                return self.written(request, "Items", outcomes, lambda r: org.render_item(r, unitdp), org, snapshot)
        raise self.unsupported(request)

    # ---- documents -------------------------------------------------------------------------

    def r_Invoices(self, request, org, method, rest) -> Response:
        return self.documents(INVOICES, request, org, method, rest)

    def r_CreditNotes(self, request, org, method, rest) -> Response:
        return self.documents(CREDIT_NOTES, request, org, method, rest)

    def r_Quotes(self, request, org, method, rest) -> Response:
        return self.documents(QUOTES, request, org, method, rest)

    def r_PurchaseOrders(self, request, org, method, rest) -> Response:
        return self.documents(PURCHASE_ORDERS, request, org, method, rest)

    @staticmethod
    def _ids(q: Query, name: str) -> set[str] | None:
        values = q.many(name)
        if values is None:
            return None
        if not all(is_guid(v) for v in values):
            raise query_parse(f"Supplied parameter '{name}' cannot be parsed - must be of type UUID.")
        return {v.lower() for v in values}

    def documents(self, kind: DocKind, request: Request, org: Organisation, method: str, rest: list[str]) -> Response:
        unitdp = self.unitdp(request)
        base = request.base_url
        if rest and rest[0].lower() in ("pdf", "history") or len(rest) > 1 and rest[1].lower() != "attachments":
            raise self.unsupported(request)
        if len(rest) >= 2:
            return self.attachments(kind, request, org, method, rest[0], rest[2:])
        if method == "GET" and rest:
            doc = org.find_document(kind, rest[0])
            if doc is None:
                raise not_found()
            return self.answer(**{kind.plural: [org.render_document(kind, doc, full_contact=True, unitdp=unitdp,
                                                                    base_url=base, with_attachments=True)]})
        if method == "GET":
            q = request.query
            records = list(org.documents[kind.plural].values())
            ids = self._ids(q, "IDs")
            if ids is not None:
                records = [d for d in records if d[kind.id_field] in ids]
            contact_ids = self._ids(q, "ContactIDs")
            if q.one("ContactID"):
                contact_ids = (contact_ids or set()) | (self._ids(q, "ContactID") or set())
            if contact_ids is not None:
                records = [d for d in records if d.get("ContactID") in contact_ids]
            numbers = q.many(f"{kind.number_field}s") or q.many(kind.number_field)
            if numbers is not None:
                wanted = {n.lower() for n in numbers}
                records = [d for d in records if (d.get(kind.number_field) or "").lower() in wanted]
            statuses = q.many("Statuses") or q.many("Status")
            if statuses is not None:
                wanted = {s.upper() for s in statuses}
                records = [d for d in records if d["Status"] in wanted]
            for param, field_name, after in (("DateFrom", "Date", True), ("DateTo", "Date", False),
                                             ("ExpiryDateFrom", "ExpiryDate", True),
                                             ("ExpiryDateTo", "ExpiryDate", False)):
                if q.one(param):
                    try:
                        bound = parse_date(q.one(param), param)
                    except XeroError:
                        raise query_parse(f"Supplied parameter '{param}' cannot be parsed - must be a date.") from None
                    records = [d for d in records if d.get(field_name) is not None
                               and (d[field_name] >= bound if after else d[field_name] <= bound)]
            term = (q.one("searchTerm") or "").strip().lower()
            if term:
                records = [d for d in records if term in (d.get(kind.number_field) or "").lower()
                           or term in (d.get("Reference") or "").lower()]
            records = org.select(records, q, kind.fields, kind.singular.replace(" ", ""),
                                 default_order=lambda d: d["_seq"],
                                 since=parse_since(request.header("If-Modified-Since")))
            chunk, pagination = org.page(records, q)
            summary = bool(q.flag("summaryOnly"))
            content = {kind.plural: [org.render_document(kind, d, summary=summary, unitdp=unitdp) for d in chunk]}
            if kind.plural in PAGINATED:
                content = {"pagination": pagination, **content}
            return self.answer(**content)
        if method in ("PUT", "POST"):
            if rest and method != "POST":
                raise self.unsupported(request)
            with atomic(org) as snapshot:
                outcomes = org.save_documents(kind, elements(request.json(), kind.plural), upsert=method == "POST",
                                              unitdp=unitdp, document_id=rest[0] if rest else None)
                return self.written(request, kind.plural, outcomes,
                                    lambda r: org.render_document(kind, r, unitdp=unitdp, base_url=base), org,
                                    snapshot)
        raise self.unsupported(request)

    def attachments(self, kind: DocKind, request: Request, org: Organisation, method: str, doc_id: str,
                    rest: list[str]) -> Response:
        base = request.base_url
        if not rest:
            if method != "GET":
                raise self.unsupported(request)
            doc, attachments = org.attachment_list(kind, doc_id)
            return self.answer(Attachments=[org.attachment_meta(kind.plural, doc[kind.id_field], a, base)
                                            for a in attachments])
        if len(rest) != 1:
            raise not_found()
        name = rest[0]
        if method == "GET":
            attachment = org.attachment(kind, doc_id, name)
            return Response(200, attachment["Content"], {
                "Content-Disposition": f'attachment; filename="{attachment["FileName"]}"'},
                content_type=attachment["MimeType"])
        if method in ("PUT", "POST"):
            attachment = org.add_attachment(kind, doc_id, name, request.raw, request.content_type,
                                            bool(request.query.flag("IncludeOnline")))
            doc = org.find_document(kind, doc_id)
            return self.answer(Attachments=[org.attachment_meta(kind.plural, doc[kind.id_field], attachment, base)])
        raise self.unsupported(request)

    # ---- payments --------------------------------------------------------------------------

    def r_Payments(self, request, org: Organisation, method, rest) -> Response:
        if len(rest) > 1:
            raise self.unsupported(request)
        if method == "GET" and rest:
            payment = org.payments.get(rest[0].lower()) if is_guid(rest[0]) else None
            if payment is None:
                raise not_found()
            return self.answer(Payments=[org.render_payment(payment)])
        if method == "GET":
            records = org.select(org.payments.values(), request.query, PAYMENT_FIELDS, "Payment",
                                 default_order=lambda p: p["_seq"],
                                 since=parse_since(request.header("If-Modified-Since")))
            chunk, pagination = org.page(records, request.query)
            return self.answer(pagination=pagination, Payments=[org.render_payment(p) for p in chunk])
        if method in ("PUT", "POST"):
            if rest and method != "POST":
                raise self.unsupported(request)
            with atomic(org) as snapshot:
                if rest:
                    outcomes = [org.delete_payment(rest[0], elements(request.json(), "Payments")[0])]
                else:
                    outcomes = org.save_payments(elements(request.json(), "Payments"))
                return self.written(request, "Payments", outcomes, org.render_payment, org, snapshot)
        raise self.unsupported(request)

    # ---- admin -----------------------------------------------------------------------------

    def admin(self, request: Request) -> Response:
        if not self.admin_key or request.header("x-sandbox-key") != self.admin_key:
            return _problem(401, "Unauthorized", "The sandbox admin endpoints need the header x-sandbox-key: "
                                                 "<client secret>.")
        action, method = request.path[len("/_sandbox"):].strip("/"), request.method
        try:
            body = json.loads(request.raw) if request.raw.strip() else {}
        except ValueError:
            return _problem(400, "Bad Request", "The admin body must be JSON.")
        try:
            if action == "" and method == "GET":
                return Response(200, self.state.summary() | {"limits": self.limiter.stats()})
            if action == "stats" and method == "GET":
                return Response(200, self.limiter.stats())
            if action == "tenants" and method == "GET":
                return Response(200, self.state.tenants())
            if action == "reset" and method == "POST":
                self.state.reset(body["seed"] if "seed" in body else True)
                self.limiter.reset()
                if body.get("identity"):
                    self.identity.reset()
                return Response(200, self.state.summary())
            if action == "requests" and method == "GET":
                limit = int(request.query.one("limit") or 100)
                with self.state.lock:
                    entries = list(self.state.request_log)[-limit:] if limit > 0 else []
                return Response(200, {"requests": entries})
            if action == "faults":
                with self.state.lock:
                    if method in ("POST", "PUT"):
                        self.state.faults.add(str(body.get("kind", "500")), int(body.get("count", 1)),
                                              body.get("method"), body.get("path_contains"))
                    elif method == "DELETE":
                        self.state.faults.queue.clear()
                    return Response(200, self.state.faults.describe())
            if action == "clock" and method == "POST":
                self.clock.advance(float(body.get("advance", 0)))
                return Response(200, {"now": self.clock.utcnow().isoformat(), "speed": self.clock.speed})
            if action == "tokens/expire" and method == "POST":
                self.identity.expire_access_tokens()
                return Response(200, {"expired": True})
            if action == "tokens/revoke" and method == "POST":
                self.identity.revoke_refresh_tokens()
                return Response(200, {"revoked": True})
        except (KeyError, TypeError, ValueError) as exc:
            return _problem(400, "Bad Request", f"Bad sandbox admin request: {exc}")
        return _problem(404, "Not Found", f"No sandbox admin route [{method}] {request.path}")


# --------------------------------------------------------------------------------------------
# Building and serving


def build_sandbox(*, client_id: str = "sandbox-xero-client", client_secret: str = "sandbox-xero-secret",
                  seed: str | None = "demo", speed: float = 1.0, limits: bool = True, today=None,
                  redirect_uris: Iterable[str] | None = None, clock: SandboxClock | None = None,
                  **limit_options) -> XeroSandbox:
    """A sandbox with its clock, data, identity service and rate limiter wired together."""
    clock = clock or SandboxClock(speed)
    state = XeroState(clock=clock, seed=seed, today=today)
    identity = Identity(clock, client_id=client_id, client_secret=client_secret, tenants=state.tenants(),
                        redirect_uris=redirect_uris)
    limiter = RateLimiter(clock, enabled=limits, **limit_options)
    return XeroSandbox(state, identity, limiter)


class _DroppingServerHandler(ServerHandler):
    def handle_error(self):
        if isinstance(sys.exc_info()[1], DropConnection):
            self.request_handler.close_connection = True  # say nothing: the client sees the connection close
            return
        super().handle_error()


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class QuietHandler(WSGIRequestHandler):
    verbose = False

    def get_environ(self):
        environ = super().get_environ()
        environ["sandbox.can_drop"] = True
        return environ

    def handle(self):  # as WSGIRequestHandler.handle, with a handler that can drop the connection
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _DroppingServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                         multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        if self.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))


def make_sandbox_server(app, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> WSGIServer:
    handler = type("Handler", (QuietHandler,), {"verbose": verbose})
    return make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=handler)


class RunningSandbox(ServedSandbox):
    """A sandbox served in a background thread. ``url`` has no trailing slash; ``api_url`` is Xero's base URL."""

    def __init__(self, sandbox: XeroSandbox, server: WSGIServer):
        super().__init__(server, "xero", sandbox)
        self.state, self.identity = sandbox.state, sandbox.identity
        self.limiter, self.clock = sandbox.limiter, sandbox.clock
        self.api_url = f"{self.url}{API_PREFIX}"
        self.start()

    @property
    def tenants(self) -> list[dict]:
        return self.state.tenants()

    def connect(self, tenant_ids: Iterable[str] | None = None, *, scope: str = DEFAULT_SCOPE,
                redirect_uri: str = "http://127.0.0.1/xero/callback") -> dict:
        """The whole consent flow over HTTP (Allow, chosen organisations) and the code exchange: the token answer."""
        chosen = list(tenant_ids) if tenant_ids is not None else [t["tenantId"] for t in self.tenants]
        form = {"response_type": "code", "client_id": self.identity.client_id, "redirect_uri": redirect_uri,
                "scope": scope, "state": "sandbox", "decision": "allow", "tenant_choice": "1",
                **{f"tenant_{t}": "on" for t in chosen}}
        answer = requests.post(f"{self.url}/identity/connect/authorize", data=form, allow_redirects=False, timeout=10)
        location = answer.headers.get("Location", "")
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("code", [None])[0]
        if answer.status_code != 302 or not code:
            raise RuntimeError(f"consent failed: {answer.status_code} {location or answer.text[:200]}")
        token = requests.post(f"{self.url}/connect/token", data={"grant_type": "authorization_code", "code": code,
                                                                  "redirect_uri": redirect_uri},
                              auth=(self.identity.client_id, self.identity.client_secret), timeout=10)
        token.raise_for_status()
        return token.json()

    def custom_token(self) -> str:
        """A client_credentials access token (a custom connection to the first organisation)."""
        token = requests.post(f"{self.url}/connect/token", data={"grant_type": "client_credentials"},
                              auth=(self.identity.client_id, self.identity.client_secret), timeout=10)
        token.raise_for_status()
        return token.json()["access_token"]



def start_sandbox(client_id: str = "sandbox-xero-client", client_secret: str = "sandbox-xero-secret",
                  seed: str | None = "demo", *, port: int = 0, host: str = "127.0.0.1", speed: float = 1.0,
                  limits: bool = True, today=None, verbose: bool = False,
                  wrap: Callable[[Callable], Callable] | None = None, sandbox: XeroSandbox | None = None,
                  redirect_uris: Iterable[str] | None = None, **limit_options) -> RunningSandbox:
    """Serve a sandbox on ``host:port`` (0 = a free port) in a background thread and return it.

    ``wrap`` wraps the WSGI app (e.g. a spec-checking middleware); ``limit_options`` go to RateLimiter
    (per_minute, per_day, concurrent, app_per_minute).
    """
    sandbox = sandbox or build_sandbox(client_id=client_id, client_secret=client_secret, seed=seed, speed=speed,
                                       limits=limits, today=today, redirect_uris=redirect_uris, **limit_options)
    app = wrap(sandbox) if wrap else sandbox
    return RunningSandbox(sandbox, make_sandbox_server(app, host, port, verbose))


__all__ = ["XeroSandbox", "RunningSandbox", "build_sandbox", "start_sandbox", "make_sandbox_server", "DropConnection",
           "DEFAULT_SCOPE", "API_PREFIX"]
