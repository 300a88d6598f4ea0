"""Tryton's JSON-RPC over HTTP: the only code that talks to a Tryton server."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import urlsplit

from integration_hub.connectors.errors import (
    AuthenticationError,
    ConnectorError,
    NotFound,
    PermanentError,
    RateLimited,
    RetryableError,
)
from integration_hub.connectors.http import HubSession

PROVIDER = "tryton"
# The database name is a path segment of every call: a plain identifier, never a path of its own.
DATABASE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")


# --- Tryton's JSON dialect ------------------------------------------------------------------
def _encode(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return {"__class__": "Decimal", "decimal": str(obj)}
    if isinstance(obj, dt.datetime):
        return {"__class__": "datetime", "year": obj.year, "month": obj.month, "day": obj.day, "hour": obj.hour,
                "minute": obj.minute, "second": obj.second, "microsecond": obj.microsecond}
    if isinstance(obj, dt.date):
        return {"__class__": "date", "year": obj.year, "month": obj.month, "day": obj.day}
    if isinstance(obj, (bytes, bytearray)):
        return {"__class__": "bytes", "base64": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot send {type(obj).__name__} to Tryton")


def _decode(dct: dict) -> Any:
    kind = dct.get("__class__")
    if kind == "Decimal":
        return Decimal(dct["decimal"])
    if kind == "date":
        return dt.date(dct["year"], dct["month"], dct["day"])
    if kind == "datetime":
        return dt.datetime(dct["year"], dct["month"], dct["day"], dct.get("hour", 0), dct.get("minute", 0),
                           dct.get("second", 0), dct.get("microsecond", 0))
    if kind == "bytes":
        return base64.b64decode(dct["base64"])
    if kind == "timedelta":
        return dt.timedelta(seconds=dct["seconds"])
    return dct


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, default=_encode, separators=(",", ":")).encode("utf-8")


def loads(body: bytes | str) -> Any:
    return json.loads(body, object_hook=_decode)


# --- errors ------------------------------------------------------------------------------------
def _tryton_error(method: str, error: Any, clean: Callable[[str], str] = str) -> ConnectorError:
    """Turn Tryton's error payload into a typed error carrying Tryton's own words (through `clean`,
    which keeps an excerpt with the connection's secrets redacted)."""
    error = _cleaned(error, clean)
    if isinstance(error, list) and error:
        kind = error[0]
        args = error[1] if len(error) > 1 else []
        if kind in ("UserError", "UserWarning") and isinstance(args, list):
            message = str(args[0]) if args else kind
            description = str(args[1]) if len(args) > 1 and args[1] else ""
            text = f"{message} {description}".strip()
            return PermanentError(f"Tryton refused {method}", provider=PROVIDER, provider_message=text,
                                  details={"kind": kind})
        if kind == "ConcurrencyException":
            return RetryableError(f"Tryton: concurrent change during {method}", provider=PROVIDER,
                                  provider_message=str(args))
        if kind == "LoginException":
            return AuthenticationError("Tryton refused the login", provider=PROVIDER, provider_message=str(args))
        if kind == "AccessError" or "AccessError" in str(kind):
            return PermanentError(f"Tryton denied access during {method}", provider=PROVIDER, provider_message=str(args))
        # Any other exception: its text first, then a traceback we do not pass on.
        return PermanentError(f"Tryton failed on {method}", provider=PROVIDER, provider_message=str(kind))
    return PermanentError(f"Tryton failed on {method}", provider=PROVIDER, provider_message=str(error))


def _cleaned(value: Any, clean: Callable[[str], str]) -> Any:
    """Every text of an error payload through `clean`, its list structure kept."""
    if isinstance(value, list):
        return [_cleaned(item, clean) for item in value]
    return value if value is None else clean(value if isinstance(value, str) else str(value))


class TrytonClient:
    """A logged-in JSON-RPC session on one Tryton database; logs in again when the session expires."""

    def __init__(self, *, url: str, database: str, username: str, password: str, http: HubSession,
                 language: str = "en") -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.username = username
        self._password = password
        self.language = language
        self.http = http
        http.secrets.add(password)
        self._auth_header: str | None = None
        self._ids = 0
        self._lock = threading.Lock()
        self.user_id: int | None = None
        self._context: dict | None = None

    @property
    def endpoint(self) -> str:
        """The JSON-RPC address; a database name or URL that would change its shape is refused here,
        before any call (so the connection check reports it)."""
        if not DATABASE_NAME.fullmatch(self.database or ""):
            raise PermanentError("The Tryton database name is not valid: use letters, digits, _ and - only "
                                 "(at most 63 characters)", provider=PROVIDER)
        parts = urlsplit(self.url)
        if parts.query or parts.fragment:
            raise PermanentError("The Tryton server URL must not contain ? or #", provider=PROVIDER)
        return f"{self.url}/{self.database}/rpc/"

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _post(self, method: str, params: list, *, headers: dict | None = None, retry_unsafe: bool,
              reauthenticate=None) -> Any:
        body = dumps({"id": self._next_id(), "method": method, "params": params})
        response = self.http.request(
            "POST", self.endpoint, data=body, operation=method, retry_unsafe=retry_unsafe,
            headers={"Content-Type": "application/json", **(headers or {})},
            reauthenticate=reauthenticate, raise_for_status=False,
        )
        status = response.status_code
        if status == 401:
            raise AuthenticationError("Tryton refused the user name or password", provider=PROVIDER, status=401,
                                      provider_message="HTTP 401 Unauthorized")
        if status == 403:
            raise AuthenticationError("Tryton refused access", provider=PROVIDER, status=403,
                                      provider_message=self.http.excerpt(response.text))
        if status == 404:
            raise NotFound(f"Tryton database '{self.database}' not found at {self.url}", provider=PROVIDER, status=404)
        if status == 429:
            raise RateLimited("Tryton: too many login attempts from this address", provider=PROVIDER, status=429)
        if status >= 400:
            raise PermanentError(f"Tryton answered HTTP {status} to {method}", provider=PROVIDER, status=status,
                                 provider_message=self.http.excerpt(response.text))
        try:
            payload = loads(response.content)
        except (ValueError, KeyError, TypeError, ArithmeticError) as exc:  # not JSON, or a malformed "__class__"
            raise PermanentError(f"The server did not answer {method} like Tryton does (the answer is not JSON)",
                                 provider=PROVIDER, status=status,
                                 provider_message=self.http.excerpt(response.text)) from exc
        if not isinstance(payload, dict) or not ("result" in payload or "error" in payload):
            raise PermanentError(f"The server did not answer {method} like Tryton does (no JSON-RPC reply)",
                                 provider=PROVIDER, status=status, provider_message=self.http.excerpt(response.text))
        if payload.get("error"):
            raise _tryton_error(method, payload["error"], self.http.excerpt)
        return payload.get("result")

    # --- session ---------------------------------------------------------------------------
    def login(self) -> None:
        result = self._post("common.db.login", [self.username, {"password": self._password}, self.language],
                            retry_unsafe=True)
        if not result:
            raise AuthenticationError("Tryton refused the user name or password", provider=PROVIDER)
        if not isinstance(result, list) or len(result) < 2:
            raise PermanentError("The server did not answer the login like Tryton does", provider=PROVIDER)
        self.user_id, session = result[0], result[1]
        token = base64.b64encode(f"{self.username}:{self.user_id}:{session}".encode()).decode("ascii")
        self.http.secrets.update({str(session), token})
        self._auth_header = f"Session {token}"

    def _relogin(self) -> dict[str, str]:
        self.login()
        return {"Authorization": self._auth_header}

    def call(self, method: str, *params: Any, context: dict | None = None, write: bool = False) -> Any:
        """Call `model.x.y.method` (a context dict is appended) or another RPC method.

        Reads are repeated freely on failure; writes only when the request never left.
        """
        if self._auth_header is None:
            self.login()
        args = list(params)
        if method.startswith(("model.", "wizard.", "report.")):
            args.append({**(self._context or {}), **(context or {})})
        return self._post(method, args, headers={"Authorization": self._auth_header}, retry_unsafe=not write,
                          reauthenticate=self._relogin)

    def preferences(self) -> dict:
        prefs = self.call("model.res.user.get_preferences", True)
        self._context = {k: v for k, v in prefs.items() if k in ("company", "language", "company_filter", "companies")} \
            if isinstance(prefs, dict) else {}
        return prefs

    # --- model helpers ---------------------------------------------------------------------
    def search_read(self, model: str, domain: list, fields: list[str], *, offset: int = 0, limit: int | None = None,
                    order: list | None = None, context: dict | None = None) -> list[dict]:
        return self.call(f"model.{model}.search_read", domain, offset, limit, order, fields, context=context)

    def search(self, model: str, domain: list, *, offset: int = 0, limit: int | None = None, order: list | None = None,
               context: dict | None = None) -> list[int]:
        return self.call(f"model.{model}.search", domain, offset, limit, order, context=context)

    def read(self, model: str, ids: list[int], fields: list[str], *, context: dict | None = None) -> list[dict]:
        return self.call(f"model.{model}.read", ids, fields, context=context)

    def create(self, model: str, values: list[dict], *, context: dict | None = None) -> list[int]:
        return self.call(f"model.{model}.create", values, context=context, write=True)

    def write(self, model: str, ids: list[int], values: dict, *, context: dict | None = None) -> None:
        self.call(f"model.{model}.write", ids, values, context=context, write=True)

    def delete(self, model: str, ids: list[int], *, context: dict | None = None) -> None:
        self.call(f"model.{model}.delete", ids, context=context, write=True)

    def button(self, model: str, name: str, ids: list[int], *, context: dict | None = None) -> Any:
        return self.call(f"model.{model}.{name}", ids, context=context, write=True)

    def report(self, name: str, ids: list[int], data: dict | None = None) -> tuple[str, bytes, str]:
        """Render a report: (extension, content, name)."""
        result = self.call(f"report.{name}.execute", ids, data or {})
        extension, content, _direct_print, name = result
        if isinstance(content, str):
            content = content.encode("utf-8")
        return extension, content, name
