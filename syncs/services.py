"""Starting, running, recovering runs; activating flows; resolving errors."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.utils import DatabaseError, InterfaceError
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from integration_hub.connectors.budget import BudgetExhausted
from integration_hub.connectors.errors import AuthenticationError, ConnectorError, RateLimited
from mappings.models import Flow, FlowKind
from mappings.services import flow_check_ready
from syncs.engine import Engine, RunAborted, connection_failed, worker_identity
from syncs import overlap
from syncs.documents import DocumentEngine
from syncs.masterdata import MasterDataEngine
from syncs.models import (
    ACTIVE_RUN_STATUSES,
    DocumentStatus,
    ErrorStatus,
    RunStatus,
    SyncDocument,
    SyncError,
    SyncRun,
    Trigger,
)
from tenants.models import ConnectionStatus

logger = logging.getLogger(__name__)

RUN_TASK = "syncs.tasks.execute_run"
# A live run beats at least this often (seconds); HUB_RUN_STALE_AFTER must leave room for a few missed beats.
HEARTBEAT_SECONDS = 10.0
# A queued run waiting this many times HUB_RUN_STALE_AFTER (10 minutes by default) is queued again: its task may
# have been lost with the broker. Not sooner: runs waiting behind busy workers would pile up copies of their task.
QUEUED_LOST_FACTOR = 20
HOUSEKEEPING_MINUTES = 1
DATABASE_ERRORS = (DatabaseError, InterfaceError)
STALE_AFTER_SECONDS: int | None = None  # None: the HUB_RUN_STALE_AFTER setting (tests may set a number)


def stale_after_seconds() -> int:
    """Seconds without a heartbeat after which a running run counts as dead (HUB_RUN_STALE_AFTER)."""
    if STALE_AFTER_SECONDS is not None:
        return STALE_AFTER_SECONDS
    value = int(getattr(settings, "HUB_RUN_STALE_AFTER", 30))
    if connection.vendor != "postgresql":
        # No heartbeat timer there (see _Pulse): the run beats only between calls, and a run pausing for an outage
        # (up to 30 s) or a rate limit (up to 2 minutes) must not look dead. A connection to a file cannot be cut,
        # and a dead worker on this host is noticed at once by its process id.
        value = max(value, 180)
    return value


# --- requesting runs ----------------------------------------------------------------------------
def active_run(flow: Flow) -> SyncRun | None:
    return SyncRun.objects.filter(flow=flow, status__in=ACTIVE_RUN_STATUSES).first()


def run_request(*, flow: Flow, trigger: str = Trigger.MANUAL, user=None, document_ids: list[int] | None = None,
                enqueue: bool = True) -> tuple[SyncRun, bool]:
    """Queue a run of the flow. Returns (run, created); an active run is returned instead of a second one."""
    current = active_run(flow)
    if current is not None and run_is_stale(current):
        recover_run(current, requeue=False)
        current = None
    if current is not None:
        return current, False
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(tenant_id=flow.tenant_id, flow=flow, trigger=trigger,
                                         requested_by=user if user and user.is_authenticated else None,
                                         document_ids=list(document_ids or []), cursor_before=flow.cursor)
    except IntegrityError:  # another request won the race: one active run per flow
        return active_run(flow), False
    if enqueue:
        transaction.on_commit(lambda: async_task(RUN_TASK, run.pk, task_name=f"run-{run.pk}",
                                                 group=f"flow-{flow.pk}"))
    return run, True


def retry_documents(*, documents: list[SyncDocument], user=None) -> tuple[SyncRun | None, bool]:
    """Queue a retry run for these documents of one flow."""
    if not documents:
        return None, False
    flow = documents[0].flow
    return run_request(flow=flow, trigger=Trigger.RETRY, user=user, document_ids=[d.pk for d in documents])


def confirm_not_duplicates(*, errors, user) -> list[tuple[SyncRun | None, bool]]:
    """A person says these invoices are not duplicates: they are booked at once (one retry run per flow)."""
    from syncs import catalogue

    chosen = list(errors.filter(status=ErrorStatus.OPEN, code=catalogue.DUPLICATE_NUMBER).select_related(
        "document", "document__flow"))
    if not chosen:
        return []
    SyncDocument.objects.filter(pk__in=[e.document_id for e in chosen]).update(duplicate_confirmed=True)
    error_set_status(errors=SyncError.objects.filter(pk__in=[e.pk for e in chosen]), status=ErrorStatus.RESOLVED,
                     user=user, note="Confirmed: not a duplicate, to be booked.")
    by_flow: dict[int, list[SyncDocument]] = {}
    for error in chosen:
        by_flow.setdefault(error.flow_id, []).append(error.document)
    return [retry_documents(documents=docs, user=user) for docs in by_flow.values()]


def retry_open_errors(*, flow: Flow, user=None) -> tuple[SyncRun | None, bool]:
    ids = list(SyncError.objects.filter(flow=flow, status=ErrorStatus.OPEN).values_list("document_id", flat=True))
    if not ids:
        return None, False
    return run_request(flow=flow, trigger=Trigger.RETRY, user=user, document_ids=ids)


# --- executing runs -----------------------------------------------------------------------------
def claim_run(run_id: int) -> SyncRun | None:
    """Move a queued run to running for this process; None when it is not (or no longer) queued."""
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker_identity())
    if not claimed:
        return None
    return SyncRun.objects.select_related("flow", "flow__tenant", "flow__source", "flow__target").get(pk=run_id)


def execute_run(run_id: int, *, progress=None, since=None) -> SyncRun | None:
    """Run a queued run to its end. Idempotent: a run that is not queued is left alone.

    A run never stays `running` because this process lost its database connection: it reconnects,
    ends the run as failed and queues a recovery run at once. If the database stays out of reach, the
    run's heartbeat stops (it needs the run's own connection) and the run is recovered once stale."""
    run = SyncRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    if run.status == RunStatus.RUNNING and run_is_stale(run):
        recover_run(run)
        return None
    run = claim_run(run_id)
    if run is None:
        return None
    pulse = _Pulse(run)
    try:
        return _execute_claimed(run, pulse, progress=progress, since=since)
    except DATABASE_ERRORS as exc:
        pulse.stop()
        return _database_lost(run, pulse.engine, exc)
    finally:
        pulse.stop()


def _execute_claimed(run: SyncRun, pulse: "_Pulse", *, progress, since) -> SyncRun:
    flow = run.flow
    engine = None
    status, message = RunStatus.SUCCEEDED, ""
    waiting = waiting_for_reauthorisation(flow)
    if waiting is not None:
        finish_run(run, None, RunStatus.FAILED,
                   f"“{waiting.name}” needs to be connected again by an owner; nothing was attempted.")
        return run
    try:
        engine_class = {FlowKind.MASTER_DATA: MasterDataEngine, FlowKind.DOCUMENTS: DocumentEngine}.get(
            flow.kind, Engine)
        engine = engine_class(flow, run=run, progress=progress)
        pulse.attach(engine)
        engine.execute(document_ids=run.document_ids or None, since=since)
    except DATABASE_ERRORS:
        raise  # handled by execute_run: reconnect, fail the run, queue a recovery run
    except BudgetExhausted as exc:
        # Not a failure: the organisation's calls are spent until resume_at; what was done is kept, a run goes on.
        side = getattr(exc, "side", "target")
        connection = flow.source if side == "source" else flow.target
        status = RunStatus.PAUSED
        message = (f"Paused: the call budget of “{connection.name}” is spent ({exc.problem or 'limit'} limit); "
                   f"the flow resumes at {exc.resume_at:%Y-%m-%d %H:%M:%S} UTC. Nothing failed.")
        SyncRun.objects.filter(pk=run.pk).update(resume_at=exc.resume_at)
        _retry_later(flow, (exc.resume_at - timezone.now()).total_seconds() + 1)
    except RateLimited as exc:
        status, message = RunStatus.FAILED, f"{exc}. The run will be retried."
        _retry_later(flow, exc.retry_after or 60)
    except AuthenticationError as exc:
        side = getattr(exc, "side", "target")
        connection = flow.source if side == "source" else flow.target
        connection_failed(connection, exc)
        status = RunStatus.FAILED
        message = (f"The {side} “{connection.name}” refused the hub's credentials ({exc}). "
                   "An owner must connect it again; runs stop until then.")
    except (RunAborted, ConnectorError) as exc:
        status, message = RunStatus.FAILED, str(exc)
    except Exception as exc:  # noqa: BLE001 - a run must always end with a status, never stay "running"
        logger.exception("run %s crashed", run.pk)
        status, message = RunStatus.FAILED, f"Unexpected error: {type(exc).__name__}: {exc}"
    pulse.stop()
    finish_run(run, engine, status, message)
    return run


def _connection_usable() -> bool:
    try:
        return connection.connection is not None and connection.is_usable()
    except Exception:  # noqa: BLE001 - a broken driver object is as unusable as a closed one
        return False


def _database_lost(run: SyncRun, engine, exc: Exception) -> SyncRun:
    """A database error ended the run: finish it as failed and, if the connection was lost, queue a recovery run."""
    if _connection_usable():  # an error in a query, not a lost connection (a bug): fail the run as any crash
        logger.error("run %s crashed on a database error", run.pk, exc_info=exc)
        finish_run(run, engine, RunStatus.FAILED, f"Unexpected error: {type(exc).__name__}: {exc}")
        return run
    if connection.in_atomic_block:  # inside a transaction opened by the caller: it cannot reconnect here
        raise exc
    logger.warning("run %s lost its database connection: %s", run.pk, exc)
    _reconnect(exc)
    seen = f"{engine.counts.seen} document(s) seen; " if engine is not None else ""
    reason = (str(exc).strip().splitlines() or ["no detail"])[0][:200]
    message = (f"The worker ({run.worker}) lost its database connection during the run "
               f"({seen}{type(exc).__name__}: {reason}); a recovery run takes over.")
    finish_run(run, engine, RunStatus.FAILED, message)
    if run.status == RunStatus.FAILED and run.message == message[:4000]:  # this process ended it: hand over now
        run_request(flow=run.flow, trigger=Trigger.RECOVERY)
    return run


def _reconnect(original: Exception, attempts: int = 3) -> None:
    """Drop the broken connection and open a new one; re-raise `original` if the database stays out of reach."""
    for attempt in range(attempts):
        connection.close()
        try:
            connection.ensure_connection()
            return
        except DATABASE_ERRORS:
            if attempt == attempts - 1:
                connection.close()
                logger.error("the database stays out of reach; the run is recovered once its heartbeat is "
                             "%s s old", stale_after_seconds())
                raise original from None
            time.sleep(1 + attempt)


def _backend_pid() -> int | None:
    """The PostgreSQL server process of this thread's connection (None on other databases)."""
    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    raw = connection.connection
    info = getattr(raw, "info", None)  # psycopg 3
    return info.backend_pid if info is not None else raw.get_backend_pid()


