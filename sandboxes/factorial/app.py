"""The Factorial sandbox as a plain WSGI application, plus a threading server to run it.

``FactorialSandbox(state)`` is a WSGI callable. It reads only PATH_INFO for routing and builds
absolute URLs (file downloads, nothing else) from SCRIPT_NAME, so it works at the root of its own
server and mounted under a prefix (``sandboxes/urls.py`` mounts it in the hub).

Routes (see docs/sandbox-factorial.md for the shapes):
  GET  /                                       what this is (no auth)
  GET  /oauth/authorize, POST /oauth/token, POST /oauth/revoke
  *    /api/<YYYY-MM-DD>/resources/<resource>[/<id>|/<action>]
  GET  /_files/<file id>/<filename>?signature=  document and receipt downloads (signed URL, no auth)
  *    /_sandbox/...                            admin: faults, reset, logs, OAuth and webhook hooks (x-api-key)

``start_sandbox()`` runs it on a free loopback port in a background thread (for tests).
"""
from __future__ import annotations

import email.parser
import email.policy
import http
import json
import socketserver
import sys
import time
import urllib.parse
from typing import Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import application_uri

from sandboxes.serving import ServedSandbox

from .state import API_VERSION_RE, ApiError, OAuthError, Query, SandboxState, bad_request, public

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
JSON = "application/json; charset=utf-8"


class Response:
    def __init__(self, status: int, body: bytes | dict | list | None = None, headers: dict | None = None,
                 content_type: str = JSON):
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode()
        self.body = body or b""
        if body is not None:
            self.headers.setdefault("Content-Type", content_type)


def _error(exc: ApiError | OAuthError) -> Response:
    return Response(exc.status, exc.body(), getattr(exc, "headers", None))


class Request:
    def __init__(self, environ: dict):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = environ.get("PATH_INFO") or "/"
        self.query_string = environ.get("QUERY_STRING", "")
        self.query = Query(urllib.parse.parse_qs(self.query_string, keep_blank_values=True))
        self.base_url = application_uri(environ).rstrip("/")
        self.content_type = environ.get("CONTENT_TYPE", "") or ""
        length = environ.get("CONTENT_LENGTH") or "0"
        try:
            length = int(length)
        except ValueError:
            length = 0
        self.raw = environ["wsgi.input"].read(length) if length > 0 else b""

    def header(self, name: str) -> str | None:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"))

    def json(self) -> dict:
        """The body as a JSON object (form-encoded bodies are accepted too, flat)."""
        if not self.raw:
            return {}
        if self.content_type.startswith("application/x-www-form-urlencoded"):
            return {k: v[-1] for k, v in urllib.parse.parse_qs(self.raw.decode(), keep_blank_values=True).items()}
        try:
            body = json.loads(self.raw)
        except ValueError:
            raise bad_request("body", "is not valid JSON") from None
        if not isinstance(body, dict):
            raise bad_request("body", "must be a JSON object")
        return body

    def form(self) -> Query:
        """OAuth endpoints: form-encoded body merged over the query string (the docs show both)."""
        params = urllib.parse.parse_qs(self.query_string, keep_blank_values=True)
        if self.content_type.startswith("application/json") and self.raw:
            try:
                params.update({k: [str(v)] for k, v in json.loads(self.raw).items()})
            except (ValueError, AttributeError):
                raise OAuthError("invalid_request") from None
        elif self.raw:
            params.update(urllib.parse.parse_qs(self.raw.decode(errors="replace"), keep_blank_values=True))
        return Query(params)

    def multipart(self) -> tuple[dict, dict | None]:
        """multipart/form-data -> (fields, the "file" part as {filename, content_type, content})."""
        if not self.content_type.startswith("multipart/form-data"):
            return self.json(), None
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.content_type.encode() + b"\r\n\r\n" + self.raw)
        fields, upload = {}, None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            filename = part.get_param("filename", header="content-disposition")
            content = part.get_payload(decode=True) or b""
            if filename is not None or name == "file":
                upload = {"filename": filename or name, "content_type": part.get_content_type(), "content": content}
            else:
                fields[name] = content.decode(part.get_content_charset() or "utf-8", errors="replace")
        return fields, upload


