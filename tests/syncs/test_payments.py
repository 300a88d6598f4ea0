"""Payments (lettering) with memory books: booked once, on the bank, lettered with the invoice when covered."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal as D

import pytest
from django.utils import timezone

from integration_hub.connectors.factorial import mapper as factorial
from integration_hub.connectors.types import Account, Invoice, Journal, Payment
from syncs import catalogue
from syncs.models import (
    DocumentOutcome,
    DocumentStatus,
    ErrorStatus,
    PaymentStatus,
    RunStatus,
    SyncDocument,
    SyncError,
    SyncPayment,
)
from syncs.payments import payment_reference, settlement
from tests.support.books import add, invoice, line

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

PAID_ON = dt.date(2026, 4, 10)


def paid(inv: Invoice, *payments: tuple[str, str] | Payment) -> Invoice:
    """The invoice as the source shows it once paid: its payments, and a newer change time."""
    made = [p if isinstance(p, Payment) else Payment(id=p[0], date=PAID_ON, amount=D(p[1])) for p in payments]
    return replace(inv, payments=made, updated_at=timezone.now())


def rows(target, entry_id: str):
    entry = target.entries[entry_id].entry
    return sorted((l.account_number, l.debit, l.credit, l.partner_id != "") for l in entry.lines)


def third_party_keys(target, entry_id: str):
    return [(entry_id, i) for i, l in enumerate(target.entries[entry_id].entry.lines) if l.partner_id]


def invoice_entry_id(flow, source_id: str = "i1") -> str:
    return SyncDocument.objects.get(flow=flow, source_id=source_id).target_entry_id


# --- the pure parts ----------------------------------------------------------------------------------------
def test_the_payment_that_completes_an_invoice_settles_the_rest_of_its_company_value_to_the_cent():
    total, company = D("100.00"), D("90.91")  # a foreign invoice worth 90.91 in the company's currency
    first = settlement(total, company, [], D("33.33"))
    second = settlement(total, company, [D("33.33")], D("33.33"))
    last = settlement(total, company, [D("33.33"), D("33.33")], D("50.00"))
    assert first == (D("33.33"), D("30.30")) and second == (D("33.33"), D("30.30"))
    assert last == (D("33.34"), D("30.31"))  # only what was still due; the shares add up to 90.91
    assert settlement(total, company, [D("100.00")], D("5.00")) == (D("0"), D("0"))  # paid already: all excess


def test_a_payment_reference_fits_its_column_and_its_tag_whatever_the_source_id():
    from syncs.models import SyncDocument as Doc

    doc = Doc(reference="7-inv-42")
    assert payment_reference(doc, "991") == "7-inv-42/pay-991"
    long = payment_reference(doc, "x" * 300)
    odd = payment_reference(doc, "a]b")
    assert len(long) <= 160 and "]" not in odd and long != payment_reference(doc, "x" * 299)


# --- booking and lettering ---------------------------------------------------------------------------------
def test_a_paid_invoice_is_booked_on_the_bank_and_lettered_with_the_invoice(paying, books, sync):
    source, target = books
    add(source, invoice())  # 120.00 incl. VAT
    sync(paying)
    add(source, paid(source.invoices["i1"], ("pay-1", "120.00")))
    run = sync(paying)
    row = SyncPayment.objects.get(document__source_id="i1")
    assert (row.status, row.amount, row.reference) == (PaymentStatus.RECONCILED, D("120.00"), payment_reference(
        row.document, "pay-1"))
    payment = target.entries[row.target_entry_id]
    assert payment.entry.journal_id == "J3" and payment.entry.date == PAID_ON and payment.state == "posted"
    assert rows(target, row.target_entry_id) == [("4111", D("0"), D("120.00"), True), ("512", D("120.00"), D("0"), False)]
    invoice_line = third_party_keys(target, invoice_entry_id(paying))
    lettered = invoice_line + third_party_keys(target, row.target_entry_id)
    assert len({target.reconciled.get(key) for key in lettered}) == 1 and None not in {
        target.reconciled.get(key) for key in lettered}
    assert run.status == RunStatus.SUCCEEDED and run.synced_count == 0  # the invoice itself is unchanged
    assert DocumentOutcome.objects.filter(run=run, action="payment").count() == 1
    operations = [call["operation"] for call in run.call_log]
    assert operations.count("payments.list") == 1 and operations.count("payments.book") == 1
    assert "entries.update" not in operations and "entries.create" not in operations


def test_a_partial_payment_is_booked_then_lettered_when_the_rest_comes(paying, books, sync):
    source, target = books
    add(source, paid(invoice(), ("pay-1", "50.00")))
    sync(paying)
    first = SyncPayment.objects.get(source_payment_id="pay-1")
    assert first.status == PaymentStatus.SYNCED
    assert not target.reconciled
    add(source, paid(source.invoices["i1"], ("pay-1", "50.00"), ("pay-2", "70.00")))
    sync(paying)
    first.refresh_from_db()
    second = SyncPayment.objects.get(source_payment_id="pay-2")
    assert (first.status, second.status) == (PaymentStatus.RECONCILED, PaymentStatus.RECONCILED)
    assert rows(target, second.target_entry_id) == [("4111", D("0"), D("70.00"), True), ("512", D("70.00"), D("0"), False)]
    lettered = (third_party_keys(target, invoice_entry_id(paying)) + third_party_keys(target, first.target_entry_id)
                + third_party_keys(target, second.target_entry_id))
    assert len({target.reconciled.get(key) for key in lettered} - {None}) == 1 and all(
        key in target.reconciled for key in lettered)


def test_an_overpayment_letters_the_invoice_and_leaves_the_excess_open_as_a_credit(paying, books, sync):
    source, target = books
    add(source, paid(invoice(), ("pay-1", "150.00")))
    sync(paying)
    row = SyncPayment.objects.get(source_payment_id="pay-1")
    assert row.status == PaymentStatus.RECONCILED
    assert rows(target, row.target_entry_id) == [("4111", D("0"), D("30.00"), True), ("4111", D("0"), D("120.00"), True),
                                                 ("512", D("150.00"), D("0"), False)]
    lines = target.entries[row.target_entry_id].entry.lines
    excess = next(i for i, l in enumerate(lines) if l.credit == D("30.00"))
    settling = next(i for i, l in enumerate(lines) if l.credit == D("120.00"))
    assert (row.target_entry_id, excess) not in target.reconciled
    assert (row.target_entry_id, settling) in target.reconciled
    assert all(key in target.reconciled for key in third_party_keys(target, invoice_entry_id(paying)))


def test_a_supplier_invoice_payment_credits_the_bank_and_debits_the_supplier(paying, books, sync):
    source, target = books
    add(source, paid(invoice("p1", kind="purchase", lines=[line("Paper", "80.00", tax="p20", account="6071")]),
                     ("out-1", "96.00")))
    sync(paying)
    row = SyncPayment.objects.get(source_payment_id="out-1")
    assert rows(target, row.target_entry_id) == [("4011", D("96.00"), D("0"), True), ("512", D("0"), D("96.00"), False)]
    assert row.status == PaymentStatus.RECONCILED


def test_a_refund_of_a_credit_note_pays_the_customer_back(paying, books, sync):
    source, target = books
    add(source, paid(invoice("c1", credit_note=True), ("refund-1", "120.00")))
    sync(paying)
    row = SyncPayment.objects.get(source_payment_id="refund-1")
    assert rows(target, row.target_entry_id) == [("4111", D("120.00"), D("0"), True), ("512", D("0"), D("120.00"), False)]
    assert row.status == PaymentStatus.RECONCILED


@pytest.mark.parametrize("paid_in_eur, account, side", [("100.00", "666", "debit"), ("118.00", "766", "credit")])
def test_a_foreign_currency_payment_books_the_exchange_difference_on_666_or_766(paid_in_eur, account, side, paying,
                                                                                   books, sync):
    """Invoiced 120 USD at 0.90 (108.00 EUR); paid 120 USD later, worth another amount of euros."""
    source, target = books
    usd = replace(invoice(), currency="USD", exchange_rate=D("0.90"))
    add(source, paid(usd, Payment("usd-1", PAID_ON, D("120.00"), company_amount=D(paid_in_eur))))
    sync(paying)
    row = SyncPayment.objects.get(source_payment_id="usd-1")
    entry = target.entries[row.target_entry_id].entry
    difference = abs(D(paid_in_eur) - D("108.00"))
    exchange = next(l for l in entry.lines if l.account_number == account)
    assert getattr(exchange, side) == difference and not exchange.partner_id
    bank = next(l for l in entry.lines if l.account_number == "512")
    customer = next(l for l in entry.lines if l.account_number == "4111")
    assert (bank.debit, bank.amount_currency, bank.currency) == (D(paid_in_eur), D("120.00"), "USD")
    assert (customer.credit, customer.amount_currency) == (D("108.00"), D("-120.00"))
    assert row.status == PaymentStatus.RECONCILED and row.company_amount == D(paid_in_eur)


# --- exactly once --------------------------------------------------------------------------------------------
def test_a_rerun_books_no_payment_again(paying, books, sync):
    source, target = books
    add(source, paid(invoice(), ("pay-1", "120.00")))
    sync(paying)
    entries = len(target.entries)
    source.invoices["i1"] = replace(source.invoices["i1"], updated_at=timezone.now())  # listed again
    again = sync(paying)
    operations = [call["operation"] for call in again.call_log]
    assert "payments.list" in operations and "payments.book" not in operations
    assert len(target.entries) == entries and SyncPayment.objects.count() == 1


def test_a_payment_a_crash_left_pending_is_bound_to_the_entry_already_in_accounting(paying, books, sync):
    """The run died after accounting booked the payment and before the hub bound it."""
    source, target = books
    add(source, invoice())
    sync(paying)
    doc = SyncDocument.objects.get(source_id="i1")
    reference = payment_reference(doc, "pay-1")
    partner = next(l.partner_id for l in target.entries[doc.target_entry_id].entry.lines if l.partner_id)
    from integration_hub.connectors.memory.connector import MemoryConnector
    from syncs.payments import Books, payment_entry

    books_ = Books("J3", "512", "4111", partner, "766", "666", "EUR")
    accounting = MemoryConnector({"api_key": "memory-key"})
    accounting.store = target
    booked = accounting.book_payment(
        payment_entry(reference=reference, day=PAID_ON, label="Payment", money_in=True, currency="EUR",
                      amount=D("120.00"), company_value=D("120.00"), settled=D("120.00"), share=D("120.00"),
                      books=books_),
        reconcile_with_entry_id=doc.target_entry_id, account_number="4111", partner_id=partner, post=True)
    SyncPayment.objects.create(tenant=doc.tenant, flow=paying, document=doc, source_payment_id="pay-1",
                               reference=reference, status=PaymentStatus.PENDING)
    entries = len(target.entries)
    add(source, paid(source.invoices["i1"], ("pay-1", "120.00")))
    sync(paying)
    row = SyncPayment.objects.get(source_payment_id="pay-1")
    assert (row.status, row.target_entry_id) == (PaymentStatus.RECONCILED, booked.entry_id)
    assert len(target.entries) == entries


# --- waiting, errors, retries ---------------------------------------------------------------------------------
def test_payments_are_left_alone_when_the_flow_does_not_book_them(flow, books, sync):
    source, target = books
    add(source, paid(invoice(), ("pay-1", "120.00")))
    run = sync(flow)
    assert len(target.entries) == 1 and not SyncPayment.objects.exists()
    assert "payments.list" not in [call["operation"] for call in run.call_log]


def test_an_invoice_paid_before_its_entry_is_booked_waits_for_the_entry(paying, books, sync):
    source, target = books
    paying.sync_without_attachment = False
    paying.save()
    add(source, paid(invoice(attachment=False), ("pay-1", "120.00")))
    sync(paying)
    assert SyncDocument.objects.get(source_id="i1").status == DocumentStatus.WAITING
    assert not SyncPayment.objects.exists() and not target.entries
    source.invoices["i1"] = replace(source.invoices["i1"], has_attachment=True, updated_at=timezone.now())
    add(source, source.invoices["i1"])
    sync(paying)
    assert SyncPayment.objects.get(source_payment_id="pay-1").status == PaymentStatus.RECONCILED


def test_missing_payment_settings_are_an_error_on_the_document_and_a_retry_books_the_payment(paying, books, sync):
    source, target = books
    paying.bank_account = ""
    paying.save()
    add(source, paid(invoice(), ("pay-1", "120.00")))
    run = sync(paying)
    doc = SyncDocument.objects.get(source_id="i1")
    error = SyncError.objects.get(document=doc, status=ErrorStatus.OPEN)
    assert error.code == catalogue.PAYMENT_SETTINGS_INCOMPLETE and "bank account" in error.message
    assert doc.status == DocumentStatus.ERROR and doc.target_entry_id  # the invoice's entry is booked
    assert run.status == RunStatus.PARTIAL and not SyncPayment.objects.exists()
    paying.bank_account = "512"
    paying.save()
    sync(paying)  # the error document is retried on its own
    doc.refresh_from_db()
    error.refresh_from_db()
    assert doc.status == DocumentStatus.SYNCED and error.status == ErrorStatus.RESOLVED
    assert SyncPayment.objects.get(source_payment_id="pay-1").status == PaymentStatus.RECONCILED
    assert len(target.entries) == 2


def test_a_payment_accounting_refuses_is_a_catalogued_error_and_is_booked_once_accepted(paying, books, sync):
    source, target = books
    add(source, invoice())
    sync(paying)
    target.reject = lambda entry: "Période clôturée" if entry.journal_id == "J3" else None
    add(source, paid(source.invoices["i1"], ("pay-1", "120.00")))
    sync(paying)
    row = SyncPayment.objects.get(source_payment_id="pay-1")
    error = SyncError.objects.get(status=ErrorStatus.OPEN)
    assert row.status == PaymentStatus.ERROR and not row.target_entry_id
    assert error.code == catalogue.PAYMENT_NOT_BOOKED and error.provider_message == "Période clôturée"
    target.reject = None
    sync(paying)
    row.refresh_from_db()
    assert row.status == PaymentStatus.RECONCILED and len(target.entries) == 2


def test_a_payment_of_nothing_is_an_error_not_an_entry(paying, books, sync):
    source, target = books
    add(source, paid(invoice(), ("pay-0", "0.00")))
    sync(paying)
    assert SyncError.objects.get(status=ErrorStatus.OPEN).code == catalogue.PAYMENT_NOT_BOOKED
    assert len(target.entries) == 1


def test_a_payment_does_not_change_the_fingerprint_of_its_invoice():
    from syncs.fingerprint import invoice_fingerprint

    plain = invoice(updated=timezone.now())
    assert invoice_fingerprint(plain) == invoice_fingerprint(paid(plain, ("pay-1", "120.00")))


# --- Factorial: a document or an expense marked paid ---------------------------------------------------------
def test_a_factorial_document_marked_paid_is_one_payment_of_its_total_on_the_day_it_was_paid():
    document = invoice("fd-9", total="120.00")
    row = {"status": "paid", "fully_reconciled_at": "2026-04-12T09:30:00Z", "updated_at": "2026-04-13T10:00:00Z"}
    (payment,) = factorial.payments(row, document)
    assert (payment.id, payment.date, payment.amount) == ("fd-9:paid", dt.date(2026, 4, 12), D("120.00"))
    assert factorial.payments({**row, "status": "sent_to_pay"}, document) == []
    expense = replace(invoice("ex-3", kind="purchase"), currency="USD")
    (paid_expense,) = factorial.payments({"status": "paid", "paid_at": "2026-05-02T08:00:00Z",
                                          "reimbursable_amount": 11000, "reimbursable_currency": "EUR"}, expense)
    assert (paid_expense.date, paid_expense.company_amount) == (dt.date(2026, 5, 2), D("110.00"))


# --- where people see and set it --------------------------------------------------------------------------------
def test_a_documents_page_shows_its_payments(client, make_user, tenant_a, paying, books, sync):
    from django.urls import reverse

    from tenants.models import Role
    from tenants.services import membership_set

    source, _ = books
    add(source, paid(invoice(number="F-777"), ("pay-1", "50.00"), ("pay-2", "70.00")))
    sync(paying)
    accountant = make_user("accountant", staff=True, perms=("syncs.view_syncdocument",))
    membership_set(tenant=tenant_a, user=accountant, role=Role.ACCOUNTANT)
    client.force_login(accountant)
    doc = SyncDocument.objects.get(source_number="F-777")
    page = client.get(reverse("admin:syncs_syncdocument_change", args=[doc.pk])).content.decode()
    assert "Booked and reconciled" in page and "70.00" in page
    assert payment_reference(doc, "pay-2") in page


def test_the_configuration_step_suggests_the_bank_journal_and_accounts_and_saves_them(client, owner_a, flow, books):
    import re

    from django.urls import reverse

    _, target = books
    for number, name in (("512", "Banque"), ("766", "Gains de change"), ("666", "Pertes de change")):
        target.accounts[number] = Account(id=f"A{number}", number=number, name=name)
    target.journals.append(Journal("J3", "BQ", "Banque", "cash"))
    client.force_login(owner_a)
    url = reverse("wizard_step", args=[flow.tenant.slug, flow.pk, "configuration"])
    page = client.get(url).content.decode()

    def selected(name):
        block = re.search(rf'<select name="{name}".*?</select>', page, re.S).group(0)
        return re.search(r'<option value="([^"]*)" selected', block).group(1)

    assert "Book the payments of the invoices?" in page
    assert [selected(n) for n in ("payment_journal_id", "bank_account", "exchange_gain_account",
                                  "exchange_loss_account")] == ["J3", "512", "766", "666"]
    form = {"name": flow.name, "start_date": "2026-01-01", "booking_date": "accounting", "create_as_draft": "False",
            "sync_without_attachment": "True", "scope": "all", "label_option": "partner_then_description",
            "schedule_minutes": "60", "rounding_tolerance": "0.05", "sync_payments": "True",
            "payment_journal_id": "J3", "bank_account": "", "exchange_gain_account": "766",
            "exchange_loss_account": "666"}
    refused = client.post(url, form)
    assert refused.status_code == 200 and "Choose it to book payments" in refused.content.decode()
    saved = client.post(url, {**form, "bank_account": "512"})
    assert saved.status_code == 302
    flow.refresh_from_db()
    assert (flow.sync_payments, flow.payment_journal_id, flow.payment_journal_label, flow.bank_account,
            flow.exchange_gain_account, flow.exchange_loss_account) == (True, "J3", "BQ Banque", "512", "766", "666")


def test_suggestions_fill_the_payment_settings_from_the_chart_without_turning_payments_on(flow, books):
    from integration_hub.connectors.memory.connector import MemoryConnector
    from mappings.autoconfigure import flow_apply_suggestions

    source, target = books
    target.accounts["5121"] = Account(id="A5121", number="5121", name="Banque EUR")
    target.accounts["512"] = Account(id="A512", number="512", name="Banques", postable=False)
    target.journals.append(Journal("J4", "CASH", "Caisse", "cash"))
    src, tgt = (MemoryConnector({"api_key": "memory-key"}) for _ in range(2))
    src.store, tgt.store = source, target
    flow.bank_account = flow.payment_journal_id = ""
    missing = flow_apply_suggestions(flow=flow, source=src, target=tgt)
    flow.refresh_from_db()
    assert (flow.bank_account, flow.payment_journal_id, flow.sync_payments) == ("5121", "J4", False)
    assert flow.exchange_gain_account == "" and flow.exchange_loss_account == ""  # this chart has neither
    assert not {"bank_account", "exchange_gain_account", "exchange_loss_account"} & set(missing)


def test_factorial_tells_the_paid_documents_and_expenses_it_listed_without_asking_again(settings):
    from integration_hub.connectors.factorial.connector import FactorialConnector
    from integration_hub.connectors.types import Scope
    from sandboxes.factorial import start_sandbox
    from tests.support.clock import SANDBOX_DAY

    with start_sandbox(api_key="pay-key", seed="demo", today=SANDBOX_DAY, post_rate_limit=None) as sandbox:
        settings.HUB_FACTORIAL_BASE_URL = sandbox.url
        factorial_ = FactorialConnector({"api_key": "pay-key"}, auth_kind="api_key")
        listed = {i.id: i for i in factorial_.list_invoices(since=None, scope=Scope.ALL)
                  if not i.extra.get("unreadable")}
        marked = {f"fd-{r['id']}" for r in sandbox.state.records("finance/financial_documents") if r["status"] == "paid"}
        marked |= {f"ex-{r['id']}" for r in sandbox.state.records("expenses/expenses") if r["status"] == "paid"}
        calls = len(factorial_.call_log)
        found = factorial_.invoice_payments(sorted(listed))
        assert len(factorial_.call_log) == calls  # known from the listing
        assert set(found) == marked & set(listed) and {i[:3] for i in found} == {"fd-", "ex-"}
        some = sorted(i for i in found if i.startswith("fd-"))[0]
        assert [p.amount for p in found[some]] == [listed[some].total_amount]
        again = FactorialConnector({"api_key": "pay-key"}, auth_kind="api_key")
        assert again.invoice_payments([some]) == {some: found[some]} and len(again.call_log) > 0
        factorial_.close(), again.close()


def test_a_flow_that_books_payments_is_not_ready_without_its_payment_journal_and_bank_account(paying):
    from mappings.services import flow_problems

    assert not [p for p in flow_problems(paying) if "Payments" in p.message]
    paying.payment_journal_id = ""
    (problem,) = [p for p in flow_problems(paying) if "Payments" in p.message]
    assert problem.step == "configuration" and "journal or bank account" in problem.message
