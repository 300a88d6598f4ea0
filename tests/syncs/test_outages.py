"""A run rides out an outage: temporary failures pause it, the work in hand is done again (settled by reference),
and it gives up only when a tool stays unreachable past HUB_SYNC_UNREACHABLE_BUDGET, saying what failed."""
from __future__ import annotations

import time
from collections import Counter

import pytest
from django.db.models import F
from django.test import override_settings

from integration_hub.connectors.errors import RetryableError
from syncs.models import DocumentOutcome, DocumentStatus, RunStatus, SyncDocument
from tests.support.books import add, invoice

pytestmark = pytest.mark.django_db
PATIENT = dict(HUB_SYNC_UNREACHABLE_BUDGET=30, HUB_SYNC_OUTAGE_PAUSE=0.01, HUB_SYNC_RETRY_PAUSE=0)


def failing(plan: dict[tuple[str, str], int]):
    """A fault hook: (operation, before|after) fails that many times, then works."""
    left = dict(plan)
    seen = Counter()

    def fault(operation: str, when: str):
        seen[(operation, when)] += 1
        if left.get((operation, when), 0) > 0:
            left[(operation, when)] -= 1
            return RetryableError(f"memory: server error 503 on {operation}", provider="memory", status=503)
        return None

    fault.seen = seen
    return fault


def twelve(source) -> None:
    add(source, *[invoice(f"i{n}", number=f"F-{n:03}") for n in range(12)])


def one_entry_per_invoice(target, count: int) -> None:
    assert len(target.by_reference) == count
    assert len(target.entries) == count, "an entry was booked twice"
    assert all(stored.state == "posted" and stored.attachments for stored in target.entries.values())


@override_settings(**PATIENT, HUB_SYNC_BATCH_SIZE=5)
def test_a_target_failing_on_several_writes_and_reads_in_a_row_does_not_stop_the_run(flow, books, sync):
    source, target = books
    twelve(source)
    # every create fails five times before reaching the books (more than the write retries), the lookups that
    # settle them fail twice, and one creation is applied but its answer lost
    target.fault = failing({("entries.create", "before"): 5, ("entries.find", "before"): 2,
                            ("entries.create", "after"): 1})
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    assert (run.synced_count, run.error_count) == (12, 0)
    one_entry_per_invoice(target, 12)
    assert SyncDocument.objects.filter(flow=flow, status=DocumentStatus.SYNCED).count() == 12
    # the batch whose answer was lost was found in the books, not booked again
    assert DocumentOutcome.objects.filter(run=run, action="linked").count() == 5


@override_settings(**PATIENT, HUB_SYNC_BATCH_SIZE=5)
def test_a_source_failing_while_listing_is_read_again_and_each_invoice_counted_once(flow, books, sync):
    source, target = books
    add(source, *[invoice(f"i{n}", number=f"F-{n:03}") for n in range(120)])
    calls = Counter()

    def fault(operation: str, when: str):
        calls[operation] += 1
        if operation == "invoices.list" and calls[operation] == 2:  # the second page of the listing breaks off
            return RetryableError("memory: connection reset while listing", provider="memory")
        return None

    source.fault = fault
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    assert calls["invoices.list"] == 4  # pages of 100: broken off at the second, then read again whole
    assert (run.seen_count, run.synced_count, run.error_count) == (120, 120, 0)
    one_entry_per_invoice(target, 120)


@override_settings(HUB_SYNC_UNREACHABLE_BUDGET=0.3, HUB_SYNC_OUTAGE_PAUSE=0.05, HUB_SYNC_RETRY_PAUSE=0)
def test_a_target_unreachable_past_the_budget_ends_the_run_naming_what_failed_and_loses_nothing(flow, books, sync):
    source, target = books
    twelve(source)
    target.fault = failing({("entries.create", "before"): 10**6})
    run = sync(flow)
    assert run.status == RunStatus.FAILED
    assert "accounting tool stayed unreachable" in run.message
    assert "HUB_SYNC_UNREACHABLE_BUDGET" in run.message and "entries.create" in run.message
    assert "F-000" in run.message  # which documents it was sending
    assert target.fault.seen[("entries.create", "before")] >= 3  # it tried again before giving up
    assert not target.entries
    assert SyncDocument.objects.filter(flow=flow, status=DocumentStatus.PENDING).count() == 12
    # the accounting tool is back: the next run books each invoice once
    target.fault = None
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    one_entry_per_invoice(target, 12)


