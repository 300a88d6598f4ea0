"""Checks every request to, and answer from, the Xero sandbox against Xero's own OpenAPI description.

``SpecChecked(app)`` wraps a WSGI app (the Xero sandbox) and validates with openapi-core:
- ``/api.xro/2.0/...`` against vendor-specs/xero/xero_accounting.yaml,
- ``/connections[/{id}]`` against vendor-specs/xero/xero-identity.yaml,
and lets everything else (consent page, token endpoint, admin) through unchecked. The sandbox is
served on ``http://127.0.0.1:<port>`` and possibly under a mount prefix; the checker rewrites that
to the spec's server ``https://api.xero.com`` so paths match.

What counts as a violation (``checker.violations``):
- an answer, for a status the operation documents, whose body, media type or headers the spec
  does not allow;
- a request the spec does not allow (unknown path or method, missing required parameter or
  header, body not matching the schema, no bearer token) that the app nonetheless ACCEPTED (answer
  below 400). A malformed request the app refused (4xx) is consistent behaviour: it is recorded in
  ``checker.refused`` for tests that want to look, not as a violation.

The spec's known quirks are handled here, each narrowly and each counted (see QUIRKS and
docs/sandbox-xero-identity.md):
1. boolean properties whose ``default`` is written as a string ('false'): turned into booleans
   when loading (exactly 23 in v16.1.0; loading fails if that count changes, so a new spec version
   is looked at rather than silently patched);
2. attachment upload bodies declared ``type: string, format: byte`` (base64) although Xero takes
   the raw bytes: declared ``format: binary`` when loading;
3. attachment bodies (upload and download) declared only as ``application/octet-stream`` while
   they travel with the file's own media type (application/pdf, image/png): validated as
   octet-stream;
4. statuses the operation does not document (401, 403, 404, 405, 429, 304, 500...): the answer's
   body is not validated (recorded in ``checker.undocumented``); their headers are the business of
   the sandbox's own tests;
5. the identity description names the path ``/Connections`` where Xero (and its SDKs) call
   ``/connections``: matched case-insensitively;
6. ``format: date-time`` values without a UTC offset ("2019-12-07T18:46:19.5165400", the spec's own
   example for connection dates; Xero's SDK reads zone-less date-times as UTC, and sends
   If-Modified-Since as ``datetime.isoformat()``, zone-less for a naive datetime): accepted, as are
   RFC 3339 date-times with an offset. Anything else (an HTTP-date, a bare date) is still refused;
7. ``GET /Invoices/{InvoiceNumber}``: Xero's documentation lets an invoice be fetched by its number,
   the description knows only ``/Invoices/{InvoiceID}`` (a uuid): added as a copy of that operation
   with a string parameter.
8. read-only properties written in a request with exactly their declared default: xero-python,
   generated from the description, fills ``HasAttachments: false`` (readOnly, default false) into
   every Invoice it sends; Xero ignores read-only properties. Such a value is accepted; a read-only
   property sent with any other value is still a violation.
Not a quirk of the spec but of openapi-core: a path that matches several templates
(``/Invoices/{id}/Attachments/{AttachmentID}`` and ``.../{FileName}``, ``/PurchaseOrders/{PurchaseOrderID}``
and ``{PurchaseOrderNumber}``) is tried against each, and conforms if one accepts it.

Loading a description takes about half a second; ``load_spec()`` caches it per process.
"""
from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import os
import re
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import yaml
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import EnvironHeaders, Headers, ImmutableMultiDict

SPEC_DIR = Path(os.environ.get("XERO_SPEC_DIR") or Path(__file__).resolve().parents[3] / "shared/vendor-specs/xero")
ACCOUNTING_SPEC = SPEC_DIR / "xero_accounting.yaml"
IDENTITY_SPEC = SPEC_DIR / "xero-identity.yaml"
SPEC_HOST = "https://api.xero.com"
ACCOUNTING_PREFIX = "/api.xro/2.0"
OCTET = "application/octet-stream"
STRING_BOOLEAN_DEFAULTS = {ACCOUNTING_SPEC.name: 23}  # quirk 1, per description file

QUIRKS = (
    "boolean defaults written as strings are read as booleans",
    "attachment bodies declared format: byte are read as format: binary",
    "attachment bodies travel with the file's media type, validated as application/octet-stream",
    "answers with a status the operation does not document are not validated",
    "/Connections in the identity description is matched case-insensitively (/connections)",
    "date-time values without a UTC offset are accepted as UTC",
    "GET /Invoices/{InvoiceNumber} (Xero's documentation) is added to the description",
    "read-only properties sent with their declared default (as xero-python does) are accepted",
)
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")


