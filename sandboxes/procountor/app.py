"""The Procountor sandbox as a WSGI application, plus ``build_sandbox`` and ``start_sandbox``.

``ProcountorSandbox`` serves Procountor's REST API under each prefix Procountor publishes it on:
``/api``, ``/latest/api``, ``/supported/api`` and ``/v{YYMM}/api`` (e.g. ``/v2501/api``) all answer
the same. See docs/sandbox-procountor.md for the resources and the rules applied.

  POST {prefix}/oauth/token            M2M token: client_credentials + client_id + client_secret + api_key
  POST {prefix}/logout, /logout        forget the access token
  *    {prefix}/<resource>[/...]       the API (Bearer token, rate limited)
  GET  /                               what this is
  *    /_sandbox/...                   admin (header x-sandbox-key: <client secret>): reset, faults, requests,
                                       clock, tokens/expire, limits

It routes on PATH_INFO only and builds the addresses it shows from SCRIPT_NAME, so it answers the
same at the root of its own server and mounted under a prefix. ``start_sandbox()`` serves it on a
free loopback port in a background thread.
"""
from __future__ import annotations

import contextlib
import http
import json
import re
import urllib.parse
import uuid
from email import policy
from email.parser import BytesParser
from typing import Callable, Iterable
from wsgiref.util import application_uri

from sandboxes.serving import ServedSandbox
from sandboxes.xero.app import DropConnection, make_sandbox_server

from .state import (BATCH_MAX, ProcountorError, ProcountorState, RateLimiter, SandboxClock, Tokens, as_clock,
                    dumps, loads)

JSON = "application/json; charset=utf-8"
PREFIX_RE = re.compile(r"^/(?:(latest|supported|v\d{4})/)?api(?=/|$)")
MAX_BODY = 12_000_000
DEFAULT_CLIENT_ID = "sandbox-procountor-client"
DEFAULT_CLIENT_SECRET = "sandbox-procountor-secret"
DEFAULT_API_KEY = "sandbox-procountor-key"


class Response:
    def __init__(self, status: int, body: bytes | dict | list | None = None, headers: dict | None = None,
                 content_type: str = JSON):
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = dumps(body)
        self.body = body or b""
        if body is not None and status != 204:
            self.headers.setdefault("Content-Type", content_type)


def _error(exc: ProcountorError) -> Response:
    return Response(exc.status, exc.body, exc.headers)


