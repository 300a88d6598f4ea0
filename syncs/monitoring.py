"""Status monitoring (issue 17): after submitting, the hub follows each document's status in the target.

Targets with the "status_monitoring" feature (Netvisor, Procountor) process what they receive: an invoice is sent
to its customer, approved, paid, or refused while being processed. At the end of each run (never in a dry run) the
engine asks the target, in batches of the connector's `status_batch` (else `BATCH`), where the documents it booked stand (`entry_statuses`), for every
document of the flow whose status is not final yet, and keeps the answer on the document (`target_status`, the
target's own word, its reason, when it last changed; an unchanged status writes nothing). A document the target refused after receiving it becomes a catalogued
error on that document (TARGET_REJECTED, the target's reason quoted): its binding is released so that the retry,
once the cause is fixed, sends it again as a new document. A document the target no longer lists is said so
(MISSING), never sent again on that ground alone. Payments are followed the same way: PAID once settled there.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.utils import timezone

from integration_hub.connectors.types import TargetState
from syncs import catalogue
from syncs.entries import DocumentProblem
from syncs.models import DocumentOutcome, DocumentStatus, SyncDocument
from syncs.recording import open_errors, save_outcomes

if TYPE_CHECKING:  # pragma: no cover
    from syncs.engine import Engine

logger = logging.getLogger(__name__)

BATCH = 100
FINAL = (TargetState.PAID, TargetState.CANCELLED)


def monitored(flow) -> bool:
    try:
        return "status_monitoring" in flow.target.descriptor.features
    except Exception:  # noqa: BLE001 - a provider no longer enabled: nothing to follow
        return False


def to_follow(flow):
    """The flow's documents the target holds and has not settled for good."""
    return (SyncDocument.objects.filter(flow=flow, status=DocumentStatus.SYNCED).exclude(target_entry_id="")
            .exclude(target_status__in=[state.value for state in FINAL]).order_by("pk"))


def follow(engine: "Engine") -> int:
    """Ask the target where the flow's open documents stand; record it. Returns how many changed status."""
    flow = engine.flow
    if engine.dry_run or not monitored(flow):
        return 0
    changed = 0
    last_pk = 0
    batch = int(getattr(getattr(engine.target, "_connector", engine.target), "status_batch", BATCH) or BATCH)
    while True:
        docs = list(to_follow(flow).filter(pk__gt=last_pk)[:batch])
        if not docs:
            return changed
        last_pk = docs[-1].pk
        statuses = engine.target.entry_statuses([doc.target_entry_id for doc in docs])
        changed += _record(engine, docs, statuses)


def _record(engine: "Engine", docs: list[SyncDocument], statuses: dict) -> int:
    now = timezone.now()
    moved, rejected, outcomes = [], [], []
    for doc in docs:
        status = statuses.get(doc.target_entry_id)
        if status is None:
            continue
        state = TargetState(status.state)
        label, reason = (status.label or "")[:60], (status.reason or "")[:500]
        if (doc.target_status, doc.target_status_label, doc.target_status_reason) == (state.value, label, reason):
            continue  # unchanged: nothing written
        doc.target_status, doc.target_status_label, doc.target_status_reason = state.value, label, reason
        doc.target_status_at = now  # when it last changed
        moved.append(doc)
        if state == TargetState.REJECTED:
            rejected.append(doc)
    SyncDocument.objects.bulk_update(moved, ["target_status", "target_status_label", "target_status_reason",
                                             "target_status_at"])
    problems = []
    for doc in rejected:
        problem = DocumentProblem(
            catalogue.TARGET_REJECTED,
            f"{engine.flow.target.name} refused invoice {doc.source_number or doc.source_id} after receiving it"
            + (f": {doc.target_status_reason}" if doc.target_status_reason else "."),
            provider_message=doc.target_status_reason, details={"target_entry_id": doc.target_entry_id,
                                                                "target_status": doc.target_status_label})
        # the refused document no longer counts there: the retry sends it again as a new one
        doc.status, doc.source_version, doc.pending_version = DocumentStatus.ERROR, "", ""
        doc.target_entry_id = doc.target_number = doc.target_state = ""
        doc.save(update_fields=["status", "source_version", "pending_version", "target_entry_id", "target_number",
                                "target_state", "updated_at"])
        outcomes.append(DocumentOutcome(run=engine.run, document=doc, status=DocumentStatus.ERROR,
                                        error_code=problem.code, message=problem.message[:2000]))
        problems.append((doc, problem))
        engine.counts.errors += 1
        logger.info("flow %s: document %s refused by the target after it was received", engine.flow.pk, doc.pk)
    save_outcomes(engine.run, outcomes)
    open_errors(engine.flow, engine.run, problems, now)
    return len(moved)