def _date_time(value: object) -> bool:
    """Quirk 6: RFC 3339 date-times, and Xero's zone-less ones (UTC implied)."""
    if not isinstance(value, str) or not DATE_TIME.fullmatch(value):
        return not isinstance(value, str)  # like jsonschema: formats only constrain strings
    try:
        dt.datetime.fromisoformat(value[:19])
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Violation:
    kind: str  # "request" | "response" | "checker" (the validation itself failed)
    method: str
    path: str
    status: int
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.method} {self.path} -> {self.status}: {self.message}"


class _BearerProvider(BaseProvider):
    """openapi-core has no OAuth2 check; for a resource server it means a bearer token is presented."""

    def __call__(self, parameters: RequestParameters) -> str:
        value = parameters.header.get("Authorization") or ""
        kind, _, token = value.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise SecurityProviderError("Missing bearer token in the Authorization header.")
        return token.strip()


class _SecurityProviders(SecurityProviderFactory):
    PROVIDERS = dict(SecurityProviderFactory.PROVIDERS, oauth2=_BearerProvider)


def _patch(document: dict, name: str) -> dict:
    """Apply quirks 1 and 2 to a loaded description (a copy)."""
    document = copy.deepcopy(document)
    string_defaults = 0

    def walk(node: object) -> None:
        nonlocal string_defaults
        if isinstance(node, dict):
            if node.get("type") == "boolean" and node.get("default") in ("true", "false"):
                node["default"] = node["default"] == "true"
                string_defaults += 1
            content = node.get("content")
            if isinstance(content, dict):
                schema = (content.get(OCTET) or {}).get("schema") or {}
                if schema.get("type") == "string" and schema.get("format") == "byte":
                    schema["format"] = "binary"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    expected = STRING_BOOLEAN_DEFAULTS.get(name, 0)
    if string_defaults != expected:
        raise RuntimeError(f"{name}: {string_defaults} boolean defaults written as strings, expected {expected}; "
                           "a new version of the description? Look at tests/support/xero_spec.py quirk 1.")
    return document


@dataclass(frozen=True)
class LoadedSpec:
    """A description ready to validate, with its path templates (to try every template a path matches)."""

    openapi: OpenAPI
    base: str  # the server's path ("/api.xro/2.0" or ""), prefixed to templates
    templates: tuple[tuple[str, re.Pattern, frozenset[str]], ...]  # (template, regex, methods)

    def candidates(self, method: str, path: str) -> list[tuple[str, dict[str, str]]]:
        """Templates that match ``path`` and serve ``method``, fewest variables first (as openapi-core orders)."""
        if not path.startswith(self.base):
            return []
        rest = path[len(self.base):]
        found = []
        for template, regex, methods in self.templates:
            match = regex.fullmatch(rest)
            if match and method.lower() in methods:
                found.append((template, match.groupdict()))
        return sorted(found, key=lambda item: len(item[1]))


def _template_regex(template: str) -> re.Pattern:
    parts = re.split(r"\{([^}/]+)\}", template)
    pattern = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
                      for index, part in enumerate(parts))
    return re.compile(pattern)


def _by_number(document: dict) -> None:
    """Quirk 7: GET /Invoices/{InvoiceNumber}, in Xero's documentation but not in the description."""
    paths = document.get("paths", {})
    by_id = paths.get("/Invoices/{InvoiceID}", {}).get("get")
    if by_id is None or "/Invoices/{InvoiceNumber}" in paths:
        return
    operation = copy.deepcopy(by_id)
    operation["operationId"] = "getInvoiceByNumber"
    operation["parameters"] = [
        {"in": "path", "name": "InvoiceNumber", "required": True, "schema": {"type": "string"}}
        if parameter.get("$ref") == "#/components/parameters/InvoiceID" else parameter
        for parameter in operation.get("parameters", [])]
    level = [p for p in paths["/Invoices/{InvoiceID}"].get("parameters", [])
             if p.get("$ref") != "#/components/parameters/InvoiceID"]
    paths["/Invoices/{InvoiceNumber}"] = {"parameters": level, "get": operation}


