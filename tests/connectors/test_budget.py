"""The call budget shared by every worker of an organisation: the same behaviour through memory, the database
and Redis, across real processes, and through the HTTP layer."""
from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from integration_hub.connectors.budget import (
    XERO_HEADERS,
    BudgetExhausted,
    CallBudget,
    Limits,
    budget_for,
)
from integration_hub.connectors.errors import RateLimited
from integration_hub.connectors.http import HubSession
from tests.support.scripted_server import Reply, ScriptedServer

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379")
# The database backend's tests commit (other threads and processes must see the rows).
in_database = pytest.mark.django_db(transaction=True)
KINDS = ["memory", pytest.param("db", marks=in_database), pytest.param("redis", marks=needs_redis)]


@contextlib.contextmanager
def redis_prefix():
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"hub-test-budget-{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def make_budget(kind):
    """Budgets as separate workers hold them: each call builds a new object for the same (or another) key."""
    with contextlib.ExitStack() as stack:
        prefix = stack.enter_context(redis_prefix()) if kind == "redis" else ""
        stack.enter_context(override_settings(HUB_BUDGET_REDIS_URL=REDIS_URL if kind == "redis" else "",
                                              HUB_BUDGET_PREFIX=prefix))
        organisation = uuid.uuid4().hex
        provider = f"demo-{uuid.uuid4().hex[:8]}"  # the app-wide window is per provider: one per test

        def make(limits: Limits, *, org: str | None = None, max_wait: float = 30.0) -> CallBudget:
            return budget_for(provider, org or organisation, limits, backend=kind, max_wait=max_wait)

        yield make


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


def in_thread(work) -> threading.Thread:
    """Runs `work` in a thread with its own database connection, closed when it ends."""
    def run():
        from django.db import connection

        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- the same behaviour whatever the backend -------------------------------------------------------------------
def test_a_call_beyond_the_minute_limit_waits_until_the_oldest_call_leaves_the_window(make_budget):
    budget = make_budget(Limits(per_minute=3, minute_seconds=0.4))
    naps = []
    sleep = budget.sleep
    budget.sleep = lambda s: (naps.append(s), sleep(s))
    ends = []
    for _ in range(3):
        with budget.call():
            pass
        ends.append(time.monotonic())
    assert naps == []  # under the limit: no wait at all
    with budget.call():
        started = time.monotonic()
    assert started - ends[0] >= 0.39  # a call counts for a whole window after its answer
    assert started - ends[0] < 2.5
    assert 1 <= len(naps) <= 3  # slept until the computed moment, not a busy loop


def test_no_more_calls_run_at_once_than_the_concurrency_cap(make_budget):
    limits = Limits(concurrent=2)
    budget = make_budget(limits)
    started = []
    with contextlib.ExitStack() as held:
        held.enter_context(budget.call())
        second = budget.call()
        second.__enter__()

        def third():
            with make_budget(limits).call():
                started.append(time.monotonic())

        thread = in_thread(third)
        time.sleep(0.3)
        assert started == []  # two calls in flight: the third waits
        freed = time.monotonic()
        second.__exit__(None, None, None)
        thread.join(timeout=10)
    assert started and started[0] - freed < 2.0


def test_the_slot_of_a_worker_killed_during_a_call_comes_back_when_its_lease_ends(make_budget):
    limits = Limits(concurrent=1)
    killed = make_budget(limits).call(lease=0.5)
    killed.__enter__()  # the worker dies here: its block never ends
    start = time.monotonic()
    with make_budget(limits).call():
        waited = elapsed_since(start)
    assert 0.45 <= waited < 3.0


def test_what_the_provider_says_remains_is_counted_by_every_worker_of_the_organisation(make_budget):
    limits = Limits(per_minute=5, per_day=5000, minute_seconds=30, headers=XERO_HEADERS)
    first, second = make_budget(limits), make_budget(limits)
    with first.call():
        pass
    ended = dt.datetime.now(dt.timezone.utc)
    # Another application used the organisation: the provider has 4 calls in its minute, we made 1.
    first.observe({"x-minlimit-remaining": "1", "X-DayLimit-Remaining": "4990"})
    state = second.state()
    assert state["minute_used"] == 4 and state["day_used"] == 10
    assert state["resume_at"] is None  # the fifth call of the minute may start
    with second.call():
        pass
    state = second.state()
    assert state["waiting_for"] == "minute"  # the sixth waits until our first call leaves the window
    assert abs((state["resume_at"] - ended).total_seconds() - 30) < 2


