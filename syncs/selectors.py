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


def access_document(user, tenant: Tenant, document_id) -> SyncDocument:
    if not tenants_for_user(user).filter(pk=tenant.pk).exists():
        raise Http404("No such document.")
    try:
        return SyncDocument.objects.select_related("flow", "flow__source", "flow__target").get(pk=document_id,
                                                                                               tenant=tenant)
    except (SyncDocument.DoesNotExist, ValueError, TypeError):
        raise Http404("No such document.") from None


def run_progress(run: SyncRun) -> dict:
    """What a run's pages poll to show its progress live."""
    return {"status": run.status, "status_display": run.get_status_display(), "active": run_is_active(run),
            "seen": run.seen_count, "total": run.total_count, "synced": run.synced_count, "errors": run.error_count,
            "waiting": run.waiting_count, "skipped": run.skipped_count, "external_calls": run.external_calls,
            "message": run.message}


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


def document_links(document: SyncDocument) -> dict[str, str]:
    """Links to the invoice in the source and the entry in the target, where the provider has them."""
    from integration_hub import crypto
    from integration_hub.connectors import registry

    flow = document.flow
    links = {}
    for side, connection, kind, record_id in (("source", flow.source, "invoice", document.source_id),
                                              ("target", flow.target, "entry", document.target_entry_id)):
        if connection is None or not record_id:
            continue
        try:
            url = connection.descriptor.connector_class().record_url(connection.get_credentials(), kind, record_id)
        except (crypto.UndecryptableSecret, registry.NotRegistered):
            continue
        if url:
            links[side] = url
    return links


def dashboard(tenant: Tenant, *, days: int = 30) -> dict:
    """The tenant's dashboard in a constant number of queries, whatever the history's size."""
    import datetime as dt

    from django.db.models import Sum
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    today = timezone.localdate()
    since = today - dt.timedelta(days=days - 1)
    start = timezone.make_aware(dt.datetime.combine(since, dt.time.min))
    per_day = dict(SyncRun.objects.filter(tenant=tenant, created_at__gte=start)
                   .annotate(day=TruncDate("created_at")).values("day")
                   .annotate(n=Sum("synced_count")).values_list("day", "n"))
    series = [{"day": since + dt.timedelta(days=i), "n": per_day.get(since + dt.timedelta(days=i)) or 0}
              for i in range(days)]
    last_runs = list(SyncRun.objects.filter(tenant=tenant).select_related("flow").defer("call_log")
                     .order_by("-created_at", "-id")[:10])
    counters = tenant_counters(tenant)
    return {"series": series, "total_30d": sum(p["n"] for p in series), "last_runs": last_runs, **counters}