@functools.lru_cache(maxsize=None)
def load_spec(path: str | Path) -> LoadedSpec:
    """Xero's description with the quirks patched, ready to validate (cached: loading costs ~0.5 s)."""
    path = Path(path)
    with open(path, "rb") as handle:
        document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    document = _patch(document, path.name)
    _by_number(document)
    schema = SchemaPath.from_dict(document, base_uri=path.resolve().as_uri())
    openapi = OpenAPI(schema, config=Config(
        spec_validator_cls=None, security_provider_factory=_SecurityProviders(),
        extra_format_validators={"date-time": _date_time}))
    base = urllib.parse.urlparse((document.get("servers") or [{}])[0].get("url", "")).path.rstrip("/")
    templates = tuple(
        (template, _template_regex(template),
         frozenset(m for m in item if m in ("get", "put", "post", "delete", "patch", "head", "options")))
        for template, item in document.get("paths", {}).items())
    return LoadedSpec(openapi, base, templates)


class _Request:
    """openapi-core's request protocol over a WSGI environ, with the URL moved onto Xero's server."""

    def __init__(self, environ: dict, path: str, body: bytes, content_type: str):
        self.host_url = SPEC_HOST
        self.path = path
        self.path_pattern: str | None = None  # set per candidate template, so ambiguous paths are all tried
        self.method = environ.get("REQUEST_METHOD", "GET").lower()
        self.body = body or None
        self.content_type = content_type
        query = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self.parameters = RequestParameters(query=ImmutableMultiDict(query), header=EnvironHeaders(environ),
                                            cookie=ImmutableMultiDict())


class _Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], data: bytes, content_type: str):
        self.status_code = status
        self.headers = Headers(headers)
        self.data = data
        self.content_type = content_type


def _describe(error: BaseException) -> str:
    """One line per problem, down to the JSON-schema errors openapi-core wraps."""
    parts = [str(error)]
    cause = error.__cause__ or error.__context__
    while cause is not None:
        schema_errors = list(getattr(cause, "schema_errors", None) or [])
        if schema_errors:
            for item in schema_errors[:8]:
                where = "/".join(str(p) for p in getattr(item, "absolute_path", []) or [])
                parts.append(f"{where or '(root)'}: {getattr(item, 'message', item)}")
            break
        parts.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    short = [p if len(p) <= 300 else p[:297] + "..." for p in parts if p]  # a whole invoice dump helps nobody
    return " | ".join(dict.fromkeys(short))


