"""A worker that loses its database mid-run: the run ends, a recovery run finishes the job (issue 13).

The run's heartbeat goes through the run's own connection, so a run that lost it stops beating and
is recovered once stale; a healthy run beats through long calls and is never taken for dead.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import time_machine
from django.db import connection
from django.db.utils import DatabaseError, InterfaceError
from django_q.models import Schedule

from syncs import services, tasks
from syncs.engine import worker_identity
from syncs.models import DocumentStatus, RunStatus, SyncDocument, SyncError, SyncRun, Trigger
from syncs.services import execute_run, recover_stale_runs, run_is_stale, run_request
from tests.support.books import NOW, add, invoice, make_flow

pytestmark = [pytest.mark.clock]

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="cuts a live server connection with pg_terminate_backend: PostgreSQL only (SQLite has no connection to lose)")


@pytest.fixture
def queued(monkeypatch):
    """Tasks handed to django-q2, recorded instead of run inline (the test settings run tasks at once)."""
    calls = []
    monkeypatch.setattr(services, "async_task", lambda func, *args, **kwargs: calls.append((func, args)))
    return calls


def cut_own_connection() -> None:
    """What a lost database does to the calling thread's connection: the server ends it."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    except (DatabaseError, InterfaceError):
        pass


def elsewhere(work):
    """Run `work` in another thread, on its own connection: what another process sees meanwhile."""
    out = []

    def target():
        try:
            out.append(work())
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return out[0]


def heartbeat_of(pk: int) -> dt.datetime:
    return elsewhere(lambda: SyncRun.objects.get(pk=pk).heartbeat_at)


def wait_for_heartbeat(pk: int, moment: dt.datetime, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if heartbeat_of(pk) >= moment:
            return True
        time.sleep(0.02)
    return False


def running(flow) -> SyncRun:
    return SyncRun.objects.get(flow=flow, status=RunStatus.RUNNING)


def stale_run(flow, *, heartbeat_age: float) -> SyncRun:
    """A run that a live worker of this machine claimed, whose last heartbeat is `heartbeat_age` seconds old."""
    run, _ = run_request(flow=flow, enqueue=False)
    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, worker=worker_identity(), started_at=NOW,
                                             heartbeat_at=NOW - dt.timedelta(seconds=heartbeat_age))
    run.refresh_from_db()
    return run


# --- the connection is cut mid-run -------------------------------------------------------------------
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_database_connection_is_cut_ends_failed_and_its_recovery_run_books_every_invoice_once(
        flow, books, queued, settings):
    settings.HUB_SYNC_BATCH_SIZE = 10
    source, target = books
    add(source, *[invoice(f"i{n}") for n in range(1, 31)])
    cut = []

    def cut_while_the_second_batch_is_booked(entry):
        if entry.reference == f"{flow.pk}-i11" and not cut:
            cut.append(entry.reference)
            cut_own_connection()
        return None

    target.reject = cut_while_the_second_batch_is_booked
    run, _ = run_request(flow=flow, enqueue=False)
    execute_run(run.pk)

    run.refresh_from_db()
    assert cut and run.status == RunStatus.FAILED
    assert "lost its database connection during the run (20 document(s) seen; " in run.message
    assert run.message.endswith("a recovery run takes over.")
    recovery = SyncRun.objects.get(flow=flow, status=RunStatus.QUEUED)
    assert recovery.trigger == Trigger.RECOVERY
    assert queued == [(services.RUN_TASK, (recovery.pk,))]  # queued at once, not after a stale limit
    assert target.entry_count() == 20  # the second batch reached the target; the hub could not record it

    execute_run(recovery.pk)
    recovery.refresh_from_db()
    assert recovery.status == RunStatus.SUCCEEDED, recovery.message
    assert sorted(stored.entry.reference for stored in target.entries.values()) == sorted(
        f"{flow.pk}-i{n}" for n in range(1, 31))
    documents = SyncDocument.objects.filter(flow=flow)
    assert {d.status for d in documents} == {DocumentStatus.SYNCED} and documents.count() == 30
    assert {d.target_entry_id for d in documents} == set(target.entries)
    assert not SyncError.objects.filter(flow=flow).exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_run_that_lost_its_connection_stops_beating_and_the_next_run_request_recovers_it(
        flow, books, queued, monkeypatch):
    monkeypatch.setattr(services, "HEARTBEAT_SECONDS", 0.05)
    source, target = books
    add(source, invoice("i1"), invoice("i2"))
    seen = {}

    def lose_the_database_during_a_call(entry):
        if seen:
            return None
        run = running(flow)
        traveller.shift(1)
        seen["beating"] = wait_for_heartbeat(run.pk, NOW + dt.timedelta(seconds=1))  # alive: the timer beats
        cut_own_connection()
        traveller.shift(services.stale_after_seconds() + 1)
        time.sleep(0.3)  # six beats' time: none may land
        seen["heartbeat"] = heartbeat_of(run.pk)
        seen["request"] = elsewhere(lambda: run_request(flow=flow))  # someone asks for a run meanwhile
        return None

    target.reject = lose_the_database_during_a_call
    with time_machine.travel(NOW, tick=False) as traveller:
        run, _ = run_request(flow=flow, enqueue=False)
        execute_run(run.pk)

    assert seen["beating"] and seen["heartbeat"] == NOW + dt.timedelta(seconds=1)  # nothing after the cut
    new_run, created = seen["request"]
    assert created and new_run.trigger == Trigger.MANUAL and queued == [(services.RUN_TASK, (new_run.pk,))]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped" in run.message  # the request's recovery, not overwritten
    assert SyncRun.objects.filter(flow=flow).count() == 2  # no second recovery run from the worker
    execute_run(new_run.pk)
    assert target.entry_count() == 2 and len(target.entries) == 2


