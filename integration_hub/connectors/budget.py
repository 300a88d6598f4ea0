"""One call budget per remote organisation, shared by every worker on every machine.

A provider that limits calls per organisation (Xero: 5 at once, 60 a minute, 5,000 a day, and 10,000 a minute
for the whole app) declares its `Limits`; `budget_for(provider, organisation, limits)` gives the budget every
process shares for that organisation, and `HubSession(..., budget=...)` runs each attempt inside
`budget.call()`. The budget waits instead of failing: a call starts only when it stays under every limit, and
when the wait would be long (the day's calls are spent) it raises `BudgetExhausted` with the moment calls
resume, which the engine turns into a paused run.

How a call is counted, so that the provider never counts more than its limit in any window, even though its
clock and ours are not in step: a call counts from just before it is sent until a window's length after its
answer arrived. Whatever moment the provider counts it at lies inside that span, so every call the provider has
in any of its windows is one we were counting at that window's end, and we never let our count pass the limit.
While a call is in flight its end is unknown: its marks expire at `lease + window` (a worker killed mid-call
gives its slots back then) and its answer sets the real end.

Backends (docs/call-budget.md): Redis (atomic Lua scripts, sorted sets per window), the database (a row per
organisation locked for each decision, a table of marks) and memory (one process: scripts, benchmarks).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterable, Iterator, Mapping
from urllib.parse import quote

from integration_hub.connectors.errors import RateLimited

logger = logging.getLogger(__name__)
BACKENDS = ("memory", "db", "redis")
# Marks are kept this long after they expire: observe() compares the provider's count at the moment a call
# arrived with ours then, so marks that expired while the call was in flight must still be there.
KEEP_SECONDS = 300.0
# Waiting for a call in flight to end (its end is unknown): polls starting at POLL_FIRST, doubling to POLL_MAX.
POLL_FIRST = 0.02
POLL_MAX = 0.25
# A long wait is taken in naps of at most this many seconds: the budget is asked again after each (a 429's block
# may have been lifted, new marks may have arrived) and `on_wait` is told (a run's heartbeat).
MAX_NAP = 10.0
# The database backend deletes every budget's dead marks on about one decision in this many.
CLEAN_UP_CHANCE = 0.01
DEFAULT_LEASE = 125.0  # 2 x the hub's default read timeout + connect timeout
# A 429 without Retry-After blocks everyone for this fraction of a minute.
UNKNOWN_RETRY_FRACTION = 0.1


@dataclass(frozen=True)
class HeaderNames:
    """The response headers in which a provider says how many calls remain, and names the limit a 429 hit."""

    minute_remaining: str | None = None
    day_remaining: str | None = None
    app_minute_remaining: str | None = None
    problem: str | None = None


XERO_HEADERS = HeaderNames(minute_remaining="X-MinLimit-Remaining", day_remaining="X-DayLimit-Remaining",
                           app_minute_remaining="X-AppMinLimit-Remaining", problem="X-Rate-Limit-Problem")


@dataclass(frozen=True)
class Limits:
    """What a provider allows per organisation (None: no such limit).

    `app_per_minute` is shared by every organisation of the provider (the app's own limit). `minute_seconds`
    and `day_seconds` are the lengths of the windows (a sandbox speeds its clock up). `reserve` calls of each
    window are left unused, for other applications using the same organisation (default 0: see
    docs/call-budget.md)."""

    concurrent: int | None = None
    per_minute: int | None = None
    per_day: int | None = None
    app_per_minute: int | None = None
    minute_seconds: float = 60.0
    day_seconds: float = 86400.0
    headers: HeaderNames | None = None
    reserve: int = 0

    def __post_init__(self) -> None:
        for name in ("concurrent", "per_minute", "per_day", "app_per_minute"):
            value = getattr(self, name)
            if value is not None and (value < 1 or (name != "concurrent" and value - self.reserve < 1)):
                raise ValueError(f"Limits.{name} must leave at least one call (reserve {self.reserve})")
        if self.minute_seconds <= 0 or self.day_seconds <= 0 or self.reserve < 0:
            raise ValueError("window lengths must be positive and reserve not negative")

    def sped_up(self, speed: float) -> Limits:
        """The same limits against a clock `speed` times faster (a sandbox's): windows shrink by that factor."""
        return replace(self, minute_seconds=self.minute_seconds / speed, day_seconds=self.day_seconds / speed)

    def windows(self) -> list[_Window]:
        """The windows this provider has, in a fixed order (the Redis scripts rely on it)."""
        out = []
        for name, limit, seconds in (("minute", self.per_minute, self.minute_seconds),
                                     ("day", self.per_day, self.day_seconds),
                                     ("app", self.app_per_minute, self.minute_seconds)):
            if limit is not None:
                out.append(_Window(name, limit, limit - self.reserve, float(seconds)))
        return out


XERO_LIMITS = Limits(concurrent=5, per_minute=60, per_day=5000, app_per_minute=10000, headers=XERO_HEADERS)


@dataclass(frozen=True)
class _Window:
    name: str
    limit: int  # the provider's
    allowed: int  # ours: limit - reserve
    seconds: float


class BudgetExhausted(RateLimited):
    """Waiting for the next call would take longer than the hub waits inline (HUB_BUDGET_MAX_WAIT): the run
    pauses and resumes at `resume_at` (aware, UTC). `problem` names the limit: day, minute, app, concurrent, or
    the provider's word from a 429."""

    def __init__(self, message: str, *, resume_at: dt.datetime, problem: str = "", **kwargs) -> None:
        kwargs.setdefault("retry_after", max(0.0, (resume_at - dt.datetime.now(dt.timezone.utc)).total_seconds()))
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)
        self.resume_at = resume_at
        self.problem = problem


@dataclass
class _Verdict:
    granted: bool
    wait: float = 0.0  # seconds, a lower bound: no call can start sooner
    problem: str = ""
    unknown: bool = False  # a call in flight must end first (when is unknown): poll
    now: float = 0.0  # the backend's clock when it decided


def _scope_of(problem: str) -> str:
    return "app" if "app" in (problem or "").lower() else "org"


# --- the decision, for the backends that run it in Python (memory, database) --------------------------------
class _Ledger:
    """What `_admit` and friends need from a backend, inside its lock."""

    def prune(self, window: str, before: float) -> None: ...
    def total(self, window: str, after: float) -> int: ...
    def ascending(self, window: str, after: float, limit: int) -> Iterable[tuple[float, int]]: ...
    def put(self, window: str, token: str, expires: float, weight: int = 1) -> None: ...
    def add(self, window: str, token: str, expires: float, weight: int = 1) -> None: ...
    def drop(self, window: str, token: str) -> None: ...
    def blocked(self, scope: str) -> tuple[float | None, str]: ...
    def block(self, scope: str, until: float, problem: str) -> None: ...


def _admit(ledger: _Ledger, now: float, limits: Limits, token: str, lease: float, grant: bool) -> _Verdict:
    wait, problem = 0.0, ""
    for scope in ("org", "app"):
        until, why = ledger.blocked(scope)
        if until is not None and until - now > wait:
            wait, problem = until - now, why or "refused"
    unknown = False
    ledger.prune("lease", now)
    if limits.concurrent is not None and ledger.total("lease", now) >= limits.concurrent:
        unknown = True
    full = False
    for window in limits.windows():
        ledger.prune(window.name, now - KEEP_SECONDS)
        used = ledger.total(window.name, now)
        if used + 1 <= window.allowed:
            continue
        full = True
        need, seen, frees_at = used + 1 - window.allowed, 0, now
        for expires, weight in ledger.ascending(window.name, now, need):
            seen += weight
            frees_at = expires
            if seen >= need:
                break
        # A call in flight ends at the earliest now: its slot frees no sooner than a window from now.
        frees_at = min(frees_at, now + window.seconds)
        if frees_at - now > wait or not problem:
            wait, problem = max(wait, frees_at - now), window.name
    if unknown and not problem:
        problem = "concurrent"
    if wait > 0 or unknown or full:
        return _Verdict(False, wait, problem, unknown, now)
    if grant:
        ledger.add("lease", token, now + lease)
        for window in limits.windows():
            ledger.add(window.name, token, now + lease + window.seconds)
    return _Verdict(True, 0.0, "", False, now)


def _release(ledger: _Ledger, now: float, limits: Limits, token: str) -> None:
    ledger.drop("lease", token)
    for window in limits.windows():
        ledger.put(window.name, token, now + window.seconds)


def _observe(ledger: _Ledger, now: float, limits: Limits, since: float, theirs: Mapping[str, int]) -> None:
    """`theirs`: calls the provider counts per window. Ours are the marks alive when the call started: the
    provider counted it later, and every call of ours it still counts then is among them."""
    for window in limits.windows():
        if window.name not in theirs:
            continue
        ours = ledger.total(window.name, since)
        if theirs[window.name] > ours:
            ledger.add(window.name, "p" + uuid.uuid4().hex, now + window.seconds, theirs[window.name] - ours)


def _refuse(ledger: _Ledger, now: float, seconds: float, problem: str) -> None:
    scope = _scope_of(problem)
    until, _ = ledger.blocked(scope)
    if until is None or now + seconds > until:
        ledger.block(scope, now + seconds, problem)


def _counts(ledger: _Ledger, now: float, limits: Limits) -> dict:
    used = {f"{w.name}_used": ledger.total(w.name, now) for w in limits.windows()}
    org, org_problem = ledger.blocked("org")
    app, app_problem = ledger.blocked("app")
    until, problem = max(((org or 0.0), org_problem), ((app or 0.0), app_problem))
    return {"in_flight": ledger.total("lease", now), **used,
            "blocked_until": until if until > now else None, "problem": problem if until > now else ""}


# --- backends -----------------------------------------------------------------------------------------------
class _Backend:
    name = ""

    def __init__(self, provider: str, organisation: str, limits: Limits) -> None:
        self.provider = provider
        self.organisation = organisation
        self.limits = limits

    def admit(self, token: str, lease: float, grant: bool = True) -> _Verdict:
        raise NotImplementedError

    def release(self, token: str) -> None:
        raise NotImplementedError

    def observe(self, since: float | None, theirs: Mapping[str, int]) -> None:
        raise NotImplementedError

    def refuse(self, seconds: float, problem: str) -> None:
        raise NotImplementedError

    def counts(self) -> dict:
        raise NotImplementedError


class _LockedBackend(_Backend):
    """A backend that runs the decision in Python while it holds the budget's lock (`_ledger`)."""

    def _ledger(self) -> contextlib.AbstractContextManager[tuple[_Ledger, float]]:
        raise NotImplementedError

    def admit(self, token, lease, grant=True):
        with self._ledger() as (ledger, now):
            return _admit(ledger, now, self.limits, token, lease, grant)

    def release(self, token):
        with self._ledger() as (ledger, now):
            _release(ledger, now, self.limits, token)

    def observe(self, since, theirs):
        with self._ledger() as (ledger, now):
            _observe(ledger, now, self.limits, now if since is None else since, theirs)

    def refuse(self, seconds, problem):
        with self._ledger() as (ledger, now):
            _refuse(ledger, now, seconds, problem)

    def counts(self):
        with self._ledger() as (ledger, now):
            return _counts(ledger, now, self.limits)


class _MemoryScope:
    def __init__(self) -> None:
        self.marks: dict[str, dict[str, tuple[float, int]]] = {}
        self.until: float | None = None
        self.problem = ""


_MEMORY: dict[tuple[str, str, str], _MemoryScope] = {}
_MEMORY_LOCK = threading.Lock()


class _MemoryLedger(_Ledger):
    def __init__(self, org: _MemoryScope, app: _MemoryScope) -> None:
        self.scopes = {"org": org, "app": app}

    def _marks(self, window: str) -> dict[str, tuple[float, int]]:
        return self.scopes["app" if window == "app" else "org"].marks.setdefault(window, {})

    def prune(self, window, before):
        marks = self._marks(window)
        for token in [t for t, (expires, _) in marks.items() if expires <= before]:
            del marks[token]

    def total(self, window, after):
        return sum(w for expires, w in self._marks(window).values() if expires > after)

    def ascending(self, window, after, limit):
        return sorted((e, w) for e, w in self._marks(window).values() if e > after)[:limit]

    def put(self, window, token, expires, weight=1):
        self._marks(window)[token] = (expires, weight)

    add = put

    def drop(self, window, token):
        self._marks(window).pop(token, None)

    def blocked(self, scope):
        return self.scopes[scope].until, self.scopes[scope].problem

    def block(self, scope, until, problem):
        self.scopes[scope].until, self.scopes[scope].problem = until, problem


class MemoryBackend(_LockedBackend):
    """One process only (scripts, benchmarks): budgets for the same key in this process share one state."""

    name = "memory"

    @contextlib.contextmanager
    def _ledger(self) -> Iterator[tuple[_Ledger, float]]:
        with _MEMORY_LOCK:
            org = _MEMORY.setdefault((self.provider, "org", self.organisation), _MemoryScope())
            app = _MEMORY.setdefault((self.provider, "app", ""), _MemoryScope())
            yield _MemoryLedger(org, app), time.time()


class _DatabaseLedger(_Ledger):
    def __init__(self, budget_model, mark_model, rows: dict[str, tuple[int, float | None, str]]) -> None:
        self.Budget = budget_model
        self.Mark = mark_model
        self.rows = rows  # scope -> (budget id, blocked until, problem)
        self.changed: dict[str, tuple[float, str]] = {}

    def _q(self, window: str):
        return self.Mark.objects.filter(budget_id=self.rows["app" if window == "app" else "org"][0], window=window)

    def prune(self, window, before):
        self._q(window).filter(expires_at__lte=before).delete()

    def total(self, window, after):
        from django.db.models import Sum

        return self._q(window).filter(expires_at__gt=after).aggregate(n=Sum("weight"))["n"] or 0

    def ascending(self, window, after, limit):
        return list(self._q(window).filter(expires_at__gt=after).order_by("expires_at")
                    .values_list("expires_at", "weight")[:limit])

    def put(self, window, token, expires, weight=1):
        if not self._q(window).filter(token=token).update(expires_at=expires, weight=weight):
            self.add(window, token, expires, weight)

    def add(self, window, token, expires, weight=1):
        self.Mark.objects.create(budget_id=self.rows["app" if window == "app" else "org"][0], window=window,
                                 token=token, expires_at=expires, weight=weight)

    def drop(self, window, token):
        self._q(window).filter(token=token).delete()

    def blocked(self, scope):
        if scope in self.changed:
            return self.changed[scope]
        return self.rows[scope][1], self.rows[scope][2]

    def block(self, scope, until, problem):
        self.changed[scope] = (until, problem)
        self.Budget.objects.filter(pk=self.rows[scope][0]).update(blocked_until=until, problem=problem[:40])


class DatabaseBackend(_LockedBackend):
    """The hub's database: each decision locks the organisation's row (and the provider's app row), in one
    short transaction. PostgreSQL: SELECT ... FOR UPDATE, the database's clock. SQLite: the transaction begins
    with a write, which takes the database's write lock (every process on the machine waits its turn)."""

    name = "db"

    def __init__(self, provider: str, organisation: str, limits: Limits) -> None:
        super().__init__(provider, organisation, limits)
        self._ids: dict[str, int] = {}

    @staticmethod
    def _models():
        from django.apps import apps

        return apps.get_model("syncs", "CallBudget"), apps.get_model("syncs", "CallBudgetMark")

    def _row_ids(self) -> dict[str, int]:
        if not self._ids:
            from django.db import IntegrityError, transaction

            Budget, _ = self._models()
            for scope, organisation in (("app", ""), ("org", self.organisation)):
                try:
                    with transaction.atomic():
                        row, _ = Budget.objects.get_or_create(provider=self.provider, organisation=organisation)
                except IntegrityError:  # another process created it at the same moment
                    row = Budget.objects.get(provider=self.provider, organisation=organisation)
                self._ids[scope] = row.pk
        return self._ids

    @contextlib.contextmanager
    def _ledger(self) -> Iterator[tuple[_Ledger, float]]:
        from django.db import connection, transaction
        from django.db.models import F

        Budget, Mark = self._models()
        while True:
            ids = self._row_ids()
            with transaction.atomic():
                rows = Budget.objects.filter(pk__in=ids.values())
                if connection.vendor == "sqlite":
                    rows.update(touched=F("touched") + 1)  # a write first: this transaction holds the lock now
                    now = time.time()
                else:
                    rows = rows.select_for_update().order_by("pk")  # one order everywhere: no deadlock
                found = {pk: (until, why) for pk, until, why in rows.values_list("pk", "blocked_until", "problem")}
                if len(found) < len(ids):  # deleted since this object looked them up (an operator's clean-up)
                    self._ids.clear()
                    continue
                if connection.vendor != "sqlite":
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
                        now = float(cursor.fetchone()[0])
                if random.random() < CLEAN_UP_CHANCE:  # marks of organisations no longer called
                    Mark.objects.filter(expires_at__lte=now - KEEP_SECONDS).delete()
                yield _DatabaseLedger(Budget, Mark, {scope: (pk, *found[pk]) for scope, pk in ids.items()}), now
                return


# The Redis scripts. KEYS: 1 the calls in flight (sorted set: token -> lease end), 2 and 3 the organisation's and
# the app's "blocked until" (hashes), then per window its marks (token -> end) and its weighted marks for calls
# the provider saw that we did not make ("id:weight" -> end). ARGV: 5 arguments, then per window 4: name,
# calls allowed, seconds, and one value of the script's own. Times are Redis's (TIME), so every machine agrees.
_LUA_PRELUDE = """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function f(x) return string.format('%.17g', x) end
local function above(x) return '(' .. f(x) end
local function weight(member) return tonumber(string.match(member, ':(%d+)$')) or 1 end
local function used(real, ph, after)
  local n = redis.call('ZCOUNT', real, above(after), '+inf')
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', ph, above(after), '+inf')) do n = n + weight(m) end
  return n
end
local function extend(key, seconds)
  local ms = math.ceil(seconds * 1000)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
local n = (#KEYS - 3) / 2
local now = clock()
local keep = tonumber(ARGV[4])
"""

_LUA_ADMIT = _LUA_PRELUDE + """
local token, lease, concurrent, grant = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[5] == '1'
local wait, problem, unknown, full = 0, '', 0, false
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  local b = redis.call('HMGET', key, 'until', 'problem')
  if b[1] and tonumber(b[1]) - now > wait then
    wait = tonumber(b[1]) - now
    problem = b[2] or 'refused'
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', f(now))
if concurrent >= 0 and redis.call('ZCARD', KEYS[1]) >= concurrent then unknown = 1 end
for i = 1, n do
  local real, ph = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local name, allowed, seconds = ARGV[2 + 4 * i], tonumber(ARGV[3 + 4 * i]), tonumber(ARGV[4 + 4 * i])
  redis.call('ZREMRANGEBYSCORE', real, '-inf', f(now - keep))
  redis.call('ZREMRANGEBYSCORE', ph, '-inf', f(now - keep))
  local total = used(real, ph, now)
  if total + 1 > allowed then
    full = true
    local need = total + 1 - allowed
    local reals = redis.call('ZRANGEBYSCORE', real, above(now), '+inf', 'WITHSCORES', 'LIMIT', 0, need)
    local phs = redis.call('ZRANGEBYSCORE', ph, above(now), '+inf', 'WITHSCORES')
    local a, b, seen, at = 1, 1, 0, now
    while seen < need do
      local ra, pb = reals[2 * a], phs[2 * b]
      if ra == nil and pb == nil then break end
      if pb == nil or (ra ~= nil and tonumber(ra) <= tonumber(pb)) then
        at = tonumber(ra)
        seen = seen + 1
        a = a + 1
      else
        at = tonumber(pb)
        seen = seen + weight(phs[2 * b - 1])
        b = b + 1
      end
    end
    at = math.min(at, now + seconds)
    if at - now > wait or problem == '' then
      if at - now > wait then wait = at - now end
      problem = name
    end
  end
end
if unknown == 1 and problem == '' then problem = 'concurrent' end
if wait > 0 or unknown == 1 or full then
  return {0, string.format('%.6f', wait), problem, unknown, f(now)}
end
if grant then
  redis.call('ZADD', KEYS[1], f(now + lease), token)
  extend(KEYS[1], lease + 1)
  for i = 1, n do
    local real, seconds = KEYS[2 + 2 * i], tonumber(ARGV[4 + 4 * i])
    redis.call('ZADD', real, f(now + lease + seconds), token)
    extend(real, lease + seconds + keep)
  end
end
return {1, '0', '', 0, f(now)}
"""

_LUA_RELEASE = _LUA_PRELUDE + """
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 1, n do
  local real, seconds = KEYS[2 + 2 * i], tonumber(ARGV[4 + 4 * i])
  redis.call('ZADD', real, f(now + seconds), ARGV[1])
  extend(real, seconds + keep)
end
return f(now)
"""

_LUA_OBSERVE = _LUA_PRELUDE + """
local since = tonumber(ARGV[1]) or now
for i = 1, n do
  local theirs = tonumber(ARGV[5 + 4 * i])
  if theirs >= 0 then
    local real, ph, seconds = KEYS[2 + 2 * i], KEYS[3 + 2 * i], tonumber(ARGV[4 + 4 * i])
    local ours = used(real, ph, since)
    if theirs > ours then
      redis.call('ZADD', ph, f(now + seconds), ARGV[5] .. ':' .. string.format('%d', theirs - ours))
      extend(ph, seconds + keep)
    end
  end
end
return f(now)
"""

_LUA_REFUSE = _LUA_PRELUDE + """
local key = KEYS[2]
if ARGV[3] == 'app' then key = KEYS[3] end
local seconds = tonumber(ARGV[1])
local current = redis.call('HGET', key, 'until')
current = current and tonumber(current) or 0
if now + seconds > current then
  redis.call('HSET', key, 'until', f(now + seconds), 'problem', ARGV[2])
  redis.call('PEXPIRE', key, math.ceil(seconds * 1000) + 1000)
end
return f(now)
"""

_LUA_COUNTS = _LUA_PRELUDE + """
local out = {f(now), redis.call('ZCOUNT', KEYS[1], above(now), '+inf')}
for i = 1, n do table.insert(out, used(KEYS[2 + 2 * i], KEYS[3 + 2 * i], now)) end
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  local b = redis.call('HMGET', key, 'until', 'problem')
  table.insert(out, b[1] or '0')
  table.insert(out, b[2] or '')
end
return out
"""

_REDIS_CLIENTS: dict[str, object] = {}
_REDIS_LOCK = threading.Lock()


def _redis_client(url: str):
    with _REDIS_LOCK:
        client = _REDIS_CLIENTS.get(url)
        if client is None:
            import redis

            client = _REDIS_CLIENTS[url] = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                                                health_check_interval=30)
        return client


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBackend(_Backend):
    """Atomic Lua scripts on Redis: every machine that reaches the same Redis shares the budget. Keys start with
    `prefix` and carry the provider as a hash tag, so a provider's keys stay in one slot of a Redis cluster."""

    name = "redis"

    def __init__(self, provider: str, organisation: str, limits: Limits, *, url: str, prefix: str) -> None:
        super().__init__(provider, organisation, limits)
        self.client = _redis_client(url)
        base = f"{prefix}{{{quote(provider, safe='')}}}:"
        org = f"{base}o:{quote(organisation, safe='')}:"
        self.keys = [f"{org}lease", f"{org}blocked", f"{base}app:blocked"]
        for window in limits.windows():
            key = f"{base}app:minute" if window.name == "app" else f"{org}{window.name}"
            self.keys += [key, f"{key}:p"]
        self._scripts = {name: self.client.register_script(lua) for name, lua in (
            ("admit", _LUA_ADMIT), ("release", _LUA_RELEASE), ("observe", _LUA_OBSERVE), ("refuse", _LUA_REFUSE),
            ("counts", _LUA_COUNTS))}

    def _run(self, script: str, fixed: list, extra: Mapping[str, object] | None = None):
        args = [*fixed, *[""] * (5 - len(fixed))]
        args[3] = KEEP_SECONDS
        for window in self.limits.windows():
            args += [window.name, window.allowed, repr(window.seconds), (extra or {}).get(window.name, -1)]
        return self._scripts[script](keys=self.keys, args=args)

    def admit(self, token, lease, grant=True):
        concurrent = -1 if self.limits.concurrent is None else self.limits.concurrent
        granted, wait, problem, unknown, now = self._run("admit", [token, repr(float(lease)), concurrent, "",
                                                                   "1" if grant else "0"])
        return _Verdict(bool(int(granted)), float(_text(wait)), _text(problem), bool(int(unknown)), float(_text(now)))

    def release(self, token):
        self._run("release", [token])

    def observe(self, since, theirs):
        self._run("observe", ["" if since is None else repr(since), "", "", "", "p" + uuid.uuid4().hex], theirs)

    def refuse(self, seconds, problem):
        self._run("refuse", [repr(float(seconds)), problem, _scope_of(problem)])

    def counts(self):
        out = [_text(v) for v in self._run("counts", [])]
        now, in_flight, rest = float(out[0]), int(out[1]), out[2:]
        windows = self.limits.windows()
        used = {f"{w.name}_used": int(v) for w, v in zip(windows, rest)}
        blocks = rest[len(windows):]
        until, problem = max((float(blocks[0]), blocks[1]), (float(blocks[2]), blocks[3]))
        return {"in_flight": in_flight, **used, "blocked_until": until if until > now else None,
                "problem": problem if until > now else ""}