class FactorialSandbox:
    """WSGI app: ``FactorialSandbox(SandboxState(api_key="k", seed="demo"))(environ, start_response)``."""

    def __init__(self, state: SandboxState):
        self.state = state

    # ---- WSGI entry ------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        self.state.base_url = request.base_url
        details: dict = {"query": request.query_string}
        try:
            response = self.dispatch(request, details)
        except ApiError as exc:
            response = _error(exc)
        except OAuthError as exc:
            response = _error(exc)
        except Exception as exc:  # a sandbox bug must still answer like a server would
            response = Response(500, {"error": {"code": "internal_server_error", "message": repr(exc)}})
        if not request.path.startswith("/_sandbox"):
            self.state.log_request(request.method, request.path, response.status, **details)
        headers = [(k, str(v)) for k, v in response.headers.items()]
        headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {http.HTTPStatus(response.status).phrase}", headers)
        return [response.body] if request.method != "HEAD" else [b""]

    def dispatch(self, request: Request, details: dict) -> Response:
        path = request.path
        if path in ("", "/"):
            return Response(200, self.index(request))
        if path.startswith("/_sandbox"):
            return self.admin(request)
        fault = self.state.faults.pick(request.method, path)
        details["fault"] = fault
        if fault in ("500", "502", "503", "429"):
            return self.fault_response(fault)
        if fault == "timeout":
            time.sleep(self.state.faults.config.timeout_delay)
        response = self.route(request, details)
        if fault == "500_after_write" and 200 <= response.status < 300:
            return self.fault_response("500")
        return response

    def fault_response(self, kind: str) -> Response:
        if kind == "429":
            return Response(429, ApiError(429, "too_many_requests", "Rate limit exceeded").body(),
                            {"Retry-After": str(self.state.faults.config.retry_after)})
        if kind == "502":  # what a proxy in front of the app answers: HTML, not JSON
            return Response(502, b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
                                 b"Gateway</h1></center></body></html>\n", content_type="text/html")
        if kind == "503":
            return Response(503, ApiError(503, "service_unavailable", "Service temporarily unavailable").body(),
                            {"Retry-After": str(self.state.faults.config.retry_after)})
        return Response(500, ApiError(500, "internal_server_error", "Something went wrong").body())

    def route(self, request: Request, details: dict) -> Response:
        path = request.path
        if path.startswith("/oauth/"):
            return self.oauth(request)
        if path.startswith("/_files/"):
            return self.download(request)
        parts = path.strip("/").split("/")
        if len(parts) >= 4 and parts[0] == "api" and parts[2] == "resources" and API_VERSION_RE.match(parts[1]):
            details["api_version"] = parts[1]
            details["auth"] = self.state.authenticate(request.header("x-api-key"), request.header("authorization"))
            if request.method == "POST":
                self.state.check_post_rate()
            return self.api(request, parts[1], parts[3:])
        raise ApiError(404, "not_found", f"No route matches [{request.method}] \"{path}\"")

    # ---- pages -----------------------------------------------------------------------------

    def index(self, request: Request) -> dict:
        return {"name": "Factorial API sandbox", "base_url": request.base_url,
                "api": f"{request.base_url}/api/<YYYY-MM-DD>/resources/...",
                "auth": "x-api-key: <key> or Authorization: Bearer <OAuth access token>",
                "oauth": {"authorize": f"{request.base_url}/oauth/authorize",
                          "token": f"{request.base_url}/oauth/token"},
                "admin": f"{request.base_url}/_sandbox (x-api-key required)", "docs": "docs/sandbox-factorial.md"}

    def download(self, request: Request) -> Response:
        parts = request.path.split("/")  # ["", "_files", id, filename]
        if len(parts) != 4 or request.method not in ("GET", "HEAD"):
            raise ApiError(404, "not_found", "No such file")
        stored = self.state.file(parts[2], request.query.one("signature"))
        return Response(200, stored["content"], {"Content-Disposition": f'inline; filename="{stored["filename"]}"'},
                        content_type=stored["content_type"])

    # ---- OAuth -----------------------------------------------------------------------------

    def oauth(self, request: Request) -> Response:
        action = request.path[len("/oauth/"):].strip("/")
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if action == "authorize" and request.method == "GET":
            return Response(302, None, {"Location": self.state.authorize(request.query)})
        if action == "token" and request.method == "POST":
            return Response(200, self.state.token(request.form()), no_store)
        if action == "revoke" and request.method == "POST":
            self.state.revoke(request.form())
            return Response(200, {}, no_store)
        raise ApiError(404, "not_found", f"No route matches [{request.method}] \"{request.path}\"")

    # ---- the API ---------------------------------------------------------------------------

    def api(self, request: Request, version: str, parts: list[str]) -> Response:
        state, method = self.state, request.method
        if len(parts) < 2:
            raise ApiError(404, "not_found", f"No route matches [{method}] \"{request.path}\"")
        resource = "/".join(parts[:2])
        rest = parts[2:]
        routes = ROUTES.get(resource)
        if routes is None or len(rest) > 1:
            raise ApiError(404, "not_found", f"No route matches [{method}] \"{request.path}\"")
        base = request.base_url

        if not rest:
            if method == "GET" and "list" in routes:
                items, meta = state.list(resource, request.query)
                return Response(200, {"data": [public(i, base) for i in items], "meta": meta})
            if method == "POST" and "create" in routes:
                if resource == "finance/financial_documents":
                    record = state.create_financial_document(*request.multipart())
                elif resource == "api_public/webhook_subscriptions":
                    record = state.create_subscription(request.json(), version)
                else:
                    record = routes["create"](state, request.json())
                return Response(201, public(record, base))
        elif rest[0] in routes.get("actions", {}) and method == "POST":
            result = routes["actions"][rest[0]](state, request.json())
            body = public(result, base) if isinstance(result, dict) else [public(r, base) for r in result]
            return Response(200, body)
        else:
            record_id = rest[0]
            if method == "GET":
                return Response(200, public(state.get(resource, record_id), base))
            if method in ("PUT", "PATCH") and "update" in routes:
                return Response(200, public(routes["update"](state, record_id, request.json()), base))
            if method == "DELETE" and "delete" in routes:
                return Response(200, public(routes["delete"](state, record_id), base))
        raise ApiError(404, "not_found", f"No route matches [{method}] \"{request.path}\"")

    # ---- admin -----------------------------------------------------------------------------

    def admin(self, request: Request) -> Response:
        state = self.state
        if request.header("x-api-key") not in state.api_keys:
            raise ApiError(401, "unauthorized", "The sandbox admin endpoints need the x-api-key header")
        action, method = request.path[len("/_sandbox"):].strip("/"), request.method
        body = request.json() if method in WRITE_METHODS and request.raw else {}
        try:
            if action == "" and method == "GET":
                return Response(200, state.summary() | {"seed_info": state.seed_info})
            if action == "faults":
                if method == "GET":
                    return Response(200, state.faults.describe())
                if method == "DELETE":
                    state.faults.clear()
                    return Response(200, state.faults.describe())
                if method in ("POST", "PUT"):
                    allowed = {"rate", "kinds", "retry_after", "timeout_delay", "seed", "methods", "path_contains"}
                    return Response(200, state.faults.set(**{k: v for k, v in body.items() if k in allowed}))
            if action == "faults/queue" and method == "POST":
                state.faults.queue(body.get("kind", "500"), int(body.get("count", 1)), body.get("method"),
                                   body.get("path_contains"))
                return Response(200, state.faults.describe())
            if action == "reset" and method == "POST":
                state.reset(body["seed"] if "seed" in body else True)
                return Response(200, state.summary())
            if action == "requests" and method == "GET":
                return Response(200, {"data": state.request_log})
            if action == "deliveries" and method == "GET":
                return Response(200, {"data": [{"subscription_id": d.subscription_id, "type": d.subscription_type,
                                                "target_url": d.target_url, "status": d.status, "error": d.error,
                                                "attempts": d.attempts, "at": d.at} for d in state.deliveries]})
            if action == "oauth/expire" and method == "POST":
                return Response(200, {"expired": state.expire_access_tokens(body.get("access_token"))})
            if action == "oauth/revoke" and method == "POST":
                state.revoke_grant(refresh_token=body.get("refresh_token"), access_token=body.get("access_token"))
                return Response(200, {"revoked": True})
            if action == "oauth/deny" and method == "POST":
                state.oauth_deny = bool(body.get("deny", True))
                return Response(200, {"deny": state.oauth_deny})
            if action == "time" and method == "POST":
                state.advance_time(float(body.get("advance_seconds", 0)))
                return Response(200, {"now": state.now().isoformat()})
            if action == "touch" and method == "POST":
                return Response(200, public(state.touch(body["resource"], body["id"], **body.get("changes", {})),
                                            request.base_url))
            if action == "emit" and method == "POST":
                payload = body.get("payload")
                if payload is None:
                    payload = state.get(body["resource"], body["id"])
                deliveries = state.emit(body["subscription_type"], payload, author_id=body.get("author_id"),
                                        author_type=body.get("author_type"))
                return Response(200, {"deliveries": [{"subscription_id": d.subscription_id, "status": d.status,
                                                      "error": d.error} for d in deliveries]})
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(400, "bad_request", f"Bad sandbox admin request: {exc!r}") from None
        raise ApiError(404, "not_found", f"No sandbox admin route [{method}] {request.path}")


