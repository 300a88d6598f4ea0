"""State lives in named stores shared by every connector opened on the same store name."""
from __future__ import annotations

import datetime as dt
import itertools
import threading
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Callable, Iterable, Iterator, Sequence

from integration_hub.connectors.base import CheckResult, SourceConnector, TargetConnector
from integration_hub.connectors.errors import AuthenticationError, NotFound, PermanentError, RetryableError
from integration_hub.connectors.http import CallLog, CallRecord
from integration_hub.connectors.memory.provider import PROVIDER
from integration_hub.connectors.lettering import lines_to_reconcile
from integration_hub.connectors.text import normalise_name
from integration_hub.connectors.types import (
    Account,
    Attachment,
    EntryResult,
    Invoice,
    Journal,
    JournalEntry,
    TargetState,
    TargetStatus,
    Partner,
    Payment,
    Scope,
    TaxRate,
    VatCode,
)


@dataclass
class StoredEntry:
    id: str
    entry: JournalEntry
    state: str
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class Store:
    api_key: str = "memory-key"
    # source side
    invoices: dict[str, Invoice] = field(default_factory=dict)
    generator: Callable[[], Iterable[Invoice]] | None = None  # streams invoices without holding them
    attachments: dict[str, Attachment | Exception] = field(default_factory=dict)
    tax_rates: list[TaxRate] = field(default_factory=list)
    source_journals: list[Journal] = field(default_factory=list)
    source_partners: dict[str, Partner] = field(default_factory=dict)
    dimension_values: list[tuple[str, str, str]] = field(default_factory=list)  # (dimension, id, label)
    # target side
    accounts: dict[str, Account] = field(default_factory=dict)
    vat_codes: list[VatCode] = field(default_factory=list)
    journals: list[Journal] = field(default_factory=list)
    dimensions: list[tuple[str, str, str]] = field(default_factory=list)  # analytic accounts (id, label, axis)
    partners: dict[str, Partner] = field(default_factory=dict)
    exchange_rates: dict[tuple[str, dt.date], Decimal] = field(default_factory=dict)  # (currency, day) -> base per unit
    entries: dict[str, StoredEntry] = field(default_factory=dict)
    by_reference: dict[str, str] = field(default_factory=dict)
    reconciled: dict[tuple[str, int], str] = field(default_factory=dict)  # (entry id, line index) -> lettering
    keep_entries: bool = True  # False: remember references only
    keep_references: bool = True  # False (with keep_entries False): a target that holds nothing (memory benchmarks)
    reject: Callable[[JournalEntry], str | None] | None = None  # return a message to refuse an entry
    statuses: dict[str, TargetStatus] = field(default_factory=dict)  # entry id -> where it stands (monitoring)
    status_calls: int = 0
    # Tests of outages: called with (operation, "before") on every call and (operation, "after") once a write
    # was applied; an exception it returns is raised (before: nothing done; after: done, answer lost).
    fault: Callable[[str, str], Exception | None] | None = None
    # Tests of in-flight writes: the next creation times out at once while it is applied this many seconds later.
    apply_late: float = 0.0
    duplicates: int = 0
    write_calls: int = 0
    read_calls: int = 0
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_id(self) -> str:
        return str(next(self.ids))

    def entry_count(self) -> int:
        return len(self.by_reference)


_stores: dict[str, Store] = {}


def store(name: str) -> Store:
    return _stores.setdefault(name, Store())


def reset(name: str) -> Store:
    _stores[name] = Store()
    return _stores[name]


