"""Reads for flows, runs, documents and errors, scoped by tenant."""
from __future__ import annotations

from django.db.models import Count, Q
from django.http import Http404

from mappings.models import Flow
from syncs.models import ACTIVE_RUN_STATUSES, DocumentStatus, ErrorStatus, SyncDocument, SyncError, SyncRun
from tenants.models import Tenant
from tenants.selectors import tenants_for_user


def flows_for_tenant(tenant: Tenant):
    return (Flow.objects.filter(tenant=tenant).select_related("source", "target")
            .annotate(open_errors=Count("sync_errors", filter=Q(sync_errors__status=ErrorStatus.OPEN), distinct=True))
            .order_by("name"))


def access_flow(user, tenant: Tenant, flow_id) -> Flow:
    if not tenants_for_user(user).filter(pk=tenant.pk).exists():
        raise Http404("No such flow.")
    try:
        return Flow.objects.select_related("tenant", "source", "target").get(pk=flow_id, tenant=tenant)
    except (Flow.DoesNotExist, ValueError, TypeError):
        raise Http404("No such flow.") from None


def access_run(user, tenant: Tenant, run_id) -> SyncRun:
    if not tenants_for_user(user).filter(pk=tenant.pk).exists():
        raise Http404("No such run.")
    try:
        return SyncRun.objects.select_related("flow").get(pk=run_id, tenant=tenant)
    except (SyncRun.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.") from None


def latest_runs(flows) -> dict[int, SyncRun]:
    """The most recent run of each flow, in one query per call."""
    latest = {}
    ids = [f.pk for f in flows]
    for run in SyncRun.objects.filter(flow_id__in=ids).order_by("flow_id", "-created_at", "-id").defer("call_log"):
        latest.setdefault(run.flow_id, run)
    return latest


def tenant_counters(tenant: Tenant) -> dict:
    errors_by_code = list(SyncError.objects.filter(tenant=tenant, status=ErrorStatus.OPEN)
                          .values("code").annotate(n=Count("id")).order_by("-n", "code"))
    waiting = SyncDocument.objects.filter(tenant=tenant, status=DocumentStatus.WAITING).count()
    return {"errors_by_code": errors_by_code, "waiting": waiting,
            "open_errors": sum(row["n"] for row in errors_by_code)}


def run_is_active(run: SyncRun) -> bool:
    return run.status in ACTIVE_RUN_STATUSES
