"""Invoices cancelled or deleted in the invoicing tool after the hub booked them (memory books)."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal as D

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from syncs import catalogue
from syncs.cancellations import book_reversals, reversal_reference
from syncs.engine import Engine
from syncs.models import DocumentOutcome, DocumentStatus, ErrorStatus, RunStatus, SyncDocument, SyncError
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import add, invoice, line
from tests.support.clock import SANDBOX_DAY

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:syncs_syncerror_changelist"


def cancel(source, iid: str, when: dt.datetime | None = None) -> None:
    """What the invoicing tool does when someone cancels the invoice: the same document, flagged, changed now."""
    current = source.invoices[iid]
    source.invoices[iid] = replace(current, cancelled=True, raw_state="cancelled",
                                   updated_at=when or dt.datetime.now(dt.timezone.utc))


def document(flow, iid: str) -> SyncDocument:
    return SyncDocument.objects.get(flow=flow, source_id=iid)


def rows(entry):
    return sorted((l.account_number, l.debit, l.credit, l.partner_id, l.vat_code_id) for l in entry.lines)


def click_book_the_reversal(client, user, error):
    client.force_login(user)
    return client.post(reverse(CHANGELIST), {"action": "book_reversal", "_selected_action": [error.pk]}, follow=True)


@pytest.fixture
def accountant(make_user, tenant_a):
    user = make_user("accountant", staff=True)
    membership_set(tenant=tenant_a, user=user, role=Role.ACCOUNTANT)
    return user


@pytest.fixture
def posted_then_cancelled(flow, books, sync):
    """F-1 booked and posted, then cancelled in the invoicing tool on SANDBOX_DAY; the next run has met it."""
    source, _ = books
    add(source, invoice("i1", number="F-1", date=dt.date(2026, 3, 15)))
    sync(flow)
    cancel(source, "i1", when=dt.datetime.combine(SANDBOX_DAY, dt.time(9), tzinfo=dt.timezone.utc))
    flow.cursor = None  # the cancellation is older than the cursor: read everything again
    flow.save()
    run = sync(flow)
    return run


def test_a_cancelled_invoice_whose_entry_is_a_draft_is_removed_from_accounting(flow, books, sync):
    source_store, target_store = books
    flow.create_as_draft = True
    flow.save()
    add(source_store, invoice("d1", number="F-10"))
    sync(flow)
    assert target_store.entry_count() == 1 and next(iter(target_store.entries.values())).state == "draft"
    cancel(source_store, "d1")
    run = sync(flow)
    assert target_store.entry_count() == 0 and not target_store.entries
    doc = document(flow, "d1")
    assert (doc.status, doc.source_gone, doc.target_entry_id) == (DocumentStatus.CANCELLED, "cancelled", "")
    outcome = DocumentOutcome.objects.get(run=run, document=doc)
    assert outcome.status == DocumentStatus.CANCELLED and outcome.action == "deleted"
    assert run.status == RunStatus.SUCCEEDED and not SyncError.objects.filter(flow=flow).exists()
    again = sync(flow)  # nothing left to do
    assert again.error_count == 0 and not DocumentOutcome.objects.filter(run=again).exists()


def test_a_cancelled_invoice_whose_entry_is_posted_gets_a_catalogued_error(flow, books, sync, posted_then_cancelled):
    _, target = books
    assert target.entry_count() == 1  # nothing touched in accounting
    doc = document(flow, "i1")
    error = SyncError.objects.get(document=doc)
    assert error.code == catalogue.SOURCE_CANCELLED and error.status == ErrorStatus.OPEN
    assert "F-1" in error.message and doc.target_number in error.message and "2026-11-21" in error.message
    assert not catalogue.get(error.code).retry_automatically and "Book the reversal" in catalogue.get(error.code).resolution
    assert (doc.status, doc.source_gone) == (DocumentStatus.ERROR, "cancelled")
    assert posted_then_cancelled.status == RunStatus.PARTIAL
    flow.cursor = None
    flow.save()
    sync(flow)  # met again: reported once, not at every run
    assert SyncError.objects.get(pk=error.pk).occurrences == 1 and target.entry_count() == 1


def test_book_the_reversal_books_it_once_even_when_clicked_twice(client, accountant, flow, books,
                                                                 posted_then_cancelled):
    _, target = books
    doc = document(flow, "i1")
    error = SyncError.objects.get(document=doc)
    original = target.entries[doc.target_entry_id].entry
    page = click_book_the_reversal(client, accountant, error).content.decode()
    assert "Reversal" in page and "booked" in page
    assert target.entry_count() == 2
    reversal_id = target.by_reference[reversal_reference(doc)]
    reversal = target.entries[reversal_id]
    assert reversal.state == "posted" and reversal.entry.date == SANDBOX_DAY  # the day it was cancelled
    assert rows(reversal.entry) == sorted((a, c, d, p, v) for a, d, c, p, v in rows(original))
    doc.refresh_from_db()
    error.refresh_from_db()
    assert (doc.status, doc.reversal_entry_id) == (DocumentStatus.CANCELLED, reversal_id)
    assert error.status == ErrorStatus.RESOLVED and error.resolved_by == accountant and reversal_id in error.resolution_note
    page = click_book_the_reversal(client, accountant, error).content.decode()  # the second click
    assert "None of the selected errors" in page and target.entry_count() == 2


def test_a_reversal_booked_before_a_crash_is_found_and_not_booked_again(flow, books, posted_then_cancelled, accountant):
    _, target = books
    error = SyncError.objects.get(document__source_id="i1")
    book_reversals(errors=SyncError.objects.filter(pk=error.pk), user=accountant)
    first = document(flow, "i1").reversal_entry_id
    # The hub lost what it wrote after the target booked the reversal (a crash before the commit).
    SyncDocument.objects.filter(source_id="i1").update(reversal_entry_id="", status=DocumentStatus.ERROR)
    SyncError.objects.filter(pk=error.pk).update(status=ErrorStatus.OPEN)
    outcomes = book_reversals(errors=SyncError.objects.filter(pk=error.pk), user=accountant)
    assert [o.ok for o in outcomes] == [True]
    assert target.entry_count() == 2 and document(flow, "i1").reversal_entry_id == first


def test_the_reversal_is_never_dated_before_the_original_entry(flow, books, sync, accountant):
    source, target = books
    add(source, invoice("i1", number="F-1", date=dt.date(2026, 3, 15)))
    sync(flow)
    cancel(source, "i1", when=dt.datetime(2026, 2, 1, 9, tzinfo=dt.timezone.utc))  # a clock gone wrong
    flow.cursor = None
    flow.save()
    sync(flow)
    book_reversals(errors=SyncError.objects.filter(flow=flow), user=accountant)
    reversal = target.entries[target.by_reference[reversal_reference(document(flow, "i1"))]]
    assert reversal.entry.date == dt.date(2026, 3, 15)


def test_a_viewer_cannot_book_the_reversal(client, make_user, tenant_a, flow, books, posted_then_cancelled):
    _, target = books
    viewer = make_user("viewer", staff=True)
    membership_set(tenant=tenant_a, user=viewer, role=Role.VIEWER)
    error = SyncError.objects.get(document__source_id="i1")
    click_book_the_reversal(client, viewer, error)
    assert target.entry_count() == 1 and SyncError.objects.get(pk=error.pk).status == ErrorStatus.OPEN


def test_a_cancelled_invoice_the_hub_never_booked_is_simply_skipped(flow, books, sync):
    source, target = books
    add(source, invoice("i1", number="F-1"), invoice("i2", number="F-2", lines=[line(rate=None)]))
    cancel(source, "i2")  # cancelled before any run: and it would not even have been valid
    run = sync(flow)
    assert target.entry_count() == 1 and run.status == RunStatus.SUCCEEDED
    assert run.skipped_count == 1 and run.error_count == 0
    assert not SyncDocument.objects.filter(flow=flow, source_id="i2").exists()
    assert not SyncError.objects.filter(flow=flow).exists()


def test_a_cancelled_invoice_that_was_in_error_is_marked_cancelled_and_its_error_closed(flow, books, sync):
    source, target = books
    add(source, invoice("i1", number="F-1", lines=[line(rate="5.5", tax="t55")]))  # an unmapped rate
    sync(flow)
    error = SyncError.objects.get(flow=flow)
    cancel(source, "i1")
    run = sync(flow)
    doc = document(flow, "i1")
    error.refresh_from_db()
    assert doc.status == DocumentStatus.CANCELLED and target.entry_count() == 0
    assert error.status == ErrorStatus.RESOLVED and error.resolution_note == "Cancelled in the invoicing tool."
    assert run.error_count == 0 and DocumentOutcome.objects.get(run=run, document=doc).action == "none"


def test_a_dry_run_shows_the_cancellation_and_changes_nothing(flow, books, sync):
    source, target = books
    add(source, invoice("i1", number="F-1"))
    flow.create_as_draft = True
    flow.save()
    sync(flow)
    cancel(source, "i1")
    previews = Engine(flow, dry_run=True).execute()
    assert [(p.invoice.id, p.action) for p in previews] == [("i1", "cancelled")]
    assert target.entry_count() == 1 and document(flow, "i1").status == DocumentStatus.SYNCED


# --- deleted in the source: the presence check ---------------------------------------------------------------
def test_a_deleted_invoice_is_noticed_at_the_end_of_a_full_run(flow, books, sync):
    source, target = books
    add(source, invoice("i1", number="F-1", date=dt.date(2026, 3, 15)), invoice("i2", number="F-2"))
    sync(flow)
    del source.invoices["i1"]
    with time_machine.travel(dt.datetime.combine(SANDBOX_DAY, dt.time(12), tzinfo=dt.timezone.utc), tick=False):
        run = sync(flow)  # nothing changed since the cursor: only the presence check can see it
    doc = document(flow, "i1")
    error = SyncError.objects.get(document=doc)
    assert error.code == catalogue.SOURCE_CANCELLED and "deleted in the invoicing tool" in error.message
    assert doc.source_gone == "deleted" and run.error_count == 1 and target.entry_count() == 2
    assert set(SyncDocument.objects.filter(flow=flow).values_list("presence_checked_at", flat=True)) == {
        dt.datetime.combine(SANDBOX_DAY, dt.time(12), tzinfo=dt.timezone.utc)}
    assert document(flow, "i2").status == DocumentStatus.SYNCED


def test_a_deleted_invoice_with_a_draft_entry_has_its_draft_removed(flow, books, sync):
    source, target = books
    flow.create_as_draft = True
    flow.save()
    add(source, invoice("i1", number="F-1"))
    sync(flow)
    source.invoices.clear()
    sync(flow)
    doc = document(flow, "i1")
    assert target.entry_count() == 0 and (doc.status, doc.source_gone) == (DocumentStatus.CANCELLED, "deleted")


def test_the_presence_check_asks_a_hundred_at_a_time_oldest_checked_first(flow, books, sync, settings):
    source, _ = books
    add(source, *[invoice(f"i{n:03}", number=f"F-{n}") for n in range(130)])
    sync(flow)
    again = sync(flow)
    asks = [c for c in again.call_log if c["operation"] == "invoices.exist"]
    assert len(asks) == 2  # 130 documents: 100, then 30
    settings.HUB_PRESENCE_CHECK_BATCH = 50
    SyncDocument.objects.filter(flow=flow, source_id__in=["i005", "i120"]).update(presence_checked_at=None)
    before = timezone.now()
    sync(flow)
    checked = set(SyncDocument.objects.filter(flow=flow, presence_checked_at__gte=before)
                  .values_list("source_id", flat=True))
    # never checked first, then those checked longest ago (the first hundred of the last run), in order
    assert checked == {f"i{n:03}" for n in range(49)} | {"i120"}


def test_a_retry_run_does_not_check_presence(flow, books, sync):
    source, _ = books
    add(source, invoice("i1", number="F-1"), invoice("i2", number="F-2", lines=[line(rate="5.5", tax="t55")]))
    sync(flow)
    del source.invoices["i1"]
    doc = document(flow, "i2")
    retry = sync(flow, trigger="retry", document_ids=[doc.pk])
    assert not [c for c in retry.call_log if c["operation"] == "invoices.exist"]
    assert document(flow, "i1").status == DocumentStatus.SYNCED


# --- the sources' answer ----------------------------------------------------------------------------------
def test_factorial_says_which_documents_and_expenses_it_still_has():
    from integration_hub.connectors.factorial.connector import FactorialConnector
    from django.test import override_settings
    from sandboxes.factorial import start_sandbox

    with start_sandbox(api_key="k", seed="demo", today=SANDBOX_DAY, post_rate_limit=None) as sandbox:
        documents = [f"fd-{d['id']}" for d in sandbox.state.records("finance/financial_documents")][:3]
        expenses = [f"ex-{e['id']}" for e in sandbox.state.records("expenses/expenses")
                    if e["status"] in ("approved", "paid")][:2]
        with sandbox.state.lock:
            del sandbox.state.data["finance/financial_documents"][documents[0][3:]]
            del sandbox.state.data["expenses/expenses"][expenses[0][3:]]
        with override_settings(HUB_FACTORIAL_BASE_URL=sandbox.url):
            factorial = FactorialConnector({"api_key": "k"}, auth_kind="api_key")
            found = factorial.existing_invoice_ids([*documents, *expenses, "fd-999999"])
            factorial.close()
    assert found == {*documents[1:], *expenses[1:]}


def test_an_invoice_reissued_under_the_number_of_a_cancelled_one_is_booked(flow, books, sync):
    source, target = books
    flow.create_as_draft = True
    flow.save()
    add(source, invoice("i1", number="F-1"))
    sync(flow)
    cancel(source, "i1")
    sync(flow)
    add(source, invoice("i2", number="F-1", lines=[line(amount="120.00")]))  # the corrected invoice
    run = sync(flow)
    assert run.error_count == 0 and target.entry_count() == 1
    assert document(flow, "i2").status == DocumentStatus.SYNCED