# Which verbs each resource answers (as in the SDK's generated/api/<resource>/ modules; PATCH is
# accepted wherever PUT is, as Rails routes both to update).
ROUTES: dict[str, dict] = {
    "api_public/credentials": {"list": True},
    "api_public/webhook_subscriptions": {"list": True, "create": True,
                                         "update": lambda s, i, b: s.update_subscription(i, b),
                                         "delete": lambda s, i: s.delete_subscription(i)},
    "companies/legal_entities": {"list": True},
    "finance/accounts": {"list": True, "create": lambda s, b: s.create_account(b),
                         "update": lambda s, i, b: s.update_account(i, b)},
    "finance/contacts": {"list": True, "create": lambda s, b: s.create_contact(b),
                         "update": lambda s, i, b: s.update_contact(i, b)},
    "finance/tax_types": {"list": True, "create": lambda s, b: s.create_tax_type(b),
                          "update": lambda s, i, b: s.update_tax_type(i, b)},
    "finance/tax_rates": {"list": True, "create": lambda s, b: s.create_tax_rate(b),
                          "update": lambda s, i, b: s.update_tax_rate(i, b)},
    "finance/cost_centers": {"list": True, "create": lambda s, b: s.create_cost_center(b),
                             "delete": lambda s, i: s.delete_cost_center(i),
                             "actions": {"edit": lambda s, b: s.edit_cost_center(b)}},
    "finance/financial_documents": {"list": True, "create": True,
                                    "update": lambda s, i, b: s.update_financial_document(i, b)},
    "finance/journal_entries": {"list": True, "create": lambda s, b: s.create_journal_entry(b)},
    "finance/journal_lines": {"list": True},
    "expenses/expenses": {"list": True},
    "project_management/projects": {"list": True},
    "expenses/expensables": {"list": True, "actions": {
        "bulk_set_to_paid": lambda s, b: s.bulk_set_to_paid(b),
        "update_reimbursable_amount": lambda s, b: s.update_reimbursable_amount(b)}},
}


# --------------------------------------------------------------------------------------------
# Serving


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    verbose = False

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        if self.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))


def make_sandbox_server(state: SandboxState, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
    handler = type("Handler", (QuietHandler,), {"verbose": verbose})
    return make_server(host, port, FactorialSandbox(state), server_class=ThreadingWSGIServer, handler_class=handler)


class RunningSandbox(ServedSandbox):
    """A sandbox served in a background thread. ``url`` has no trailing slash."""

    def __init__(self, state: SandboxState, server: WSGIServer):
        super().__init__(server, "factorial")
        self.state = state
        state.base_url = self.url
        self.start()

    def api_url(self, version: str = "2026-10-01") -> str:
        return f"{self.url}/api/{version}/resources"


def start_sandbox(api_key: str = "sandbox-factorial-key", seed: str | None = None, port: int = 0,
                  host: str = "127.0.0.1", state: SandboxState | None = None, verbose: bool = False,
                  **state_options) -> RunningSandbox:
    """Serve a sandbox on ``host:port`` (0 = a free port) in a background thread and return it."""
    state = state or SandboxState(api_key=api_key, seed=seed, **state_options)
    return RunningSandbox(state, make_sandbox_server(state, host, port, verbose))
