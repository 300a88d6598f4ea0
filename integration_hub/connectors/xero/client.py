"""Xero's accounting API (`/api.xro/2.0/...`) and `/connections`: the only code that speaks HTTP to Xero."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable, Iterator

import requests

from integration_hub.connectors.errors import PermanentError
from integration_hub.connectors.http import HubSession, json_object

PROVIDER = "xero"
PAGE_SIZE = 100  # Xero's page


def validation_messages(element: dict) -> list[str]:
    """The messages Xero gives for one refused document (and for its line items, contact...)."""
    messages = [str(e.get("Message")) for e in element.get("ValidationErrors") or [] if e.get("Message")]
    for item in element.get("LineItems") or []:
        messages += [str(e.get("Message")) for e in (item or {}).get("ValidationErrors") or [] if e.get("Message")]
    contact = element.get("Contact") or {}
    messages += [str(e.get("Message")) for e in contact.get("ValidationErrors") or [] if e.get("Message")]
    return list(dict.fromkeys(messages))


def error_text(response: requests.Response) -> str:
    """Xero's words about a refused call, as one line: a validation exception's messages, a problem's detail."""
    try:
        payload = response.json()
    except ValueError:
        return response.text or ""
    if not isinstance(payload, dict):
        return str(payload)[:300]
    messages: list[str] = []
    for element in payload.get("Elements") or []:
        if isinstance(element, dict):
            messages += validation_messages(element)
    if messages:
        return "; ".join(dict.fromkeys(messages))
    for key in ("Message", "Detail", "detail", "error_description", "Title", "error"):
        if payload.get(key):
            return str(payload[key])
    return str(payload)[:300]


def _number(value: Decimal) -> float:
    """A Decimal as the JSON number Xero's description asks for. A float's shortest form is the exact decimal
    text for the amounts the hub sends (cents, below 10^13); a value that would not survive is refused."""
    number = float(value)
    if Decimal(repr(number)) != value:
        raise ValueError(f"{value} cannot be written as an exact JSON number")
    return number


def encode(body: Any) -> bytes:
    """The JSON of a request body, Decimal amounts as numbers (never strings, never rounded)."""
    def default(value):
        if isinstance(value, Decimal):
            return _number(value)
        raise TypeError(f"{type(value).__name__} is not JSON")

    return json.dumps(body, default=default, ensure_ascii=False).encode()


class XeroClient:
    def __init__(self, *, api_url: str, http: HubSession, auth_headers: Callable[[], dict[str, str]],
                 tenant_id: Callable[[], str], reauthenticate: Callable[[], dict[str, str]] | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = http
        self.auth_headers = auth_headers
        self.tenant_id = tenant_id
        self.reauthenticate = reauthenticate

    def url(self, resource: str) -> str:
        return f"{self.api_url}/api.xro/2.0/{resource.strip('/')}"

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.auth_headers()}
        tenant = self.tenant_id()
        if tenant:
            headers["xero-tenant-id"] = tenant
        return {**headers, **(extra or {})}

    def request(self, method: str, resource: str, *, params=None, json=None, data: bytes | None = None,
                headers: dict[str, str] | None = None, idempotency_key: str = "",
                raise_for_status: bool = True) -> requests.Response:
        extra = dict(headers or {})
        if idempotency_key:
            extra["Idempotency-Key"] = idempotency_key[:128]
        # A write with an idempotency key is safe to repeat: Xero answers a repeat with the first answer.
        return self.http.request(method, self.url(resource), params=params, json=json, data=data,
                                 operation=f"{method} {resource.split('?')[0]}", headers=self._headers(extra),
                                 reauthenticate=self.reauthenticate, retry_unsafe=bool(idempotency_key),
                                 raise_for_status=raise_for_status)

    def call(self, method: str, resource: str, **kwargs) -> dict:
        """The JSON object Xero answered; anything else is a clear error."""
        response = self.request(method, resource, **kwargs)
        return json_object(self.http, response, what=f"{method} {resource}", tool="Xero") or {}

    def get(self, resource: str, *, headers: dict[str, str] | None = None, **params) -> dict:
        return self.call("GET", resource, params=params or None, headers=headers)

    def all(self, resource: str, key: str, **params) -> Iterator[dict]:
        """Every record of a paged list (pages of 100, `page` from 1) until a short page."""
        page = 1
        while True:
            rows = self.get(resource, page=page, **params).get(key) or []
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            page += 1

    def connections(self, connections_url: str) -> list[dict]:
        """The organisations the token may use (`GET /connections`, outside the accounting API)."""
        response = self.http.request("GET", connections_url, operation="GET connections",
                                     headers={"Accept": "application/json", **self.auth_headers()},
                                     reauthenticate=self.reauthenticate)
        try:
            rows = response.json()
        except ValueError:
            rows = None
        if not isinstance(rows, list):
            raise PermanentError("Xero's /connections did not answer with a list", provider=PROVIDER,
                                 provider_message=self.http.excerpt(response.text))
        return [row for row in rows if isinstance(row, dict)]

    def write(self, method: str, resource: str, body: Any, *, idempotency_key: str,
              summarize_errors: bool | None = None) -> dict:
        params = {"summarizeErrors": "false"} if summarize_errors is False else None
        return self.call(method, resource, data=encode(body), params=params, idempotency_key=idempotency_key,
                         headers={"Content-Type": "application/json"})

    def upload(self, resource: str, content: bytes, content_type: str, *, idempotency_key: str) -> dict:
        return self.call("PUT", resource, data=content, headers={"Content-Type": content_type or
                                                                 "application/octet-stream"},
                         idempotency_key=idempotency_key)