# --- a healthy run is never taken for dead ----------------------------------------------------------
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_healthy_run_inside_a_call_that_lasts_minutes_keeps_beating_and_is_not_recovered(
        flow, books, queued, monkeypatch):
    monkeypatch.setattr(services, "HEARTBEAT_SECONDS", 0.05)
    source, target = books
    add(source, invoice("i1"), invoice("i2"))
    checks = []

    def a_five_minute_call(entry):
        if checks:
            return None
        run = running(flow)
        for _ in range(15):
            traveller.shift(20)
            now = NOW + dt.timedelta(seconds=20 * (len(checks) + 1))
            checks.append((wait_for_heartbeat(run.pk, now), recover_stale_runs(), run_request(flow=flow)))
        return None

    target.reject = a_five_minute_call
    with time_machine.travel(NOW, tick=False) as traveller:
        run, _ = run_request(flow=flow, enqueue=False)
        execute_run(run.pk)

    assert len(checks) == 15
    for beaten, recovered, (answer, created) in checks:
        assert beaten and recovered == 0 and answer.pk == run.pk and not created
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and target.entry_count() == 2 and queued == []


@pytest.mark.django_db
def test_a_long_batch_beats_from_its_call_log_where_there_is_no_timer(flow, books, monkeypatch):
    monkeypatch.setattr(services, "_backend_pid", lambda: None)  # as on SQLite: no timer thread
    monkeypatch.setattr(services, "HEARTBEAT_SECONDS", 0.0)
    source, target = books
    invoices = [invoice(f"i{n}") for n in range(1, 11)]
    add(source, *invoices)
    seen = []

    def a_slow_listing():
        for item in invoices:
            traveller.shift(30)  # five minutes for the batch: longer than the stale limit many times over
            yield item

    def check(entry):
        if not seen:
            run = running(flow)
            seen.append((run.heartbeat_at, run_is_stale(run)))
        return None

    source.generator = a_slow_listing
    target.reject = check
    with time_machine.travel(NOW, tick=False) as traveller:
        run, _ = run_request(flow=flow, enqueue=False)
        execute_run(run.pk)

    # the attachment look-ups after the listing beat: the run is as young as the clock
    assert seen == [(NOW + dt.timedelta(seconds=300), False)]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and target.entry_count() == 10


# --- stale runs ------------------------------------------------------------------------------------
def test_the_default_stale_limit_leaves_room_for_missed_beats_and_recovers_within_a_minute():
    from integration_hub import settings as defaults

    assert 3 * services.HEARTBEAT_SECONDS <= defaults.HUB_RUN_STALE_AFTER <= 60 - 3 * services.HEARTBEAT_SECONDS


@pytest.mark.django_db
def test_the_next_run_request_recovers_a_run_whose_heartbeat_is_older_than_the_limit(flow):
    limit = services.stale_after_seconds()
    with time_machine.travel(NOW, tick=False):
        young = stale_run(flow, heartbeat_age=limit - 5)
        same, created = run_request(flow=flow, enqueue=False)
        assert same.pk == young.pk and not created

        SyncRun.objects.filter(pk=young.pk).update(heartbeat_at=NOW - dt.timedelta(seconds=limit + 1))
        fresh, created = run_request(flow=flow, enqueue=False)

    young.refresh_from_db()
    assert created and fresh.pk != young.pk and fresh.status == RunStatus.QUEUED
    assert young.status == RunStatus.FAILED and "stopped" in young.message


@pytest.mark.django_db
def test_housekeeping_recovers_a_run_past_the_limit_and_leaves_a_younger_one_alone(flow, tenant_a, books):
    other = make_flow(tenant_a, name="a second flow")
    limit = services.stale_after_seconds()
    with time_machine.travel(NOW, tick=False):
        dead = stale_run(flow, heartbeat_age=limit + 1)
        alive = stale_run(other, heartbeat_age=limit - 5)
        assert recover_stale_runs() == 1

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == RunStatus.FAILED and alive.status == RunStatus.RUNNING
    assert SyncRun.objects.get(flow=flow, status=RunStatus.QUEUED).trigger == Trigger.RECOVERY
    assert not SyncRun.objects.filter(flow=other, status=RunStatus.QUEUED).exists()


@pytest.mark.django_db
def test_housekeeping_runs_every_minute_and_corrects_a_schedule_left_at_five_minutes():
    Schedule.objects.create(name="recover-stale-runs", func="syncs.tasks.recover_stale",
                            schedule_type=Schedule.MINUTES, minutes=5, repeats=-1,
                            next_run=NOW + dt.timedelta(minutes=5))
    with time_machine.travel(NOW, tick=False):
        tasks.recover_stale()
    schedule = Schedule.objects.get(name="recover-stale-runs")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 1)
    assert schedule.next_run <= NOW + dt.timedelta(minutes=1)
