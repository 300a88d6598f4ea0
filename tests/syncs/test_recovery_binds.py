"""A document the hub knows without a recorded entry is looked up in accounting before anything is sent."""
from __future__ import annotations

import pytest

from syncs.models import DocumentStatus, ErrorStatus, SyncDocument, SyncError
from syncs.services import error_set_status
from tests.support.books import add, invoice

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def forget_entry(doc: SyncDocument, status: str = DocumentStatus.ERROR, pending: str = "") -> None:
    """What a crash (or a lost answer) leaves: the entry exists in accounting, the hub never recorded it."""
    SyncDocument.objects.filter(pk=doc.pk).update(status=status, target_entry_id="", target_state="",
                                                  target_number="", source_version="", pending_version=pending)


def test_an_error_document_whose_entry_exists_is_bound_not_booked_again(flow, books, sync):
    source, target = books
    add(source, invoice("i1", number="F-1"))
    sync(flow)
    doc = SyncDocument.objects.get(flow=flow)
    entry_id = doc.target_entry_id
    forget_entry(doc)

    sync(flow)

    assert target.entry_count() == 1
    doc.refresh_from_db()
    assert (doc.status, doc.target_entry_id) == (DocumentStatus.SYNCED, entry_id)


def test_marking_the_error_resolved_then_running_again_books_nothing_twice(flow, books, sync, owner_a):
    source, target = books
    add(source, invoice("i1", number="F-1", lines=[]))  # no line: an error on the desk
    sync(flow)
    error = SyncError.objects.get(flow=flow)
    add(source, invoice("i1", number="F-1"))  # fixed in the invoicing tool
    sync(flow)
    doc = SyncDocument.objects.get(flow=flow)
    assert doc.status == DocumentStatus.SYNCED and target.entry_count() == 1
    forget_entry(doc)  # as if the answer of that creation had been lost
    SyncError.objects.filter(pk=error.pk).update(status=ErrorStatus.OPEN)
    error_set_status(errors=SyncError.objects.filter(pk=error.pk), status=ErrorStatus.RESOLVED, user=owner_a,
                     note="fixed at the source")

    sync(flow)

    assert target.entry_count() == 1
    assert SyncDocument.objects.get(flow=flow).status == DocumentStatus.SYNCED


def test_a_draft_found_after_a_crash_in_a_posting_flow_is_posted_with_its_file(flow, books, sync):
    source, target = books
    flow.create_as_draft = True
    flow.save()
    add(source, invoice("i1", number="F-1"))
    sync(flow)
    doc = SyncDocument.objects.get(flow=flow)
    stored = target.entries[doc.target_entry_id]
    assert stored.state == "draft"
    stored.attachments.clear()  # the attach call never happened
    flow.create_as_draft = False
    flow.save()
    forget_entry(doc, status=DocumentStatus.PENDING, pending=doc.source_version)

    sync(flow)

    assert target.entry_count() == 1
    assert stored.state == "posted" and stored.attachments
    doc.refresh_from_db()
    assert (doc.status, doc.target_state) == (DocumentStatus.SYNCED, "posted")
