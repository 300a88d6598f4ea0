"""Invoices cancelled or deleted in the invoicing tool after the hub booked them.

What becomes of the entry depends on its state in the accounting tool, asked at that moment (an
accountant may have posted a draft, or deleted an entry, since the hub last wrote it):
- no entry there (never booked, or removed by hand): the document is marked cancelled and its open
  error closed;
- a draft: deleted in accounting, the document marked cancelled;
- posted: a catalogued error (SOURCE_CANCELLED) waits for a person, whose desk action *Book the
  reversal* books, exactly once, the posted entry that cancels it.

The engine hands over the cancelled invoices a run meets (`settle_cancelled`) and, at the end of a
full run, asks the source which booked documents still exist (`check_presence`). An invoice the hub
never booked is simply skipped.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integration_hub.connectors.base import hub_setting
from integration_hub.connectors.errors import ConnectorError, NotFound, PeriodClosed, PermanentError
from integration_hub.connectors.http import CallLog
from integration_hub.connectors.types import EntryResult, Invoice
from syncs import catalogue
from syncs.entries import DocumentProblem
from syncs.models import DocumentOutcome, DocumentStatus, ErrorStatus, SyncDocument, SyncError
from syncs.recording import open_errors, save_outcomes

if TYPE_CHECKING:  # pragma: no cover
    from syncs.engine import Engine

logger = logging.getLogger(__name__)

CANCELLED, DELETED = "cancelled", "deleted"
PRESENCE_CHUNK = 100  # document ids per question to the source
WORDS = {CANCELLED: "cancelled in the invoicing tool", DELETED: "deleted in the invoicing tool"}


@dataclass
class Gone:
    """A booked document the source cancelled or deleted."""

    doc: SyncDocument
    how: str  # cancelled | deleted
    day: dt.date | None = None  # the day of the cancellation, when the source tells
    invoice: Invoice | None = None

    @property
    def number(self) -> str:
        return self.doc.source_number or (self.invoice.number if self.invoice else "") or self.doc.source_id


def reversal_reference(doc: SyncDocument) -> str:
    return f"{doc.reference}-reversal"


def cancellation_day(invoice: Invoice) -> dt.date | None:
    """The day the source last changed a cancelled invoice: the day it was cancelled."""
    moment = invoice.updated_at
    if not isinstance(moment, dt.datetime):
        return None
    return timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()


# --- seeing it, in a run ------------------------------------------------------------------------------
def settle_cancelled(engine: "Engine", pairs: Iterable[tuple[Invoice, SyncDocument | None]]) -> None:
    """Cancelled invoices of one batch: those never booked are skipped, the others settled."""
    gone = []
    for invoice, doc in pairs:
        if doc is None:
            engine.counts.skipped += 1
            engine._preview(invoice, "skipped")
        elif doc.status == DocumentStatus.CANCELLED:
            engine._preview(invoice, "unchanged")
        else:
            gone.append(Gone(doc, CANCELLED, cancellation_day(invoice), invoice))
    if gone:
        settle(engine, gone)


def check_presence(engine: "Engine") -> None:
    """Ask the source whether the booked documents checked longest ago (HUB_PRESENCE_CHECK_BATCH of them,
    never checked first) still exist; the missing ones are settled as deleted. A source that cannot answer
    leaves the rest for the next run: the run itself is not failed for it."""
    limit = int(hub_setting("HUB_PRESENCE_CHECK_BATCH", 500))
    if limit <= 0:
        return
    reported = SyncError.objects.filter(flow=engine.flow, status=ErrorStatus.OPEN, code=catalogue.SOURCE_CANCELLED)
    documents = list(SyncDocument.objects.filter(flow=engine.flow, status__in=[DocumentStatus.SYNCED,
                                                                               DocumentStatus.ERROR])
                     .exclude(target_entry_id="").exclude(pk__in=reported.values("document_id"))
                     .order_by(F("presence_checked_at").asc(nulls_first=True), "pk")[:limit])
    for start in range(0, len(documents), PRESENCE_CHUNK):
        chunk = documents[start:start + PRESENCE_CHUNK]
        try:
            existing = engine.source.existing_invoice_ids([d.source_id for d in chunk])
            missing = [Gone(d, DELETED) for d in chunk if d.source_id not in existing]
            if missing:
                settle(engine, missing)
        except ConnectorError as exc:
            logger.warning("checking that booked documents still exist stopped: %s", exc)
            return
        SyncDocument.objects.filter(pk__in=[d.pk for d in chunk]).update(presence_checked_at=timezone.now())


def settle(engine: "Engine", gone: list[Gone]) -> None:
    """One question to the target for the lot (where each entry is, and in which state), then each document."""
    if engine.dry_run:
        for item in gone:
            if item.invoice is not None:
                engine._preview(item.invoice, "cancelled")
        return
    found = engine.target.find_entries_by_reference([item.doc.reference for item in gone])
    outcomes: list[DocumentOutcome] = []
    for item in gone:
        outcome = _settle_one(engine, item, found.get(item.doc.reference))
        if outcome is not None:
            outcomes.append(outcome)
    save_outcomes(engine.run, outcomes)


def _settle_one(engine: "Engine", item: Gone, entry: EntryResult | None) -> DocumentOutcome | None:
    doc = item.doc
    if entry is None:
        shown = doc.target_number or doc.target_entry_id
        note = f"Entry {shown} is no longer in accounting." if shown else "Nothing had been booked for it."
        return _mark_cancelled(engine, item, "none", note)
    shown = entry.number or doc.target_number or entry.entry_id
    if entry.state == "draft":
        try:
            engine.target.delete_entry(entry.entry_id)
        except NotFound:
            pass  # gone already: what was wanted
        except PermanentError as exc:
            return _report(engine, item, entry, DocumentProblem(
                catalogue.TARGET_REJECTED, f"Invoice {item.number} was {WORDS[item.how]}; the accounting tool "
                f"refused to delete its draft entry {shown}: {exc}", provider_message=exc.provider_message or ""))
        return _mark_cancelled(engine, item, "deleted", f"Draft entry {shown} deleted in accounting.")
    if SyncError.objects.filter(document=doc, status=ErrorStatus.OPEN, code=catalogue.SOURCE_CANCELLED).exists():
        return None  # reported already, waiting for a person
    day = f" on {item.day.isoformat()}" if item.day else ""
    return _report(engine, item, entry, DocumentProblem(
        catalogue.SOURCE_CANCELLED,
        f"Invoice {item.number} was {WORDS[item.how]}{day}, after its entry {shown} was posted in accounting.",
        details={"entry": entry.entry_id, "how": item.how, "day": item.day.isoformat() if item.day else ""}))


def _mark_cancelled(engine: "Engine", item: Gone, action: str, message: str) -> DocumentOutcome:
    doc, now = item.doc, timezone.now()
    doc.status, doc.source_gone, doc.pending_version = DocumentStatus.CANCELLED, item.how, ""
    doc.target_entry_id = doc.target_state = doc.target_number = ""  # nothing of it is left in accounting
    doc.last_run, doc.updated_at = engine.run, now
    doc.save(update_fields=["status", "source_gone", "pending_version", "target_entry_id", "target_state",
                            "target_number", "last_run", "updated_at"])
    SyncError.objects.filter(document=doc, status=ErrorStatus.OPEN).update(
        status=ErrorStatus.RESOLVED, resolved_at=now, resolution_note=WORDS[item.how].capitalize() + ".")
    engine.counts.skipped += 1
    return DocumentOutcome(run=engine.run, document=doc, status=DocumentStatus.CANCELLED, action=action,
                           message=f"{WORDS[item.how].capitalize()}. {message}")


def _report(engine: "Engine", item: Gone, entry: EntryResult, problem: DocumentProblem) -> DocumentOutcome:
    doc, now = item.doc, timezone.now()
    doc.status, doc.source_gone, doc.pending_version = DocumentStatus.ERROR, item.how, ""
    doc.target_entry_id, doc.target_state = entry.entry_id, entry.state
    doc.target_number = (entry.number or doc.target_number)[:128]
    doc.last_run, doc.updated_at = engine.run, now
    doc.save(update_fields=["status", "source_gone", "pending_version", "target_entry_id", "target_state",
                            "target_number", "last_run", "updated_at"])
    open_errors(engine.flow, engine.run, [(doc, problem)], now)
    engine.counts.errors += 1
    return DocumentOutcome(run=engine.run, document=doc, status=DocumentStatus.ERROR, error_code=problem.code,
                           message=problem.message[:2000])


# --- acting on it, from the error desk ------------------------------------------------------------------
@dataclass
class ReversalOutcome:
    error: SyncError
    ok: bool
    message: str


def book_reversals(*, errors, user) -> list[ReversalOutcome]:
    """*Book the reversal* on open SOURCE_CANCELLED errors: one accounting connection per flow."""
    from tenants.services import ConnectionUnusable, connection_connector

    chosen = list(errors.filter(status=ErrorStatus.OPEN, code=catalogue.SOURCE_CANCELLED)
                  .select_related("document", "flow", "flow__target").order_by("pk"))
    by_flow: dict[int, list[SyncError]] = {}
    for error in chosen:
        by_flow.setdefault(error.flow_id, []).append(error)
    outcomes = []
    for flow_errors in by_flow.values():
        flow = flow_errors[0].flow
        try:
            target = connection_connector(connection=flow.target, call_log=CallLog())
        except ConnectionUnusable as exc:
            outcomes += [ReversalOutcome(e, False, f"“{flow.target.name}” cannot be used: {exc}") for e in flow_errors]
            continue
        try:
            for error in flow_errors:
                try:
                    outcomes.append(book_reversal(target, error, user))
                except Exception as exc:  # noqa: BLE001 - one invoice never stops the others
                    logger.exception("booking the reversal of error %s failed", error.pk)
                    outcomes.append(ReversalOutcome(error, False, f"Invoice {error.document}: unexpected problem "
                                                                  f"({type(exc).__name__}). The error stays open; trying "
                                                                  "again never books a second reversal."))
        finally:
            target.close()
    return outcomes


def book_reversal(target, error: SyncError, user) -> ReversalOutcome:
    """Book the reversal of one document's posted entry, exactly once: the document's row is locked while
    the target is asked (a second click waits, then finds the error resolved), and the target looks the
    reversal's reference up before booking (a crash after booking never books a second one)."""
    with transaction.atomic():
        now = timezone.now()
        SyncDocument.objects.filter(pk=error.document_id).update(updated_at=now)  # takes the lock on every database
        doc = SyncDocument.objects.select_for_update().get(pk=error.document_id)
        error = SyncError.objects.select_for_update().get(pk=error.pk)
        if error.status != ErrorStatus.OPEN or error.code != catalogue.SOURCE_CANCELLED:
            return ReversalOutcome(error, False, f"Invoice {doc}: nothing to do, the error is no longer open.")
        day = _reversal_day(error)
        if not doc.reversal_entry_id:
            try:
                result = target.reverse_entry(doc.target_entry_id, date=day, reference=reversal_reference(doc))
            except PeriodClosed as exc:
                return _refused(error, f"The reversal of invoice {doc} is dated {day.isoformat()} (or its original "
                                       f"entry's date when later), in a period that is not open in accounting: {exc}",
                                exc)
            except ConnectorError as exc:
                verb = "could not be reached (try again in a moment)" if exc.retryable else "refused the reversal"
                return _refused(error, f"The accounting tool {verb} for invoice {doc}: {exc}", exc)
            doc.reversal_entry_id = result.entry_id
            shown = result.number or result.entry_id
        else:
            shown = doc.reversal_entry_id
        doc.status, doc.updated_at = DocumentStatus.CANCELLED, now
        doc.save(update_fields=["reversal_entry_id", "status", "updated_at"])
        note = f"Reversal {shown} booked in accounting (asked on {day.isoformat()})."
        SyncError.objects.filter(pk=error.pk).update(status=ErrorStatus.RESOLVED, resolved_by=user, resolved_at=now,
                                                     resolution_note=note)
        return ReversalOutcome(error, True, f"Invoice {doc}: {note}")


def _reversal_day(error: SyncError) -> dt.date:
    """The day of the cancellation when the source said it, else today (the target never goes before the
    original entry's date)."""
    try:
        return dt.date.fromisoformat((error.details or {}).get("day") or "")
    except (TypeError, ValueError):
        return timezone.localdate()


def _refused(error: SyncError, message: str, exc: ConnectorError) -> ReversalOutcome:
    """The error stays open; what the target answered is kept on it for the next person who looks."""
    provider = getattr(exc, "provider_message", "") or ""
    SyncError.objects.filter(pk=error.pk).update(provider_message=f"{message} {provider}".strip()[:4000])
    return ReversalOutcome(error, False, message)
