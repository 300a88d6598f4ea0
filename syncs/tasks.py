"""django-q2 task entry points. They take ids and are safe to run twice (delivery is at least once)."""
from __future__ import annotations

from mappings.models import Flow
from syncs import services
from syncs.models import Trigger


def execute_run(run_id: int) -> str:
    run = services.execute_run(run_id)
    return f"run {run_id}: {run.status if run else 'not queued (already handled)'}"


def scheduled_run(flow_id: int, trigger: str = Trigger.SCHEDULE) -> str:
    flow = Flow.objects.filter(pk=flow_id, enabled=True).select_related("tenant", "source", "target").first()
    if flow is None or not flow.tenant.active:
        return f"flow {flow_id}: disabled, nothing to do"
    waiting = services.waiting_for_reauthorisation(flow)
    if waiting is not None:
        return f"flow {flow_id}: paused until “{waiting.name}” is connected again"
    run, created = services.run_request(flow=flow, trigger=trigger, enqueue=False)
    if not created:
        return f"flow {flow_id}: run {run.pk} is already {run.status}"
    services.execute_run(run.pk)
    run.refresh_from_db()
    return f"flow {flow_id}: run {run.pk} {run.status}"


def recover_stale() -> str:
    services.ensure_housekeeping_schedule()  # a schedule made by an older version (every 5 minutes) runs every minute
    return f"{services.recover_stale_runs()} stale run(s) recovered"