@override_settings(HUB_SYNC_UNREACHABLE_BUDGET=0)
def test_without_patience_the_first_temporary_failure_ends_the_run(flow, books, sync):
    source, target = books
    twelve(source)
    target.fault = failing({("entries.create", "before"): 4})
    run = sync(flow)
    assert run.status == RunStatus.FAILED
    assert target.fault.seen[("entries.create", "before")] == 1 + 3  # the write retries (settled each time) only
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    one_entry_per_invoice(target, 12)


# --- every step of a document, tracked and completed ----------------------------------------------------------
def steps_of(flow, source_id: str) -> list[str]:
    doc = SyncDocument.objects.get(flow=flow, source_id=source_id)
    return doc.outcomes.order_by("-id").first().steps


def test_the_history_shows_each_step_of_a_booking(flow, books, sync):
    source, target = books
    add(source, invoice("i1", number="F-001"))
    sync(flow)
    steps = steps_of(flow, "i1")
    assert steps[0].startswith("third party created (")
    assert steps[1].startswith("entry created (E") and steps[2:] == ["posted", "file attached"]


def test_a_draft_without_its_file_left_by_an_interrupted_run_is_posted_and_completed(flow, books, sync):
    source, target = books
    add(source, invoice("i1", number="F-001"), invoice("i2", number="F-002"))
    flow.create_as_draft = True
    flow.save()
    sync(flow)
    # what a run killed between creating the drafts and posting them (and before attaching) leaves behind
    for stored in target.entries.values():
        stored.attachments.clear()
    SyncDocument.objects.filter(flow=flow).update(status=DocumentStatus.PENDING, target_entry_id="", target_state="",
                                                  pending_version=F("source_version"))
    flow.create_as_draft = False
    flow.save()
    writes_before = target.write_calls
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    one_entry_per_invoice(target, 2)
    steps = steps_of(flow, "i1")
    assert steps[0].startswith("third party linked earlier")
    assert steps[1].startswith("draft entry E") and "found in accounting" in steps[1]
    # the draft holds what was sent: it is posted and given its file, both for the whole batch at once
    assert steps[2:] == ["bound to it", "posted", "missing file attached"]
    assert target.write_calls - writes_before == 2
    assert all(d.target_state == "posted" for d in SyncDocument.objects.filter(flow=flow))



def test_a_draft_holding_an_older_version_is_rewritten_then_posted(flow, books, sync):
    source, target = books
    add(source, invoice("i1", number="F-001"))
    flow.create_as_draft = True
    flow.save()
    sync(flow)
    SyncDocument.objects.filter(flow=flow).update(status=DocumentStatus.PENDING, target_entry_id="", target_state="",
                                                  pending_version="an older version")
    flow.create_as_draft = False
    flow.save()
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    one_entry_per_invoice(target, 1)
    steps = steps_of(flow, "i1")
    assert "found in accounting" in steps[1] and steps[2].startswith("draft entry updated") and "posted" in steps


# --- a write still running when its answer timed out ------------------------------------------------------------
@override_settings(HUB_SYNC_INFLIGHT_WAIT=20)
def test_a_creation_that_timed_out_while_still_running_is_waited_for_not_sent_twice(flow, books, sync):
    source, target = books
    twelve(source)
    target.apply_late = 0.5  # the accounting tool commits the batch half a second after the hub gave up waiting
    run = sync(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    time.sleep(0.6)
    assert target.duplicates == 0
    one_entry_per_invoice(target, 12)
    assert DocumentOutcome.objects.filter(run=run, action="linked").count() == 12
