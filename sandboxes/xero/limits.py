"""The Xero sandbox's clock and its rate limiter.

``SandboxClock`` lets tests and benchmarks live through Xero's minutes and days without waiting for
them: the sandbox's time runs ``speed`` times faster than the wall clock, so token lifetimes and
rate-limit windows shrink by the same factor.

``RateLimiter`` enforces Xero's published limits (REFERENCE.md, Xero section) per organisation:
5 concurrent calls, 60 calls in any rolling minute, 5,000 in any rolling 24 hours, and 10,000 calls a
minute for the app as a whole. It never blocks: ``enter()`` answers at once with an ``Admission``
that is either admitted (carry on, then ``leave()``) or refused (answer 429 with its headers).
A refused call is not counted against any limit, as with Xero.

One deliberate deviation from Xero: ``Retry-After`` is expressed in REAL seconds, the time the
client must actually wait. With ``speed`` 1 it is an integer rounded up, as Xero sends it; with a
speed-up it is a decimal such as ``"0.35"`` so that a client honouring it does not wait sixty
times too long (``whole_retry_after=True`` rounds it up to whole seconds again).
"""
from __future__ import annotations

import collections
import datetime as dt
import itertools
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

MINUTE = 60.0
DAY = 86400.0
CONCURRENT_RETRY = 1.0  # sandbox seconds a caller refused for concurrency is told to wait

# Xero's header names, exactly as its API sends them.
DAY_REMAINING = "X-DayLimit-Remaining"
MINUTE_REMAINING = "X-MinLimit-Remaining"
APP_MINUTE_REMAINING = "X-AppMinLimit-Remaining"
RETRY_AFTER = "Retry-After"
PROBLEM = "X-Rate-Limit-Problem"


class SandboxClock:
    """Sandbox time: starts at the real time of creation and runs ``speed`` times faster.

    ``real`` is the monotonic source it measures elapsed time with (injectable so tests can pin it);
    ``start`` the sandbox epoch seconds at creation (defaults to now). ``advance()`` jumps forward,
    for tests that need a token to expire or a window to pass without any waiting at all.
    """

    def __init__(self, speed: float = 1.0, *, start: float | None = None,
                 real: Callable[[], float] = time.monotonic):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self._real = real
        self._real_start = real()
        self._start = time.time() if start is None else float(start)
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Sandbox epoch seconds."""
        with self._lock:
            offset = self._offset
        return self._start + (self._real() - self._real_start) * self.speed + offset

    def utcnow(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now(), tz=dt.timezone.utc)

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long ``sandbox_seconds`` of sandbox time last on the wall clock."""
        return sandbox_seconds / self.speed

    def advance(self, sandbox_seconds: float) -> None:
        with self._lock:
            self._offset += float(sandbox_seconds)


@dataclass
class Admission:
    """The limiter's answer to one call: ``ok`` or refused with ``problem`` and ``headers`` to send."""

    ok: bool
    tenant_id: str
    headers: dict[str, str]
    problem: str | None = None  # "minute" | "day" | "concurrent" | "appminute" when refused
    retry_after: float | None = None  # real seconds, when refused
    ticket: int = 0
    _left: bool = field(default=False, repr=False)


class _Tenant:
    def __init__(self) -> None:
        self.minute: collections.deque[float] = collections.deque()
        self.day: collections.deque[float] = collections.deque()
        self.in_flight = 0
        self.calls = 0
        self.refused = 0
        self.refused_by: collections.Counter[str] = collections.Counter()
        self.peak_minute = 0
        self.peak_concurrent = 0

    def prune(self, now: float) -> None:
        # Windows are half-open, (now - length, now]: a call made exactly a minute ago no longer counts.
        while self.minute and self.minute[0] <= now - MINUTE:
            self.minute.popleft()
        while self.day and self.day[0] <= now - DAY:
            self.day.popleft()


