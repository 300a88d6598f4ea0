"""The Procountor target connector against the sandbox over real HTTP: connecting, lists, partners, entries as
invoices and as ledger receipts, references after lost answers, statuses on the sandbox clock, payments."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from integration_hub.connectors import finnish
from integration_hub.connectors.errors import PermanentError, RetryableError
from integration_hub.connectors.procountor.provider import PROVIDER
from integration_hub.connectors.types import EntryLine, JournalEntry, Partner, TargetState
from tests.procountor.support import API_KEY, CLIENT_ID, SECRET, serve

D = Decimal
DAY = dt.date(2026, 11, 20)
CUSTOMER, SUPPLIER = "2001", "2003"  # Kaupparaitti Oy, Konttoritarvike Oy in the demo seed


@pytest.fixture
def running():
    with serve() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def procountor_settings(settings, running):
    settings.HUB_PROCOUNTOR_API_URL = running.url
    settings.HUB_PROCOUNTOR_CLIENT_ID = CLIENT_ID
    settings.HUB_PROCOUNTOR_CLIENT_SECRET = SECRET
    settings.HUB_BUDGET_BACKEND = "memory"


def connect(running, **credentials):
    connector = PROVIDER.connector({"api_key": API_KEY, **credentials})
    connector.clock = running.clock.time  # tokens and look-ups on the sandbox's time
    connector.sleep = lambda seconds: None
    return connector


@pytest.fixture
def procountor(running):
    connector = connect(running)
    yield connector
    connector.close()


def sale(reference: str, *, journal="invoice:sales", account="3010", amount="100.00", vat="25.50",
         rate="25.5", analytic=None, number="F-2026-0042") -> JournalEntry:
    amount, vat = D(amount), D(vat)
    lines = [EntryLine("1701", debit=amount + vat, label="Kaupparaitti Oy", partner_id=CUSTOMER),
             EntryLine(account, credit=amount, label="Konsultointi", vat_code_id=f"sale:1:{rate}", vat_role="base",
                       analytic=analytic or {})]
    if vat:
        lines.append(EntryLine("2939", credit=vat, label="ALV", vat_code_id=f"sale:1:{rate}", vat_role="tax",
                               vat_base=amount))
    return JournalEntry(reference=reference, journal_id=journal, date=DAY, label=f"{number} Kaupparaitti Oy",
                        lines=lines, source_number=number, kind="sale", due_date=DAY + dt.timedelta(days=14),
                        document_currency="EUR")


def purchase(reference: str, *, journal="invoice:purchase", account="7600", analytic=None) -> JournalEntry:
    lines = [EntryLine("2871", credit=D("62.75"), label="Konttoritarvike Oy", partner_id=SUPPLIER),
             EntryLine(account, debit=D("50.00"), label="Kopiopaperi", vat_code_id="purchase:1:25.5",
                       vat_role="base", analytic=analytic or {}),
             EntryLine("1763", debit=D("12.75"), label="ALV", vat_code_id="purchase:1:25.5", vat_role="tax")]
    return JournalEntry(reference=reference, journal_id=journal, date=DAY, label="KT-9001 Konttoritarvike Oy",
                        lines=lines, source_number="KT-9001", kind="purchase", due_date=DAY + dt.timedelta(days=30),
                        document_currency="EUR")


def invoices_with(running, reference: str) -> list[dict]:
    return [i for i in running.state.invoices.values() if i.get("orderReference") == reference]


def journals_named(running, name: str) -> list[dict]:
    return [r for r in running.state.receipts.values() if r["type"] == "JOURNAL" and r.get("name") == name]


def entry_number(entry_id: str) -> int:
    return int(entry_id.split(":")[1])


# --- connecting and lists ------------------------------------------------------------------------------------

def test_the_check_names_the_company_and_a_wrong_api_key_asks_for_a_new_one(running, procountor):
    result = procountor.check()
    assert result.ok and "Esimerkki Oy" in result.message and result.organisation_name == "Esimerkki Oy"
    wrong = connect(running, api_key="not-the-key").check()
    assert not wrong.ok and wrong.needs_reauth and "API key" in wrong.message


def test_the_lists_give_the_chart_each_vat_status_and_rate_the_journals_and_dimension_items(procountor):
    accounts = {a.number: a.name for a in procountor.list_accounts()}
    assert accounts["1701"] == "Myyntisaamiset" and "9160" in accounts
    codes = {c.id: c for c in procountor.list_vat_codes()}
    domestic = codes["sale:1:25.5"]
    assert domestic.rate == D("25.5") and domestic.kind == "sale" and "Kotimaa" in domestic.name
    assert domestic.account_number == "2939" and codes["purchase:1:24"].account_number == "1763"
    assert "sale:1:24" not in codes  # 24 % is still accepted on purchases only
    assert codes["sale:2:0"].rate == D("0") and "purchase:5:0" not in codes  # export is a sales status
    assert [j.id for j in procountor.list_journals()] == ["invoice:sales", "invoice:purchase", "receipt:JOURNAL"]
    dimensions = procountor.list_dimensions()
    assert ("101:1012", "MYYNTI Myynti", "Kustannuspaikka") in dimensions
    assert not any(item.startswith("101:1014") for item, _, _ in dimensions)  # the inactive cost centre


def test_partners_are_matched_by_business_id_and_a_wrong_business_id_is_refused_before_sending(running, procountor):
    (found,) = procountor.find_partners(registration_number="2345678-9")
    assert found.id == CUSTOMER and found.name == "Kaupparaitti Oy"
    with pytest.raises(PermanentError, match="check digit"):
        procountor.create_partner(Partner(id="s-1", name="Väärä Oy", registration_number="0112038-8"), kind="customer")
    created = procountor.create_partner(Partner(id="s-2", name="Uusi Asiakas Oy", registration_number="0112038-9"),
                                        kind="customer")
    assert running.state.partners[int(created.id)]["identifier"] == "0112038-9"
    assert procountor.find_partners(name="uusi asiakas oy")[0].id == created.id


# --- entries -------------------------------------------------------------------------------------------------

def test_a_sales_entry_becomes_an_invoice_with_the_hubs_accounts_dimension_and_reference_number(running, procountor):
    (result,) = procountor.create_entries([sale("hub/s-1", analytic={"cost_center": "101:1012"})], post=True)
    assert result.ok and result.state == "posted" and result.entry_id.startswith("invoice:")
    invoice = running.state.invoices[entry_number(result.entry_id)]
    assert invoice["status"] == "NOT_SENT" and invoice["orderReference"] == "hub/s-1"
    assert invoice["paymentInfo"]["bankReferenceCode"] == finnish.make_reference("20260042")
    assert invoice["invoiceRows"][0]["vatPercent"] == D("25.5") and invoice["invoiceRows"][0]["unitPrice"] == D("100")
    receipt = running.state.receipts[invoice["_receipt"]]
    entry = next(t for t in receipt["transactions"] if t["transactionType"] == "ENTRY")
    assert entry["account"] == "3010" and entry["accountingValue"] == D("-100.00")
    assert entry["dimensionItemValues"] == [{"dimensionId": 101, "itemId": 1012, "value": D("-100.00")}]


def test_a_sales_entry_mapped_to_the_ledger_becomes_a_journal_with_vat_and_a_cost_centre(running, procountor):
    (result,) = procountor.create_entries([sale("hub/s-2", journal="receipt:JOURNAL",
                                                analytic={"cost_center": "101:1013"})], post=True)
    assert result.ok and result.entry_id.startswith("receipt:")
    (journal,) = journals_named(running, "hub/s-2")
    accounts = {t["account"]: t for t in journal["transactions"]}
    assert set(accounts) == {"1701", "3010"}  # the VAT line is Procountor's to post, from the percentage
    assert accounts["3010"]["vatPercent"] == D("25.5") and accounts["3010"]["vatStatus"] == 1
    assert accounts["1701"]["accountingValue"] == D("125.50")
    assert accounts["3010"]["dimensionItemValues"][0]["itemId"] == 1013


def test_purchases_become_a_purchase_invoice_in_circulation_or_a_journal(running, procountor):
    invoice, journal = procountor.create_entries(
        [purchase("hub/p-1"), purchase("hub/p-2", journal="receipt:JOURNAL", analytic={"project": "102:1021"})],
        post=True)
    booked = running.state.invoices[entry_number(invoice.entry_id)]
    assert booked["type"] == "PURCHASE_INVOICE" and booked["status"] == "RECEIVED"
    assert booked["originalInvoiceNumber"] == "KT-9001"
    receipt = running.state.receipts[booked["_receipt"]]
    assert [t["account"] for t in receipt["transactions"]] == ["2871", "7600"]
    (voucher,) = journals_named(running, "hub/p-2")
    assert voucher["vatType"] == "PURCHASE" and journal.ok


def test_one_refused_entry_carries_procountors_words_and_the_others_are_booked(running, procountor):
    good, bad, also_good = procountor.create_entries(
        [sale("hub/b-1", journal="receipt:JOURNAL"), sale("hub/b-2", journal="receipt:JOURNAL", account="9999"),
         sale("hub/b-3")], post=True)
    assert good.ok and also_good.ok and not bad.ok
    assert isinstance(bad.error, PermanentError)
    assert "Ledger account 9999 does not exist" in bad.error.provider_message
    assert not journals_named(running, "hub/b-2")


def test_an_unbalanced_entry_never_leaves_the_hub(running, procountor):
    entry = sale("hub/u-1", journal="receipt:JOURNAL")
    entry.lines[0].debit = D("125.49")
    (result,) = procountor.create_entries([entry], post=True)
    assert not result.ok and "debits" in str(result.error.provider_message or result.error)
    assert not journals_named(running, "hub/u-1")


def test_a_lost_answer_is_found_again_by_reference_and_not_booked_twice(running, procountor):
    running.admin("POST", "faults", {"kind": "drop_after", "method": "POST", "path_contains": "/invoices"})
    running.admin("POST", "faults", {"kind": "drop_after", "method": "POST", "path_contains": "/ledgerreceipts"})
    invoice, journal = procountor.create_entries([sale("hub/l-1"), sale("hub/l-2", journal="receipt:JOURNAL")],
                                                 post=True)
    assert invoice.ok and journal.ok
    assert len(invoices_with(running, "hub/l-1")) == 1 and len(journals_named(running, "hub/l-2")) == 1
    # Another worker (nothing in memory) asks after a crash: both are found, with their state.
    found = connect(running).find_entries_by_reference(["hub/l-1", "hub/l-2", "hub/never"])
    assert found["hub/l-1"].entry_id == invoice.entry_id and found["hub/l-2"].entry_id == journal.entry_id
    assert "hub/never" not in found


def test_a_post_that_never_arrived_is_left_to_the_engine_to_send_again(running, procountor):
    running.admin("POST", "faults", {"kind": "drop", "method": "POST", "path_contains": "/invoices"})
    with pytest.raises(RetryableError):
        procountor.create_entries([sale("hub/d-1")], post=True)
    assert not invoices_with(running, "hub/d-1")
    (again,) = procountor.create_entries([sale("hub/d-1")], post=True)
    assert again.ok and len(invoices_with(running, "hub/d-1")) == 1


def test_a_draft_invoice_is_pending_then_posted_by_post_entries(running, procountor):
    (draft,) = procountor.create_entries([sale("hub/dr-1")], post=False)
    assert draft.state == "draft"
    assert procountor.entry_statuses([draft.entry_id])[draft.entry_id].state is TargetState.PENDING
    (posted,) = procountor.post_entries([draft.entry_id])
    assert posted.state == "posted" and procountor.find_entry_by_reference("hub/dr-1").state == "posted"


# --- statuses ------------------------------------------------------------------------------------------------

def test_statuses_follow_the_sandbox_clock_up_to_an_asynchronous_rejection(running):
    einvoicing = connect(running, invoice_channel="ELECTRONIC_INVOICE")
    (sent,) = einvoicing.create_entries([sale("hub/e-1")], post=True)
    (journal,) = einvoicing.create_entries([sale("hub/e-2", journal="receipt:JOURNAL")], post=True)
    ids = [sent.entry_id, journal.entry_id, "invoice:999999"]
    before = einvoicing.entry_statuses(ids)
    assert before[sent.entry_id].state is TargetState.ACCEPTED and before[sent.entry_id].label == "SENT"
    assert before["invoice:999999"].state is TargetState.MISSING
    running.clock.advance(601)
    after = einvoicing.entry_statuses(ids)
    assert after[sent.entry_id].state is TargetState.REJECTED
    assert "e-invoice address" in after[sent.entry_id].reason
    assert after[journal.entry_id].state is TargetState.PENDING  # a journal stays unfinished until approved


def test_the_statuses_of_many_entries_take_one_call_per_kind(running, procountor):
    results = procountor.create_entries([sale(f"hub/m-{n}") for n in range(4)], post=True)
    running.admin("DELETE", "requests")
    statuses = procountor.entry_statuses([r.entry_id for r in results])
    assert {s.state for s in statuses.values()} == {TargetState.ACCEPTED}
    calls = running.admin("GET", "requests")["requests"]
    assert [c["method"] for c in calls] == ["GET"]


# --- payments ------------------------------------------------------------------------------------------------

def payment(reference: str, *, capital="125.50", interest="0", fees="0") -> JournalEntry:
    capital, interest, fees = D(capital), D(interest), D(fees)
    lines = [EntryLine("1910", debit=capital + interest + fees, label="Maksu"),
             EntryLine("1701", credit=capital, label="Maksu", partner_id=CUSTOMER)]
    if interest:
        lines.append(EntryLine("9160", credit=interest, label="Viivästyskorko"))
    if fees:
        lines.append(EntryLine("3700", credit=fees, label="Perintäkulut"))
    return JournalEntry(reference=reference, journal_id="receipt:JOURNAL", date=DAY, label="Maksu F-2026-0042",
                        lines=lines)


def test_a_payment_with_interest_and_fees_pays_the_invoice_and_books_the_rest_once(running, procountor):
    (invoice,) = procountor.create_entries([sale("hub/pay-1")], post=True)
    entry = payment("hub/pay-1/pay-7", interest="7.80", fees="5.00")
    booked = procountor.book_payment(entry, reconcile_with_entry_id=invoice.entry_id, account_number="1701",
                                     partner_id=CUSTOMER, post=True)
    assert booked.ok and booked.reconciled is True
    number = entry_number(invoice.entry_id)
    assert [e["amount"] for e in running.state.events[number]] == [D("125.50")]
    (journal,) = journals_named(running, "hub/pay-1/pay-7")
    values = {t["account"]: t["accountingValue"] for t in journal["transactions"]}
    assert values == {"1910": D("12.80"), "9160": D("-7.80"), "3700": D("-5.00")}
    # Asked again (its answer was lost): the same payment, nothing booked twice.
    again = procountor.book_payment(entry, reconcile_with_entry_id=invoice.entry_id, account_number="1701",
                                    partner_id=CUSTOMER, post=True)
    assert again.entry_id == booked.entry_id
    assert len(running.state.events[number]) == 1 and len(journals_named(running, "hub/pay-1/pay-7")) == 1
    assert procountor.entry_statuses([invoice.entry_id])[invoice.entry_id].state is TargetState.PAID


def test_a_part_payment_leaves_the_invoice_partly_paid_and_a_second_one_settles_it(running, procountor):
    (invoice,) = procountor.create_entries([sale("hub/pp-1")], post=True)
    first = procountor.book_payment(payment("hub/pp-1/pay-1", capital="100.00"),
                                    reconcile_with_entry_id=invoice.entry_id, account_number="1701",
                                    partner_id=CUSTOMER, post=True)
    assert first.reconciled is False
    assert procountor.entry_statuses([invoice.entry_id])[invoice.entry_id].state is TargetState.PARTLY_PAID
    second = procountor.book_payment(payment("hub/pp-1/pay-2", capital="25.50"),
                                     reconcile_with_entry_id=invoice.entry_id, account_number="1701",
                                     partner_id=CUSTOMER, post=True, earlier_entry_ids=[first.entry_id])
    assert second.reconciled is True and second.entry_id != first.entry_id


def test_a_lost_mark_paid_answer_is_not_paid_twice(running, procountor):
    (invoice,) = procountor.create_entries([sale("hub/lp-1")], post=True)
    running.admin("POST", "faults", {"kind": "drop_after", "method": "PUT", "path_contains": "markpaid"})
    booked = procountor.book_payment(payment("hub/lp-1/pay-1"), reconcile_with_entry_id=invoice.entry_id,
                                     account_number="1701", partner_id=CUSTOMER, post=True)
    assert booked.reconciled is True
    assert len(running.state.events[entry_number(invoice.entry_id)]) == 1


def test_a_purchase_payment_marks_the_purchase_invoice_paid(running, procountor):
    (invoice,) = procountor.create_entries([purchase("hub/pu-1")], post=True)
    entry = JournalEntry(reference="hub/pu-1/pay-1", journal_id="receipt:JOURNAL", date=DAY, label="Maksu",
                         lines=[EntryLine("1910", credit=D("62.75")),
                                EntryLine("2871", debit=D("62.75"), partner_id=SUPPLIER)])
    booked = procountor.book_payment(entry, reconcile_with_entry_id=invoice.entry_id, account_number="2871",
                                     partner_id=SUPPLIER, post=True)
    assert booked.reconciled is True
    assert procountor.third_party_amount(invoice.entry_id, account_number="2871", partner_id=SUPPLIER) == D("-62.75")
