"""Runs: third-party matching, drafts, attachments, idempotency, cursors, crashes and overlaps."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.utils import timezone

from integration_hub.connectors.types import Partner
from syncs import catalogue
from syncs.engine import Engine
from syncs.models import DocumentStatus, ErrorStatus, PartnerLink, RunStatus, SyncDocument, SyncError, SyncRun, Trigger
from syncs.services import error_set_status, execute_run, recover_stale_runs, run_request
from tests.support.books import PDF, add, customer, invoice, line

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


# --- third parties ------------------------------------------------------------------------------
@pytest.mark.parametrize("rule, existing, incoming", [
    ("auxiliary_account", Partner("T1", "Totally Other Name", auxiliary_account="CDUPONT"),
     customer(auxiliary_account="CDUPONT", vat_number="FR40303265045")),
    ("vat_number", Partner("T1", "Other Name", vat_number="FR40303265045"),
     customer(vat_number="FR40303265045", registration_number="303265045")),
    ("registration_number", Partner("T1", "Other Name", registration_number="30326504500012"),
     customer(registration_number="303265045")),
    ("name", Partner("T1", "DUPONT S.A.R.L."), customer(name="Dupont SARL")),
])
def test_an_unlinked_third_party_is_matched_in_order_and_the_link_is_remembered(rule, existing, incoming, flow, books, sync):
    source, target = books
    target.partners["T1"] = existing
    target.partners["T2"] = Partner("T2", "Decoy", vat_number="FR00000000000")
    add(source, invoice(partner=incoming))
    sync(flow)
    link = PartnerLink.objects.get(source=flow.source, source_partner_id=incoming.id)
    assert (link.target_partner_id, link.matched_by) == ("T1", rule)
    assert len(target.partners) == 2  # nothing created
    partner_line = next(l for l in next(iter(target.entries.values())).entry.lines if l.account_number == "4111")
    assert partner_line.partner_id == "T1"


def test_the_auxiliary_account_wins_over_the_vat_number(flow, books, sync):
    source, target = books
    target.partners["T1"] = Partner("T1", "By VAT", vat_number="FR40303265045")
    target.partners["T2"] = Partner("T2", "By account", auxiliary_account="CDUPONT")
    add(source, invoice(partner=customer(auxiliary_account="CDUPONT", vat_number="FR40303265045")))
    sync(flow)
    assert PartnerLink.objects.get(source_partner_id="c1").target_partner_id == "T2"


def test_a_third_party_with_no_match_is_created_once_and_reused(flow, books, sync):
    source, target = books
    add(source, invoice("i1"), invoice("i2"), invoice("i3", partner=customer("c9", "Someone New")))
    sync(flow)
    assert sorted(p.name for p in target.partners.values()) == ["Dupont SARL", "Someone New"]
    add(source, invoice("i4"))
    sync(flow)
    assert len(target.partners) == 2
    assert PartnerLink.objects.get(source_partner_id="c1").matched_by == "created"


# --- drafts and posting ------------------------------------------------------------------------------
def test_entries_are_posted_unless_the_flow_asks_for_drafts(flow, books, sync):
    source, target = books
    add(source, invoice("i1"))
    sync(flow)
    flow.create_as_draft = True
    flow.save()
    add(source, invoice("i2"))
    sync(flow)
    states = {s.entry.reference: s.state for s in target.entries.values()}
    assert states == {f"{flow.pk}-i1": "posted", f"{flow.pk}-i2": "draft"}
    assert SyncDocument.objects.get(source_id="i2").target_state == "draft"


def test_a_changed_invoice_synced_as_draft_updates_its_entry(flow, books, sync):
    flow.create_as_draft = True
    flow.save()
    source, target = books
    add(source, invoice("i1", lines=[line("Widget", "100.00")]))
    sync(flow)
    add(source, invoice("i1", lines=[line("Widget", "150.00")]))
    run = sync(flow)
    assert target.entry_count() == 1
    entry = next(iter(target.entries.values())).entry
    assert entry.total_debit == D("180.00")
    assert run.outcomes.get().action == "updated"


def test_a_changed_invoice_whose_entry_is_posted_is_reported_not_duplicated(flow, books, sync):
    source, target = books
    add(source, invoice("i1", lines=[line("Widget", "100.00")]))
    sync(flow)
    add(source, invoice("i1", lines=[line("Widget", "150.00")]))
    sync(flow)
    assert target.entry_count() == 1
    error = SyncError.objects.get(document__source_id="i1", status=ErrorStatus.OPEN)
    assert error.code == catalogue.POSTED_ENTRY_CHANGED
    writes = target.write_calls
    sync(flow)  # reported once: later runs leave it alone
    assert target.write_calls == writes
    assert SyncError.objects.get(document__source_id="i1").occurrences == 1


# --- attachments ------------------------------------------------------------------------------------
def test_the_attachment_travels_with_its_entry(flow, books, sync):
    source, target = books
    add(source, invoice("i1"))
    sync(flow)
    assert next(iter(target.entries.values())).attachments == [PDF]


def test_without_attachment_an_invoice_waits_then_syncs_once_its_pdf_arrives(flow, books, sync):
    flow.sync_without_attachment = False
    flow.save()
    source, target = books
    add(source, invoice("i1", attachment=False), pdf=False)
    run = sync(flow)
    assert SyncDocument.objects.get(source_id="i1").status == DocumentStatus.WAITING
    assert run.waiting_count == 1 and target.entry_count() == 0
    # the PDF is added later; the invoice itself is not re-listed (cursor moved on) but waiting documents are retried
    source.invoices["i1"].has_attachment = True
    source.attachments["i1"] = PDF
    sync(flow)
    assert SyncDocument.objects.get(source_id="i1").status == DocumentStatus.SYNCED
    assert target.entry_count() == 1


def test_when_the_flow_allows_it_an_invoice_without_attachment_syncs_right_away(flow, books, sync):
    source, target = books
    add(source, invoice("i1", attachment=False), pdf=False)
    sync(flow)
    assert target.entry_count() == 1
    assert next(iter(target.entries.values())).attachments == []


def test_an_unreadable_attachment_is_a_pdf_error(flow, books, sync):
    from integration_hub.connectors.files import AttachmentUnreadable

    source, target = books
    add(source, invoice("i1"))
    source.attachments["i1"] = AttachmentUnreadable("the file 'scan.pdf' is not a valid PDF")
    sync(flow)
    error = SyncError.objects.get(document__source_id="i1")
    assert error.code == catalogue.PDF and "not a valid PDF" in error.message


# --- idempotency ------------------------------------------------------------------------------------
def test_a_rerun_with_no_changes_makes_no_write_calls(flow, books, sync):
    source, target = books
    add(source, *[invoice(f"i{n}") for n in range(5)])
    sync(flow)
    writes = target.write_calls
    flow.cursor = None  # even re-reading everything from the start date
    flow.save()
    run = sync(flow)
    assert target.write_calls == writes
    assert run.synced_count == 0 and run.seen_count == 5
    assert target.entry_count() == 5


def test_a_document_left_pending_by_a_crash_is_bound_to_the_entry_already_in_the_target(flow, books, sync):
    source, target = books
    add(source, invoice("i1"), invoice("i2"))
    sync(flow)
    # Simulate a crash after the target created i2's entry but before the binding was saved.
    doc = SyncDocument.objects.get(source_id="i2")
    SyncDocument.objects.filter(pk=doc.pk).update(status=DocumentStatus.PENDING, pending_version=doc.source_version,
                                                  target_entry_id="", target_state="")
    run = sync(flow)
    assert target.entry_count() == 2
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.SYNCED and doc.target_entry_id
    assert run.outcomes.get().action == "linked"


def test_a_pending_document_whose_entry_never_reached_the_target_is_sent(flow, books, sync):
    source, target = books
    add(source, invoice("i1"))
    sync(flow)
    doc = SyncDocument.objects.get(source_id="i1")
    target.by_reference.clear()
    target.entries.clear()
    SyncDocument.objects.filter(pk=doc.pk).update(status=DocumentStatus.PENDING, pending_version=doc.source_version,
                                                  target_entry_id="")
    sync(flow)
    assert target.entry_count() == 1


# --- cursor and retries --------------------------------------------------------------------------------
def test_the_cursor_moves_only_after_a_complete_run_and_never_before_the_start_date(flow, books, sync):
    source, target = books
    add(source, invoice("old", date=dt.date(2025, 12, 31)), invoice("new"))
    assert flow.cursor is None
    run = sync(flow)
    assert run.cursor_after is not None and flow.cursor == run.cursor_after
    assert not SyncDocument.objects.filter(source_id="old").exists()
    assert target.entry_count() == 1


def test_a_failed_run_leaves_the_cursor_where_it_was(flow, books, sync):
    source, target = books
    add(source, invoice("i1"))
    flow.target.set_credentials({"store": f"{target and flow.target.get_credentials()['store']}", "api_key": "wrong"})
    flow.target.save()
    run = sync(flow)
    assert run.status == RunStatus.FAILED
    assert flow.cursor is None
    flow.target.refresh_from_db()
    assert flow.target.status == "error"
    assert "refused the hub's credentials" in run.message


def test_errored_documents_are_retried_on_later_runs_and_close_their_error(flow, books, sync):
    source, target = books
    add(source, invoice("i1", lines=[line(rate="5.5", tax="t55")]))
    sync(flow)
    assert SyncError.objects.get().status == ErrorStatus.OPEN
    from mappings.services import vat_mapping_set

    vat_mapping_set(flow=flow, kind="sale", source_tax_id="t55", source_rate=D("5.5"), target_vat_code_id="V10")
    run = sync(flow)
    error = SyncError.objects.get()
    assert error.status == ErrorStatus.RESOLVED and f"run {run.pk}" in error.resolution_note
    assert target.entry_count() == 1


def test_a_retry_run_looks_only_at_the_chosen_documents(flow, books, sync):
    source, target = books
    add(source, invoice("i1", lines=[line(rate="5.5", tax="t55")]), invoice("i2", lines=[line(rate="5.5", tax="t55")]))
    sync(flow)
    doc = SyncDocument.objects.get(source_id="i1")
    from mappings.services import vat_mapping_set

    vat_mapping_set(flow=flow, kind="sale", source_tax_id="t55", source_rate=D("5.5"), target_vat_code_id="V10")
    run = sync(flow, trigger=Trigger.RETRY, document_ids=[doc.pk])
    assert run.seen_count == 1 and run.synced_count == 1
    assert SyncDocument.objects.get(source_id="i2").status == DocumentStatus.ERROR


def test_an_ignored_error_stops_its_document_from_retrying(flow, books, sync, owner_a):
    source, target = books
    add(source, invoice("i1", lines=[line(rate="5.5", tax="t55")]))
    sync(flow)
    error_set_status(errors=SyncError.objects.all(), status=ErrorStatus.IGNORED, user=owner_a, note="not ours")
    error = SyncError.objects.get()
    assert (error.resolved_by, error.resolution_note) == (owner_a, "not ours") and error.resolved_at
    run = sync(flow)
    assert run.error_count == 0 and not run.outcomes.exists()
    assert SyncDocument.objects.get().status == DocumentStatus.SKIPPED
    # ...until the invoice itself changes in the invoicing tool
    add(source, invoice("i1", lines=[line(rate="5.5", tax="t55", amount="99.00")]))
    run = sync(flow)
    assert run.error_count == 1


# --- overlap and recovery ---------------------------------------------------------------------------
def test_two_runs_of_one_flow_never_overlap(flow):
    first, created = run_request(flow=flow, enqueue=False)
    second, created_again = run_request(flow=flow, enqueue=False)
    assert created and not created_again and second.pk == first.pk
    assert SyncRun.objects.filter(flow=flow).count() == 1


def test_a_run_is_executed_once_even_if_its_task_is_delivered_twice(flow, books):
    source, target = books
    add(source, invoice("i1"))
    run, _ = run_request(flow=flow, enqueue=False)
    execute_run(run.pk)
    execute_run(run.pk)
    assert target.entry_count() == 1 and target.write_calls == 2  # one partner, one batch of entries


def test_a_run_whose_worker_died_is_recovered_by_a_new_run(flow, books):
    source, target = books
    add(source, invoice("i1"))
    run, _ = run_request(flow=flow, enqueue=False)
    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, worker="elsewhere:1",
                                             heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    assert recover_stale_runs() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped" in run.message
    recovery = SyncRun.objects.get(flow=flow, status=RunStatus.QUEUED)
    assert recovery.trigger == Trigger.RECOVERY
    execute_run(recovery.pk)
    assert target.entry_count() == 1


def test_a_dry_run_shows_the_entries_and_writes_nothing(flow, books):
    source, target = books
    add(source, invoice("i1"), invoice("i2", lines=[line(rate=None)]))
    previews = Engine(flow, dry_run=True).execute()
    actions = {p.invoice.id: p.action for p in previews}
    assert actions == {"i1": "create", "i2": "error"}
    assert next(p for p in previews if p.invoice.id == "i1").entry.total_debit == D("120.00")
    assert target.write_calls == 0 and target.entry_count() == 0
    assert not SyncDocument.objects.exists() and not PartnerLink.objects.exists()
