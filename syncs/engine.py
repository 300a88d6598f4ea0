"""The invoices sync engine: source documents in, balanced entries out, exactly once.

How "exactly once" holds, even if the process dies at any instant:
1. before an entry is sent, its document is written as `pending` with the hub's reference and the
   fingerprint being sent (committed);
2. the target receives the entry with that reference on it;
3. the binding is written `synced` with the target's id.
A crash between 1 and 3 leaves `pending` documents; the next run asks the target for their
references before sending anything, and binds what it finds instead of creating it again.
Runs of one flow never overlap (a partial unique index allows one queued-or-running run per flow).
"""
from __future__ import annotations

import datetime as dt
import heapq
import inspect
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from typing import Callable, Iterable, Iterator

from django.db import transaction

from syncs.rates import RateResolver
from django.utils import timezone

from integration_hub.connectors.budget import BudgetExhausted
from integration_hub.connectors.errors import (
    ConnectorError,
    NeedsReauthorization,
    NotFound,
    PeriodClosed,
    PermanentError,
    RateLimited,
)
from integration_hub.connectors.base import hub_setting
from integration_hub.connectors.http import CallLog
from integration_hub.connectors.text import normalise_name
from integration_hub.connectors.types import Invoice, JournalEntry, Partner, Scope
from mappings.models import Flow, JournalMapping, VatMapping
from syncs import cancellations, catalogue, monitoring, payments
from syncs.entries import (
    DocumentProblem,
    FlowSettings,
    TargetCatalog,
    build_entry,
    precheck,
    rate_key,
    reference_for,
    unexpected_problem,
    usable_amount,
    validate_invoice,
)
from syncs.dbutil import bulk_set
from syncs.dimensions import dimension_map
from syncs.fingerprint import invoice_fingerprint, same_version
from syncs.recording import close_errors, open_errors, save_outcomes
from syncs.models import (
    DocumentOutcome,
    DocumentStatus,
    ErrorStatus,
    PartnerLink,
    RunStatus,
    SyncDocument,
    SyncError,
    SyncRun,
)
from tenants.models import Connection, ConnectionStatus
from tenants.services import ConnectionUnusable, connection_connector, connection_mark, connection_needs_reauth

logger = logging.getLogger(__name__)

BATCH_SIZE = 50


