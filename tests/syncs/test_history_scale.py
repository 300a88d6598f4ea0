"""Run history and dashboard stay fast: a constant number of queries however long the history."""
from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from syncs.models import DocumentOutcome, SyncDocument, SyncError, SyncRun
from tenants.models import Role
from tenants.services import membership_set

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
STAFF_PERMS = ("syncs.view_syncrun", "syncs.view_syncerror", "syncs.view_syncdocument", "syncs.change_syncerror")


def grow_history(flow, runs: int, errors: int) -> None:
    now = timezone.now()
    start = SyncRun.objects.count()
    SyncRun.objects.bulk_create([
        SyncRun(tenant_id=flow.tenant_id, flow=flow, trigger="schedule", status="succeeded", synced_count=n % 7,
                seen_count=n % 9, started_at=now, finished_at=now, call_log=[{"method": "POST", "path": "/x"}] * 3)
        for n in range(runs)])
    run = SyncRun.objects.filter(flow=flow).order_by("-id").first()
    base = SyncDocument.objects.count()
    docs = SyncDocument.objects.bulk_create([
        SyncDocument(tenant_id=flow.tenant_id, flow=flow, source_id=f"s{base + n}", reference=f"r{base + n}",
                     source_number=f"F-{base + n}", partner_name=f"Client {n}", status="error")
        for n in range(errors)])
    SyncError.objects.bulk_create([SyncError(tenant_id=flow.tenant_id, flow=flow, document=d, run=run,
                                             code="ERROR_SYNC_INVOICE_PDF", message="x") for d in docs])
    DocumentOutcome.objects.bulk_create([DocumentOutcome(run=run, document=d, status="error") for d in docs])
    assert SyncRun.objects.count() == start + runs


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.fixture
def staff(make_user, tenant_a):
    user = make_user("support_staff", staff=True, perms=STAFF_PERMS)
    membership_set(tenant=tenant_a, user=user, role=Role.ACCOUNTANT)
    return user


@pytest.mark.parametrize("page", ["admin:syncs_syncrun_changelist", "admin:syncs_syncerror_changelist",
                                  "admin:syncs_syncdocument_changelist"])
def test_admin_lists_use_the_same_number_of_queries_for_ten_or_a_hundred_rows(page, client, staff, flow):
    client.force_login(staff)
    grow_history(flow, runs=10, errors=10)
    small = queries_for(client, reverse(page))
    grow_history(flow, runs=90, errors=90)
    large = queries_for(client, reverse(page))
    assert small == large, (small, large)
    assert large <= 12


def test_the_dashboard_uses_the_same_number_of_queries_however_long_the_history(client, owner_a, flow):
    client.force_login(owner_a)
    url = reverse("tenant_dashboard", args=[flow.tenant.slug])
    grow_history(flow, runs=5, errors=5)
    small = queries_for(client, url)
    grow_history(flow, runs=200, errors=50)
    large = queries_for(client, url)
    assert small == large, (small, large)


def test_the_dashboard_charts_documents_synced_per_day_and_counts_errors_by_code(client, owner_a, flow):
    today = timezone.now()
    for days_ago, synced in ((0, 12), (0, 3), (2, 7), (40, 99)):
        run = SyncRun.objects.create(tenant_id=flow.tenant_id, flow=flow, status="succeeded", synced_count=synced)
        SyncRun.objects.filter(pk=run.pk).update(created_at=today - dt.timedelta(days=days_ago))
    grow_history(flow, runs=0, errors=4)
    client.force_login(owner_a)
    page = client.get(reverse("tenant_dashboard", args=[flow.tenant.slug])).content.decode()
    assert "(last 30 days): 22" in page  # 12 + 3 today, 7 two days ago; 40 days ago is out
    assert 'data-n="15"' in page and 'data-n="7"' in page and 'data-n="99"' not in page
    assert "Invoice file missing or unreadable" in page and ">4<" in page


def test_the_dashboard_and_run_progress_of_tenant_a_are_404_for_tenant_b(client, owner_b, flow):
    run = SyncRun.objects.create(tenant_id=flow.tenant_id, flow=flow, status="running")
    client.force_login(owner_b)
    assert client.get(reverse("tenant_dashboard", args=[flow.tenant.slug])).status_code == 404
    assert client.get(reverse("admin:syncs_syncrun_progress", args=[run.pk])).status_code in (302, 404)


def test_a_running_run_reports_live_progress_in_the_admin(client, staff, flow):
    run = SyncRun.objects.create(tenant_id=flow.tenant_id, flow=flow, status="running", seen_count=40,
                                 total_count=120, synced_count=38, error_count=2)
    client.force_login(staff)
    page = client.get(reverse("admin:syncs_syncrun_change", args=[run.pk])).content.decode()
    assert 'id="run-live"' in page and 'data-active="1"' in page
    data = client.get(reverse("admin:syncs_syncrun_progress", args=[run.pk])).json()
    assert (data["seen"], data["total"], data["synced"], data["errors"], data["active"]) == (40, 120, 38, 2, True)
    SyncRun.objects.filter(pk=run.pk).update(seen_count=120, synced_count=117, status="partial")
    data = client.get(reverse("admin:syncs_syncrun_progress", args=[run.pk])).json()
    assert (data["seen"], data["active"]) == (120, False)


def test_tryton_records_link_to_its_web_client():
    from integration_hub.connectors.tryton.connector import TrytonConnector

    creds = {"url": "https://erp.example.com/", "database": "books"}
    assert TrytonConnector.record_url(creds, "entry", "42") == "https://erp.example.com/#books/model/account.move/42"
    assert TrytonConnector.record_url(creds, "invoice", "7").endswith("/model/account.invoice/7")
    assert TrytonConnector.record_url(creds, "entry", "") is None