# --- the budget ---------------------------------------------------------------------------------------------
def _utc_in(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)


class CallBudget:
    """The calls one organisation of one provider may still make, shared through `backend` by every worker."""

    def __init__(self, provider: str, organisation: str, limits: Limits, *, backend: _Backend | None = None,
                 max_wait: float = 120.0, sleep: Callable[[float], None] = time.sleep,
                 default_lease: float = DEFAULT_LEASE) -> None:
        if not organisation:
            raise ValueError("a call budget needs the organisation it counts for")
        self.provider = provider
        self.organisation = organisation
        self.limits = limits
        self.backend = backend or MemoryBackend(provider, organisation, limits)
        self.max_wait = max_wait
        self.sleep = sleep
        self.default_lease = default_lease
        # Told the seconds about to be slept before each nap: e.g. the engine keeps its run's heartbeat young.
        self.on_wait: Callable[[float], None] | None = None
        self._local = threading.local()  # when this thread's last call started (the backend's clock)

    def __repr__(self) -> str:
        return f"<CallBudget {self.provider}/{self.organisation} ({self.backend.name})>"

    def _exhausted(self, wait: float, problem: str) -> BudgetExhausted:
        resume_at = _utc_in(wait)
        return BudgetExhausted(
            f"{self.provider}: the calls allowed for organisation {self.organisation} are spent ({problem or 'limit'}"
            f"); calls resume at {resume_at:%Y-%m-%d %H:%M:%S} UTC",
            resume_at=resume_at, problem=problem, retry_after=wait, provider=self.provider)

    def _acquire(self, token: str, lease: float) -> float:
        poll = POLL_FIRST
        while True:
            verdict = self.backend.admit(token, lease)
            if verdict.granted:
                return verdict.now
            if verdict.wait > self.max_wait:
                raise self._exhausted(verdict.wait, verdict.problem)
            wait = verdict.wait
            if verdict.unknown and wait < poll:  # only calls in flight stand in the way: look again soon
                wait, poll = poll, min(poll * 2, POLL_MAX)
            wait = min(wait, MAX_NAP)
            if self.on_wait is not None:
                self.on_wait(wait)
            # A little jitter, so that workers woken by the same freed slot do not all ask at the same instant.
            self.sleep(wait + random.uniform(0.0, min(0.05, 0.1 * wait) + 0.002))

    @contextlib.contextmanager
    def call(self, lease: float | None = None) -> Iterator[None]:
        """Waits until one call may start (raising BudgetExhausted when that would take longer than max_wait);
        the call counts from now until a window's length after the block ends. `lease`: how long a worker that
        dies in the block keeps its slot (default: 2 x the read timeout and then some)."""
        token = uuid.uuid4().hex
        self._local.started = self._acquire(token, lease or self.default_lease)
        try:
            yield
        finally:
            try:
                self.backend.release(token)
            except Exception:  # noqa: BLE001 - the call is done: its marks then last their lease, never less
                logger.warning("%r: could not end a call's marks; they expire with its lease", self, exc_info=True)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Keeps in step with the provider: when it says fewer calls remain than we count, the difference was
        spent by someone else (another application, a process without this budget) and counts here too."""
        names = self.limits.headers
        if names is None or not headers:
            return
        lower = {str(k).lower(): v for k, v in headers.items()}
        remaining: dict[str, int] = {}
        for window, header in (("minute", names.minute_remaining), ("day", names.day_remaining),
                               ("app", names.app_minute_remaining)):
            if header and header.lower() in lower:
                try:
                    remaining[window] = max(0, int(str(lower[header.lower()]).strip()))
                except ValueError:
                    continue
        limits = {w.name: w.limit for w in self.limits.windows()}
        theirs = {w: limits[w] - left for w, left in remaining.items() if w in limits}
        if theirs:
            try:
                self.backend.observe(getattr(self._local, "started", None), theirs)
            except Exception:  # noqa: BLE001 - advice from the provider never turns an answered call into an error
                logger.warning("%r: could not note the provider's remaining calls", self, exc_info=True)

    def refused(self, retry_after: float | None, problem: str = "") -> None:
        """The provider answered 429: every worker of this organisation (of the app, for an app-wide problem)
        waits until then."""
        if retry_after is None:
            retry_after = self.limits.minute_seconds * UNKNOWN_RETRY_FRACTION
        self.backend.refuse(max(0.0, float(retry_after)), (problem or "refused").strip().lower()[:40])

    def state(self) -> dict:
        """For pages: calls in flight and used per window, blocked until, and when the next call could start
        (resume_at, None when one could start now)."""
        counts = self.backend.counts()
        verdict = self.backend.admit("peek", 0.0, grant=False)
        blocked = counts.pop("blocked_until")
        wait = verdict.wait if not verdict.granted else 0.0
        return {
            "provider": self.provider, "organisation": self.organisation, "backend": self.backend.name,
            "limits": {k: v for k, v in asdict(self.limits).items() if k != "headers"},
            **counts,
            "blocked_until": _utc_in(blocked - verdict.now) if blocked else None,
            "resume_at": _utc_in(wait) if wait > 0 else None,
            "waiting_for": verdict.problem if not verdict.granted else "",
        }


def budget_for(provider: str, organisation: str, limits: Limits, *, max_wait: float | None = None,
               backend: str | None = None, **kwargs) -> CallBudget:
    """The budget every worker shares for this organisation: Redis when the hub has one (HUB_BUDGET_REDIS_URL,
    else REDIS_URL), the database otherwise, memory outside Django; HUB_BUDGET_BACKEND (or `backend`) forces one."""
    from integration_hub.connectors.base import hub_setting

    choice = (backend or hub_setting("HUB_BUDGET_BACKEND", "") or "").strip().lower()
    url = hub_setting("HUB_BUDGET_REDIS_URL", "") or hub_setting("REDIS_URL", "")
    if not choice:
        choice = "redis" if url else ("db" if _django_ready() else "memory")
    if choice not in BACKENDS:
        raise ValueError(f"HUB_BUDGET_BACKEND must be one of {', '.join(BACKENDS)}, not {choice!r}")
    if choice == "redis":
        if not url:
            raise ValueError("the Redis call budget needs HUB_BUDGET_REDIS_URL or REDIS_URL")
        store: _Backend = RedisBackend(provider, organisation, limits, url=url,
                                       prefix=hub_setting("HUB_BUDGET_PREFIX", "hub:budget:"))
    elif choice == "db":
        store = DatabaseBackend(provider, organisation, limits)
    else:
        store = MemoryBackend(provider, organisation, limits)
    wait = hub_setting("HUB_BUDGET_MAX_WAIT", 120.0) if max_wait is None else max_wait
    return CallBudget(provider, organisation, limits, backend=store, max_wait=float(wait), **kwargs)


def _django_ready() -> bool:
    try:
        from django.apps import apps
        from django.conf import settings

        return settings.configured and apps.ready
    except Exception:  # noqa: BLE001 - Django is optional for connectors
        return False