class _Pulse:
    """Keeps a live run's heartbeat young, never a dead one's.

    On PostgreSQL a timer thread beats every HEARTBEAT_SECONDS, even through a long call or a pause
    before a retry, but only while the run's own connection (its server process) is alive: a run that
    lost its connection stops beating and is recovered once stale. In every case the run's own thread
    also beats from its call log (at most every HEARTBEAT_SECONDS), outside the engine's transactions."""

    def __init__(self, run: SyncRun) -> None:
        self.run = run
        self.engine = None
        self._owner = threading.get_ident()
        self._depth = len(connection.atomic_blocks)  # transactions open around the run (a test's), not the engine's
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = None
        pid = _backend_pid()
        if pid is not None:
            self._thread = threading.Thread(target=self._beat_while_alive, args=(pid,), daemon=True,
                                            name=f"run-{run.pk}-heartbeat")
            self._thread.start()

    def attach(self, engine) -> None:
        """Beat from the engine's call log too (every external call is a chance to say the run is alive)."""
        self.engine = engine
        log = getattr(engine, "call_log", None)
        if log is None:
            return
        add = log.add

        def add_and_beat(record) -> None:
            add(record)
            self._beat_here()

        log.add = add_and_beat

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _beat_here(self) -> None:
        if (self._stop.is_set() or threading.get_ident() != self._owner
                or len(connection.atomic_blocks) > self._depth or time.monotonic() - self._last < HEARTBEAT_SECONDS):
            return
        self._last = time.monotonic()
        try:
            if hasattr(self.engine, "_heartbeat"):
                self.engine._heartbeat()
            else:
                SyncRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING, worker=self.run.worker).update(
                    heartbeat_at=timezone.now())
        except DATABASE_ERRORS:  # the run's next query meets the same error and ends the run
            logger.debug("run %s: heartbeat failed", self.run.pk, exc_info=True)

    def _beat_while_alive(self, pid: int) -> None:
        try:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                try:
                    beaten = (SyncRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING, worker=self.run.worker)
                              .extra(where=["EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)"], params=[pid])
                              .update(heartbeat_at=timezone.now()))
                except DATABASE_ERRORS:  # out of reach from here too: no heartbeat, try again later
                    logger.debug("run %s: heartbeat failed", self.run.pk, exc_info=True)
                    connection.close()
                    continue
                if not beaten:  # the run's connection is gone, or the run is no longer ours
                    return
        finally:
            connection.close()  # this thread's own connection