def test_a_refusal_makes_every_worker_of_the_organisation_wait_until_retry_after(make_budget):
    limits = Limits(per_minute=60)
    one, other = make_budget(limits), make_budget(limits)
    start = time.monotonic()
    one.refused(0.5, "minute")
    assert other.state()["waiting_for"] == "minute"
    assert make_budget(limits, org="another-organisation").state()["resume_at"] is None  # not held
    with other.call():
        assert 0.49 <= elapsed_since(start) < 3.0


def test_an_app_wide_refusal_holds_every_organisation_of_the_provider(make_budget):
    limits = Limits(per_minute=60, app_per_minute=1000)
    start = time.monotonic()
    make_budget(limits).refused(0.5, "AppMinute")
    with make_budget(limits, org="another-organisation").call():
        assert elapsed_since(start) >= 0.49


def test_the_app_limit_is_shared_by_every_organisation_of_the_provider(make_budget):
    limits = Limits(per_minute=60, app_per_minute=2, minute_seconds=30)
    for org in ("first", "second"):
        with make_budget(limits, org=org).call():
            pass
    state = make_budget(limits, org="third").state()
    assert state["app_used"] == 2 and state["minute_used"] == 0
    assert state["waiting_for"] == "app" and state["resume_at"] is not None


def test_a_spent_day_raises_budget_exhausted_with_the_moment_calls_resume(make_budget):
    budget = make_budget(Limits(per_minute=60, per_day=2, day_seconds=3600), max_wait=5)
    for _ in range(2):
        with budget.call():
            pass
    with pytest.raises(BudgetExhausted) as caught:
        with budget.call():
            pytest.fail("a third call of the day was allowed")
    exhausted = caught.value
    assert isinstance(exhausted, RateLimited) and exhausted.problem == "day"
    expected = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3600)
    assert abs((exhausted.resume_at - expected).total_seconds()) < 5
    assert exhausted.resume_at.tzinfo is not None and 3590 < exhausted.retry_after <= 3600


def test_a_day_refusal_from_the_provider_pauses_until_its_retry_after_and_the_page_says_so(make_budget):
    limits = Limits(per_minute=60, per_day=5000, headers=XERO_HEADERS)
    make_budget(limits).refused(5000, "day")
    with pytest.raises(BudgetExhausted) as caught:
        with make_budget(limits, max_wait=120).call():
            pass
    expected = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5000)
    assert caught.value.problem == "day"
    assert abs((caught.value.resume_at - expected).total_seconds()) < 5
    state = make_budget(limits).state()
    assert state["problem"] == "day" and state["waiting_for"] == "day"
    assert abs((state["blocked_until"] - expected).total_seconds()) < 5
    assert abs((state["resume_at"] - expected).total_seconds()) < 5


def test_the_state_of_an_idle_budget_says_a_call_may_start_now(make_budget):
    budget = make_budget(Limits(concurrent=5, per_minute=60, per_day=5000))
    with budget.call():
        during = budget.state()
    after = budget.state()
    assert during["in_flight"] == 1 and after["in_flight"] == 0
    assert after["minute_used"] == 1 and after["day_used"] == 1
    assert after["resume_at"] is None and after["blocked_until"] is None and after["problem"] == ""


# --- choosing the backend -----------------------------------------------------------------------------------------
def test_the_backend_is_redis_when_the_hub_has_redis_the_database_otherwise_or_the_one_forced():
    # Choosing touches no database and no Redis: the first call does.
    limits = Limits(per_minute=60)
    with override_settings(HUB_BUDGET_BACKEND="", HUB_BUDGET_REDIS_URL="", REDIS_URL=""):
        assert budget_for("demo", "org", limits).backend.name == "db"
    with override_settings(HUB_BUDGET_BACKEND="", HUB_BUDGET_REDIS_URL="", REDIS_URL=REDIS_URL):
        assert budget_for("demo", "org", limits).backend.name == "redis"
    with override_settings(HUB_BUDGET_BACKEND="memory", REDIS_URL=REDIS_URL, HUB_BUDGET_MAX_WAIT=7):
        budget = budget_for("demo", "org", limits)
        assert budget.backend.name == "memory" and budget.max_wait == 7
    with override_settings(HUB_BUDGET_BACKEND="carrier-pigeon"), pytest.raises(ValueError):
        budget_for("demo", "org", limits)


def test_limits_that_would_leave_no_call_are_refused():
    with pytest.raises(ValueError):
        Limits(per_minute=1, reserve=1)
    with pytest.raises(ValueError):
        Limits(per_day=0)


