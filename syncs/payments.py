"""Payments (lettering): the payments of booked invoices, booked once each and reconciled with the invoice.

After each batch (flows with `sync_payments` on, never in a dry run), the source is asked once what was paid
on the batch's invoices whose entry is booked: documents `synced`, or in error because of a payment. Each
payment the hub has not booked yet goes to the flow's payment journal, exactly once:
1. a `pending` SyncPayment with the payment's reference is written (committed) before the target is called;
2. the target books the entry tagged with that reference, looking the reference up first: a payment that a
   crashed run left pending is found and taken, never booked twice;
3. the SyncPayment is bound to the entry: `synced`, or `reconciled` once the payments cover the invoice and
   the target has lettered its third-party line with theirs.
Amounts: the bank line is what the payment was worth in the company's currency; the third-party line the part
of the invoice's own company value it settles (a foreign invoice's value at the invoice's rate); the
difference is an exchange gain or loss (766 / 666). What a payment brings beyond what is still due stays open
on the third party, on a line of its own (a credit), and the rest is lettered.
A payment that cannot be booked is a catalogued error on its document (the invoice's entry stays as it is);
retrying the document books it. An invoice paid before its entry is booked simply waits for the entry.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Sequence

from django.db.models import Q
from django.utils import timezone

from integration_hub.connectors.base import hub_setting
from integration_hub.connectors.errors import ConnectorError, PeriodClosed, PermanentError
from integration_hub.connectors.types import CENT, ZERO, EntryLine, EntryResult, Invoice, JournalEntry, Payment
from syncs import catalogue
from syncs.entries import DocumentProblem
from syncs.models import (
    DocumentOutcome,
    DocumentStatus,
    ErrorStatus,
    PartnerLink,
    PaymentStatus,
    SyncDocument,
    SyncPayment,
)
from syncs.recording import close_errors, open_errors, save_outcomes

if TYPE_CHECKING:  # pragma: no cover
    from syncs.engine import Engine

logger = logging.getLogger(__name__)

PAYMENT_CODES = (catalogue.PAYMENT_SETTINGS_INCOMPLETE, catalogue.PAYMENT_RATE_NOT_FOUND, catalogue.PAYMENT_NOT_BOOKED)
BOOKED = (PaymentStatus.SYNCED, PaymentStatus.RECONCILED)
MAX_REFERENCE = 160  # SyncPayment.reference


def payment_reference(doc: SyncDocument, payment_id: str) -> str:
    """The hub's reference of one payment, written on its entry: the document's, and the source's payment id
    (a digest of it when it is too long or would close the tag it is written in)."""
    reference = f"{doc.reference}/pay-{payment_id}"
    if len(reference) <= MAX_REFERENCE and "]" not in reference:
        return reference
    digest = hashlib.sha256(f"{doc.reference}|{payment_id}".encode()).hexdigest()[:24]
    return f"{doc.reference[:MAX_REFERENCE - 30]}/pay-{digest}"


# --- amounts (pure) ------------------------------------------------------------------------------------
def settlement(total: Decimal, company_total: Decimal, earlier: Sequence[Decimal], amount: Decimal
               ) -> tuple[Decimal, Decimal]:
    """(settled, share) of a payment of `amount`: how much of it settles what the invoice still owes after the
    `earlier` payments (in the invoice's currency, in booking order), and what that part is worth at the
    invoice's own rate. The payment that completes the invoice takes the rest of its company value, so the
    shares add up to it to the cent."""
    due, due_company = total, company_total
    settled = share = ZERO
    for paid in [*earlier, amount]:
        settled = min(max(due, ZERO), paid)
        share = due_company if settled == due else (settled * company_total / total).quantize(CENT)
        due, due_company = due - settled, due_company - share
    return settled, share


@dataclass(frozen=True)
class Books:
    """Where a payment of one document is booked in accounting."""

    journal_id: str
    bank_account: str
    third_party_account: str
    partner_id: str
    gain_account: str
    loss_account: str
    base_currency: str
    interest_account: str = ""
    fees_account: str = ""


def payment_entry(*, reference: str, day, label: str, money_in: bool, currency: str, amount: Decimal,
                  company_value: Decimal, settled: Decimal, share: Decimal, books: Books,
                  interest: Decimal = ZERO, fees: Decimal = ZERO) -> JournalEntry:
    """The payment's entry: bank against third party, an excess on its own third-party line, the exchange
    difference on the gain or loss account. `money_in`: the company receives the money. What of `amount` paid
    penalty interest and collection fees (`interest`, `fees`, in the payment's currency) goes to their own accounts;
    the rest is the capital that settles the invoice (`settled` of it, the excess stays open)."""
    sign = 1 if money_in else -1
    foreign = currency != books.base_currency

    def worth(part: Decimal) -> Decimal:  # a part of the payment in the company's currency, at the payment's rate
        return (part * company_value / amount).quantize(CENT) if part and foreign else part

    extras = [(books.interest_account, interest, "interest"), (books.fees_account, fees, "collection fees")]
    capital = amount - interest - fees
    excess = capital - settled
    excess_company = (excess * company_value / amount).quantize(CENT) if excess else ZERO

    def line(account: str, company: Decimal, in_currency: Decimal | None, partner: str = "", text: str = label):
        debit, credit = (company, ZERO) if company >= 0 else (ZERO, -company)
        entry_line = EntryLine(account_number=account, debit=debit, credit=credit, label=text, partner_id=partner)
        if foreign and in_currency is not None:
            entry_line.amount_currency, entry_line.currency = in_currency, currency
        return entry_line

    lines = [line(books.bank_account, sign * company_value, sign * amount)]
    if settled:
        lines.append(line(books.third_party_account, -sign * share, -sign * settled, books.partner_id))
    if excess:
        lines.append(line(books.third_party_account, -sign * excess_company, -sign * excess, books.partner_id,
                          f"{label} (overpayment)"[:200]))
    for account, part, what in extras:
        if part:
            lines.append(line(account, -sign * worth(part), -sign * part, text=f"{label} ({what})"[:200]))
    difference = -sum((l.debit - l.credit for l in lines), ZERO)
    if difference:
        account = books.loss_account if difference > 0 else books.gain_account
        lines.append(line(account, difference, None, text=f"{label} (exchange difference)"[:200]))
    entry = JournalEntry(reference=reference, journal_id=books.journal_id, date=day, label=label[:200], lines=lines,
                         currency=books.base_currency, kind="general")
    entry.check_balanced()
    return entry


def capital_of(row: SyncPayment) -> Decimal:
    """What of a booked payment settled the invoice itself (its interest and fees did not)."""
    return (row.amount or ZERO) - (row.interest or ZERO) - (row.fees or ZERO)


# --- the engine step -----------------------------------------------------------------------------------
def book_batch(engine: "Engine", invoices: list[Invoice]) -> None:
    """The engine's hook after each batch: book what was paid on the batch's booked invoices."""
    if not engine.flow.sync_payments or engine.dry_run or not invoices:
        return
    by_id = {i.id: i for i in invoices if not i.cancelled and not i.extra.get("unreadable")}
    docs = {d.source_id: d for d in _booked_documents(engine, list(by_id))}
    if not docs:
        return
    try:
        paid = engine.source.invoice_payments(sorted(docs))
    except ConnectorError:
        raise  # like any read of the source: temporary, the run stops and the documents are seen again
    except Exception:  # noqa: BLE001 - a source that cannot tell payments never stops the invoices
        logger.warning("reading the payments of %s invoices failed", len(docs), exc_info=True)
        return
    paid = {source_id: payments for source_id, payments in paid.items() if source_id in docs and payments}
    rows: dict[int, list[SyncPayment]] = {}
    for row in SyncPayment.objects.filter(flow=engine.flow, document__in=[docs[i] for i in paid]).order_by("pk"):
        rows.setdefault(row.document_id, []).append(row)
    for source_id in sorted(paid):
        doc = docs[source_id]
        _DocumentPayments(engine, doc, by_id[source_id], paid[source_id], rows.get(doc.pk, [])).settle()


def _booked_documents(engine: "Engine", source_ids: list[str]):
    """Documents with an entry in accounting that may take payments: synced, or in error for a payment."""
    if not source_ids:
        return []
    payment_error = Q(status=DocumentStatus.ERROR, errors__status=ErrorStatus.OPEN, errors__code__in=PAYMENT_CODES)
    return (SyncDocument.objects.filter(flow=engine.flow, source_id__in=source_ids, source_gone="")
            .exclude(target_entry_id="").filter(Q(status=DocumentStatus.SYNCED) | payment_error).distinct())


class _DocumentPayments:
    """The payments of one document: those not booked yet are booked in order, until one cannot be."""

    def __init__(self, engine: "Engine", doc: SyncDocument, invoice: Invoice, payments: list[Payment],
                 rows: list[SyncPayment]) -> None:
        self.engine, self.doc, self.invoice = engine, doc, invoice
        self.payments = sorted(payments, key=lambda p: (p.date if isinstance(p.date, dt.date) else dt.date.min,
                                                        str(p.id)))
        self.rows = {row.source_payment_id: row for row in rows}
        self.booked = [row for row in rows if row.status in BOOKED and row.target_entry_id]
        self.count = 0

    def settle(self) -> None:
        todo = [p for p in self.payments if getattr(self.rows.get(p.id[:128]), "status", None) not in BOOKED]
        problem = None
        if todo:
            try:
                books = self._books()
                company_total = self._company_total(books)
                for payment in todo:
                    self._book(payment, books, company_total)
            except DocumentProblem as found:
                problem = found
            except Exception as exc:  # noqa: BLE001 - one document never stops the flow (temporary errors do)
                if isinstance(exc, ConnectorError) and exc.retryable:
                    raise
                logger.warning("booking a payment of invoice %s failed", self.invoice.id, exc_info=True)
                problem = DocumentProblem(catalogue.PAYMENT_NOT_BOOKED, f"A payment of invoice {self.number} could not "
                                          f"be booked: unexpected {type(exc).__name__}.")
        self._record(problem)

    @property
    def number(self) -> str:
        return self.doc.source_number or self.invoice.number or self.doc.source_id

    @property
    def foreign(self) -> bool:
        return bool(self.invoice.currency) and self.invoice.currency != self.engine.settings.base_currency

    # --- what the payments need --------------------------------------------------------------------
    def _books(self) -> Books:
        flow = self.engine.flow
        sale = self.doc.kind == "sale"
        collective = flow.customer_collective_account if sale else flow.supplier_collective_account
        unset = [name for name, value in (("payment journal", flow.payment_journal_id), ("bank account", flow.bank_account),
                                          ("customer collective account" if sale else "supplier collective account",
                                           collective)) if not value]
        if unset:
            self._settings_problem(f"the flow's {' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set")
        for number, purpose in ((flow.bank_account, "bank account"), (collective, "collective account")):
            self._check_account(number, purpose)
        return Books(journal_id=flow.payment_journal_id, bank_account=flow.bank_account, third_party_account=collective,
                     partner_id=self._partner_id(), gain_account=flow.exchange_gain_account,
                     loss_account=flow.exchange_loss_account, base_currency=self.engine.settings.base_currency,
                     interest_account=flow.interest_account, fees_account=flow.collection_fees_account)

    def _check_account(self, number: str, purpose: str) -> None:
        account = self.engine.catalog.accounts.get(number) if number else None
        if not number:
            self._settings_problem(f"the flow's {purpose} is not set")
        if account is None or not account.usable:
            self._settings_problem(f"the {purpose} {number} {'does not exist' if account is None else 'is closed'} "
                                   "in accounting")

    def _settings_problem(self, what: str) -> None:
        raise DocumentProblem(catalogue.PAYMENT_SETTINGS_INCOMPLETE,
                              f"Invoice {self.number} was paid, but its payment cannot be booked: {what}.")

    def _partner_id(self) -> str:
        flow, partner = self.engine.flow, self.invoice.partner
        link = PartnerLink.objects.filter(source=flow.source, target=flow.target,
                                          source_partner_id=partner.id if partner else self.invoice.partner_id).first()
        if link is None:
            raise DocumentProblem(catalogue.PAYMENT_NOT_BOOKED, f"Invoice {self.number} was paid, but the hub does not "
                                  "know its third party in accounting any more: retry the invoice.")
        return link.target_partner_id

    def _company_total(self, books: Books) -> Decimal:
        """The invoice's value in the company's currency, as its entry booked it: what its payments settle."""
        invoice = self.invoice
        if not self.foreign:
            return invoice.total_amount
        if invoice.company_total is not None:
            return invoice.company_total.quantize(CENT)
        booked = self.engine.target.third_party_amount(self.doc.target_entry_id, account_number=books.third_party_account,
                                                       partner_id=books.partner_id)
        return abs(booked)

    def _company_value(self, payment: Payment) -> Decimal:
        if not self.foreign:
            return payment.amount
        if payment.company_amount is not None:
            return payment.company_amount.quantize(CENT)
        rate_of = getattr(self.engine.target, "exchange_rate", None)
        rate = rate_of(self.invoice.currency, self.engine.settings.base_currency, payment.date) if rate_of else None
        if not rate:
            raise DocumentProblem(
                catalogue.PAYMENT_RATE_NOT_FOUND,
                f"Invoice {self.number} was paid in {self.invoice.currency} on {payment.date.isoformat()} and no rate "
                f"to {self.engine.settings.base_currency} was found for that day.",
                details={"currency": self.invoice.currency, "date": payment.date.isoformat()})
        return (payment.amount * rate).quantize(CENT)

    # --- one payment ---------------------------------------------------------------------------------
    def _book(self, payment: Payment, books: Books, company_total: Decimal) -> None:
        if not isinstance(payment.amount, Decimal) or payment.amount <= 0 or payment.date is None:
            raise DocumentProblem(catalogue.PAYMENT_NOT_BOOKED,
                                  f"A payment of invoice {self.number} has no date or an amount that is not positive "
                                  f"({payment.amount}): the hub books only payments received or made.")
        interest, fees = self._extras(payment, books)
        company_value = self._company_value(payment)
        settled, share = settlement(self.invoice.total_amount, company_total, [capital_of(r) for r in self.booked],
                                    payment.amount - interest - fees)
        known = self.rows.get(payment.id[:128])
        entry = payment_entry(
            reference=known.reference if known else payment_reference(self.doc, payment.id), day=payment.date, label=f"Payment {self.number} {self.doc.partner_name}".strip(),
            money_in=(self.doc.kind == "sale") != self.doc.is_credit_note, currency=self.invoice.currency or
            books.base_currency, amount=payment.amount, company_value=company_value, settled=settled, share=share,
            books=books, interest=interest, fees=fees)
        extra_accounts = {books.interest_account if interest else None, books.fees_account if fees else None}
        for line in entry.lines[1:]:  # after the bank line, the line without a third party is the exchange difference
            if not line.partner_id and line.account_number not in extra_accounts:
                self._check_account(line.account_number, "exchange gain account" if line.credit else
                                    "exchange loss account")
        row = self._write_ahead(payment, company_value, entry.reference, interest, fees)
        try:
            result = self._send(entry, books)
        except PermanentError as exc:
            self._failed(row, exc)
        self._bind(row, result)

    def _extras(self, payment: Payment, books: Books) -> tuple[Decimal, Decimal]:
        """What of the payment paid penalty interest and collection fees, as the source says (zero when it does not
        say), checked: parts that are not amounts, or that exceed the payment, and a part without its account, are
        a catalogued error on the document rather than a guess."""
        parts = []
        for value, what, account, setting in ((payment.interest, "penalty interest", books.interest_account,
                                               "penalty interest account"),
                                              (payment.fees, "collection fees", books.fees_account,
                                               "collection fees account")):
            if value is None or value == 0:
                parts.append(ZERO)
                continue
            if not isinstance(value, Decimal) or value < 0:
                raise DocumentProblem(catalogue.PAYMENT_NOT_BOOKED, f"A payment of invoice {self.number} says it paid "
                                      f"{what} of {value}: the hub books only amounts that are not negative.")
            if not account:
                self._settings_problem(f"{value} of it paid {what} and the flow's {setting} is not set")
            self._check_account(account, setting)
            parts.append(value)
        if sum(parts, ZERO) > payment.amount:
            raise DocumentProblem(catalogue.PAYMENT_NOT_BOOKED, f"A payment of invoice {self.number} of "
                                  f"{payment.amount} says it paid {parts[0]} of interest and {parts[1]} of fees: more "
                                  "than the payment itself. Correct it in the invoicing tool, then retry the invoice.")
        return parts[0], parts[1]

    def _write_ahead(self, payment: Payment, company_value: Decimal, reference: str, interest: Decimal = ZERO,
                     fees: Decimal = ZERO) -> SyncPayment:
        row = self.rows.get(payment.id[:128]) or SyncPayment(
            tenant_id=self.doc.tenant_id, flow_id=self.doc.flow_id, document=self.doc, source_payment_id=payment.id[:128],
            reference=reference)
        row.date, row.amount, row.currency = payment.date, payment.amount, (self.invoice.currency or "")[:3]
        row.company_amount, row.status, row.last_run = company_value, PaymentStatus.PENDING, self.engine.run
        row.interest, row.fees = interest or None, fees or None
        row.save()  # committed before the target is called
        self.rows[payment.id[:128]] = row
        return row

    def _send(self, entry: JournalEntry, books: Books) -> EntryResult:
        """book_payment looks the reference up before booking: after a lost answer it is simply asked again."""
        engine = self.engine
        attempts = int(hub_setting("HUB_SYNC_WRITE_RETRIES", 3))
        for attempt in range(attempts + 1):
            engine._ensure_still_owner()
            try:
                return engine.target.book_payment(
                    entry, reconcile_with_entry_id=self.doc.target_entry_id, account_number=books.third_party_account,
                    partner_id=books.partner_id, post=not engine.flow.create_as_draft,
                    earlier_entry_ids=[row.target_entry_id for row in self.booked])
            except ConnectorError as exc:
                if not exc.retryable:
                    raise
                engine._pause_or_give_up(exc, attempt, attempts)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _failed(self, row: SyncPayment, error: PermanentError) -> None:
        row.status, row.message = PaymentStatus.ERROR, str(error)[:2000]
        row.save(update_fields=["status", "message", "updated_at"])
        when = f" of {row.date.isoformat()}" if row.date else ""
        what = "is in a period that is not open in accounting" if isinstance(error, PeriodClosed) else \
            "was refused by the accounting tool"
        raise DocumentProblem(catalogue.PAYMENT_NOT_BOOKED,
                              f"The payment{when} of invoice {self.number} ({row.amount} {row.currency}) {what}: {error}",
                              provider_message=error.provider_message, details={"payment": row.source_payment_id})

    def _bind(self, row: SyncPayment, result: EntryResult) -> None:
        row.target_entry_id, row.message = result.entry_id, ""
        row.status = PaymentStatus.RECONCILED if result.reconciled else PaymentStatus.SYNCED
        row.save(update_fields=["target_entry_id", "status", "message", "updated_at"])
        if result.reconciled:
            SyncPayment.objects.filter(pk__in=[r.pk for r in self.booked], status=PaymentStatus.SYNCED).update(
                status=PaymentStatus.RECONCILED, updated_at=timezone.now())
        self.booked.append(row)
        self.count += 1

    # --- what the run says about the document ---------------------------------------------------------
    def _record(self, problem: DocumentProblem | None) -> None:
        engine, doc, now = self.engine, self.doc, timezone.now()
        if problem is not None:
            SyncDocument.objects.filter(pk=doc.pk).update(status=DocumentStatus.ERROR, updated_at=now)
            open_errors(engine.flow, engine.run, [(doc, problem)], now)
            engine.counts.errors += 1
            save_outcomes(engine.run, [DocumentOutcome(run=engine.run, document=doc, status=DocumentStatus.ERROR,
                                                       error_code=problem.code, message=problem.message[:2000])])
            return
        if doc.status == DocumentStatus.ERROR:  # its payment error is settled
            SyncDocument.objects.filter(pk=doc.pk).update(status=DocumentStatus.SYNCED, updated_at=now)
            close_errors([doc.pk], run=engine.run, now=now, verb="Payments booked")
        if self.count:
            lettered = all(r.status == PaymentStatus.RECONCILED for r in self.booked)
            save_outcomes(engine.run, [DocumentOutcome(
                run=engine.run, document=doc, status=DocumentStatus.SYNCED, action="payment",
                message=f"{self.count} payment(s) booked; the invoice is "
                        f"{'lettered' if lettered else 'not fully paid yet'} in accounting.")])