class SpecChecked:
    """WSGI middleware: validates traffic against Xero's descriptions and collects what does not conform."""

    def __init__(self, app: Callable, *, spec_path: str | Path = ACCOUNTING_SPEC,
                 identity_spec_path: str | Path | None = IDENTITY_SPEC, prefix: str = ""):
        self.app = app
        self.prefix = prefix.rstrip("/")  # a mount prefix inside PATH_INFO, if the app is not at the root
        self.accounting = load_spec(spec_path)
        self.identity = load_spec(identity_spec_path) if identity_spec_path else None
        self.violations: list[Violation] = []
        self.refused: list[Violation] = []
        self.undocumented: list[tuple[str, str, int]] = []
        self.checked: Counter[str] = Counter()  # "GET /api.xro/2.0/Invoices/{InvoiceID}" -> calls validated
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.violations.clear()
            self.refused.clear()
            self.undocumented.clear()
            self.checked.clear()

    def _route(self, path_info: str) -> tuple[LoadedSpec, str] | None:
        path = path_info
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):]
        if path == ACCOUNTING_PREFIX or path.startswith(ACCOUNTING_PREFIX + "/"):
            return self.accounting, path
        if self.identity is not None and path.lower().rstrip("/") == "/connections":
            return self.identity, "/Connections"
        if self.identity is not None and path.lower().startswith("/connections/"):
            return self.identity, "/Connections/" + path[len("/connections/"):]
        return None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = self._route(environ.get("PATH_INFO") or "/")
        if route is None:
            return self.app(environ, start_response)
        spec, path = route
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)

        captured: dict = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info=None):
            captured["status"], captured["headers"], captured["exc_info"] = status, headers, exc_info
            return lambda data: captured.setdefault("written", []).append(data)

        result = self.app(environ, capture)
        try:
            answer = b"".join(captured.pop("written", [])) + b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status = int(captured["status"].split()[0])
        try:
            self._check(spec, environ, path, body, status, captured["headers"], answer)
        except Exception as error:  # noqa: BLE001 - a checker failure must show up, not become the client's 500
            method = environ.get("REQUEST_METHOD", "GET").upper()
            self._record([Violation("checker", method, path, status, f"could not validate: {error!r}")], [], None,
                         undocumented=False, method=method, path=path, status=status)
        start_response(captured["status"], captured["headers"], captured.get("exc_info"))
        return [answer]

    def _check(self, spec: LoadedSpec, environ: dict, path: str, body: bytes, status: int,
               headers: list[tuple[str, str]], answer: bytes) -> None:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        request = _Request(environ, path, body, (environ.get("CONTENT_TYPE") or "").lower())
        found: list[Violation] = []
        refused: list[Violation] = []
        # A malformed request the app refused is consistent behaviour; one it accepted is a finding.
        bad_requests = found if status < 400 else refused
        candidates = spec.candidates(method, path)
        if not candidates:
            try:
                spec.openapi.request_validator._find_path(request)
                message = "no template of the description matches"
            except Exception as error:  # noqa: BLE001 - the finder's own words for an unknown path or method
                message = _describe(error)
            bad_requests.append(Violation("request", method, path, status, message))
            self._record(found, refused, None, undocumented=False, method=method, path=path, status=status)
            return
        # Several templates can match one path (/Attachments/{AttachmentID} and /Attachments/{FileName});
        # openapi-core would judge by the first only. The request conforms if one of them accepts it.
        best: tuple[str, list, str] | None = None
        for template, variables in candidates:
            request.path_pattern = spec.base + template
            request.parameters.path = variables
            request.content_type = (environ.get("CONTENT_TYPE") or "").lower()
            errors = self._request_errors(spec.openapi, request)
            if best is None or len(errors) < len(best[1]):
                best = (template, errors, request.content_type)
            if not errors:
                break
        template, errors, content_type = best
        request.path_pattern = spec.base + template
        request.parameters.path = dict(candidates)[template]
        request.content_type = content_type
        bad_requests.extend(Violation("request", method, path, status, _describe(error)) for error in errors)

        response_type = next((v for k, v in headers if k.lower() == "content-type"), "").lower()
        response = _Response(status, headers, answer, response_type)
        errors = list(spec.openapi.response_validator.iter_errors(request, response))
        undocumented = any(isinstance(error, ResponseNotFound) for error in errors)  # quirk 4
        if any(self._octet_quirk(error) for error in errors):
            response.content_type = OCTET  # quirk 3: a download in the file's own media type
            errors = list(spec.openapi.response_validator.iter_errors(request, response))
        found.extend(Violation("response", method, path, status, _describe(error))
                     for error in errors if not isinstance(error, ResponseNotFound))
        self._record(found, refused, f"{method} {spec.base}{template}", undocumented=undocumented,
                     method=method, path=path, status=status)

    def _request_errors(self, openapi: OpenAPI, request: _Request) -> list:
        errors = list(openapi.request_validator.iter_errors(request))
        if any(self._octet_quirk(error) for error in errors):
            request.content_type = OCTET  # quirk 3: an upload in the file's own media type
            errors = list(openapi.request_validator.iter_errors(request))
        return [error for error in errors if not self._only_default_read_only(error)]

    @staticmethod
    def _only_default_read_only(error: BaseException) -> bool:
        """Quirk 8: every schema error is a read-only property carrying its declared default."""
        cause = error.__cause__
        schema_errors = list(getattr(cause, "schema_errors", None) or [])
        if not schema_errors:
            return False
        return all(getattr(item, "validator", None) == "readOnly"
                   and isinstance(item.schema, dict) and "default" in item.schema
                   and item.instance == item.schema["default"] and type(item.instance) is type(item.schema["default"])
                   for item in schema_errors)

    @staticmethod
    def _octet_quirk(error: BaseException) -> bool:
        """A body refused only because the spec knows octet-stream and it came as e.g. application/pdf."""
        while error is not None:
            if isinstance(error, MediaTypeNotFound):
                return list(error.availableMimetypes) == [OCTET] and "json" not in error.mimetype
            error = error.__cause__ or error.__context__
        return False

    def _record(self, found: list[Violation], refused: list[Violation], template: str | None, *,
                undocumented: bool, method: str, path: str, status: int) -> None:
        with self._lock:
            self.violations.extend(found)
            self.refused.extend(refused)
            if undocumented:
                self.undocumented.append((method, path, status))
            if template:
                self.checked[template] += 1

    def report(self) -> str:
        """The violations, one a line (for assertion messages)."""
        return "\n".join(str(v) for v in self.violations) or "no violations"
