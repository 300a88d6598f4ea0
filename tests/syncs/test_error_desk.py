"""The error desk in the admin, used as an accountant would."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.urls import reverse

from mappings.services import vat_mapping_set
from syncs.models import ErrorStatus, SyncDocument, SyncError, SyncRun
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import add, invoice, line

pytestmark = pytest.mark.django_db

DESK_PERMS = ("syncs.view_syncerror", "syncs.view_syncdocument", "syncs.view_syncrun", "syncs.change_syncerror")


@pytest.fixture
def accountant(make_user, tenant_a):
    user = make_user("accountant", staff=True, perms=DESK_PERMS)
    membership_set(tenant=tenant_a, user=user, role=Role.ACCOUNTANT)
    return user


@pytest.fixture
def failing(flow, books, sync):
    source, _ = books
    add(source, invoice("i1", number="F-100", lines=[line(rate="5.5", tax="t55")]),
        invoice("i2", number="F-101", lines=[line(rate=None)]))
    sync(flow)
    return flow


def test_the_error_list_shows_code_meaning_and_invoice(client, accountant, failing):
    client.force_login(accountant)
    page = client.get(reverse("admin:syncs_syncerror_changelist")).content.decode()
    assert "VAT rate not mapped" in page and "Invoice line without tax" in page
    assert "F-100" in page and "F-101" in page
    error = SyncError.objects.get(document__source_number="F-100")
    detail = client.get(reverse("admin:syncs_syncerror_change", args=[error.pk])).content.decode()
    assert "map this rate to a VAT code" in detail and "5.5 %" in detail


def test_retrying_after_fixing_the_mapping_closes_the_error(client, accountant, failing, django_capture_on_commit_callbacks):
    vat_mapping_set(flow=failing, kind="sale", source_tax_id="t55", source_rate=D("5.5"), target_vat_code_id="V10")
    error = SyncError.objects.get(document__source_number="F-100")
    client.force_login(accountant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:syncs_syncerror_changelist"),
                               {"action": "retry_now", "_selected_action": [error.pk]}, follow=True)
    assert b"queued" in response.content
    error.refresh_from_db()
    assert error.status == ErrorStatus.RESOLVED
    run = SyncRun.objects.filter(flow=failing).order_by("-id").first()
    assert run.trigger == "retry" and run.synced_count == 1 and run.seen_count == 1
    assert SyncError.objects.get(document__source_number="F-101").status == ErrorStatus.OPEN


def test_marking_an_error_ignored_keeps_the_note_who_and_when(client, accountant, failing):
    error = SyncError.objects.get(document__source_number="F-101")
    client.force_login(accountant)
    url = reverse("admin:syncs_syncerror_changelist")
    confirm = client.post(url, {"action": "mark_ignored", "_selected_action": [error.pk]})
    assert b"will be marked <strong>ignored</strong>" in confirm.content
    client.post(url, {"action": "mark_ignored", "_selected_action": [error.pk], "apply": "1",
                      "note": "Test invoice, deleted in the invoicing tool"})
    error.refresh_from_db()
    assert error.status == ErrorStatus.IGNORED
    assert error.resolved_by == accountant and error.resolved_at is not None
    assert error.resolution_note == "Test invoice, deleted in the invoicing tool"
    assert SyncDocument.objects.get(source_number="F-101").status == "skipped"


def test_a_note_is_required_to_resolve(client, accountant, failing):
    error = SyncError.objects.get(document__source_number="F-101")
    client.force_login(accountant)
    response = client.post(reverse("admin:syncs_syncerror_changelist"),
                           {"action": "mark_resolved", "_selected_action": [error.pk], "apply": "1", "note": ""})
    assert b"This field is required" in response.content
    error.refresh_from_db()
    assert error.status == ErrorStatus.OPEN


def test_another_tenants_accountant_sees_none_of_it_and_cannot_act(client, make_user, tenant_b, failing):
    other = make_user("other", staff=True, perms=DESK_PERMS)
    membership_set(tenant=tenant_b, user=other, role=Role.ACCOUNTANT)
    client.force_login(other)
    page = client.get(reverse("admin:syncs_syncerror_changelist")).content.decode()
    assert "F-100" not in page and failing.name not in page
    error = SyncError.objects.get(document__source_number="F-100")
    assert client.get(reverse("admin:syncs_syncerror_change", args=[error.pk])).status_code == 404
    client.post(reverse("admin:syncs_syncerror_changelist"),
                {"action": "mark_ignored", "_selected_action": [error.pk], "apply": "1", "note": "x"})
    error.refresh_from_db()
    assert error.status == ErrorStatus.OPEN
    run = SyncRun.objects.get(flow=failing)
    assert client.get(reverse("admin:syncs_syncrun_change", args=[run.pk])).status_code == 404
    doc = SyncDocument.objects.get(source_number="F-100")
    assert client.get(reverse("admin:syncs_syncdocument_change", args=[doc.pk])).status_code == 404


def test_the_run_page_lists_every_external_call_without_secrets(client, accountant, failing):
    run = SyncRun.objects.get(flow=failing)
    client.force_login(accountant)
    page = client.get(reverse("admin:syncs_syncrun_change", args=[run.pk])).content.decode()
    assert "/memory/invoices.list" in page and "entries.create" not in page  # nothing was sent: both failed
    assert "memory-key" not in page
    assert run.external_calls == len(run.call_log) > 0
