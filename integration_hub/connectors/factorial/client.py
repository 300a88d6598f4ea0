"""Factorial's REST API (`/api/<version>/resources/...`): the only code that speaks HTTP to Factorial."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import requests

from integration_hub.connectors.http import HubSession, json_object
from integration_hub.connectors.outbound import same_origin

PROVIDER = "factorial"
PAGE_LIMIT = 100  # Factorial's maximum


def error_text(response: requests.Response) -> str:
    """Factorial's error body as one readable line: message, then each field and its messages."""
    try:
        payload = response.json()
    except ValueError:
        return response.text or ""
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        parts = [error.get("message") or error.get("code") or ""]
        for field, messages in (error.get("errors") or {}).items():
            parts.append(f"{field}: {', '.join(map(str, messages))}")
        return "; ".join(p for p in parts if p)
    if isinstance(error, str):  # OAuth errors
        return f"{error}: {payload.get('error_description', '')}".strip(": ")
    return str(payload)[:300]


class FactorialClient:
    def __init__(self, *, base_url: str, api_version: str, http: HubSession,
                 auth_headers: Callable[[], dict[str, str]],
                 reauthenticate: Callable[[], dict[str, str]] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.http = http
        self.auth_headers = auth_headers
        self.reauthenticate = reauthenticate

    def url(self, resource: str) -> str:
        return f"{self.base_url}/api/{self.api_version}/resources/{resource.strip('/')}"

    def request(self, method: str, resource: str, *, params=None, json=None, retry_unsafe: bool = False) -> Any:
        """The JSON object Factorial answered (None for an empty answer); anything else is a clear error."""
        response = self.http.request(method, self.url(resource), params=params, json=json, operation=f"{method} {resource}",
                                     headers={"Accept": "application/json", **self.auth_headers()},
                                     reauthenticate=self.reauthenticate, retry_unsafe=retry_unsafe)
        return json_object(self.http, response, what=f"{method} {resource}", tool="Factorial")

    def get(self, resource: str, **params) -> Any:
        return self.request("GET", resource, params=params or None)

    def pages(self, resource: str, **params) -> Iterator[list[dict]]:
        """Every page of a list, following `meta.end_cursor` while `meta.has_next_page`."""
        params = {**params, "limit": PAGE_LIMIT}
        while True:
            payload = self.request("GET", resource, params=params) or {}
            yield payload.get("data") or []
            meta = payload.get("meta") or {}
            if not meta.get("has_next_page") or not meta.get("end_cursor"):
                return
            params["after_id"] = meta["end_cursor"]

    def all(self, resource: str, **params) -> Iterator[dict]:
        for page in self.pages(resource, **params):
            yield from page

    def create(self, resource: str, values: dict) -> dict:
        return self.request("POST", resource, json=values)

    def update(self, resource: str, record_id: str, values: dict) -> dict:
        return self.request("PUT", f"{resource}/{record_id}", json={"id": record_id, **values}, retry_unsafe=True)

    def download(self, url: str) -> tuple[bytes, str]:
        """A document's file. Its address comes from Factorial's answer: the credentials go with it only
        when it is on Factorial's own API address (a storage service's signed URL needs none)."""
        headers = self.auth_headers() if same_origin(url, self.base_url) else {}
        response = self.http.request("GET", url, operation="download file", headers=headers)
        return response.content, response.headers.get("Content-Type", "")
