"""What a run writes about documents, shared by the invoices engine and the master data engine."""
from __future__ import annotations

from syncs.models import DocumentOutcome, DocumentStatus, ErrorStatus, SyncError


class BatchRecord:
    """What one batch of a run did to its documents, written at once by `save`: outcomes, the errors of the
    documents that went through closed, those of the documents that failed opened (or updated)."""

    def __init__(self, flow, run, counts) -> None:
        self.flow, self.run, self.counts = flow, run, counts
        self.outcomes: list[DocumentOutcome] = []
        self.synced_ids: list[int] = []
        self.problems: list[tuple] = []

    def synced(self, doc, action: str, steps: list[str] | None = None) -> None:
        doc.status = DocumentStatus.SYNCED
        self.synced_ids.append(doc.pk)
        self.counts.synced += 1
        self.outcomes.append(DocumentOutcome(run=self.run, document=doc, status=DocumentStatus.SYNCED, action=action,
                                             steps=list(steps or [])))

    def failed(self, doc, problem) -> None:
        """`problem`: a DocumentProblem (code, message, provider_message)."""
        doc.status = DocumentStatus.ERROR
        self.counts.errors += 1
        self.outcomes.append(DocumentOutcome(run=self.run, document=doc, status=DocumentStatus.ERROR,
                                             error_code=problem.code, message=problem.message[:2000]))
        self.problems.append((doc, problem))

    def save(self, now, *, verb: str) -> None:
        save_outcomes(self.run, self.outcomes)
        close_errors(self.synced_ids, run=self.run, now=now, verb=verb)
        open_errors(self.flow, self.run, self.problems, now)


def save_outcomes(run, outcomes: list[DocumentOutcome]) -> None:
    if run is not None and outcomes:
        DocumentOutcome.objects.bulk_create(outcomes)


def close_errors(document_ids: list[int], *, run, now, verb: str = "Synced") -> None:
    """Documents that went through: their open errors close by themselves."""
    if document_ids:
        SyncError.objects.filter(document_id__in=document_ids, status=ErrorStatus.OPEN).update(
            status=ErrorStatus.RESOLVED, resolved_at=now, resolution_note=f"{verb} by run {run.pk if run else '-'}.")


def open_errors(flow, run, problems: list[tuple], now) -> None:
    """(document, DocumentProblem-like) pairs: one open error per document, updated when it recurs."""
    if not problems:
        return
    existing = {e.document_id: e for e in SyncError.objects.filter(
        document_id__in=[doc.pk for doc, _ in problems], status=ErrorStatus.OPEN)}
    to_create, to_update = [], []
    for doc, problem in problems:
        error = existing.get(doc.pk)
        details = getattr(problem, "details", None) or {}
        if error is not None:
            error.code, error.message = problem.code, problem.message
            error.provider_message, error.details = problem.provider_message, details
            error.occurrences += 1
            error.run, error.last_seen_at = run, now
            to_update.append(error)
        else:
            to_create.append(SyncError(tenant_id=flow.tenant_id, flow=flow, document=doc, run=run, code=problem.code,
                                       message=problem.message, provider_message=problem.provider_message,
                                       details=details))
    if to_create:
        SyncError.objects.bulk_create(to_create)
    if to_update:
        SyncError.objects.bulk_update(to_update, ["code", "message", "provider_message", "details", "occurrences",
                                                  "run", "last_seen_at"])