class MemoryConnector(SourceConnector, TargetConnector):
    descriptor = PROVIDER

    def __init__(self, credentials: dict, **kwargs) -> None:
        super().__init__(credentials, **kwargs)
        if self.call_log is None:
            self.call_log = CallLog()
        self.store = store(credentials.get("store", "default"))

    def _call(self, operation: str, *, write: bool = False) -> None:
        if self.credentials.get("api_key") != self.store.api_key:
            raise AuthenticationError("memory: wrong API key", provider=PROVIDER.key, status=401)
        failure = self.store.fault(operation, "before") if self.store.fault else None
        if failure is not None:
            raise failure
        if write:
            self.store.write_calls += 1
        else:
            self.store.read_calls += 1
        self.call_log.add(CallRecord("POST" if write else "GET", f"/memory/{operation}", 200, 0, operation=operation))

    def check(self) -> CheckResult:
        try:
            self._call("check")
        except AuthenticationError as exc:
            return CheckResult(ok=False, message=str(exc))
        name = self.credentials.get("store", "default")
        return CheckResult(ok=True, message=f"store {name}", organisation_id=name, organisation_name=name)

    # --- source ---------------------------------------------------------------------------
    def _all_invoices(self) -> Iterable[Invoice]:
        return self.store.generator() if self.store.generator else list(self.store.invoices.values())

    def list_invoices(self, *, since: dt.datetime | None, scope: Scope, page_size: int = 100) -> Iterator[Invoice]:
        scope = Scope(scope)
        page = 0
        for invoice in self._all_invoices():
            if since is not None and invoice.updated_at < since:
                continue
            if not scope.includes(invoice.kind):
                continue
            if page % page_size == 0:
                self._call("invoices.list")
            page += 1
            yield self._resolve(invoice)

    def _resolve(self, invoice: Invoice) -> Invoice:
        if invoice.partner_id and invoice.partner is None and invoice.partner_id in self.store.source_partners:
            return replace(invoice, partner=self.store.source_partners[invoice.partner_id])
        return invoice

    def count_invoices(self, *, since: dt.datetime | None, scope: Scope) -> int | None:
        if self.store.generator:
            return None
        return sum(1 for i in self.store.invoices.values()
                   if (since is None or i.updated_at >= since) and Scope(scope).includes(i.kind))

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        self._call("invoices.get")
        invoice = self.store.invoices.get(invoice_id)
        return self._resolve(invoice) if invoice else None

    def existing_invoice_ids(self, invoice_ids: Sequence[str]) -> set[str]:
        self._call("invoices.exist")
        if self.store.generator:  # a stream holds nothing to look up: every document counts as there
            return set(invoice_ids)
        return {i for i in invoice_ids if i in self.store.invoices}

    def get_attachment(self, invoice: Invoice) -> Attachment | None:
        self._call("attachments.get")
        found = self.store.attachments.get(invoice.id)
        if isinstance(found, Exception):
            raise found
        return found

    def list_tax_rates(self) -> list[TaxRate]:
        self._call("tax_rates.list")
        return list(self.store.tax_rates)

    def list_source_journals(self) -> list[Journal]:
        self._call("journals.list")
        return list(self.store.source_journals)

    def list_partners(self) -> Iterator[Partner]:
        self._call("partners.list")
        yield from self.store.source_partners.values()

    def list_dimension_values(self) -> list[tuple[str, str, str]]:
        self._call("dimension_values.list")
        return list(self.store.dimension_values)

    # --- target ---------------------------------------------------------------------------
    def list_vat_codes(self) -> list[VatCode]:
        self._call("vat_codes.list")
        return list(self.store.vat_codes)

    def exchange_rate(self, currency: str, base: str, day: dt.date) -> Decimal | None:
        """The rate table: the latest rate on or before `day` (like an accounting tool's)."""
        self._call("exchange_rate")
        known = [d for (c, d) in self.store.exchange_rates if c == currency and d <= day]
        return self.store.exchange_rates[(currency, max(known))] if known else None

    def list_journals(self) -> list[Journal]:
        self._call("journals.list")
        return list(self.store.journals)

    def list_accounts(self) -> list[Account]:
        self._call("accounts.list")
        return list(self.store.accounts.values())

    def list_dimensions(self) -> list[tuple[str, str, str]]:
        self._call("dimensions.list")
        return list(self.store.dimensions)

    def get_partner(self, partner_id: str) -> Partner | None:
        self._call("partners.get")
        return self.store.partners.get(partner_id) or self.store.source_partners.get(partner_id)

    def find_partners(self, *, auxiliary_account=None, vat_number=None, registration_number=None, name=None):
        self._call("partners.find")
        result = []
        for partner in self.store.partners.values():
            if auxiliary_account and partner.auxiliary_account == auxiliary_account:
                result.append(partner)
            elif vat_number and partner.vat_number == vat_number:
                result.append(partner)
            elif registration_number and partner.registration_number[:9] == registration_number[:9] and partner.registration_number:
                result.append(partner)
            elif name and normalise_name(partner.name) == normalise_name(name):
                result.append(partner)
        return result

    def create_partner(self, partner: Partner, *, kind: str = "customer") -> Partner:
        self._call("partners.create", write=True)
        with self.store.lock:
            created = replace(partner, id="P" + self.store.next_id())
            self.store.partners[created.id] = created
        return created

    def create_entries(self, entries: Sequence[JournalEntry], *, post: bool) -> list[EntryResult]:
        self._call("entries.create", write=True)
        if self.store.apply_late:
            delay, self.store.apply_late = self.store.apply_late, 0.0
            threading.Timer(delay, self._apply_late, args=(list(entries), post)).start()
            raise RetryableError("memory: read timeout calling entries.create (the request may have reached the "
                                 "server)", provider=PROVIDER.key, details={"maybe_still_running": True})
        results = []
        with self.store.lock:
            for entry in entries:
                try:
                    entry.check_balanced()
                except ValueError as exc:
                    results.append(EntryResult(reference=entry.reference, error=PermanentError(str(exc))))
                    continue
                refusal = self.store.reject(entry) if self.store.reject else None
                if refusal:
                    results.append(EntryResult(reference=entry.reference,
                                               error=PermanentError("memory: entry refused", provider=PROVIDER.key,
                                                                    provider_message=refusal)))
                    continue
                if entry.reference in self.store.by_reference and not self._refused(entry.reference):
                    raise PermanentError(f"memory: duplicate reference {entry.reference}", provider=PROVIDER.key)
                entry_id = "E" + self.store.next_id()
                if self.store.keep_references:
                    self.store.by_reference[entry.reference] = entry_id
                state = "posted" if post else "draft"
                if self.store.keep_entries:
                    stored = StoredEntry(entry_id, entry, state)
                    if entry.attachment:
                        stored.attachments.append(entry.attachment)
                    self.store.entries[entry_id] = stored
                results.append(EntryResult(reference=entry.reference, entry_id=entry_id, state=state, number=entry_id))
        failure = self.store.fault("entries.create", "after") if self.store.fault else None
        if failure is not None:
            raise failure
        return results

    def _apply_late(self, entries: list[JournalEntry], post: bool) -> None:
        """The creation that timed out, applied now: what a second copy of a reference would be is counted."""
        with self.store.lock:
            for entry in entries:
                if entry.reference in self.store.by_reference:
                    self.store.duplicates += 1
                    continue
                entry_id = "E" + self.store.next_id()
                self.store.by_reference[entry.reference] = entry_id
                stored = StoredEntry(entry_id, entry, "posted" if post else "draft")
                if entry.attachment:
                    stored.attachments.append(entry.attachment)
                self.store.entries[entry_id] = stored

    def update_entry(self, entry_id: str, entry: JournalEntry, *, post: bool) -> EntryResult:
        self._call("entries.update", write=True)
        stored = self.store.entries.get(entry_id)
        if stored is None:
            raise NotFound(f"memory: no entry {entry_id}", provider=PROVIDER.key)
        if stored.state != "draft":
            raise PermanentError(f"memory: entry {entry_id} is posted", provider=PROVIDER.key)
        entry.check_balanced()
        stored.entry = entry
        stored.state = "posted" if post else "draft"
        if entry.attachment:
            stored.attachments.append(entry.attachment)
        return EntryResult(reference=entry.reference, entry_id=entry_id, state=stored.state, number=entry_id)

    def delete_entry(self, entry_id: str) -> None:
        self._call("entries.delete", write=True)
        with self.store.lock:
            stored = self.store.entries.get(entry_id)
            if stored is None:
                raise NotFound(f"memory: no entry {entry_id}", provider=PROVIDER.key)
            if stored.state != "draft":
                raise PermanentError(f"memory: entry {entry_id} is posted and cannot be deleted", provider=PROVIDER.key)
            del self.store.entries[entry_id]
            self.store.by_reference.pop(stored.entry.reference, None)

    def reverse_entry(self, entry_id: str, *, date: dt.date, reference: str) -> EntryResult:
        self._call("entries.reverse", write=True)
        with self.store.lock:
            if reference in self.store.by_reference:  # booked already: never twice
                found = self.store.by_reference[reference]
                return EntryResult(reference=reference, entry_id=found, state="posted", number=found)
            original = self.store.entries.get(entry_id)
            if original is None:
                raise NotFound(f"memory: no entry {entry_id}", provider=PROVIDER.key)
            if original.state != "posted":
                raise PermanentError(f"memory: entry {entry_id} is a draft; delete it instead", provider=PROVIDER.key)
            lines = [replace(line, debit=line.credit, credit=line.debit,
                             amount_currency=-line.amount_currency if line.amount_currency is not None else None)
                     for line in original.entry.lines]
            reversal = replace(original.entry, reference=reference, date=max(date, original.entry.date),
                               label=f"Reversal of {entry_id}: {original.entry.label}", lines=lines, attachment=None)
            reversal_id = "E" + self.store.next_id()
            self.store.by_reference[reference] = reversal_id
            self.store.entries[reversal_id] = StoredEntry(reversal_id, reversal, "posted")
        return EntryResult(reference=reference, entry_id=reversal_id, state="posted", number=reversal_id)

    def post_entries(self, entry_ids: Sequence[str]) -> list[EntryResult]:
        self._call("entries.post", write=True)
        results = []
        for entry_id in entry_ids:
            stored = self.store.entries[entry_id]
            stored.state = "posted"
            results.append(EntryResult(reference=stored.entry.reference, entry_id=entry_id, state="posted",
                                       number=entry_id))
        return results

    def attach_documents(self, items: Sequence[tuple[str, Attachment]]) -> None:
        self._call("attachments.create", write=True)
        for entry_id, attachment in items:
            self.store.entries[entry_id].attachments.append(attachment)

    def attach_document(self, entry_id: str, attachment: Attachment) -> str:
        self._call("attachments.create", write=True)
        self.store.entries[entry_id].attachments.append(attachment)
        return entry_id

    def entry_statuses(self, entry_ids: Sequence[str]) -> dict[str, TargetStatus]:
        """What the store says of each entry (accepted unless a test set otherwise); gone entries are MISSING."""
        self._call("entry_statuses")
        self.store.status_calls += 1
        return {entry_id: self.store.statuses.get(entry_id) or TargetStatus(
            entry_id, TargetState.ACCEPTED if entry_id in self.store.entries else TargetState.MISSING)
            for entry_id in entry_ids}

    def _refused(self, reference: str) -> bool:
        status = self.store.statuses.get(self.store.by_reference.get(reference, ""))
        return status is not None and status.state == TargetState.REJECTED

    def find_entries_by_reference(self, references: Sequence[str]) -> dict[str, EntryResult]:
        self._call("entries.find")
        found = {}
        for reference in references:
            entry_id = self.store.by_reference.get(reference)
            if self._refused(reference):
                continue  # refused after it was received: it no longer counts, as a monitored target says
            if entry_id:
                stored = self.store.entries.get(entry_id)
                found[reference] = EntryResult(reference=reference, entry_id=entry_id,
                                               state=stored.state if stored else "posted",
                                               attachment_count=len(stored.attachments) if stored else None)
        return found

    # --- payments (lettering) --------------------------------------------------------------
    def invoice_payments(self, invoice_ids: Sequence[str]) -> dict[str, list[Payment]]:
        self._call("payments.list")
        found = {}
        for invoice_id in invoice_ids:
            invoice = self.store.invoices.get(invoice_id)
            if invoice is not None and invoice.payments:
                found[invoice_id] = list(invoice.payments)
        return found

    def _party_lines(self, entry_id: str, account_number: str, partner_id: str) -> list[tuple[tuple[str, int], Decimal]]:
        stored = self.store.entries.get(entry_id)
        if stored is None:
            return []
        return [((entry_id, index), line.amount) for index, line in enumerate(stored.entry.lines)
                if line.account_number == account_number and line.partner_id == partner_id]

    def third_party_amount(self, entry_id: str, *, account_number: str, partner_id: str) -> Decimal:
        self._call("entries.get")
        if entry_id not in self.store.entries:
            raise NotFound(f"memory: no entry {entry_id}", provider=PROVIDER.key)
        return sum((amount for _, amount in self._party_lines(entry_id, account_number, partner_id)), Decimal(0))

    def book_payment(self, entry: JournalEntry, *, reconcile_with_entry_id: str, account_number: str, partner_id: str,
                     post: bool, earlier_entry_ids: Sequence[str] = ()) -> EntryResult:
        self._call("payments.book", write=True)
        with self.store.lock:
            invoice_lines = self._party_lines(reconcile_with_entry_id, account_number, partner_id)
            if not invoice_lines:
                raise PermanentError(f"memory: entry {reconcile_with_entry_id} has no line on {account_number} for "
                                     f"third party {partner_id}", provider=PROVIDER.key)
            entry_id = self.store.by_reference.get(entry.reference)
            if entry_id is None:  # never booked twice: the reference is looked up first
                try:
                    entry.check_balanced()
                except ValueError as exc:
                    raise PermanentError(str(exc), provider=PROVIDER.key) from exc
                refusal = self.store.reject(entry) if self.store.reject else None
                if refusal:
                    raise PermanentError("memory: entry refused", provider=PROVIDER.key, provider_message=refusal)
                entry_id = "E" + self.store.next_id()
                self.store.by_reference[entry.reference] = entry_id
                self.store.entries[entry_id] = StoredEntry(entry_id, entry, "draft")
            stored = self.store.entries[entry_id]
            if post:
                stored.state = "posted"
            self._letter(invoice_lines, earlier_entry_ids, entry_id, account_number, partner_id)
            reconciled = all(key in self.store.reconciled for key, _ in invoice_lines)
        return EntryResult(reference=entry.reference, entry_id=entry_id, state=stored.state, number=entry_id,
                           reconciled=reconciled)

    def _letter(self, invoice_lines, earlier_entry_ids, entry_id: str, account_number: str, partner_id: str) -> None:
        def still_open(lines):
            return [(key, amount) for key, amount in lines if key not in self.store.reconciled]

        earlier = [line for earlier_id in earlier_entry_ids
                   for line in self._party_lines(earlier_id, account_number, partner_id)]
        keys = lines_to_reconcile(still_open(invoice_lines), still_open(earlier),
                                  still_open(self._party_lines(entry_id, account_number, partner_id)))
        if keys:
            lettering = "R" + self.store.next_id()
            for key in keys:
                self.store.reconciled[key] = lettering