def waiting_for_reauthorisation(flow: Flow):
    """The flow's connection that lost its authorisation, if any: runs wait for a person, not retry."""
    for connection in (flow.source, flow.target):
        if connection is not None and connection.status == ConnectionStatus.NEEDS_REAUTH:
            return connection
    return None


UNFINISHED = (RunStatus.FAILED, RunStatus.PAUSED)  # the flow's cursor stays where it was


def finish_run(run: SyncRun, engine: Engine | None, status: str, message: str) -> None:
    counts = engine.counts if engine else None
    if status == RunStatus.SUCCEEDED and counts and counts.errors:
        status = RunStatus.PARTIAL
    now = timezone.now()
    with transaction.atomic():
        updates = {"status": status, "finished_at": now, "heartbeat_at": now, "message": message[:4000]}
        if engine is not None:
            updates.update(
                seen_count=counts.seen, total_count=engine.total, synced_count=counts.synced,
                error_count=counts.errors, waiting_count=counts.waiting, skipped_count=counts.skipped,
                external_calls=len(engine.call_log), call_log=engine.call_log.as_list(),
                cursor_after=engine.cursor_after if status not in UNFINISHED else None,
            )
        # Only the process that owns the run may finish it (a recovered run stays as recovery left it).
        finished = SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, worker=run.worker).update(**updates)
        if finished and engine is not None and engine.cursor_after and status not in UNFINISHED:
            Flow.objects.filter(pk=run.flow_id).update(cursor=engine.cursor_after)
        if finished and status != RunStatus.FAILED:
            for connection in (run.flow.source, run.flow.target):
                if connection.status != ConnectionStatus.CONNECTED:
                    type(connection).objects.filter(pk=connection.pk).update(
                        status=ConnectionStatus.CONNECTED, status_message="", last_checked_at=now)
    run.refresh_from_db()


