"""The one HTTP layer every connector uses.

- connect and read timeouts on every call;
- retries with exponential backoff on network failures, timeouts and 5xx, but only when the
  request is safe to repeat (idempotent method, a request that never left, or the caller says so);
- 429: waits for Retry-After (bounded), then tries again; a longer wait becomes RateLimited;
- with a call budget (budget.py, shared by every worker of the organisation): each attempt waits its turn
  inside `budget.call()`, the response's remaining-calls headers keep the budget in step, and a 429 blocks every
  worker until its Retry-After and is tried again without using up `max_retries`; the only error a 429 can then
  become is BudgetExhausted (the wait is longer than HUB_BUDGET_MAX_WAIT: e.g. the day's calls are spent);
- 401: one re-authentication through the caller's hook, then AuthenticationError;
- every attempt is recorded (method, path, status, milliseconds), never a header or a body;
- every address goes through the outbound policy (outbound.py): checked before the call, pinned at
  connect time, redirects followed within the same origin only;
- what a server answers reaches errors only as a short plain-text excerpt with the connection's
  secrets (`HubSession.secrets`) redacted (excerpt.py).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from integration_hub.connectors import outbound
from integration_hub.connectors.budget import BudgetExhausted, CallBudget
from integration_hub.connectors.errors import (
    AuthenticationError,
    NotFound,
    OutboundRefused,
    PermanentError,
    RateLimited,
    RetryableError,
)
from integration_hub.connectors.excerpt import excerpt

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
SECRET_QUERY_KEYS = ("key", "token", "secret", "password", "signature", "code")


@dataclass
class CallRecord:
    method: str
    path: str
    status: int | None
    duration_ms: int
    operation: str = ""
    attempt: int = 1
    error: str = ""
    at: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


class CallLog:
    """Every external call of a run; keeps the first `limit` records and counts the rest."""

    def __init__(self, limit: int = 5000) -> None:
        self.limit = limit
        self.records: list[CallRecord] = []
        self.total = 0
        self._lock = threading.Lock()

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self.total += 1
            if len(self.records) < self.limit:
                self.records.append(record)

    @property
    def dropped(self) -> int:
        return self.total - len(self.records)

    def __len__(self) -> int:
        return self.total

    def as_list(self) -> list[dict]:
        return [r.as_dict() for r in self.records]


def safe_path(url: str) -> str:
    """Path and query of a URL, with the values of secret-looking parameters removed."""
    parts = urlsplit(url)
    if not parts.query:
        return parts.path or "/"
    query = [
        (k, "[redacted]" if any(s in k.lower() for s in SECRET_QUERY_KEYS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return f"{parts.path}?{urlencode(query)}"


def _called(operation: str, url: str) -> str:
    """What failed, in an error message: the operation (e.g. model.account.move.create) and where."""
    return f"{operation} ({safe_path(url)})" if operation else safe_path(url)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (so repeating it is harmless)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def default_error_text(response: requests.Response) -> str:
    return response.text or ""


class HubSession:
    def __init__(
        self,
        *,
        provider: str,
        base_url: str = "",
        call_log: CallLog | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        first_retry_pause: float = 0.05,
        max_retry_after: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        error_text: Callable[[requests.Response], str] = default_error_text,
        headers: dict[str, str] | None = None,
        unapplied_statuses: frozenset[int] = frozenset(),
        budget: CallBudget | None = None,
    ) -> None:
        self.provider = provider
        self.budget = budget
        self.base_url = base_url
        self.call_log = call_log if call_log is not None else CallLog()
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.first_retry_pause = first_retry_pause
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.error_text = error_text
        # Statuses this provider only answers when nothing was applied: safe to repeat any request.
        self.unapplied_statuses = unapplied_statuses
        # With a budget, this many 429s in a row for one request become BudgetExhausted (the run pauses).
        self.max_refusals = 30
        # Values never to store or show, whatever a server echoes back: the connector adds its credentials.
        self.secrets: set[str] = set()
        self.session = outbound.GuardedSession()
        self.session.headers.update({"User-Agent": "integration-hub/0.1", **(headers or {})})

    @classmethod
    def from_settings(cls, *, provider: str, **kwargs) -> "HubSession":
        """Timeouts from Django settings when they are configured, defaults otherwise."""
        from integration_hub.connectors.base import hub_setting

        kwargs.setdefault("connect_timeout", hub_setting("HUB_HTTP_CONNECT_TIMEOUT", 5.0))
        kwargs.setdefault("read_timeout", hub_setting("HUB_HTTP_READ_TIMEOUT", 60.0))
        return cls(provider=provider, **kwargs)

    def close(self) -> None:
        self.session.close()

    def excerpt(self, text) -> str:
        """What of a remote text may be stored or shown: short, plain, secrets redacted."""
        return excerpt(text, secrets=self.secrets)

    def describe(self, response: requests.Response) -> str:
        """The provider's own words about a refused call (error_text), as an excerpt."""
        try:
            return self.excerpt(self.error_text(response))
        except Exception:  # noqa: BLE001 - a provider's error format never turns a clear error into a crash
            return self.excerpt(response.text)

    def _url(self, url: str) -> str:
        return urljoin(self.base_url, url) if self.base_url and not url.startswith(("http://", "https://")) else url

    def _budget_turn(self) -> contextlib.ExitStack:
        """Waits for the budget's turn for one attempt; leaving the returned context ends the call. A worker
        that dies during the call gives its slot back after twice its timeouts."""
        turn = contextlib.ExitStack()
        if self.budget is not None:
            turn.enter_context(self.budget.call(lease=2 * (self.timeout[0] + self.timeout[1])))
        return turn

    def _backoff(self, attempt: int) -> float:
        """The pause before attempt `attempt + 1`. Most failures are a blip (a dropped connection, a gateway
        restarting a worker): the first repeat comes after a few tens of milliseconds. A failure that repeats is
        not a blip: the pauses then grow from backoff_base, doubling up to backoff_max, with jitter so that
        workers hit by the same outage do not come back in step."""
        if attempt <= 1:
            return min(self.backoff_base, self.first_retry_pause) * random.random()
        delay = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 2)))
        return delay * (0.5 + random.random() / 2)

    def _record(self, method, url, status, started, operation, attempt, error="") -> None:
        self.call_log.add(
            CallRecord(
                method=method,
                path=safe_path(url),
                status=status,
                duration_ms=int((time.monotonic() - started) * 1000),
                operation=operation,
                attempt=attempt,
                error=error[:200],
                at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            )
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str = "",
        retry_unsafe: bool = False,
        reauthenticate: Callable[[], dict[str, str] | None] | None = None,
        raise_for_status: bool = True,
        sign: Callable[[], dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """``sign``, when given, is called before every attempt for that attempt's own headers (a signature
        over a fresh timestamp and a single-use transaction id, as Netvisor's MAC needs)."""
        method = method.upper()
        url = self._url(url)
        params = kwargs.get("params")
        # What the call log shows: the query too (after_id, updated_from...), secrets redacted by safe_path.
        shown = f"{url}{'&' if '?' in url else '?'}{urlencode(params, doseq=True)}" if params else url
        repeatable = retry_unsafe or method in IDEMPOTENT_METHODS
        try:
            outbound.check_url(url)
        except OutboundRefused as exc:
            exc.provider = self.provider
            self._record(method, shown, None, time.monotonic(), operation, 1, "refused by the outbound policy")
            raise
        attempt = 0
        reauthenticated = False
        refusals = 0  # 429s in a row while a budget paces the calls
        while True:
            attempt += 1
            slot = self._budget_turn()  # waits here (so a call's duration is its own), or raises BudgetExhausted
            started = time.monotonic()
            try:
                with slot:
                    if sign is not None:  # signed after the budget's wait, so the timestamp is fresh
                        kwargs["headers"] = {**(kwargs.get("headers") or {}), **sign()}
                    response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except OutboundRefused as exc:  # an address the host name resolved to
                exc.provider = self.provider
                self._record(method, shown, None, started, operation, attempt, "refused by the outbound policy")
                raise
            except requests.RequestException as exc:
                sent = not _never_sent(exc)
                kind = "timeout" if isinstance(exc, requests.Timeout) else "network error"
                self._record(method, shown, None, started, operation, attempt, f"{kind}: {type(exc).__name__}")
                if (repeatable or not sent) and attempt <= self.max_retries:
                    self.sleep(self._backoff(attempt))
                    continue
                hint = "" if not sent else " (the request may have reached the server)"
                # A write that timed out may still be running on the server: whoever settles it must give it time.
                still_running = sent and isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout)
                raise RetryableError(
                    f"{self.provider}: {kind} calling {_called(operation, url)} after {attempt} attempt(s){hint}",
                    provider=self.provider, details={"maybe_still_running": still_running},
                ) from exc
            self._record(method, shown, response.status_code, started, operation, attempt)
            status = response.status_code
            if self.budget is not None:
                self.budget.observe(response.headers)
            if response.is_redirect:  # the session follows redirects within the same origin only
                raise PermanentError(
                    f"{self.provider}: the server answered {safe_path(url)} with a redirect to another address, "
                    "which the hub does not follow; check the address", provider=self.provider, status=status)
            if status == 429 and self.budget is not None:
                # Nothing was done: every worker of the organisation waits (through the budget) and this one tries
                # again. A 429 is not an attempt that failed, so max_retries stays whole for real failures.
                wait = parse_retry_after(response.headers.get("Retry-After"))
                names = self.budget.limits.headers
                problem = response.headers.get(names.problem, "") if names and names.problem else ""
                self.budget.refused(wait, problem)
                refusals += 1
                if refusals > self.max_refusals:  # a server that refuses whatever we do: pause the run, not spin
                    raise BudgetExhausted(
                        f"{self.provider}: {refusals} refusals (429) in a row for {_called(operation, url)}",
                        resume_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(
                            seconds=wait if wait is not None else self.budget.limits.minute_seconds),
                        problem=(problem or "refused").lower(), provider=self.provider,
                        provider_message=self.describe(response))
                attempt -= 1
                continue
            refusals = 0
            if status == 429:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                wait = self._backoff(attempt + 1) if wait is None else wait  # never a quick repeat on 429
                if wait > self.max_retry_after or attempt > self.max_retries:
                    raise RateLimited(
                        f"{self.provider}: rate limited, retry after {wait:.0f} s",
                        retry_after=wait, provider=self.provider, status=429,
                        provider_message=self.describe(response),
                    )
                self.sleep(wait)
                continue
            if status == 401 and reauthenticate is not None and not reauthenticated:
                reauthenticated = True
                new_headers = reauthenticate()
                if new_headers:
                    kwargs["headers"] = {**(kwargs.get("headers") or {}), **new_headers}
                continue
            if status in RETRY_STATUSES:
                if (repeatable or status in self.unapplied_statuses) and attempt <= self.max_retries:
                    self.sleep(self._backoff(attempt))
                    continue
                raise RetryableError(
                    f"{self.provider}: server error {status} on {_called(operation, url)} after {attempt} attempt(s)",
                    provider=self.provider, status=status, provider_message=self.describe(response),
                )
            if not raise_for_status or status < 400:
                return response
            message = self.describe(response)
            if status in (401, 403):
                raise AuthenticationError(f"{self.provider}: access refused ({status})", provider=self.provider,
                                          status=status, provider_message=message)
            if status == 404:
                raise NotFound(f"{self.provider}: not found ({safe_path(url)})", provider=self.provider,
                               status=status, provider_message=message)
            raise PermanentError(f"{self.provider}: request refused ({status})", provider=self.provider,
                                 status=status, provider_message=message)


def json_object(http: HubSession, response: requests.Response, *, what: str, tool: str) -> dict | None:
    """The JSON object a REST API answered (None for an empty answer); anything else is a clear PermanentError
    naming the call and the tool it should have come from, with an excerpt of what came instead."""
    if not response.content:
        return None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise PermanentError(f"The server did not answer {what} like {tool} does (no JSON object)",
                             provider=http.provider, status=response.status_code,
                             provider_message=http.excerpt(response.text))
    return payload
