"""Procountor as an accounting target: the hub's entries booked as invoices or ledger receipts, then followed.

- What an entry becomes depends on its journal (docs/connector-procountor.md): ``invoice:sales`` /
  ``invoice:purchase`` make a Procountor invoice (rows with the mapped VAT, then the accounting of the invoice's
  own ledger receipt with the hub's accounts and dimensions); ``receipt:JOURNAL`` makes a JOURNAL ledger receipt.
- Procountor has no idempotency key. Every entry carries the hub's reference (an invoice's ``orderReference``,
  a journal's ``name``); when a POST loses its answer the connector looks the reference up before anyone sends it
  again, and ``find_entries_by_reference`` does the same for the engine.
- One entry's refusal is that entry's ``EntryResult.error`` (Procountor's words); the others go on.
- Calls go through ProcountorClient, whose HubSession runs inside the company's call budget (PROCOUNTOR_LIMITS).
- The access token (client credentials of the hub's application + the company's API key) is kept in the hub's
  token store when one is given (the connection row, shared by workers), else in memory for this connector.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import time
from decimal import Decimal
from typing import Callable, Sequence

from integration_hub.connectors import finnish
from integration_hub.connectors.base import CheckResult, TargetConnector, hub_setting
from integration_hub.connectors.budget import Limits, budget_for
from integration_hub.connectors.errors import (AuthenticationError, ConnectorError, NeedsReauthorization, NotFound,
                                               PermanentError, RetryableError)
from integration_hub.connectors.oauth import MemoryTokenStore
from integration_hub.connectors.procountor import mapper
from integration_hub.connectors.procountor.client import ProcountorClient
from integration_hub.connectors.procountor.provider import PROVIDER
from integration_hub.connectors.types import (ZERO, Account, Attachment, EntryResult, Journal, JournalEntry, Partner,
                                              TargetState, TargetStatus, UnbalancedEntry, VatCode)

logger = logging.getLogger(__name__)

API_URL = "https://api.procountor.com/latest/api"
SANDBOX_CLIENT_ID = "sandbox-procountor-client"
SANDBOX_CLIENT_SECRET = "sandbox-procountor-secret"
# Procountor allows 20 to 60 requests a second per client; the hub keeps to the low end for each company, in a
# one-second window (the budget's "minute" window, shortened).
PROCOUNTOR_LIMITS = Limits(concurrent=8, per_minute=20, minute_seconds=1.0)
CHANNELS = ("NO_SENDING", "ELECTRONIC_INVOICE", "EMAIL", "MAIL", "PAPER_INVOICE", "EDI")
LOOKUP_DAYS = 30  # how far back find_entries_by_reference looks for invoices it did not create itself


def api_url() -> str:
    return (hub_setting("HUB_PROCOUNTOR_API_URL", "") or API_URL).rstrip("/")


def refused(message: str, exc: Exception | None = None) -> PermanentError:
    """A refusal in Procountor's words when it gave some (the client's error carries them)."""
    said = getattr(exc, "provider_message", "") if exc is not None else ""
    details = dict(getattr(exc, "details", {}) or {}) if exc is not None else {}
    return PermanentError(message, provider=PROVIDER.key, status=getattr(exc, "status", None),
                          provider_message=said or (str(exc) if exc is not None else ""), details=details)


class ProcountorConnector(TargetConnector):
    descriptor = PROVIDER
    status_batch = 200  # syncs/monitoring.py: Procountor's batch read takes 200 ids a call

    def __init__(self, credentials: dict, **kwargs) -> None:
        super().__init__(credentials, **kwargs)
        self.clock: Callable[[], float] = time.time  # tests put the sandbox's clock here before the first call
        self._client: ProcountorClient | None = None
        self._cache: dict[str, object] = {}
        self._partners: dict[str, dict] = {}  # Procountor's full records, by id
        self._index: list[Partner] | None = None
        # reference -> (moment before its POST, date): a lost answer is looked up in a narrow window
        self._attempts: dict[str, tuple[dt.datetime, dt.date]] = {}

    # --- the client ----------------------------------------------------------------------------------
    @property
    def client(self) -> ProcountorClient:
        if self._client is None:
            api_key = str(self.credentials.get("api_key") or "")
            organisation = "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:16]  # one API key, one company
            store = self.token_store or MemoryTokenStore({})
            self._client = ProcountorClient(
                base_url=api_url(), client_id=hub_setting("HUB_PROCOUNTOR_CLIENT_ID", SANDBOX_CLIENT_ID),
                client_secret=hub_setting("HUB_PROCOUNTOR_CLIENT_SECRET", SANDBOX_CLIENT_SECRET), api_key=api_key,
                call_log=self.call_log, budget=budget_for(PROVIDER.key, organisation, PROCOUNTOR_LIMITS),
                token_store=store, clock=self.clock, **self._session_options())
            if self.call_log is None:
                self.call_log = self._client.http.call_log
        return self._client

    def _session_options(self) -> dict:
        return {"sleep": self.sleep} if getattr(self, "sleep", None) else {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _cached(self, key: str, fetch):
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc)

    # --- connection ----------------------------------------------------------------------------------
    def check(self) -> CheckResult:
        try:
            company = self.client.company()
        except NeedsReauthorization as exc:
            return CheckResult(ok=False, message=f"{exc} ({exc.provider_message})".strip(), needs_reauth=True)
        except AuthenticationError as exc:
            return CheckResult(ok=False, message=str(exc), needs_reauth=True)
        except ConnectorError as exc:
            return CheckResult(ok=False, message=f"{exc} {exc.provider_message}".strip())
        name = str(company.get("name") or "")
        return CheckResult(ok=True, message=f"connected to {name} (Procountor company, business id "
                                            f"{company.get('businessId') or '?'})",
                           organisation_id=str(company.get("id") or ""), organisation_name=name)

    # --- reference data ------------------------------------------------------------------------------
    def _chart(self) -> dict[str, str]:
        return self._cached("coa", lambda: {str(r["ledgerAccountCode"]): str(r.get("name") or "")
                                            for r in self.client.chart_of_accounts()})

    def list_accounts(self) -> list[Account]:
        return [Account(id=n, number=n, name=name) for n, name in sorted(self._chart().items())]

    def list_vat_codes(self) -> list[VatCode]:
        return self._cached("vat_codes", lambda: mapper.vat_codes(self.client.vat_defaults(), self._chart()))

    def _codes(self) -> dict[str, VatCode]:
        return {code.id: code for code in self.list_vat_codes()}

    def list_journals(self) -> list[Journal]:
        return [mapper.SALES_INVOICES, mapper.PURCHASE_INVOICES, mapper.JOURNAL_RECEIPTS]

    def list_dimensions(self) -> list[tuple[str, str, str]]:
        return mapper.dimension_items(self._cached("dimensions", self.client.dimensions))

    def _open_years(self) -> list[dict]:
        years = self._cached("years", self.client.fiscal_years)
        return [y for y in years if y.get("status") == "OPEN"]

    # --- partners ------------------------------------------------------------------------------------
    def _partner_index(self) -> list[Partner]:
        if self._index is None:
            self._index = [mapper.partner_from_procountor(row) for row in self.client.business_partners()]
        return self._index

    def find_partners(self, *, auxiliary_account=None, vat_number=None, registration_number=None, name=None):
        def same(a: str, b: str) -> bool:
            return " ".join(a.lower().replace("-", " ").split()) == " ".join(b.lower().replace("-", " ").split())

        wanted = [("auxiliary_account", auxiliary_account), ("vat_number", vat_number),
                  ("registration_number", registration_number), ("name", name)]
        return [p for p in self._partner_index()
                if any(value and getattr(p, attr) and same(getattr(p, attr), value) for attr, value in wanted)]

    def _partner_records(self, ids: Sequence[str]) -> dict[str, dict]:
        missing = [i for i in dict.fromkeys(ids) if i and i not in self._partners and str(i).isdigit()]
        if missing:
            for row in self.client.batch("businesspartners", [int(i) for i in missing]):
                self._partners[str(row["id"])] = row
        return {i: self._partners[i] for i in ids if i in self._partners}

    def get_partner(self, partner_id: str) -> Partner | None:
        row = self._partner_records([str(partner_id)]).get(str(partner_id))
        return mapper.partner_from_procountor(row) if row else None

    def existing_partner_ids(self, partner_ids: Sequence[str]) -> set[str]:
        return set(self._partner_records([str(p) for p in partner_ids]))

    def create_partner(self, partner: Partner, *, kind: str) -> Partner:
        try:
            body = mapper.partner_body(partner, kind=kind)
        except finnish.FinnishRuleError as exc:
            raise PermanentError(f"The business partner {partner.name} was not created in Procountor: {exc}",
                                 provider=PROVIDER.key, details={"reason": "business_id"}) from None
        row = self.client.create_business_partner(body)
        self._partners[str(row["id"])] = row
        created = mapper.partner_from_procountor(row)
        if self._index is not None:
            self._index.append(created)
        return created

    # --- entries -------------------------------------------------------------------------------------
    def _kind_of(self, entry: JournalEntry) -> str:
        journal = entry.journal_id or ""
        if journal.startswith("invoice:"):
            return "invoice"
        if journal.startswith("receipt:"):
            return "receipt"
        raise ValueError(f"the journal {journal!r} is not one of Procountor's (sales or purchase invoices, "
                         "ledger receipt): map the journals again")

    def describe_entry(self, entry: JournalEntry, *, post: bool = True) -> list[str]:
        kind = self._kind_of(entry)
        if kind == "invoice":
            what = "sales invoice" if entry.kind == "sale" else "purchase invoice"
            return [f"booked in Procountor as a {what}{' (unfinished)' if not post else ''}, total "
                    f"{entry.total_debit} {entry.document_currency or entry.currency}"]
        return [f"booked in Procountor as a ledger receipt (JOURNAL) dated {entry.date.isoformat()}"]

    def create_entries(self, entries: Sequence[JournalEntry], *, post: bool) -> list[EntryResult]:
        results = []
        partners = [line.partner_id for e in entries for line in e.lines if line.partner_id]
        if any(e.journal_id.startswith("invoice:") for e in entries):
            self._partner_records(partners)  # one batch read for the whole batch
        for entry in entries:
            try:
                results.append(self._create(entry, post))
            except RetryableError:
                raise  # the engine settles the batch by reference (what was created is found, not redone)
            except (PermanentError, ValueError, UnbalancedEntry) as exc:
                error = exc if isinstance(exc, PermanentError) else refused(
                    f"The entry cannot be sent to Procountor: {exc}")
                results.append(EntryResult(reference=entry.reference, error=error))
        return results

    def _create(self, entry: JournalEntry, post: bool) -> EntryResult:
        entry.check_balanced()
        if self._kind_of(entry) == "invoice":
            return self._create_invoice(entry, post)
        return self._create_journal(entry, post)

    def _posting(self, create: Callable[[], dict], entry: JournalEntry, find: Callable[[], dict | None]) -> dict:
        """POST once; an answer lost on the way is looked up by reference before anyone sends it again."""
        self._attempts[entry.reference] = (self._now() - dt.timedelta(seconds=5), entry.date)
        try:
            return create()
        except RetryableError:
            found = find()
            if found is None:
                raise
            logger.info("procountor: %s landed although its answer was lost", entry.reference)
            return found

    @staticmethod
    def _found_record(found: EntryResult | None, read: Callable[[int], dict]) -> dict | None:
        return read(mapper.parse_entry_id(found.entry_id).id) if found is not None else None

    def _create_invoice(self, entry: JournalEntry, post: bool) -> EntryResult:
        sale = entry.kind == "sale"
        if entry.kind not in ("sale", "purchase"):
            raise ValueError("only sales and purchase entries can become Procountor invoices")
        third = mapper.partner_line(entry)
        if third is None:
            raise ValueError("the entry has no third party: an invoice needs its customer or supplier")
        partner = self._partner_records([third.partner_id]).get(third.partner_id)
        if partner is None:
            raise PermanentError(f"Business partner {third.partner_id} does not exist in Procountor",
                                 provider=PROVIDER.key, details={"reason": "partner_not_found"})
        rows, stated = mapper.invoice_rows(entry, self._codes())
        if not rows:
            raise ValueError("the entry has no line to invoice")
        computed = mapper.computed_vat(rows)
        if abs(computed - stated) > mapper.CENT * len(rows):
            raise ValueError(f"Procountor computes {computed} of VAT on these rows, the entry states {stated}")
        channel = str(self.credentials.get("invoice_channel") or "NO_SENDING").upper()
        if channel not in CHANNELS:
            channel = "NO_SENDING"
        body = mapper.invoice_body(entry, rows, partner, channel=channel)
        invoice = self._posting(lambda: self.client.create_invoice(body), entry, lambda: self._found_record(
            self._find_invoices([entry.reference]).get(entry.reference), self.client.invoice))
        foreign = (entry.document_currency or entry.currency) != entry.currency
        if not foreign and invoice.get("ledgerReceiptId"):
            try:
                self._book_invoice_accounting(invoice, entry, rows)
            except PermanentError as exc:
                self._withdraw(invoice)
                raise refused("Procountor refused the accounting of the invoice (accounts, VAT or dimensions); "
                              "the invoice was invalidated", exc) from None
        if post and invoice.get("status") == "UNFINISHED":
            if sale:
                self.client.send_invoice(invoice["id"])
            else:
                self.client.send_to_circulation(invoice["id"])
            invoice["status"] = "SENT"
        return EntryResult(reference=entry.reference, entry_id=mapper.invoice_entry_id(invoice["id"]),
                           state="draft" if invoice.get("status") == "UNFINISHED" else "posted",
                           number=str(invoice.get("invoiceNumber") or ""),
                           attachment_count=len(invoice.get("attachments") or []))

    def _book_invoice_accounting(self, invoice: dict, entry: JournalEntry, rows) -> None:
        receipt_id = int(invoice["ledgerReceiptId"])
        version = str(invoice.get("version") or "")
        body = mapper.invoice_accounting(entry, rows, version)
        try:
            self.client.update_ledger_receipt(receipt_id, body)
        except PermanentError as exc:
            if not any(e.get("field") == "version" for e in exc.details.get("errors", [])):
                raise
            body["version"] = self.client.ledger_receipt(receipt_id).get("version")
            self.client.update_ledger_receipt(receipt_id, body)

    def _withdraw(self, invoice: dict) -> None:
        try:
            self.client.invalidate_invoice(invoice["id"])
        except PermanentError:
            logger.warning("procountor: invoice %s could not be invalidated", invoice.get("id"))

    def _create_journal(self, entry: JournalEntry, post: bool) -> EntryResult:
        body, reconcile = mapper.journal_body(entry, self._codes())
        receipt = self._posting(lambda: self.client.create_ledger_receipt(body, create_reconciliation=reconcile),
                                entry, lambda: self._found_record(self._find_journals([entry.reference]).get(
                                    entry.reference), self.client.ledger_receipt))
        return EntryResult(reference=entry.reference, entry_id=mapper.receipt_entry_id(receipt["id"]),
                           state="posted" if post else "draft", number=str(receipt.get("receiptNumber") or ""),
                           attachment_count=len(receipt.get("attachments") or []))

    # --- finding what the hub sent -------------------------------------------------------------------
    def find_entries_by_reference(self, references: Sequence[str]) -> dict[str, EntryResult]:
        wanted = [r for r in dict.fromkeys(references) if r]
        found = self._find_invoices(wanted)
        rest = [r for r in wanted if r not in found]
        if rest:
            found.update(self._find_journals(rest))
        return found

    def _find_invoices(self, references: Sequence[str]) -> dict[str, EntryResult]:
        """Invoices whose orderReference is one of these, created since the earliest POST this connector made for
        them (else the last LOOKUP_DAYS): summaries page by page, then the candidates in batches of 200."""
        if not references:
            return {}
        moments = [self._attempts[r][0] for r in references if r in self._attempts]
        if len(moments) == len(references):
            since = min(moments)
        else:
            since = self._now() - dt.timedelta(days=int(hub_setting("HUB_PROCOUNTOR_LOOKUP_DAYS", LOOKUP_DAYS)))
        rows = self.client.invoices(createdStartDate=since.strftime("%Y-%m-%dT%H:%M:%S"))
        candidates = [row["id"] for row in rows if row.get("status") not in mapper.GONE]
        wanted = set(references)
        found: dict[str, EntryResult] = {}
        for invoice in self.client.invoices_by_id(candidates):
            reference = invoice.get("orderReference")
            # an invoice the operator refused (sendingError) is the one the retry replaces: never taken again
            if reference in wanted and reference not in found and invoice.get("status") not in mapper.GONE \
                    and mapper.invoice_state(invoice)[0] is not TargetState.REJECTED:
                found[reference] = EntryResult(
                    reference=reference, entry_id=mapper.invoice_entry_id(invoice["id"]),
                    state="draft" if invoice.get("status") == "UNFINISHED" else "posted",
                    number=str(invoice.get("invoiceNumber") or ""),
                    attachment_count=len(invoice.get("attachments") or []))
        return found

    def _find_journals(self, references: Sequence[str]) -> dict[str, EntryResult]:
        """JOURNALs whose name is a reference's tag, dated in the open fiscal years (or on the entries' dates)."""
        if not references:
            return {}
        tags = {mapper.receipt_tag(r): r for r in references}
        dates = [self._attempts[r][1] for r in references if r in self._attempts]
        if len(dates) == len(references):
            start, end = min(dates), max(dates)
        else:
            years = self._open_years() or self._cached("years", self.client.fiscal_years)
            start = min((dt.date.fromisoformat(y["startDate"]) for y in years), default=self._now().date())
            end = max((dt.date.fromisoformat(y["endDate"]) for y in years), default=self._now().date())
        found: dict[str, EntryResult] = {}
        for row in self.client.ledger_receipts(types=["JOURNAL"], startDate=start.isoformat(),
                                               endDate=end.isoformat()):
            reference = tags.get(row.get("name"))
            if reference and reference not in found and row.get("status") not in mapper.GONE:
                found[reference] = EntryResult(reference=reference, entry_id=mapper.receipt_entry_id(row["id"]),
                                               state="draft" if row.get("status") == "UNFINISHED" else "posted",
                                               number=str(row.get("receiptNumber") or ""))
        return found

    # --- changes -------------------------------------------------------------------------------------
    def post_entries(self, entry_ids: Sequence[str]) -> list[EntryResult]:
        """Send the unfinished invoices (sales: send, purchases: to circulation); journals need nothing."""
        results = []
        invoices = {str(i["id"]): i for i in self.client.invoices_by_id(
            [mapper.parse_entry_id(e).id for e in entry_ids if e.startswith("invoice:")])}
        for entry_id in entry_ids:
            parsed = mapper.parse_entry_id(entry_id)
            if parsed.kind != "invoice":
                results.append(EntryResult(reference="", entry_id=entry_id, state="posted"))
                continue
            invoice = invoices.get(str(parsed.id))
            if invoice is None:
                results.append(EntryResult(reference="", error=NotFound(f"Procountor has no invoice {parsed.id}",
                                                                          provider=PROVIDER.key)))
                continue
            try:
                if invoice.get("status") == "UNFINISHED":
                    if invoice.get("type") == "SALES_INVOICE":
                        self.client.send_invoice(parsed.id)
                    else:
                        self.client.send_to_circulation(parsed.id)
            except PermanentError as exc:
                self._withdraw(invoice)
                results.append(EntryResult(reference="", error=exc))
                continue
            results.append(EntryResult(reference=str(invoice.get("orderReference") or ""), entry_id=entry_id,
                                       state="posted", number=str(invoice.get("invoiceNumber") or "")))
        return results

    def update_entry(self, entry_id: str, entry: JournalEntry, *, post: bool) -> EntryResult:
        parsed = mapper.parse_entry_id(entry_id)
        if parsed.kind == "receipt":
            current = self.client.ledger_receipt(parsed.id)
            if current.get("status") not in ("UNFINISHED",):
                raise PermanentError(f"The Procountor ledger receipt {current.get('receiptNumber')} is "
                                     f"{current.get('status')} and can no longer be changed", provider=PROVIDER.key,
                                     details={"reason": "locked"})
            body, reconcile = mapper.journal_body(entry, self._codes())
            body = {k: v for k, v in body.items() if k not in ("type", "receiptDate", "vatType")}
            body["version"] = current.get("version")
            receipt = self.client.update_ledger_receipt(parsed.id, body, create_reconciliation=reconcile)
            return EntryResult(reference=entry.reference, entry_id=entry_id, state="posted" if post else "draft",
                               number=str(receipt.get("receiptNumber") or ""))
        if parsed.kind != "invoice":
            raise PermanentError("A payment booked in Procountor cannot be changed by the hub", provider=PROVIDER.key)
        current = self.client.invoice(parsed.id)
        if current.get("status") != "UNFINISHED":
            raise PermanentError(f"The Procountor invoice {current.get('invoiceNumber')} is {current.get('status')}: "
                                 "Procountor does not let a sent or received invoice change; correct it there "
                                 "(credit note) by hand", provider=PROVIDER.key, details={"reason": "locked"})
        # Procountor's API cannot rewrite an invoice: the unfinished one is invalidated and a new one made.
        self.client.invalidate_invoice(parsed.id)
        (result,) = self.create_entries([entry], post=post)
        if result.error is not None:
            raise result.error
        return result

    def delete_entry(self, entry_id: str) -> None:
        parsed = mapper.parse_entry_id(entry_id)
        if parsed.kind != "invoice":
            raise PermanentError("Procountor's API cannot delete a ledger receipt or a payment", provider=PROVIDER.key)
        current = self.client.invoice(parsed.id)  # NotFound when it is gone
        if current.get("status") in mapper.GONE:
            return
        if current.get("status") != "UNFINISHED":
            raise PermanentError(f"The Procountor invoice {current.get('invoiceNumber')} is {current.get('status')}: "
                                 "only unfinished invoices are withdrawn by the hub", provider=PROVIDER.key)
        self.client.invalidate_invoice(parsed.id)

    def attach_document(self, entry_id: str, attachment: Attachment) -> str:
        parsed = mapper.parse_entry_id(entry_id)
        kind = {"invoice": "INVOICE", "receipt": "LEDGER_RECEIPT"}.get(parsed.kind)
        if kind is None:
            raise PermanentError("Files are attached to invoices and ledger receipts, not to payments",
                                 provider=PROVIDER.key)
        answer = self.client.upload_attachment(reference_type=kind, reference_id=parsed.id,
                                               name=attachment.filename or "document.pdf", content=attachment.content,
                                               content_type=attachment.content_type or "application/pdf")
        return str(answer.get("id") or "")

    # --- status monitoring ---------------------------------------------------------------------------
    def entry_statuses(self, entry_ids: Sequence[str]) -> dict[str, TargetStatus]:
        """Batch reads (200 ids a call) of the invoices and the receipts; what is not found is MISSING."""
        parsed = {}
        for entry_id in entry_ids:
            try:
                parsed[entry_id] = mapper.parse_entry_id(entry_id)
            except ValueError:
                continue
        invoice_ids = {p.id for p in parsed.values() if p.kind in ("invoice", "payment")}
        receipt_ids = {p.id for p in parsed.values() if p.kind == "receipt"}
        invoices = {int(i["id"]): i for i in self.client.invoices_by_id(invoice_ids)} if invoice_ids else {}
        receipts = {int(r["id"]): r for r in self.client.ledger_receipts_by_id(receipt_ids)} if receipt_ids else {}
        statuses: dict[str, TargetStatus] = {}
        for entry_id in entry_ids:
            p = parsed.get(entry_id)
            if p is None:
                statuses[entry_id] = TargetStatus(entry_id, TargetState.MISSING, reason="not an id of this connector")
            elif p.kind == "receipt":
                receipt = receipts.get(p.id)
                statuses[entry_id] = TargetStatus(entry_id, TargetState.MISSING) if receipt is None else \
                    TargetStatus(entry_id, mapper.receipt_state(receipt), label=str(receipt.get("status") or ""))
            else:
                invoice = invoices.get(p.id)
                if invoice is None:
                    statuses[entry_id] = TargetStatus(entry_id, TargetState.MISSING)
                    continue
                state, reason = mapper.invoice_state(invoice)
                statuses[entry_id] = TargetStatus(entry_id, state, label=str(invoice.get("status") or ""),
                                                  reason=reason[:500])
        return statuses

    # --- payments ------------------------------------------------------------------------------------
    def third_party_amount(self, entry_id: str, *, account_number: str, partner_id: str) -> Decimal:
        parsed = mapper.parse_entry_id(entry_id)
        if parsed.kind == "invoice":
            receipt_id = self.client.invoice(parsed.id).get("ledgerReceiptId")
            transactions = self.client.ledger_receipt(int(receipt_id)).get("transactions") or []
            lines = [t for t in transactions if t.get("transactionType") == "REVERSING_ENTRY"]
        else:
            transactions = self.client.ledger_receipt(parsed.receipt_id or parsed.id).get("transactions") or []
            lines = [t for t in transactions if t.get("account") == account_number]
        if not lines:
            raise NotFound(f"Procountor entry {entry_id} has no line on {account_number}", provider=PROVIDER.key)
        return sum((mapper.dec(t.get("accountingValue")) for t in lines), ZERO)

    def book_payment(self, entry: JournalEntry, *, reconcile_with_entry_id: str, account_number: str,
                     partner_id: str, post: bool, earlier_entry_ids: Sequence[str] = ()) -> EntryResult:
        """The capital (what the lines on `account_number` settle) is recorded on the invoice as a payment event
        (markpaid); what else the payment brought (penalty interest, collection fees, an excess, an exchange
        difference) is a JOURNAL named with the payment's reference, from the bank account to those accounts.
        Exactly once: the journal is looked up by reference, the payment event by the events the hub has not
        bound to an earlier payment (same day and amount)."""
        entry.check_balanced()
        target = mapper.parse_entry_id(reconcile_with_entry_id)
        if target.kind != "invoice":
            raise PermanentError("Payments are booked on invoices the hub sent to Procountor; this entry is a "
                                 "ledger receipt (map the journal to sales or purchase invoices)",
                                 provider=PROVIDER.key)
        invoice = self.client.invoice(target.id)
        if invoice.get("status") in mapper.GONE:
            raise PermanentError(f"The Procountor invoice {invoice.get('invoiceNumber')} is {invoice.get('status')}",
                                 provider=PROVIDER.key, provider_message="The invoice was invalidated in Procountor.")
        sale = invoice.get("type") == "SALES_INVOICE"
        bank = entry.lines[0]
        capital_lines = [line for line in entry.lines[1:] if line.account_number == account_number]
        capital = sum(((line.credit - line.debit) if sale else (line.debit - line.credit)
                       for line in capital_lines), ZERO)
        if (bank.credit if sale else bank.debit) or capital < 0:
            raise PermanentError("The payment goes the wrong way for this invoice (a refund?): book it in "
                                 "Procountor by hand", provider=PROVIDER.key)
        event_id, pays = (self._payment_event(invoice, entry, capital, earlier_entry_ids) if capital > 0
                          else (None, ZERO))
        extras = [line for line in entry.lines[1:] if line not in capital_lines]
        receipt_id = None
        if extras or capital > pays:
            # Penalty interest, fees, and what exceeds the invoice: from the bank to their accounts, as a journal.
            excess = capital - pays
            lines = extras + ([dataclasses.replace(capital_lines[0], credit=excess, debit=ZERO) if sale else
                               dataclasses.replace(capital_lines[0], debit=excess, credit=ZERO)] if excess else [])
            amount = sum((line.credit - line.debit for line in lines), ZERO)
            bank_line = dataclasses.replace(bank, debit=max(amount, ZERO), credit=max(-amount, ZERO))
            journal = dataclasses.replace(entry, lines=[bank_line, *lines], journal_id="receipt:JOURNAL",
                                          kind="general")
            journal.check_balanced()
            found = self._find_journals_on(entry.reference, entry.date)
            if found is None:
                body, reconcile = mapper.journal_body(journal, self._codes())
                receipt = self.client.create_ledger_receipt(body, create_reconciliation=reconcile)
                receipt_id = int(receipt["id"])
            else:
                receipt_id = found
        after = self.client.invoice(target.id)
        return EntryResult(reference=entry.reference, entry_id=mapper.payment_entry_id(target.id, event_id, receipt_id),
                           state="posted", reconciled=after.get("status") in ("PAID", "MARKED_PAID"))

    def _open_amount(self, invoice: dict) -> Decimal:
        """The invoice's gross (its receipt's third-party line) less the payment events recorded on it."""
        transactions = self.client.ledger_receipt(int(invoice["ledgerReceiptId"])).get("transactions") or []
        total = abs(sum((mapper.dec(t.get("accountingValue")) for t in transactions
                         if t.get("transactionType") == "REVERSING_ENTRY"), ZERO))
        paid = sum((mapper.dec(e.get("amount")) for e in self.client.payment_events(invoice["id"])
                    if e.get("status") != "CANCELLED"), ZERO)
        return max(total - paid, ZERO)

    def _payment_event(self, invoice: dict, entry: JournalEntry, capital: Decimal,
                       earlier_entry_ids: Sequence[str]) -> tuple[int | None, Decimal]:
        """(payment event, amount it records) of the capital: an event no earlier payment of the hub is bound to,
        of this day and amount, is this payment's (its answer was lost); else markpaid for what is still open."""
        known = set()
        for earlier in earlier_entry_ids:
            try:
                parsed = mapper.parse_entry_id(earlier)
            except ValueError:
                continue
            if parsed.kind == "payment" and parsed.event_id:
                known.add(parsed.event_id)
        before = list(self.client.payment_events(invoice["id"]))
        for event in before:
            if event["id"] not in known and event.get("paymentDate") == entry.date.isoformat() and \
                    mapper.dec(event.get("amount")) <= capital and event.get("status") != "CANCELLED":
                return int(event["id"]), mapper.dec(event.get("amount"))
        amount = min(capital, self._open_amount(invoice))
        if amount <= 0:
            return None, ZERO
        seen = {e["id"] for e in before}
        try:
            self.client.mark_paid(invoice["id"], amount=amount, payment_date=entry.date,
                                  currency=invoice.get("paymentInfo", {}).get("currency") or "EUR")
            failure = None
        except (RetryableError, PermanentError) as exc:
            failure = exc  # a repeated PUT is refused when the first one landed: the events tell
        new = [e for e in self.client.payment_events(invoice["id"]) if e["id"] not in seen
               and mapper.dec(e.get("amount")) == amount and e.get("paymentDate") == entry.date.isoformat()]
        if not new:
            if isinstance(failure, PermanentError):
                raise failure
            raise RetryableError("Procountor did not record the payment (no answer); it is asked again",
                                 provider=PROVIDER.key)
        return int(new[-1]["id"]), amount

    def _find_journals_on(self, reference: str, day: dt.date) -> int | None:
        tag = mapper.receipt_tag(reference)
        for row in self.client.ledger_receipts(types=["JOURNAL"], startDate=day.isoformat(), endDate=day.isoformat()):
            if row.get("name") == tag and row.get("status") not in mapper.GONE:
                return int(row["id"])
        return None