# --- through the HTTP layer ---------------------------------------------------------------------------------------
def test_a_session_with_a_budget_waits_through_429s_instead_of_failing():
    with ScriptedServer() as server:
        server.then(Reply(429, {"Status": 429}, {"Retry-After": "0.2", "X-Rate-Limit-Problem": "minute"}),
                    Reply(429, {"Status": 429}, {"Retry-After": "0.2", "X-Rate-Limit-Problem": "minute"}),
                    Reply(200, {"ok": True}, {"X-MinLimit-Remaining": "50", "X-DayLimit-Remaining": "4000"}))
        budget = budget_for("demo", uuid.uuid4().hex, Limits(per_minute=60, per_day=5000, headers=XERO_HEADERS),
                            backend="memory")
        http = HubSession(provider="demo", base_url=server.url, budget=budget, max_retries=0, connect_timeout=1,
                          read_timeout=2)
        start = time.monotonic()
        assert http.request("POST", "/Invoices", json={}).json() == {"ok": True}
        assert elapsed_since(start) >= 0.4  # both Retry-Afters were waited for
        assert [r.status for r in http.call_log.records] == [429, 429, 200]
        state = budget.state()
        assert state["minute_used"] == 10 and state["day_used"] == 1000  # in step with the provider's count


def test_a_session_meeting_the_day_limit_raises_budget_exhausted_resuming_after_retry_after():
    with ScriptedServer() as server:
        server.then(Reply(429, {"Status": 429}, {"Retry-After": "3600", "X-Rate-Limit-Problem": "day"}))
        budget = budget_for("demo", uuid.uuid4().hex, Limits(per_minute=60, per_day=5000, headers=XERO_HEADERS),
                            backend="memory", max_wait=120)
        http = HubSession(provider="demo", base_url=server.url, budget=budget, connect_timeout=1, read_timeout=2)
        with pytest.raises(BudgetExhausted) as caught:
            http.request("GET", "/Invoices")
        expected = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3600)
        assert caught.value.problem == "day" and abs((caught.value.resume_at - expected).total_seconds()) < 5
        assert len(server.seen) == 1


# --- three processes, one organisation ------------------------------------------------------------------------------
class CallCounter:
    """A tiny HTTP server that notes when each call arrived and how many were in progress at once."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.in_progress = 0
        self.peak = 0
        lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with lock:
                    counter.arrivals.append(time.monotonic())
                    counter.in_progress += 1
                    counter.peak = max(counter.peak, counter.in_progress)
                time.sleep(0.02)
                with lock:
                    counter.in_progress -= 1
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def most_in_any_window(self, seconds: float) -> int:
        times = sorted(self.arrivals)
        first, most = 0, 0
        for last, at in enumerate(times):  # the window (at - seconds, at]
            while times[first] <= at - seconds:
                first += 1
            most = max(most, last - first + 1)
        return most


CROSS_PROCESS_LIMITS = Limits(concurrent=3, per_minute=10, minute_seconds=1.0)


def _worker(kind: str, environment: dict, organisation: str, url: str, calls: int) -> None:
    """One worker process: its own Django, its own budget object, its own HTTP session."""
    os.environ.update(environment)
    import django

    django.setup()
    from django.db import connection

    budget = budget_for("demo", organisation, CROSS_PROCESS_LIMITS, backend=kind)
    http = HubSession(provider="demo", base_url=url, budget=budget, connect_timeout=2, read_timeout=5)
    for index in range(calls):
        http.request("GET", f"/count?worker={os.getpid()}&call={index}")
    http.close()
    connection.close()


def database_url() -> str:
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    return (f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:"
            f"{settings['PORT'] or 5432}/{settings['NAME']}")


@pytest.mark.parametrize("backend", [pytest.param("redis", marks=needs_redis), pytest.param("db", marks=in_database)])
def test_three_processes_sharing_an_organisation_never_exceed_its_limits(backend):
    environment = {"DJANGO_SETTINGS_MODULE": "tests.settings"}
    with contextlib.ExitStack() as stack:
        if backend == "db":
            environment["DATABASE_URL"] = database_url()
        else:
            environment.update(HUB_BUDGET_REDIS_URL=REDIS_URL, HUB_BUDGET_PREFIX=stack.enter_context(redis_prefix()))
            if "DATABASE_URL" in os.environ:
                environment["DATABASE_URL"] = os.environ["DATABASE_URL"]
        counter = stack.enter_context(CallCounter())
        organisation = uuid.uuid4().hex
        spawn = multiprocessing.get_context("spawn")
        workers = [spawn.Process(target=_worker, args=(backend, environment, organisation, counter.url, 9))
                   for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [w.exitcode for w in workers] == [0, 0, 0]
        assert len(counter.arrivals) == 27
        assert counter.most_in_any_window(1.0) <= 10
        assert counter.peak <= 3
        # Waiting, not starving: 27 calls at 10 a second take a little over two windows.
        span = max(counter.arrivals) - min(counter.arrivals)
        assert 1.9 <= span < 20