def _retry_later(flow: Flow, seconds: float) -> None:
    Schedule.objects.create(
        name=f"retry-flow-{flow.pk}-{timezone.now().timestamp():.0f}", func="syncs.tasks.scheduled_run",
        args=f"{flow.pk},'retry'", schedule_type=Schedule.ONCE, repeats=1,
        next_run=timezone.now() + timezone.timedelta(seconds=max(5, seconds)))


# --- stale runs -----------------------------------------------------------------------------------
def _process_alive(worker: str) -> bool | None:
    """True/False when the worker ran on this host (so we can tell), None otherwise."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped) still answers kill(0): look at its state.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def run_is_stale(run: SyncRun) -> bool:
    if run.status != RunStatus.RUNNING:
        return False
    alive = _process_alive(run.worker)
    if alive is False:
        return True
    last = run.heartbeat_at or run.started_at or run.created_at
    return (timezone.now() - last).total_seconds() > stale_after_seconds()


def recover_run(run: SyncRun, *, requeue: bool = True) -> SyncRun | None:
    """Fail a run whose worker died and (by default) queue a recovery run that picks up after it."""
    updated = SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, worker=run.worker).update(
        status=RunStatus.FAILED, finished_at=timezone.now(),
        message=f"The worker running this run ({run.worker}) stopped; a recovery run takes over.")
    if not updated or not requeue:
        return None
    new_run, _ = run_request(flow=run.flow, trigger=Trigger.RECOVERY)
    return new_run


def recover_stale_runs() -> int:
    recovered = 0
    for run in SyncRun.objects.filter(status=RunStatus.RUNNING).select_related("flow"):
        if run_is_stale(run):
            recover_run(run)
            recovered += 1
    # Queued runs whose task was lost (broker purged): enqueue them again; execute_run is idempotent.
    old = timezone.now() - timezone.timedelta(seconds=QUEUED_LOST_FACTOR * stale_after_seconds())
    for run in SyncRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=old):
        async_task(RUN_TASK, run.pk, task_name=f"run-{run.pk}-again")
    return recovered


# --- flows: activation and schedules -----------------------------------------------------------------
def schedule_name(flow: Flow) -> str:
    return f"flow-{flow.pk}"


def schedule_minutes(flow: Flow) -> int:
    """A document flow is scheduled every minute: each run follows the ERP for a few minutes (DocumentEngine) and
    the schedule starts the next one as it ends (docs/document-flows.md, "Latency"); a fire while a run follows
    finds it active and does nothing. Other flows run on their own schedule."""
    return 1 if flow.kind == FlowKind.DOCUMENTS else flow.schedule_minutes


@transaction.atomic
def flow_activate(*, flow: Flow, start_first_run: bool = True, user=None) -> SyncRun | None:
    """Enable the flow (refused with FlowNotReady naming what is missing, or with its subclass FlowOverlaps
    naming the enabled flow that already books the same invoices into the same accounting company), schedule it,
    start a run."""
    flow_check_ready(flow)
    overlap.check_no_overlap(flow)
    Flow.objects.filter(pk=flow.pk).update(enabled=True)
    flow.enabled = True
    minutes = schedule_minutes(flow)
    Schedule.objects.update_or_create(
        name=schedule_name(flow),
        defaults={"func": "syncs.tasks.scheduled_run", "args": f"{flow.pk}", "schedule_type": Schedule.MINUTES,
                  "minutes": minutes, "repeats": -1,
                  "next_run": timezone.now() + timezone.timedelta(minutes=minutes)})
    ensure_housekeeping_schedule()
    if start_first_run:
        run, _ = run_request(flow=flow, trigger=Trigger.ACTIVATION, user=user)
        return run
    return None


@transaction.atomic
def flow_deactivate(*, flow: Flow) -> None:
    Flow.objects.filter(pk=flow.pk).update(enabled=False)
    flow.enabled = False
    Schedule.objects.filter(name=schedule_name(flow)).delete()


def ensure_housekeeping_schedule() -> None:
    """The schedule that recovers stale runs, every minute (a schedule left from older versions is brought in line)."""
    schedule, created = Schedule.objects.get_or_create(
        name="recover-stale-runs",
        defaults={"func": "syncs.tasks.recover_stale", "schedule_type": Schedule.MINUTES,
                  "minutes": HOUSEKEEPING_MINUTES, "repeats": -1})
    if not created and (schedule.schedule_type != Schedule.MINUTES or schedule.minutes != HOUSEKEEPING_MINUTES):
        soon = timezone.now() + timezone.timedelta(minutes=HOUSEKEEPING_MINUTES)
        Schedule.objects.filter(pk=schedule.pk).update(schedule_type=Schedule.MINUTES, minutes=HOUSEKEEPING_MINUTES,
                                                       repeats=-1)
        Schedule.objects.filter(pk=schedule.pk, next_run__gt=soon).update(next_run=soon)


# --- errors ---------------------------------------------------------------------------------------
@transaction.atomic
def error_set_status(*, errors, status: str, user, note: str = "") -> int:
    """Mark open errors resolved or ignored, keeping who and when. Ignored documents stop retrying."""
    now = timezone.now()
    chosen = list(errors.filter(status=ErrorStatus.OPEN).values_list("pk", "document_id"))
    ids = [pk for pk, _ in chosen]
    SyncError.objects.filter(pk__in=ids).update(status=status, resolved_by=user, resolved_at=now,
                                                resolution_note=note[:2000])
    document_ids = [doc for _, doc in chosen]
    if status == ErrorStatus.IGNORED:
        SyncDocument.objects.filter(pk__in=document_ids).update(status=DocumentStatus.SKIPPED, updated_at=now)
    else:
        # Resolved by hand: a document that has an entry counts as synced; one without is retried.
        SyncDocument.objects.filter(pk__in=document_ids).exclude(target_entry_id="").update(
            status=DocumentStatus.SYNCED, updated_at=now)
    return len(ids)