def _failpoint(name: str) -> None:
    """Crash tests set HUB_FAILPOINT to kill this process (SIGKILL) at a precise point of a run."""
    if os.environ.get("HUB_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def default_batch_size() -> int:
    from django.conf import settings

    return int(getattr(settings, "HUB_SYNC_BATCH_SIZE", BATCH_SIZE))
LISTING_MARGIN = dt.timedelta(minutes=2)  # clock skew between the hub and the source


class RunAborted(Exception):
    """The run cannot go on (connection refused, target unreachable, lock lost)."""


class Patience:
    """How a run rides out an outage: a temporary failure (a server error, a timeout, a lost answer, after the HTTP
    layer's own quick repeats) pauses the run and the work in hand is done again, settled by reference first, so
    nothing is booked twice. Pauses double from HUB_SYNC_OUTAGE_PAUSE (1 s) up to 30 s. The run gives up only when the tools stay unreachable
    for longer than HUB_SYNC_UNREACHABLE_BUDGET seconds (default 300) in a row, and says what it was doing."""

    def __init__(self) -> None:
        self.budget = float(hub_setting("HUB_SYNC_UNREACHABLE_BUDGET", 300))
        self.started: float | None = None
        self.pauses = 0

    def ok(self) -> None:
        self.started = None

    def wait_or_give_up(self, error: ConnectorError, what: str) -> None:
        """After `error` while `what`: pause and return (the caller tries again) or raise RunAborted."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
        spent = now - self.started
        side = getattr(error, "side", "")
        tool = {"source": "The invoicing tool", "target": "The accounting tool"}.get(side, "A connected tool")
        if spent >= self.budget:
            raise RunAborted(
                f"{tool} stayed unreachable for {spent:.0f} s while {what} (the limit is {self.budget:.0f} s, "
                f"HUB_SYNC_UNREACHABLE_BUDGET). Last failure: {error}. Nothing is lost: documents not booked yet stay "
                "pending, and the next run asks accounting for them before sending anything.") from error
        first = float(hub_setting("HUB_SYNC_OUTAGE_PAUSE", 1.0))
        pause = min(30.0, first * 2.0 ** min(self.pauses, 5), self.budget - spent)
        self.pauses += 1
        logger.warning("%s while %s: %s; trying again in %.1f s", tool, what, error, pause)
        time.sleep(max(0.0, pause))

    @staticmethod
    def rides_out(error: ConnectorError) -> bool:
        """A failure worth waiting out: temporary, and not a rate limit (those have their own path)."""
        return error.retryable and not isinstance(error, RateLimited)


@dataclass
class Preview:
    """What a dry run would do with one document."""

    invoice: Invoice
    action: str  # create | update | unchanged | waiting | error | skipped | cancelled
    entry: JournalEntry | None = None
    problem: DocumentProblem | None = None
    notes: list[str] = field(default_factory=list)  # what the target will make of the entry (Xero: its document)


@dataclass
class Counts:
    seen: int = 0
    synced: int = 0
    errors: int = 0
    waiting: int = 0
    skipped: int = 0


@dataclass
class _Work:
    invoice: Invoice
    doc: SyncDocument | None
    fingerprint: str
    action: str = "create"  # create | update | bind
    entry: JournalEntry | None = None
    problem: DocumentProblem | None = None
    waiting: bool = False
    attachment: object = None
    partner_target_id: str = ""
    result_entry_id: str = ""
    result_state: str = ""
    result_number: str = ""
    done_action: str = ""
    needs_post: bool = False  # a draft of ours found in a posting flow: only the posting is missing
    needs_file: bool = False  # an entry of ours found without its file
    steps: list[str] = field(default_factory=list)  # what this run did for the document, shown in its history


def _safe_fingerprint(invoice: Invoice) -> str:
    """The fingerprint of a document that may be malformed (it must still tell a changed document)."""
    try:
        return invoice_fingerprint(invoice)
    except Exception:  # noqa: BLE001
        import hashlib

        return hashlib.sha256(repr(invoice).encode("utf-8", "replace")).hexdigest()


def chunked(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _numbers(invoices: list[Invoice], shown: int = 5) -> str:
    numbers = [str(i.number or i.id) for i in invoices[:shown]]
    return ", ".join(numbers) + (f" and {len(invoices) - shown} more" if len(invoices) > shown else "")


def newest_by_issue_date(invoices: Iterable[Invoice], count: int) -> Iterator[Invoice]:
    """The `count` most recent documents of a listing by issue date (the oldest of them first), read in one pass
    that never holds more than `count` of them: what a dry run previews of a large source."""
    heap: list[tuple[int, int, Invoice]] = []
    for order, invoice in enumerate(invoices):
        day = invoice.issue_date
        item = (day.toordinal() if isinstance(day, dt.date) else 0, order, invoice)  # same day: the later listed
        if len(heap) < count:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)
    while heap:
        yield heapq.heappop(heap)[2]


def close_quietly(*connectors) -> None:
    """Close connectors at the end of a run or a page view; a failure to close never hides the real outcome."""
    for connector in connectors:
        try:
            connector.close()
        except Exception:  # noqa: BLE001
            logger.debug("closing a connector failed", exc_info=True)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def flow_settings(flow: Flow) -> FlowSettings:
    vat_by_tax, vat_by_rate, due_by_tax, due_by_rate = {}, {}, {}, {}
    for mapping in VatMapping.objects.filter(flow=flow).order_by("pk"):
        vat_by_tax[(mapping.kind, mapping.source_tax_id)] = mapping.target_vat_code_id
        rate = ("rc:" if mapping.reverse_charge else "") + rate_key(mapping.source_rate)
        vat_by_rate.setdefault((mapping.kind, rate), mapping.target_vat_code_id)
        if mapping.reverse_charge and mapping.due_vat_code_id:
            due_by_tax[(mapping.kind, mapping.source_tax_id)] = mapping.due_vat_code_id
            due_by_rate.setdefault((mapping.kind, rate), mapping.due_vat_code_id)
    journal_map = dict(JournalMapping.objects.filter(flow=flow).values_list("source_journal", "target_journal_id"))
    return FlowSettings(
        flow_id=flow.pk,
        label_option=flow.label_option,
        booking_date=flow.booking_date,
        separate_discounts=flow.separate_discounts,
        journal_mode=flow.journal_mode,
        tolerance=flow.rounding_tolerance,
        base_currency=flow.tenant.base_currency,
        journals={"sale": flow.sales_journal_id, "purchase": flow.purchase_journal_id},
        journal_map=journal_map,
        default_accounts={"sale": flow.default_sales_account, "purchase": flow.default_purchase_account},
        collectives={"sale": flow.customer_collective_account, "purchase": flow.supplier_collective_account},
        discount_accounts={"sale": flow.sales_discount_account, "purchase": flow.purchase_discount_account},
        credit_rounding_account=flow.credit_rounding_account,
        debit_rounding_account=flow.debit_rounding_account,
        rounding_vat={"sale": flow.sales_rounding_vat_code_id, "purchase": flow.purchase_rounding_vat_code_id},
        vat_by_tax=vat_by_tax,
        vat_by_rate=vat_by_rate,
        due_by_tax=due_by_tax,
        due_by_rate=due_by_rate,
        dimension_map=dimension_map(flow),
        unmapped_dimension=flow.unmapped_dimension,
        books_entries="journal_entries" in flow.target.descriptor.features,
    )


def open_connector(connection: Connection, call_log: CallLog):
    try:
        return connection_connector(connection=connection, call_log=call_log)
    except ConnectionUnusable as exc:
        raise RunAborted(f"“{connection.name}” cannot be used: {exc}") from None


class Engine:
    def __init__(self, flow: Flow, *, run: SyncRun | None = None, dry_run: bool = False, batch_size: int | None = None,
                 progress: Callable[[int, int | None], None] | None = None, limit: int | None = None,
                 newest: int | None = None) -> None:
        self.flow = flow
        # a dry run that previews the `newest` most recent documents of the listing (by issue date) and nothing else
        self.newest = newest if dry_run else None
        self.run = run
        self.dry_run = dry_run
        self.batch_size = batch_size or default_batch_size()
        self.progress = progress
        self.limit = limit
        self.call_log = CallLog()
        self.counts = Counts()
        self.previews: list[Preview] = []
        self.done: set[str] = set()  # documents handled by the retry pass, skipped when the listing meets them
        self.settings = flow_settings(flow)
        self.scope = Scope(flow.scope)
        self._catalog: TargetCatalog | None = None
        self._rates: RateResolver | None = None
        self._verified_partners: set[str] = set()
        self._upgrades: list[tuple[SyncDocument, str]] = []  # fingerprints to store in the current format
        self.cancelled: list[tuple[Invoice, SyncDocument | None]] = []  # met in the batch, see cancellations.py
        self.total: int | None = None
        self.cursor_after: dt.datetime | None = None
        self.patience = Patience()
        self._unfinished: list[str] = []  # documents of the listing that ended in error or waiting in this run
        if flow.source is None or flow.target is None:
            raise RunAborted(f"“{flow.name}” has no {'invoicing' if flow.source is None else 'accounting'} tool "
                             "connected yet; finish its setup first.")
        self.source = SideTagged(open_connector(flow.source, self.call_log), "source")
        self.target = SideTagged(open_connector(flow.target, self.call_log), "target")
        if batch_size is None:
            # A target whose calls are rationed (Xero: 60 a minute) takes several calls' worth of documents per
            # batch, so that each call is full: invoices and credit notes, and new contacts, go separately.
            self.batch_size *= max(1, int(getattr(self.target._connector, "batches_per_run_batch", 1) or 1))
        if run is not None and not dry_run:
            # A wait for a call budget (Xero: 60 calls a minute) may be long: the run shows it is alive meanwhile.
            for side in (self.source, self.target):
                if hasattr(side._connector, "budget_wait_hook"):
                    side._connector.budget_wait_hook = self._heartbeat

    # --- reference data -------------------------------------------------------------------------
    @property
    def catalog(self) -> TargetCatalog:
        if self._catalog is None:
            accounts = {a.number: a for a in self.target.list_accounts()}
            vat_codes = {v.id: v for v in self.target.list_vat_codes()}
            self._catalog = TargetCatalog(accounts=accounts, vat_codes=vat_codes)
        return self._catalog

    # --- the run ------------------------------------------------------------------------------
    def execute(self, *, since: dt.datetime | None = None, document_ids: list[int] | None = None) -> list[Preview]:
        """Run the flow. Raises RunAborted (or a ConnectorError) when the run cannot finish."""
        flow = self.flow
        floor = (dt.datetime.combine(flow.start_date, dt.time.min, tzinfo=dt.timezone.utc)
                 if flow.start_date else None)
        cursor = since if since is not None else flow.cursor
        if cursor is None or (floor is not None and cursor < floor):
            cursor = floor
        listing_started = timezone.now() - LISTING_MARGIN
        try:
            if document_ids:
                retry = SyncDocument.objects.filter(flow=flow, pk__in=document_ids)
                self._process_known(retry)
            else:
                if not self.newest:
                    self._process_known(self._documents_to_retry())
                self.total = self._patiently("counting the documents to read",
                                             lambda: self.source.count_invoices(since=cursor, scope=self.scope))
                self._process_listing(cursor)
                if not self.dry_run and not self.limit:
                    self.cursor_after = listing_started
                    # documents deleted in the source since they were booked
                    self._patiently("checking that booked documents still exist", lambda: cancellations.check_presence(self))
                    # where what was sent stands in the target now (accepted, paid, refused afterwards: issue 17)
                    self._patiently("following the documents' status in accounting", lambda: monitoring.follow(self))
        finally:
            self.close()
        return self.previews

    def close(self) -> None:
        close_quietly(self.source, self.target)

    def _documents_to_retry(self):
        manual_only = [code for code, entry in catalogue.CATALOGUE.items() if not entry.retry_automatically]
        blocked = SyncError.objects.filter(flow=self.flow, status=ErrorStatus.OPEN, code__in=manual_only)
        return (SyncDocument.objects.filter(flow=self.flow, status__in=[DocumentStatus.ERROR, DocumentStatus.WAITING,
                                                                          DocumentStatus.PENDING])
                .exclude(pk__in=blocked.values("document_id")).order_by("pk"))

    def _patiently(self, what: str, step: Callable[[], object]):
        """Do `step`; on a temporary failure, pause and do it again (see Patience). A step is a unit of work that is
        safe to repeat: a read, or a batch whose writes are settled by reference."""
        while True:
            try:
                result = step()
            except RunAborted:
                raise
            except ConnectorError as exc:
                if not Patience.rides_out(exc):
                    raise
                self.patience.wait_or_give_up(exc, what)
                continue
            self.patience.ok()
            return result

    def _batch_patiently(self, what: str, invoices: list[Invoice], retrying: bool = False) -> None:
        """A batch done again after a failure starts from the same counts: what it did before the failure is
        recorded in the hub (pending documents) or in the target (found again by reference)."""
        done, counts, previews = set(self.done), Counts(**vars(self.counts)), len(self.previews)

        def step():
            self.done, self.counts = set(done), Counts(**vars(counts))
            del self.previews[previews:]
            self.cancelled, self._upgrades = [], []
            self._process_batch(invoices, retrying=retrying)

        self._patiently(what, step)

    def _process_known(self, documents) -> None:
        """Documents already known to the hub (errors, waiting, pending): fetched again by id."""
        for chunk in chunked(documents.iterator(chunk_size=500), self.batch_size):
            by_source = {doc.source_id: doc for doc in chunk}
            invoices = self._patiently("reading documents to retry",
                                       lambda: self.source.get_invoices(list(by_source)))
            found = {invoice.id for invoice in invoices}
            gone = [doc for source_id, doc in by_source.items() if source_id not in found]
            if gone and not self.dry_run:
                self._forget(gone)
            if invoices:
                self._batch_patiently(f"syncing documents {_numbers(invoices)}", invoices, retrying=True)

    def _process_listing(self, cursor) -> None:
        """The documents changed since the cursor. When the listing itself breaks off, it is read again from the
        start: documents booked meanwhile are recognised as unchanged; those that ended in error or waiting are
        not done twice in the same run."""
        seen, skipped = self.counts.seen, self.counts.skipped
        while True:
            stream = self.source.list_invoices(since=cursor, scope=self.scope, page_size=100)
            if self.newest:
                stream = newest_by_issue_date(stream, self.newest)
            elif self.limit:
                stream = islice(stream, self.limit)
            try:
                for batch in chunked(stream, self.batch_size):
                    self.patience.ok()
                    self._batch_patiently(f"syncing documents {_numbers(batch)}", batch)
                    self.done.update(self._unfinished)
                    self._unfinished = []
                return
            except RunAborted:
                raise
            except ConnectorError as exc:
                if not Patience.rides_out(exc):
                    raise
                self.patience.wait_or_give_up(exc, "listing the documents changed since the last run")
                self.counts.seen, self.counts.skipped = seen, skipped

    def _forget(self, documents: list[SyncDocument]) -> None:
        """Documents deleted in the source: nothing left to sync, their errors are closed."""
        now = timezone.now()
        ids = [d.pk for d in documents if not d.target_entry_id]
        SyncDocument.objects.filter(pk__in=ids).update(status=DocumentStatus.SKIPPED, updated_at=now)
        SyncError.objects.filter(document_id__in=ids, status=ErrorStatus.OPEN).update(
            status=ErrorStatus.RESOLVED, resolved_at=now,
            resolution_note="The document no longer exists in the invoicing tool.")
        self.counts.skipped += len(ids)

    # --- one batch ------------------------------------------------------------------------------
    def _classify(self, invoices: list[Invoice], retrying: bool) -> list[_Work]:
        ids = [i.id for i in invoices if i.id not in self.done]
        docs = {d.source_id: d for d in SyncDocument.objects.filter(flow=self.flow, source_id__in=ids)}
        work: list[_Work] = []
        for invoice in invoices:
            if invoice.id in self.done:
                continue
            if retrying:
                self.done.add(invoice.id)
            self.counts.seen += 1
            try:
                item = self._classify_one(invoice, docs.get(invoice.id))
            except Exception as exc:  # noqa: BLE001 - one document never stops the flow
                logger.warning("classifying invoice %s failed", invoice.id, exc_info=True)
                item = _Work(invoice=invoice, doc=docs.get(invoice.id), fingerprint=_safe_fingerprint(invoice),
                             problem=unexpected_problem(invoice, "reading it", exc))
            if item is not None:
                work.append(item)
        return work

    def _classify_one(self, invoice: Invoice, doc: SyncDocument | None) -> _Work | None:
        """What to do with one document (None: nothing, it is skipped or unchanged)."""
        if invoice.cancelled:  # settled for the whole batch once it is classified
            self.cancelled.append((invoice, doc))
            return None
        dated = isinstance(invoice.issue_date, dt.date)
        before_start = bool(self.flow.start_date and dated and invoice.issue_date < self.flow.start_date)
        try:
            out_of_scope = not self.scope.includes(invoice.kind)
        except Exception:  # noqa: BLE001 - an unreadable kind is the validation's to report
            out_of_scope = False
        if before_start or out_of_scope:  # not the flow's: skipped, even when malformed
            self.counts.skipped += 1
            self._preview(invoice, "skipped")
            return None
        try:
            validate_invoice(invoice)
        except DocumentProblem as problem:
            return _Work(invoice=invoice, doc=doc, fingerprint=_safe_fingerprint(invoice), problem=problem)
        if (self.flow.start_date and invoice.issue_date < self.flow.start_date) or not self.scope.includes(invoice.kind):
            self.counts.skipped += 1
            self._preview(invoice, "skipped")
            return None
        fingerprint = invoice_fingerprint(invoice)
        item = _Work(invoice=invoice, doc=doc, fingerprint=fingerprint)
        if doc is not None:
            unchanged = same_version(doc.source_version, invoice, fingerprint)
            if unchanged and doc.source_version != fingerprint:
                self._upgrades.append((doc, fingerprint))  # same document, stored in an older format
            if (unchanged and doc.status == DocumentStatus.SYNCED) or (
                    doc.status == DocumentStatus.SKIPPED and same_version(doc.seen_version, invoice, fingerprint)):
                self._preview(invoice, "unchanged")
                return None
            if not doc.target_entry_id:
                # Known to the hub but with no entry recorded: a run may have created it and died (or lost
                # the answer) before recording it. Ask the target for its reference first, every time.
                item.action = "bind"
            else:
                if doc.target_state == "posted":
                    if unchanged:
                        self._preview(invoice, "unchanged")
                        return None
                    item.problem = DocumentProblem(
                        catalogue.POSTED_ENTRY_CHANGED,
                        f"Invoice {invoice.number} changed after its entry {doc.target_number or doc.target_entry_id} "
                        "was posted in accounting.", details={"entry": doc.target_entry_id})
                else:
                    item.action = "update"
        return item

    def _duplicates(self, work: list[_Work]) -> None:
        """A document whose number and third party are those of another document of the flow waits for a person
        to confirm it is not a duplicate. The other one wins when it is booked, or known to the hub before it
        (an earlier document, or earlier in this batch): of two copies, the first books, the second waits."""
        fresh = [w for w in work if w.problem is None and not (w.doc and (w.doc.target_entry_id or
                                                                          w.doc.duplicate_confirmed))]
        if not fresh:
            return

        def key(number, partner, kind):
            return normalise_name(number), normalise_name(partner), kind

        rivals: dict[tuple, list[tuple[str, int, str]]] = {}  # key -> (source id, hub id, entry number)
        numbers = {w.invoice.number for w in fresh if w.invoice.number}
        for source_id, pk, number, partner, kind, entry, entry_id in SyncDocument.objects.filter(
                flow=self.flow, source_number__in=numbers).exclude(
                status__in=[DocumentStatus.SKIPPED, DocumentStatus.CANCELLED]).values_list(
                "source_id", "pk", "source_number", "partner_name", "kind", "target_number", "target_entry_id"):
            rivals.setdefault(key(number, partner, kind), []).append((source_id, pk, entry or entry_id))
        for item in fresh:
            invoice = item.invoice
            if not invoice.number or invoice.partner is None:
                continue
            k = key(invoice.number, invoice.partner.name, str(invoice.kind))
            mine = item.doc.pk if item.doc else None
            winner = next((r for r in rivals.get(k, []) if r[0] != invoice.id and (
                r[2] or r[1] is None or mine is None or r[1] < mine)), None)
            if winner is None:
                rivals.setdefault(k, []).append((invoice.id, None, ""))  # earlier in this batch: it wins
                continue
            item.problem = DocumentProblem(
                catalogue.DUPLICATE_NUMBER,
                f"Invoice {invoice.number} from {invoice.partner.name} has the same number as another invoice of "
                f"this flow{' (entry ' + winner[2] + ')' if winner[2] else ''}: confirm it is not a duplicate to "
                "book it.", details={"other_source_id": winner[0]})

    def _process_batch(self, invoices: list[Invoice], retrying: bool = False) -> None:
        work = self._classify(invoices, retrying)
        if self.cancelled:
            cancelled, self.cancelled = self.cancelled, []
            cancellations.settle_cancelled(self, cancelled)
        self._duplicates(work)
        if self._upgrades and not self.dry_run:
            for doc, fingerprint in self._upgrades:
                doc.source_version = fingerprint
            bulk_set([doc for doc, _ in self._upgrades], ["source_version"])
        self._upgrades = []
        if work:
            ready = [w for w in work if w.problem is None]
            self._precheck(ready)
            ready = [w for w in ready if w.problem is None]
            self._attachments(ready)
            ready = [w for w in ready if w.problem is None and not w.waiting]
            self._partners(ready)
            for item in ready:
                if item.problem is None:
                    self._build(item)
            if self.dry_run:
                for item in work:
                    self._preview_work(item)
            else:
                self._send(work)
        if self.flow.sync_payments and not self.dry_run:
            payments.book_batch(self, invoices)  # payments of the batch's booked invoices (lettering)
        if self.progress:
            self.progress(self.counts.seen, self.total)
        if self.run is not None and not self.dry_run:
            self._heartbeat()

    def _precheck(self, items: list[_Work]) -> None:
        catalog = self.catalog
        for item in items:
            try:
                self._complete_rate(item.invoice)
                precheck(item.invoice, self.settings, catalog)
            except DocumentProblem as problem:
                item.problem = problem
            except RunAborted:
                raise
            except Exception as exc:  # noqa: BLE001 - one document never stops the flow
                logger.warning("checking invoice %s failed", item.invoice.id, exc_info=True)
                item.problem = unexpected_problem(item.invoice, "checking its amounts and mappings", exc)

    def _complete_rate(self, invoice: Invoice) -> None:
        """A foreign invoice without a rate of its own gets one from the target's table or the operator's source
        (a failing call to the target stops the run, so a later run uses the same rate, never another)."""
        if self._rates is None:
            self._rates = RateResolver(self.target, self.settings.base_currency)
        accounting = self.settings.booking_date == "accounting" and invoice.accounting_date
        try:
            self._rates.complete(invoice, invoice.accounting_date if accounting else invoice.issue_date)
        except ConnectorError as exc:
            if exc.retryable:
                raise  # the batch is done again after a pause (Patience)
            raise RunAborted(f"The accounting tool's exchange rates could not be read: {exc}") from exc

    def _attachments(self, items: list[_Work]) -> None:
        for item in items:
            invoice = item.invoice
            if self.dry_run and not self.newest:
                item.waiting = not invoice.has_attachment and not self.flow.sync_without_attachment
                continue
            # (a newest-first dry run reads the files of the few documents it previews: an unreadable one would fail)
            attachment = None
            if invoice.has_attachment:
                try:
                    attachment = self.source.get_attachment(invoice)
                except (PermanentError, NotFound) as exc:
                    item.problem = DocumentProblem(catalogue.PDF, f"The file of invoice {invoice.number} cannot be read: {exc}",
                                                   provider_message=exc.provider_message)
                    continue
                except ConnectorError:
                    raise  # temporary: the run stops and the document is checked again next time
                except Exception as exc:  # noqa: BLE001 - one document never stops the flow
                    logger.warning("reading the file of invoice %s failed", invoice.id, exc_info=True)
                    item.problem = unexpected_problem(invoice, "reading its file", exc)
                    continue
            if attachment is None and not self.flow.sync_without_attachment:
                item.waiting = True
            item.attachment = None if self.dry_run else attachment

    def _partners(self, items: list[_Work]) -> None:
        """Third parties for the batch at once; if that fails unexpectedly, one document at a time, so that
        only the documents whose third party is the problem end in error."""
        try:
            self._partners_for(items)
        except ConnectorError:
            raise
        except Exception:  # noqa: BLE001
            logger.warning("matching the third parties of a batch failed; trying one by one", exc_info=True)
            for item in items:
                try:
                    self._partners_for([item])
                except ConnectorError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one document never stops the flow
                    item.problem = unexpected_problem(item.invoice, "matching its third party", exc)

    def _partners_for(self, items: list[_Work]) -> None:
        flow = self.flow
        needed: dict[str, Partner] = {}
        for item in items:
            partner = item.invoice.partner
            needed.setdefault(partner.id, partner)
        if not needed:
            return
        links = {link.source_partner_id: link for link in PartnerLink.objects.filter(
            source=flow.source, target=flow.target, source_partner_id__in=list(needed))}
        to_verify = sorted({l.target_partner_id for l in links.values()} - self._verified_partners)
        if to_verify:
            self._verified_partners |= self.target.existing_partner_ids(to_verify)
        resolved: dict[str, str] = {}
        problems: dict[str, DocumentProblem] = {}
        for source_id, link in links.items():
            if link.target_partner_id in self._verified_partners:
                resolved[source_id] = link.target_partner_id
            else:
                problems[source_id] = DocumentProblem(
                    catalogue.PARTNER_NOT_FOUND,
                    f"The third party “{link.name}” was linked to {link.target_partner_id} in accounting, which no longer exists.",
                    details={"target_partner": link.target_partner_id})
        unlinked = [p for pid, p in needed.items() if pid not in links]
        if unlinked:
            matches = self.target.match_partners(unlinked)
            kinds = {item.invoice.partner.id: str(item.invoice.kind) for item in items}
            to_create = []
            for partner in unlinked:
                if partner.id in matches:
                    found, rule = matches[partner.id]
                    resolved[partner.id] = found.id
                    self._link(partner, found.id, rule)
                elif self.dry_run:
                    resolved[partner.id] = ""
                else:
                    to_create.append(partner)
            if to_create:
                created = self._create_partners_settled(to_create, kinds, resolved)
                to_create = [p for p in to_create if p.id not in resolved]
                for partner, outcome in zip(to_create, created):
                    if isinstance(outcome, Exception):
                        problems[partner.id] = DocumentProblem(
                            catalogue.TARGET_REJECTED,
                            f"The accounting tool refused to create the third party “{partner.name}”.",
                            provider_message=getattr(outcome, "provider_message", "") or str(outcome))
                        continue
                    resolved[partner.id] = outcome.id
                    self._verified_partners.add(outcome.id)
                    self._link(partner, outcome.id, "created")
        how = {pid: "linked earlier" for pid in links}
        how.update({pid: f"matched by {rule.replace('_', ' ')}" for pid, (_, rule) in (matches.items() if unlinked else [])})
        for item in items:
            pid = item.invoice.partner.id
            if pid in problems:
                item.problem = problems[pid]
            else:
                item.partner_target_id = resolved.get(pid, "")
                if item.partner_target_id:
                    item.steps.append(f"third party {how.get(pid, 'created')} ({item.partner_target_id})")

    def _create_partners_settled(self, partners: list[Partner], kinds: dict, resolved: dict) -> list:
        """Create third parties; when the answer is lost, the matching rules find what was created (and it is
        linked), and only the others are created again. Returns the outcomes of the partners still to create."""
        attempts = int(hub_setting("HUB_SYNC_WRITE_RETRIES", 3))
        remaining = list(partners)
        for attempt in range(attempts + 1):
            try:
                return self.target.create_partners(
                    [(p, "customer" if kinds[p.id] == "sale" else "supplier") for p in remaining])
            except ConnectorError as exc:
                self._pause_or_give_up(exc, attempt, attempts)
                matches = self.target.match_partners(remaining)
                for partner in remaining:
                    if partner.id in matches:
                        found, rule = matches[partner.id]
                        resolved[partner.id] = found.id
                        self._verified_partners.add(found.id)
                        self._link(partner, found.id, "created")
                remaining = [p for p in remaining if p.id not in resolved]
                if not remaining:
                    return []
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _link(self, partner: Partner, target_id: str, rule: str) -> None:
        if self.dry_run:
            return
        PartnerLink.objects.get_or_create(
            source=self.flow.source, target=self.flow.target, source_partner_id=partner.id,
            defaults={"tenant_id": self.flow.tenant_id, "target_partner_id": target_id, "name": partner.name[:200],
                      "matched_by": rule})

    def _build(self, item: _Work) -> None:
        try:
            item.entry = build_entry(item.invoice, self.settings, self.catalog, partner_target_id=item.partner_target_id,
                                     reference=item.doc.reference if item.doc else None)
        except DocumentProblem as problem:
            item.problem = problem
            return
        except ValueError as exc:  # unbalanced: never leaves the hub
            item.problem = DocumentProblem(catalogue.AMOUNT_VALIDATION, f"The entry would not balance: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - one document never stops the flow
            logger.warning("building the entry of invoice %s failed", item.invoice.id, exc_info=True)
            item.problem = unexpected_problem(item.invoice, "building its entry", exc)
            return
        item.entry.attachment = item.attachment

    # --- dry run -----------------------------------------------------------------------------
    def _preview(self, invoice: Invoice, action: str, **kwargs) -> None:
        if self.dry_run:
            self.previews.append(Preview(invoice=invoice, action=action, **kwargs))

    def _preview_work(self, item: _Work) -> None:
        if item.problem is not None:
            self.counts.errors += 1
            self._preview(item.invoice, "error", problem=item.problem)
        elif item.waiting:
            self.counts.waiting += 1
            self._preview(item.invoice, "waiting")
        else:
            self._preview(item.invoice, "update" if item.action == "update" else "create", entry=item.entry,
                          notes=self._entry_notes(item.entry))

    def _entry_notes(self, entry: JournalEntry | None) -> list[str]:
        describe = getattr(self.target, "describe_entry", None)
        if entry is None or describe is None:
            return []
        try:
            return list(describe(entry, post=not self.flow.create_as_draft))
        except Exception:  # noqa: BLE001 - a note never stops a preview
            logger.warning("describing an entry for the preview failed", exc_info=True)
            return []

    # --- sending and recording ---------------------------------------------------------------
    def _ensure_still_owner(self) -> None:
        if self.run is not None and not SyncRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING,
                                                               worker=self.run.worker).exists():
            raise RunAborted("This run was stopped or taken over by another worker; it stops here.")

    def _send(self, work: list[_Work]) -> None:
        sendable = [w for w in work if w.problem is None and not w.waiting and w.entry is not None]
        self._write_ahead(work, sendable)
        # Entries a crashed run may already have created: find them by reference, never create twice.
        to_bind = [w for w in sendable if w.action == "bind"]
        post = not self.flow.create_as_draft
        if to_bind:
            self._ensure_still_owner()
            found = self.target.find_entries_by_reference([w.doc.reference for w in to_bind])
            for item in to_bind:
                existing = found.get(item.doc.reference)
                if existing is None:
                    item.action = "create"
                else:
                    self._adopt(item, existing, post)
        creates = [w for w in sendable if w.action == "create" and w.problem is None]
        if creates:
            self._create_settled(creates, post)
        self._finish_steps([w for w in sendable if (w.needs_post or w.needs_file) and w.problem is None])
        updates = [w for w in sendable if w.action == "update" and w.problem is None]
        for item in updates:
            self._update_settled(item, post)
        self._record(work)

    def _adopt(self, item: _Work, existing, post: bool) -> None:
        """An entry under this document's reference exists in the target: it is ours, never booked again.

        A draft holding what was sent only lacks its posting (when the flow posts) and maybe its file: both are
        done for the whole batch at once (_finish_steps). A draft holding an older version is brought up to date.
        A posted entry is recorded, its file added if an interruption came before the attachment, and reported
        only when the document changed since the version that was sent."""
        item.steps.append(f"{existing.state or 'an'} entry {existing.number or existing.entry_id} found in accounting "
                          "under this document's reference (made by an interrupted run or a lost answer)")
        missing_file = self._missing_file(item, existing)
        if existing.state == "draft":
            if same_version(item.doc.pending_version, item.invoice, item.fingerprint):
                self._take_result(item, existing, "linked")
                item.needs_post, item.needs_file = post, missing_file
            else:
                item.action, item.doc.target_entry_id = "update", existing.entry_id
            return
        self._take_result(item, existing, "linked")
        item.needs_file = missing_file
        sent = item.doc.pending_version
        if sent and not same_version(sent, item.invoice, item.fingerprint):
            item.problem = DocumentProblem(catalogue.POSTED_ENTRY_CHANGED,
                                           f"Invoice {item.invoice.number} changed after its entry was posted.",
                                           details={"entry": existing.entry_id})

    @staticmethod
    def _missing_file(item: _Work, existing) -> bool:
        """Whether an entry found in the target lacks the file this document carries."""
        return item.entry is not None and item.entry.attachment is not None and existing.attachment_count == 0

    def _finish_steps(self, items: list[_Work]) -> None:
        """The steps an interruption left undone on entries found in the target: posting, then files."""
        to_post = [w for w in items if w.needs_post]
        if to_post:
            self._post_settled(to_post)
        to_attach = [w for w in items if w.needs_file and w.problem is None and w.result_entry_id]
        if to_attach:
            self._attach_settled(to_attach)

    def _post_settled(self, items: list[_Work]) -> None:
        """Post drafts of ours in one call; a lost answer is settled by looking them up (posted: done)."""
        remaining = items
        attempts = int(hub_setting("HUB_SYNC_WRITE_RETRIES", 3))
        for attempt in range(attempts + 1):
            self._ensure_still_owner()
            try:
                results = self.target.post_entries([w.result_entry_id for w in remaining])
            except NotImplementedError:  # this target rewrites and posts each draft instead
                for item in remaining:
                    item.needs_post, item.action, item.doc.target_entry_id = False, "update", item.result_entry_id
                    item.result_entry_id = ""
                return
            except ConnectorError as exc:
                found = self._settle(remaining, exc, attempt, attempts)
                still = []
                for item in remaining:
                    again = found.get(item.doc.reference)
                    if again is None:  # gone meanwhile: book it again
                        item.needs_post, item.needs_file, item.result_entry_id = False, False, ""
                        item.action = "create"
                        self._create_settled([item], True)
                    elif again.state == "draft":
                        still.append(item)
                    else:
                        item.needs_post, item.result_state = False, again.state
                        item.steps.append("posted")
                remaining = still
                if not remaining:
                    return
                continue
            for item, result in zip(remaining, results):
                item.needs_post = False
                if result.ok:
                    item.result_state, item.result_number = result.state, result.number or item.result_number
                    item.steps.append("posted")
                else:
                    item.result_entry_id = ""
                    item.problem = self._target_problem(item, result.error)
            return

    def _attach_settled(self, items: list[_Work]) -> None:
        """Attach the missing files in one call; a lost answer is settled by asking which entries have theirs.
        A file the target refuses is tried alone, so that only its document ends in error."""
        remaining = items
        attempts = int(hub_setting("HUB_SYNC_WRITE_RETRIES", 3))
        for attempt in range(attempts + 1):
            self._ensure_still_owner()
            try:
                self.target.attach_documents([(w.result_entry_id, w.entry.attachment) for w in remaining])
            except (PermanentError, NotFound) as exc:
                if len(remaining) == 1:
                    remaining[0].problem = self._target_problem(remaining[0], exc)
                    return
                for item in remaining:
                    self._attach_settled([item])
                return
            except ConnectorError as exc:
                found = self._settle(remaining, exc, attempt, attempts)
                still = []
                for item in remaining:
                    again = found.get(item.doc.reference)
                    if again is not None and again.attachment_count == 0:
                        still.append(item)
                    elif again is not None:
                        item.needs_file = False
                        item.steps.append("missing file attached")
                remaining = still
                if not remaining:
                    return
                continue
            for item in remaining:
                item.needs_file = False
                item.steps.append("missing file attached")
            return

    @staticmethod
    def _pause_or_give_up(error: ConnectorError, attempt: int, attempts: int) -> None:
        """After a write that may or may not have been applied: give up (re-raise) when the error is not
        temporary or the attempts are spent, else pause (HUB_SYNC_RETRY_PAUSE, doubling) before settling."""
        if not error.retryable or attempt == attempts or isinstance(error, BudgetExhausted):
            raise error  # a spent call budget: nothing was sent; the run pauses until the budget resets
        time.sleep(float(hub_setting("HUB_SYNC_RETRY_PAUSE", 2.0)) * (2 ** attempt))

    def _create_settled(self, creates: list[_Work], post: bool) -> None:
        """Create a batch. When the answer is lost or the target answers a temporary error, the batch may or
        may not have been applied: ask the target for its references, adopt what exists, and send again only
        the rest, a few times (HUB_SYNC_WRITE_RETRIES) before the run gives up (the documents stay pending)."""
        remaining = creates
        attempts = int(hub_setting("HUB_SYNC_WRITE_RETRIES", 3))
        for attempt in range(attempts + 1):
            self._ensure_still_owner()
            try:
                results = self.target.create_entries([w.entry for w in remaining], post=post)
            except ConnectorError as exc:
                logger.info("creating %s entries: %s; settling by reference", len(remaining), exc)
                found = self._settle(remaining, exc, attempt, attempts)
                still = []
                for item in remaining:
                    existing = found.get(item.doc.reference)
                    if existing is None:
                        still.append(item)
                    else:
                        self._adopt(item, existing, post)
                remaining = still
                if not remaining:
                    return
                continue
            except Exception as exc:  # noqa: BLE001 - say which invoices, keep them pending
                numbers = ", ".join(w.invoice.number or w.invoice.id for w in remaining[:10])
                raise RunAborted(
                    f"Sending the entries of invoices {numbers}{' and others' if len(remaining) > 10 else ''} failed "
                    f"unexpectedly ({type(exc).__name__}). They stay pending: the next run asks accounting for them "
                    "before sending anything, so none is booked twice.") from exc
            _failpoint("after_target_create")
            for item, result in zip(remaining, results):
                self._take_result(item, result, "created")
            return

    def _settle(self, items: list[_Work], error: ConnectorError, attempt: int, attempts: int) -> dict:
        """After a write that may or may not have been applied: pause (or give up), then what the target holds
        under these documents' references."""
        self._pause_or_give_up(error, attempt, attempts)
        return self._look_up_settling([w.doc.reference for w in items], error)

    def _look_up_settling(self, references: list[str], error: ConnectorError) -> dict:
        """The entries found under these references after a write whose answer was lost. A write that timed out
        may still be running in the target (its transaction not committed yet, so invisible): nothing found is
        then not proof that nothing will be. The lookup is repeated for up to HUB_SYNC_INFLIGHT_WAIT seconds (the
        read timeout by default) before the hub concludes the write was not applied and sends it again."""
        found = self.target.find_entries_by_reference(references)
        if found or not error.details.get("maybe_still_running"):
            return found
        wait = float(hub_setting("HUB_SYNC_INFLIGHT_WAIT", hub_setting("HUB_HTTP_READ_TIMEOUT", 60.0)))
        deadline = time.monotonic() + wait
        while not found and time.monotonic() < deadline:
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
            found = self.target.find_entries_by_reference(references)
        return found

    def _update_settled(self, item: _Work, post: bool) -> None:
        """Update (and post) a draft. A lost answer is settled like a creation: the entry is looked up by
        reference; posted means done, still a draft means the update is sent again."""
        attempts = int(hub_setting("HUB_SYNC_WRITE_RETRIES", 3))
        for attempt in range(attempts + 1):
            self._ensure_still_owner()
            try:
                result = self.target.update_entry(item.doc.target_entry_id, item.entry, post=post)
            except (PermanentError, NotFound) as exc:
                item.problem = self._target_problem(item, exc)
                return
            except ConnectorError as exc:
                self._pause_or_give_up(exc, attempt, attempts)
                existing = self.target.find_entries_by_reference([item.doc.reference]).get(item.doc.reference)
                if existing is None:
                    item.action = "create"
                    self._create_settled([item], post)
                    return
                if existing.state != "draft" or not post:
                    self._take_result(item, existing, "updated")
                    if self._missing_file(item, existing):
                        self._attach_settled([item])
                    return
                continue
            self._take_result(item, result, "updated")
            return

    def _take_result(self, item: _Work, result, action: str) -> None:
        if result.ok:
            item.result_entry_id, item.result_state, item.result_number = result.entry_id, result.state, result.number
            item.done_action = action
            item.steps.append({"created": f"entry created ({result.number or result.entry_id})",
                               "updated": f"draft entry updated ({result.number or result.entry_id})",
                               "linked": "bound to it"}.get(action, action))
            if result.state == "posted" and action != "linked":
                item.steps.append("posted")
            if action != "linked" and item.entry is not None and item.entry.attachment is not None:
                item.steps.append("file attached")
        else:
            item.problem = self._target_problem(item, result.error)

    def _target_problem(self, item: _Work, error: Exception | None) -> DocumentProblem:
        if isinstance(error, ConnectorError) and error.retryable:
            raise error  # temporary: stop the run, the document stays pending and is checked next time
        provider_message = getattr(error, "provider_message", "") or ""
        if isinstance(error, PeriodClosed):
            return DocumentProblem(catalogue.PERIOD_CLOSED,
                                   f"The entry of invoice {item.invoice.number} is dated "
                                   f"{item.entry.date.isoformat() if item.entry else '?'}, in a period that is not "
                                   f"open in accounting: {error}", provider_message=provider_message)
        reason = (getattr(error, "details", None) or {}).get("reason", "")
        return DocumentProblem(catalogue.TARGET_REASONS.get(reason, catalogue.TARGET_REJECTED),
                               f"The accounting tool refused the entry of invoice {item.invoice.number}: {error}",
                               provider_message=provider_message)

    def _doc_fields(self, item: _Work, doc: SyncDocument) -> None:
        invoice = item.invoice
        doc.source_number = str(invoice.number or "")[:128]
        doc.kind = str(invoice.kind)
        doc.is_credit_note = bool(invoice.is_credit_note)
        doc.partner_name = str(invoice.partner.name if invoice.partner else "")[:200]
        # What the hub stores must fit its columns even when the document is malformed.
        doc.issue_date = invoice.issue_date if isinstance(invoice.issue_date, dt.date) else None
        total = usable_amount(invoice.total_amount)
        doc.total_amount = total.quantize(Decimal("0.01")) if total is not None else None
        doc.currency = str(invoice.currency or "")[:3]
        rate = usable_amount(invoice.exchange_rate) if invoice.exchange_rate_source else None
        doc.exchange_rate = rate.quantize(Decimal("0.000000000001")) if rate is not None and rate < 10**12 else None
        doc.exchange_rate_source = str(invoice.exchange_rate_source or "")[:60]
        rate_day = (invoice.extra or {}).get("exchange_rate_date")
        doc.exchange_rate_date = dt.date.fromisoformat(rate_day) if isinstance(rate_day, str) and rate_day else None
        doc.source_updated_at = invoice.updated_at if isinstance(invoice.updated_at, dt.datetime) else None
        doc.last_run = self.run
        doc.updated_at = timezone.now()

    @transaction.atomic
    def _write_ahead(self, work: list[_Work], sendable: list[_Work]) -> None:
        """Every document gets its row; those about to be sent are marked pending (committed first)."""
        new_docs = []
        changed = []
        sending = {id(w) for w in sendable}
        for item in work:
            doc = item.doc
            if doc is None:
                doc = SyncDocument(tenant_id=self.flow.tenant_id, flow=self.flow, source_id=item.invoice.id,
                                   reference=reference_for(self.flow.pk, item.invoice.id))
                item.doc = doc
                new_docs.append(doc)
            else:
                changed.append(doc)
            self._doc_fields(item, doc)
            if id(item) in sending:
                if item.action != "bind":
                    doc.pending_version = item.fingerprint
                doc.status = DocumentStatus.PENDING if not doc.target_entry_id else doc.status
                if item.entry is not None:
                    item.entry.reference = doc.reference
        if new_docs:
            SyncDocument.objects.bulk_create(new_docs)
            if any(d.pk is None for d in new_docs):  # backends that do not return ids
                ids = {d.source_id: d.pk for d in SyncDocument.objects.filter(
                    flow=self.flow, source_id__in=[d.source_id for d in new_docs])}
                for d in new_docs:
                    d.pk = d.id = ids[d.source_id]
        if changed:
            bulk_set(changed, ["source_number", "kind", "is_credit_note", "partner_name", "issue_date", "total_amount",
                               "currency", "source_updated_at", "last_run", "pending_version", "status", "updated_at",
                               "exchange_rate", "exchange_rate_source", "exchange_rate_date"])

    @transaction.atomic
    def _record(self, work: list[_Work]) -> None:
        now = timezone.now()
        outcomes: list[DocumentOutcome] = []
        synced_ids, problem_items = [], []
        docs = []
        for item in work:
            doc = item.doc
            doc.updated_at = now
            doc.seen_version = item.fingerprint
            if item.problem is not None:
                doc.status = DocumentStatus.ERROR
                doc.pending_version = ""
                if item.result_entry_id:  # the entry exists in accounting: the error says which it is
                    doc.target_entry_id = item.result_entry_id
                    doc.target_state = item.result_state
                    doc.target_number = item.result_number[:128]
                if item.problem.code == catalogue.POSTED_ENTRY_CHANGED:
                    doc.source_version = item.fingerprint  # reported once, not at every run
                problem_items.append(item)
                self._unfinished.append(item.invoice.id)
                self.counts.errors += 1
                outcomes.append(DocumentOutcome(run=self.run, document=doc, status=DocumentStatus.ERROR,
                                                error_code=item.problem.code, message=item.problem.message[:2000],
                                                steps=item.steps))
            elif item.waiting:
                doc.status = DocumentStatus.WAITING
                doc.pending_version = ""
                self._unfinished.append(item.invoice.id)
                self.counts.waiting += 1
                outcomes.append(DocumentOutcome(run=self.run, document=doc, status=DocumentStatus.WAITING,
                                                message="No attachment in the invoicing tool yet."))
            elif item.result_entry_id:
                doc.status = DocumentStatus.SYNCED
                doc.target_entry_id = item.result_entry_id
                doc.target_state = item.result_state
                doc.target_number = item.result_number[:128]
                doc.source_version = item.fingerprint
                doc.pending_version = ""
                doc.synced_at = now
                synced_ids.append(doc.pk)
                self.counts.synced += 1
                outcomes.append(DocumentOutcome(run=self.run, document=doc, status=DocumentStatus.SYNCED,
                                                action=item.done_action, steps=item.steps))
            docs.append(doc)
        bulk_set(docs, ["status", "target_entry_id", "target_state", "target_number", "source_version", "seen_version",
                        "pending_version", "synced_at", "updated_at"])
        save_outcomes(self.run, outcomes)
        close_errors(synced_ids, run=self.run, now=now)
        open_errors(self.flow, self.run, [(item.doc, item.problem) for item in problem_items], now)

    def _heartbeat(self) -> None:
        """Progress and proof of life, on the run's own connection (a run that lost it stops beating)."""
        c = self.counts
        SyncRun.objects.filter(pk=self.run.pk, status=RunStatus.RUNNING, worker=self.run.worker).update(
            heartbeat_at=timezone.now(), seen_count=c.seen, total_count=self.total, synced_count=c.synced,
            error_count=c.errors, waiting_count=c.waiting, skipped_count=c.skipped,
            external_calls=len(self.call_log))


def connection_failed(connection: Connection, error: Exception) -> None:
    if isinstance(error, NeedsReauthorization):
        connection_needs_reauth(connection=connection, message=str(error))
    else:
        connection_mark(connection=connection, status=ConnectionStatus.ERROR, message=str(error))


class SideTagged:
    """Wraps a connector so any ConnectorError it raises says which side (source/target) it came from."""

    def __init__(self, connector, side: str) -> None:
        self._connector, self._side = connector, side

    def __getattr__(self, name):
        attribute = getattr(self._connector, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            try:
                result = attribute(*args, **kwargs)
            except ConnectorError as exc:
                exc.side = self._side
                raise
            return self._iterate(result) if inspect.isgenerator(result) else result

        return call

    def _iterate(self, iterator):
        try:
            yield from iterator
        except ConnectorError as exc:
            exc.side = self._side
            raise