class RateLimiter:
    """Xero's per-organisation and per-app limits, thread-safe, never blocking.

    With ``enabled=False`` every call is admitted and counted in ``stats()`` but no limit headers
    are sent (there is no budget for a client to keep in step with). ``whole_retry_after=True`` keeps
    Retry-After a whole number of real seconds even when sped up, for clients that cannot read a
    decimal one (urllib3's automatic retries, hence Xero's own Python SDK, raise InvalidHeader on it).
    """

    def __init__(self, clock: SandboxClock, *, per_minute: int = 60, per_day: int = 5000, concurrent: int = 5,
                 app_per_minute: int = 10000, enabled: bool = True, whole_retry_after: bool = False):
        self.clock = clock
        self.whole_retry_after = whole_retry_after
        self.per_minute = per_minute
        self.per_day = per_day
        self.concurrent = concurrent
        self.app_per_minute = app_per_minute
        self.enabled = enabled
        self._lock = threading.Lock()
        self._tickets = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        """Forget every call, window and peak."""
        with self._lock:
            self._tenants: dict[str, _Tenant] = {}
            self._app: collections.deque[float] = collections.deque()
            self._app_calls = 0
            self._app_refused = 0
            self._app_peak = 0

    def _retry_header(self, sandbox_seconds: float) -> tuple[float, str]:
        real = max(self.clock.real_seconds(sandbox_seconds), 0.0)
        if self.clock.speed <= 1 or self.whole_retry_after:
            whole = max(1, math.ceil(real - 1e-9))
            return float(whole), str(whole)
        hundredths = max(1, math.ceil(real * 100 - 1e-9))
        return hundredths / 100, f"{hundredths / 100:.2f}"

    def _remaining(self, tenant: _Tenant) -> dict[str, str]:
        return {
            DAY_REMAINING: str(max(self.per_day - len(tenant.day), 0)),
            MINUTE_REMAINING: str(max(self.per_minute - len(tenant.minute), 0)),
            APP_MINUTE_REMAINING: str(max(self.app_per_minute - len(self._app), 0)),
        }

    def enter(self, tenant_id: str) -> Admission:
        """Admit or refuse one call for ``tenant_id`` at the sandbox's current time."""
        with self._lock:
            now = self.clock.now()
            tenant = self._tenants.setdefault(tenant_id, _Tenant())
            tenant.prune(now)
            while self._app and self._app[0] <= now - MINUTE:
                self._app.popleft()
            if self.enabled:
                # Every limit that is hit, with the sandbox seconds until it frees a slot; the longest wait
                # wins, so a client that honours Retry-After is not refused again for another reason.
                hits: list[tuple[float, str]] = []
                if len(tenant.day) >= self.per_day:
                    hits.append((tenant.day[0] + DAY - now, "day"))
                if len(self._app) >= self.app_per_minute:
                    hits.append((self._app[0] + MINUTE - now, "appminute"))
                if len(tenant.minute) >= self.per_minute:
                    hits.append((tenant.minute[0] + MINUTE - now, "minute"))
                if tenant.in_flight >= self.concurrent:
                    hits.append((CONCURRENT_RETRY, "concurrent"))
                if hits:
                    wait, problem = max(hits)
                    retry_after, header = self._retry_header(wait)
                    tenant.refused += 1
                    tenant.refused_by[problem] += 1
                    self._app_refused += 1
                    headers = {RETRY_AFTER: header, PROBLEM: problem, **self._remaining(tenant)}
                    return Admission(False, tenant_id, headers, problem, retry_after, next(self._tickets))
            tenant.minute.append(now)
            tenant.day.append(now)
            self._app.append(now)
            tenant.in_flight += 1
            tenant.calls += 1
            self._app_calls += 1
            tenant.peak_minute = max(tenant.peak_minute, len(tenant.minute))
            tenant.peak_concurrent = max(tenant.peak_concurrent, tenant.in_flight)
            self._app_peak = max(self._app_peak, len(self._app))
            headers = self._remaining(tenant) if self.enabled else {}
            return Admission(True, tenant_id, headers, ticket=next(self._tickets))

    def leave(self, admission: Admission) -> None:
        """End an admitted call (idempotent; a refused admission needs no leave but may be passed)."""
        with self._lock:
            if not admission.ok or admission._left:
                return
            admission._left = True
            tenant = self._tenants.get(admission.tenant_id)
            if tenant is not None and tenant.in_flight > 0:  # reset() may have run meanwhile
                tenant.in_flight -= 1

    def stats(self) -> dict:
        """Per tenant and for the app: calls admitted, refused, peaks (what the hub's tests assert on)."""
        with self._lock:
            now = self.clock.now()
            out: dict = {}
            for tenant_id, tenant in self._tenants.items():
                tenant.prune(now)
                out[tenant_id] = {
                    "calls": tenant.calls,
                    "refused": tenant.refused,
                    "refused_by": dict(tenant.refused_by),
                    "peak_minute": tenant.peak_minute,
                    "peak_concurrent": tenant.peak_concurrent,
                    "in_flight": tenant.in_flight,
                    "minute_used": len(tenant.minute),
                    "day_used": len(tenant.day),
                }
            out["app"] = {"calls": self._app_calls, "refused": self._app_refused, "peak_minute": self._app_peak}
            return out