class Request:
    def __init__(self, environ: dict):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = environ.get("PATH_INFO") or "/"
        self.query = {k: v[-1] for k, v in
                      urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        self.base_url = application_uri(environ).rstrip("/")
        self.content_type = environ.get("CONTENT_TYPE", "") or ""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            raise ProcountorError(413, f"The request body is larger than {MAX_BODY} bytes.")
        self.raw = environ["wsgi.input"].read(length) if length > 0 else b""

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    def form(self) -> dict[str, str]:
        values = dict(self.query)
        values.update({k: v[-1] for k, v in
                       urllib.parse.parse_qs(self.raw.decode("utf-8", "replace"), keep_blank_values=True).items()})
        return values

    def json(self):
        if not self.raw.strip():
            raise ProcountorError(400, "Required request body is missing")
        try:
            return loads(self.raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProcountorError(400, f"JSON parse error: {exc}") from None

    def multipart(self) -> dict[str, tuple[bytes, str]]:
        """The parts of a multipart/form-data body by name: (content, content type)."""
        if not self.content_type.lower().startswith("multipart/form-data"):
            raise ProcountorError(415, "Content type must be multipart/form-data")
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + self.content_type.encode("latin-1") + b"\r\n\r\n" + self.raw)
        parts = {}
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            if name:
                parts[name] = (part.get_payload(decode=True) or b"", part.get_content_type())
        return parts

    def flag(self, name: str) -> bool:
        return (self.query.get(name) or "").lower() == "true"


def _ids(text: str, what: str) -> list[int]:
    try:
        ids = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ProcountorError(400, f"{what} ids must be integers") from None
    if len(ids) > BATCH_MAX:
        raise ProcountorError(400, f"At most {BATCH_MAX} ids can be requested at once")
    return ids


class ProcountorSandbox:
    """WSGI app over a ``ProcountorState``, its ``Tokens`` and ``RateLimiter`` (one ``SandboxClock`` for all)."""

    def __init__(self, state: ProcountorState, tokens: Tokens, limiter: RateLimiter, *, admin_key: str | None = None):
        self.state, self.tokens, self.limiter = state, tokens, limiter
        self.clock = state.clock
        self.admin_key = admin_key if admin_key is not None else tokens.client_secret

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        entry: dict = {"method": environ.get("REQUEST_METHOD", "GET").upper(), "path": environ.get("PATH_INFO") or "/"}
        try:
            request = Request(environ)
            entry["query"] = request.query
            response = self.dispatch(request, entry)
        except ProcountorError as exc:
            response = _error(exc)
        except DropConnection:
            entry["dropped"] = True
            self._log(entry, 0)
            if environ.get("sandbox.can_drop"):
                raise
            response = _error(ProcountorError(500, "The sandbox dropped this answer (fault injection)."))
        except Exception as exc:  # a sandbox bug must still answer like a server would
            response = _error(ProcountorError(500, f"Sandbox error: {exc!r}"))
        self._log(entry, response.status)
        headers = [(k, str(v)) for k, v in response.headers.items()]
        headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {http.HTTPStatus(response.status).phrase}", headers)
        return [response.body] if entry["method"] != "HEAD" else [b""]

    def _log(self, entry: dict, status: int) -> None:
        if entry["path"].startswith("/_sandbox") or entry.get("logged"):
            return
        entry["logged"] = True
        with self.state.lock:
            self.state.log({**{k: v for k, v in entry.items() if k != "logged"}, "status": status,
                            "at": self.clock.now().isoformat()})

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
            return _error(ProcountorError(int(fault), "Internal server error (sandbox fault)",
                                          {"Retry-After": "1"} if fault == "503" else None))
        if fault == "drop":
            raise DropConnection()
        response = self.route(request, entry)
        if fault == "500_after":
            return _error(ProcountorError(500, "Internal server error (sandbox fault)"))
        if fault == "drop_after":
            raise DropConnection()
        return response

    def route(self, request: Request, entry: dict) -> Response:
        match = PREFIX_RE.match(request.path)
        if request.path.rstrip("/") == "/logout" and request.method == "POST":
            self.tokens.revoke(request.header("Authorization"))
            return Response(200, None)
        if not match:
            raise ProcountorError(404, f"No endpoint {request.method} {request.path}")
        entry["version"] = match.group(1) or "api"
        rest = request.path[match.end():]
        parts = [p for p in rest.split("/") if p]
        if parts[:2] == ["oauth", "token"] and len(parts) == 2:
            if request.method != "POST":
                raise ProcountorError(405, "Method not allowed")
            with self.state.lock:
                status, body = self.tokens.grant(request.form())
            return Response(status, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})
        if parts == ["logout"] and request.method == "POST":
            self.tokens.revoke(request.header("Authorization"))
            return Response(200, None)
        problem = self.tokens.check(request.header("Authorization"))
        if problem:
            return Response(401, {"errors": [{"status": 401, "message": problem}]},
                            {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        wait = self.limiter.admit()
        if wait is not None:
            entry["refused"] = "rate limit"
            return Response(429, {"errors": [{"status": 429, "message": "Too many requests: at most "
                                              f"{self.limiter.per_second} requests per second"}]},
                            {"Retry-After": str(max(1, int(wait + 0.999)))})
        if not parts:
            raise ProcountorError(404, "No endpoint")
        handler = getattr(self, f"r_{parts[0].lower()}", None)
        if handler is None:
            raise ProcountorError(404, f"No endpoint {request.method} {request.path}")
        with self.state.lock:
            return handler(request, request.method, parts[1:])

    # ---- pages -----------------------------------------------------------------------------

    def index(self, request: Request) -> dict:
        base = request.base_url
        return {"name": "Procountor API sandbox (not Procountor)", "api": f"{base}/api",
                "also": [f"{base}/latest/api", f"{base}/supported/api", f"{base}/v2501/api"],
                "token": f"{base}/api/oauth/token", "admin": f"{base}/_sandbox (header x-sandbox-key)",
                "rate_limit": {"per_second": self.limiter.per_second, "enabled": self.limiter.enabled},
                "summary": self.state.summary(), "docs": "docs/sandbox-procountor.md"}

    @staticmethod
    def unsupported(request: Request) -> ProcountorError:
        return ProcountorError(405, f"Method {request.method} is not supported for {request.path}")

    # ---- resources -------------------------------------------------------------------------

    def r_company(self, request, method, rest) -> Response:
        if method != "GET" or rest:
            raise self.unsupported(request)
        return Response(200, dict(self.state.company))

    def r_coa(self, request, method, rest) -> Response:
        if method != "GET" or rest:
            raise self.unsupported(request)
        return Response(200, self.state.coa())

    def r_vats(self, request, method, rest) -> Response:
        if method != "GET" or rest not in ([], ["default"]):
            raise self.unsupported(request)
        if rest == ["default"]:
            return Response(200, self.state.vat_defaults())
        return Response(200, {"vatInformation": self.state.vat_information()})

    def r_fiscalyears(self, request, method, rest) -> Response:
        if method != "GET" or rest:
            raise self.unsupported(request)
        return Response(200, self.state.fiscal_years_answer())

    def r_dimensions(self, request, method, rest) -> Response:
        if method != "GET" or len(rest) > 1:
            raise self.unsupported(request)
        if rest:
            return Response(200, self.state.dimension(_ids(rest[0], "Dimension")[0]))
        return Response(200, self.state.dimensions_answer())

    def batch(self, text: str, what: str, get: Callable[[int], dict]) -> Response:
        """GET /resource/1,2,3: the ones that exist, a list when more than one id was asked for."""
        ids = _ids(text, what)
        found = []
        for one in ids:
            with contextlib.suppress(ProcountorError):
                found.append(get(one))
        if not found:
            raise ProcountorError(404, f"{what} not found")
        return Response(200, found if "," in text else found[0])

    def r_businesspartners(self, request, method, rest) -> Response:
        if method == "POST" and not rest:
            return Response(200, self.state.create_partner(request.json()))
        if method != "GET" or len(rest) > 1:
            raise self.unsupported(request)
        if rest:
            return self.batch(rest[0], "Business partner", self.state.partner)
        return Response(200, self.state.list_partners(request.query))

    def r_invoices(self, request, method, rest) -> Response:
        if method == "POST" and not rest:
            return Response(200, self.state.create_invoice(request.json()))
        if method == "GET" and not rest:
            return Response(200, self.state.list_invoices(request.query))
        if method == "GET" and len(rest) == 1:
            return self.batch(rest[0], "Invoice", self.state.invoice)
        invoice_id = _ids(rest[0], "Invoice")[0] if rest else 0
        if method == "PUT" and len(rest) == 2 and rest[1] in ("send", "sendToCirculation", "verify", "approve",
                                                               "invalidate"):
            self.state.transition(invoice_id, rest[1])
            return Response(200, None)
        if len(rest) >= 2 and rest[1] == "paymentevents":
            if method == "GET" and len(rest) == 2:
                return Response(200, self.state.payment_events(invoice_id, request.query))
            if method == "PUT" and rest[2:] == ["markpaid"]:
                self.state.mark_paid(invoice_id, request.json())
                return Response(200, None)
        raise self.unsupported(request)

    def r_ledgerreceipts(self, request, method, rest) -> Response:
        reconcile = request.flag("createReconciliation")
        if method == "POST" and not rest:
            return Response(200, self.state.create_receipt(request.json(), reconcile=reconcile))
        if method == "GET" and not rest:
            return Response(200, self.state.list_receipts(request.query))
        if method == "GET" and len(rest) == 1:
            return self.batch(rest[0], "Ledger receipt", self.state.receipt)
        if method == "PUT" and len(rest) == 1:
            return Response(200, self.state.update_receipt(_ids(rest[0], "Ledger receipt")[0], request.json(),
                                                           reconcile=reconcile))
        raise self.unsupported(request)

    def r_payments(self, request, method, rest) -> Response:
        if method == "POST" and not rest:
            return Response(200, self.state.create_payments(request.json()))
        if method == "GET" and not rest:
            return Response(200, self.state.list_payments(request.query))
        if method == "GET" and len(rest) == 1:
            return Response(200, self.state.payment(_ids(rest[0], "Payment")[0]))
        if method == "PUT" and len(rest) == 2 and rest[1] == "cancel":
            self.state.cancel_payment(_ids(rest[0], "Payment")[0])
            return Response(200, None)
        raise self.unsupported(request)

    def r_attachments(self, request, method, rest) -> Response:
        if method == "POST" and not rest:
            parts = request.multipart()
            if "meta" not in parts:
                raise ProcountorError(400, [{"status": 400, "field": "meta", "message": "Part 'meta' is missing."}])
            try:
                meta = json.loads(parts["meta"][0].decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise ProcountorError(400, [{"status": 400, "field": "meta",
                                             "message": "Part 'meta' is not valid JSON."}]) from None
            content, content_type = parts.get("file", (b"", ""))
            return Response(200, self.state.create_attachment(meta, content, content_type))
        if len(rest) != 1:
            raise self.unsupported(request)
        attachment_id = _ids(rest[0], "Attachment")[0]
        if method == "DELETE":
            self.state.delete_attachment(attachment_id)
            return Response(200, None)
        if method != "GET":
            raise self.unsupported(request)
        attachment = self.state.attachment(attachment_id)
        boundary = uuid.uuid4().hex
        meta = dumps(self.state.attachment_meta(attachment))
        body = (f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode() + meta +
                f"\r\n--{boundary}\r\nContent-Type: {attachment['mimeType']}\r\n"
                f"Content-Disposition: attachment; filename=\"{attachment['name']}\"\r\n\r\n".encode() +
                attachment["content"] + f"\r\n--{boundary}--\r\n".encode())
        return Response(200, body, content_type=f"multipart/mixed; boundary={boundary}")

    # ---- admin -----------------------------------------------------------------------------

    def admin(self, request: Request) -> Response:
        key = request.header("x-sandbox-key")
        if not key or key != self.admin_key:
            return Response(401, {"errors": [{"status": 401, "message": "Header x-sandbox-key is missing or wrong"}]})
        action = request.path[len("/_sandbox"):].strip("/")
        method = request.method
        body = {}
        if request.raw.strip():
            try:
                body = json.loads(request.raw)
            except ValueError:
                return Response(400, {"errors": [{"status": 400, "message": "Admin body must be JSON"}]})
        try:
            with self.state.lock:
                if action == "" and method == "GET":
                    return Response(200, self.state.summary())
                if action == "reset" and method == "POST":
                    self.state.reset()
                    return Response(200, self.state.summary())
                if action == "requests" and method == "GET":
                    return Response(200, {"requests": list(self.state.requests)})
                if action == "requests" and method == "DELETE":
                    self.state.requests.clear()
                    return Response(200, {"requests": []})
                if action == "faults" and method in ("POST", "PUT"):
                    self.state.faults.add(str(body.get("kind", "500")), int(body.get("count", 1)),
                                          body.get("method"), body.get("path_contains"))
                    return Response(200, {"faults": self.state.faults.queue})
                if action == "faults" and method == "DELETE":
                    self.state.faults.queue.clear()
                    return Response(200, {"faults": []})
                if action == "clock" and method == "POST":
                    self.clock.advance(float(body.get("advance", 0)))
                    return Response(200, {"now": self.clock.now().isoformat()})
                if action == "tokens/expire" and method == "POST":
                    self.tokens.expire_all()
                    return Response(200, {"expired": True})
                if action == "limits" and method == "POST":
                    if "per_second" in body:
                        self.limiter.per_second = int(body["per_second"]) or None
                    if "enabled" in body:
                        self.limiter.enabled = bool(body["enabled"])
                    return Response(200, {"per_second": self.limiter.per_second, "enabled": self.limiter.enabled})
        except (KeyError, TypeError, ValueError) as exc:
            return Response(400, {"errors": [{"status": 400, "message": f"Bad sandbox admin request: {exc}"}]})
        return Response(404, {"errors": [{"status": 404, "message": f"No admin route {method} {request.path}"}]})


# --------------------------------------------------------------------------------------------
# Building and serving


def build_sandbox(*, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                  api_key: str = DEFAULT_API_KEY, seed: str | None = None, clock=None,
                  rate_limit: int | None = 20, limits: bool = True) -> ProcountorSandbox:
    """A sandbox with its company, token service and rate limiter on one clock.

    ``clock``: a ``SandboxClock``, a datetime (pinned there), a date (pinned at 09:00 UTC) or a callable
    returning the time; None follows the real clock. ``rate_limit``: requests per second (None or 0: no limit).
    """
    clock = as_clock(clock)
    state = ProcountorState(clock=clock, seed=seed)
    tokens = Tokens(clock, client_id=client_id, client_secret=client_secret, api_key=api_key)
    return ProcountorSandbox(state, tokens, RateLimiter(clock, rate_limit, enabled=limits))


class RunningSandbox(ServedSandbox):
    """A sandbox served in a background thread: ``url`` (no trailing slash), ``api_url`` (``url`` + /api)."""

    def __init__(self, sandbox: ProcountorSandbox, server):
        super().__init__(server, "procountor", sandbox)
        self.state, self.tokens = sandbox.state, sandbox.tokens
        self.limiter, self.clock = sandbox.limiter, sandbox.clock
        self.api_url = f"{self.url}/api"
        self.start()

    def token(self) -> str:
        """An access token, through the token endpoint."""
        import requests

        answer = requests.post(f"{self.api_url}/oauth/token", timeout=10,
                               data={"grant_type": "client_credentials", "client_id": self.tokens.client_id,
                                     "client_secret": self.tokens.client_secret, "api_key": self.tokens.api_key})
        answer.raise_for_status()
        return answer.json()["access_token"]



def start_sandbox(*, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                  api_key: str = DEFAULT_API_KEY, seed: str | None = None, clock=None, rate_limit: int | None = 20,
                  limits: bool = True, host: str = "127.0.0.1", port: int = 0, verbose: bool = False,
                  sandbox: ProcountorSandbox | None = None,
                  wrap: Callable[[Callable], Callable] | None = None) -> RunningSandbox:
    """Serve a sandbox on ``host:port`` (0: a free port) in a background thread; usable as a context manager."""
    sandbox = sandbox or build_sandbox(client_id=client_id, client_secret=client_secret, api_key=api_key, seed=seed,
                                       clock=clock, rate_limit=rate_limit, limits=limits)
    app = wrap(sandbox) if wrap else sandbox
    return RunningSandbox(sandbox, make_sandbox_server(app, host, port, verbose))


__all__ = ["ProcountorSandbox", "RunningSandbox", "SandboxClock", "build_sandbox", "start_sandbox",
           "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_API_KEY"]
