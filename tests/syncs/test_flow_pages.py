"""The flow, run and document pages a tenant's people use, and their isolation."""
from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.models import Schedule

from mappings.models import Flow
from syncs.models import SyncDocument, SyncRun
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import add, invoice, line

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_the_tenant_home_lists_flows_with_their_last_run_and_error_counters(client, owner_a, flow, books, sync):
    source, _ = books
    add(source, invoice("i1"), invoice("i2", lines=[line(rate=None)]))
    run = sync(flow)
    client.force_login(owner_a)
    page = client.get(reverse("tenant_home", args=[flow.tenant.slug])).content.decode()
    assert flow.name in page
    assert "Partial" in page
    assert "1 open error" in page and "Invoice line without tax" in page


def test_sync_now_queues_one_run_and_a_second_click_reuses_it(client, owner_a, flow):
    client.force_login(owner_a)
    url = reverse("flow_sync_now", args=[flow.tenant.slug, flow.pk])
    first = client.post(url)
    second = client.post(url, follow=True)
    assert SyncRun.objects.filter(flow=flow).count() == 1
    assert first.status_code == 302
    assert b"is already" in second.content


def test_a_viewer_cannot_start_a_run(client, make_user, flow):
    viewer = make_user("v")
    membership_set(tenant=flow.tenant, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    assert client.post(reverse("flow_sync_now", args=[flow.tenant.slug, flow.pk])).status_code == 403
    assert client.get(reverse("flow_detail", args=[flow.tenant.slug, flow.pk])).status_code == 200


def test_activating_a_flow_with_a_missing_mapping_says_which_and_stays_off(client, owner_a, flow):
    flow.default_purchase_account = ""
    flow.save()
    client.force_login(owner_a)
    response = client.post(reverse("flow_activate", args=[flow.tenant.slug, flow.pk]), follow=True)
    flow.refresh_from_db()
    assert not flow.enabled
    assert b"The default purchase account is not set." in response.content
    assert not Schedule.objects.filter(name=f"flow-{flow.pk}").exists()


def test_activating_a_ready_flow_schedules_it_and_queues_a_first_run(client, owner_a, flow):
    client.force_login(owner_a)
    response = client.post(reverse("flow_activate", args=[flow.tenant.slug, flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled
    schedule = Schedule.objects.get(name=f"flow-{flow.pk}")
    assert (schedule.func, schedule.minutes) == ("syncs.tasks.scheduled_run", flow.schedule_minutes)
    run = SyncRun.objects.get(flow=flow)
    assert response["Location"] == reverse("run_detail", args=[flow.tenant.slug, run.pk])
    client.post(reverse("flow_deactivate", args=[flow.tenant.slug, flow.pk]))
    assert not Schedule.objects.filter(name=f"flow-{flow.pk}").exists()


def test_run_progress_answers_with_live_counts(client, owner_a, flow, books, sync):
    source, _ = books
    add(source, invoice("i1"))
    run = sync(flow)
    client.force_login(owner_a)
    data = client.get(reverse("run_progress", args=[flow.tenant.slug, run.pk])).json()
    assert data["status"] == "succeeded" and data["seen"] == 1 and data["synced"] == 1 and not data["active"]


def test_flow_run_and_document_pages_of_tenant_a_are_404_for_tenant_b(client, owner_b, flow, books, sync):
    source, _ = books
    add(source, invoice("i1"))
    run = sync(flow)
    doc = SyncDocument.objects.get(flow=flow)
    client.force_login(owner_b)
    slug_a = flow.tenant.slug
    for method, name, pk in [("get", "flow_detail", flow.pk), ("post", "flow_sync_now", flow.pk),
                             ("post", "flow_retry_errors", flow.pk), ("post", "flow_activate", flow.pk),
                             ("post", "flow_deactivate", flow.pk), ("get", "run_detail", run.pk),
                             ("get", "run_progress", run.pk), ("get", "document_detail", doc.pk),
                             ("post", "document_retry", doc.pk), ("get", "tenant_dashboard", None)]:
        if pk is None:
            assert getattr(client, method)(reverse(name, args=[slug_a])).status_code == 404, name
            continue
        assert getattr(client, method)(reverse(name, args=[slug_a, pk])).status_code == 404, name
    # and through tenant B's own slug: the ids still do not resolve
    from tenants.models import Tenant

    slug_b = Tenant.objects.get(slug="beta").slug
    for name, pk in [("flow_detail", flow.pk), ("run_detail", run.pk), ("document_detail", doc.pk)]:
        assert client.get(reverse(name, args=[slug_b, pk])).status_code == 404, name


def test_the_document_page_shows_the_error_with_its_resolution_and_history(client, owner_a, flow, books, sync):
    source, _ = books
    add(source, invoice("i1", lines=[line(rate=None)]))
    sync(flow)
    doc = SyncDocument.objects.get(flow=flow)
    client.force_login(owner_a)
    page = client.get(reverse("document_detail", args=[flow.tenant.slug, doc.pk])).content.decode()
    assert "Invoice line without tax" in page
    assert "Set the tax (even a 0 % exemption)" in page
    assert "ERROR_SYNC_INVOICE_LINE_VALIDATION" in page


def test_retrying_one_document_from_its_page_queues_a_run_for_it_alone(client, owner_a, flow, books, sync,
                                                                        django_capture_on_commit_callbacks):
    source, target = books
    add(source, invoice("i1", lines=[line(rate="5.5", tax="t55")]), invoice("i2", lines=[line(rate="5.5", tax="t55")]))
    sync(flow)
    from decimal import Decimal

    from mappings.services import vat_mapping_set

    vat_mapping_set(flow=flow, kind="sale", source_tax_id="t55", source_rate=Decimal("5.5"), target_vat_code_id="V10")
    doc = SyncDocument.objects.get(flow=flow, source_id="i1")
    client.force_login(owner_a)
    page = client.get(reverse("document_detail", args=[flow.tenant.slug, doc.pk])).content.decode()
    assert "Retry this document" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("document_retry", args=[flow.tenant.slug, doc.pk]))
    run = SyncRun.objects.filter(flow=flow).order_by("-id").first()
    assert (run.trigger, run.document_ids, run.synced_count) == ("retry", [doc.pk], 1)
    assert SyncDocument.objects.get(source_id="i2").status == "error"


def test_an_owner_creates_a_master_data_flow_from_its_form(client, owner_a, tenant_a, flow, tenant_b):
    from mappings.models import FlowKind
    from tenants.services import connection_create

    factorial = connection_create(tenant=tenant_a, name="Factorial", provider="factorial", role="source",
                                  auth_kind="api_key", credentials={"base_url": "http://127.0.0.1:9", "api_key": "k"})
    books = connection_create(tenant=tenant_a, name="Books", provider="tryton", role="target", auth_kind="credentials",
                              credentials={"url": "http://127.0.0.1:9", "database": "d", "username": "u", "password": "p"})
    foreign = connection_create(tenant=tenant_b, name="Other books", provider="tryton", role="target",
                                auth_kind="credentials",
                                credentials={"url": "http://127.0.0.1:9", "database": "d", "username": "u", "password": "p"})
    client.force_login(owner_a)
    url = reverse("master_data_new", args=[tenant_a.slug])
    page = client.get(url).content.decode()
    assert "Other books" not in page and ">Books (tryton, target)<" in page and ">Factorial (factorial, source)<" in page
    refused = client.post(url, {"name": "MD", "source": foreign.pk, "target": factorial.pk, "account_classes": "467",
                                "schedule_minutes": 60})
    assert "source" in refused.context["form"].errors
    response = client.post(url, {"name": "MD", "source": books.pk, "target": factorial.pk, "account_classes": "7x6",
                                 "schedule_minutes": 60})
    assert response.status_code == 302, response.context["form"].errors
    created = Flow.objects.get(tenant=tenant_a, name="MD")
    assert created.kind == FlowKind.MASTER_DATA and created.account_classes == "67" and not created.enabled
