"""Status monitoring (issue 17): after each run the hub asks a target that processes what it receives where the
documents it booked stand, keeps the answer on each document, and turns a refusal that came after the document was
received into a catalogued error whose retry sends the document again as a new one."""
from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from integration_hub.connectors.types import TargetState, TargetStatus
from mappings.models import Flow
from syncs import catalogue
from syncs.models import DocumentStatus, ErrorStatus, SyncDocument, SyncError, Trigger
from syncs.services import execute_run, run_request
from tenants.models import Connection
from tests.support.books import add, invoice, make_flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def monitored_flow(tenant_a, books, request) -> Flow:
    flow = make_flow(tenant_a, name=request.node.name[:40])
    Connection.objects.filter(pk=flow.target_id).update(provider="memory_monitored")
    flow.refresh_from_db()
    return flow


def test_each_run_records_where_the_booked_documents_stand_in_the_target(monitored_flow, books, sync):
    source, target = books
    add(source, invoice("i1"), invoice("i2"), invoice("i3"))
    first = sync(monitored_flow)
    assert first.status == "succeeded", first.message
    docs = {d.source_id: d for d in SyncDocument.objects.filter(flow=monitored_flow)}
    assert {d.target_status for d in docs.values()} == {"accepted"}
    assert target.status_calls == 1  # one call for the whole flow, not one per document
    # the target processes them: one paid, one partly paid
    target.statuses[docs["i1"].target_entry_id] = TargetStatus(docs["i1"].target_entry_id, TargetState.PAID, "paid")
    target.statuses[docs["i2"].target_entry_id] = TargetStatus(docs["i2"].target_entry_id, TargetState.PARTLY_PAID,
                                                               "open", paid_amount=None)
    sync(monitored_flow)
    docs = {d.source_id: d for d in SyncDocument.objects.filter(flow=monitored_flow)}
    assert (docs["i1"].target_status, docs["i1"].target_status_label) == ("paid", "paid")
    assert docs["i2"].target_status == "partly_paid" and docs["i3"].target_status == "accepted"
    assert docs["i1"].target_status_at is not None
    # a paid document is final: it is not asked about again
    calls = target.status_calls
    target.statuses.clear()
    sync(monitored_flow)
    assert target.status_calls == calls + 1
    assert SyncDocument.objects.get(pk=docs["i1"].pk).target_status == "paid"


def test_a_document_refused_after_it_was_received_becomes_an_error_and_its_retry_sends_it_again(
        monitored_flow, books, sync, client, owner_a):
    source, target = books
    past = dt.datetime(2026, 3, 15, 9, tzinfo=dt.timezone.utc)  # not listed again unless it changes
    add(source, invoice("i1", number="F-100", updated=past), invoice("i2", updated=past))
    sync(monitored_flow)
    doc = SyncDocument.objects.get(flow=monitored_flow, source_id="i1")
    refused_id = doc.target_entry_id
    target.statuses[refused_id] = TargetStatus(refused_id, TargetState.REJECTED, "rejected",
                                               reason="The customer has no e-invoicing address <script>")
    second = sync(monitored_flow)
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.ERROR and doc.target_entry_id == ""
    error = SyncError.objects.get(document=doc, status=ErrorStatus.OPEN)
    assert error.code == catalogue.TARGET_REJECTED
    assert "F-100" in error.message and "no e-invoicing address" in error.message
    assert second.error_count == 1
    # the desk shows the reason as text, never as markup
    client.force_login(owner_a)
    page = client.get(reverse("document_detail", args=[monitored_flow.tenant.slug, doc.pk])).content.decode()
    assert "<script>" not in page and "no e-invoicing address" in page
    # not retried by itself (a person fixes the cause first), then retried: a new document in the target
    sync(monitored_flow)
    assert SyncError.objects.get(pk=error.pk).status == ErrorStatus.OPEN
    run, _ = run_request(flow=monitored_flow, trigger=Trigger.RETRY, enqueue=False,
                         document_ids=[error.document_id])
    execute_run(run.pk)
    run.refresh_from_db()
    doc.refresh_from_db()
    assert run.status == "succeeded", (run.status, run.message, list(SyncError.objects.values_list("code", "message")))
    assert doc.status == DocumentStatus.SYNCED and doc.target_entry_id not in ("", refused_id)
    assert SyncError.objects.get(pk=error.pk).status == ErrorStatus.RESOLVED


def test_a_target_without_status_monitoring_is_never_asked(flow, books, sync):
    source, target = books
    add(source, invoice("i1"))
    sync(flow)
    assert target.status_calls == 0
    assert SyncDocument.objects.get(flow=flow).target_status == ""
