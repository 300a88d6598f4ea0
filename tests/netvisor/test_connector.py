"""The Netvisor connector against the sandbox over real HTTP: lists, entries as invoices and vouchers, lookups by
reference after a lost answer, statuses over the sandbox clock, payments with interest and fees."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from integration_hub.connectors.errors import PermanentError, RetryableError
from integration_hub.connectors.finnish import make_reference
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.netvisor.client import error_text
from integration_hub.connectors.netvisor.provider import PROVIDER
from integration_hub.connectors.types import Address, EntryLine, JournalEntry, Partner, TargetState

from sandboxes.netvisor import start_sandbox

from .conftest import KEYS as CLIENT_KEYS

D = Decimal
KEYS = CLIENT_KEYS | {"organisation_id": "2345678-0"}  # a business id with a right check digit
DAY = dt.date(2025, 6, 10)


@pytest.fixture
def sandbox(clock):
    with start_sandbox(seed="demo", clock=clock, **KEYS) as running:
        yield running


@pytest.fixture
def connector(sandbox, clock, settings):
    settings.HUB_NETVISOR_API_URL = sandbox.url
    settings.HUB_NETVISOR_PARTNER_ID = KEYS["partner_id"]
    settings.HUB_NETVISOR_PARTNER_KEY = KEYS["partner_key"]
    settings.HUB_NETVISOR_SENDER = KEYS["sender"]
    settings.HUB_BUDGET_BACKEND = "memory"
    settings.HUB_NETVISOR_CALLS_PER_MINUTE = 10_000  # the budget is shared by the whole test process
    session = HubSession(provider="netvisor", sleep=lambda seconds: None, error_text=error_text, read_timeout=5)
    made = PROVIDER.connector({"customer_id": KEYS["customer_id"], "customer_key": KEYS["customer_key"],
                               "organisation_id": KEYS["organisation_id"]}, session=session)
    made.clock = clock.now  # the client signs with the sandbox's time
    yield made
    made.close()


def customer(connector, name="Mäkinen Rakennus Oy") -> str:
    return connector.find_partners(name=name)[0].id


def item(connector, name: str) -> str:
    return next(key for key, label, dimension in connector.list_dimensions() if label == name)


def sale(reference: str, partner: str, *, journal="invoice:sales", account="3000", net="100.00", vat="25.50",
         number="", analytic=None, day=DAY) -> JournalEntry:
    total = D(net) + D(vat)
    return JournalEntry(reference=reference, journal_id=journal, date=day, label=f"Invoice {number or reference}",
                        source_number=number, kind="sale", due_date=day + dt.timedelta(days=14), lines=[
                            EntryLine("1701", debit=total, partner_id=partner, label="Customer"),
                            EntryLine(account, credit=D(net), vat_code_id="KOMY:25.5", vat_role="base",
                                      label="Consulting", analytic=analytic or {}),
                            EntryLine("2939", credit=D(vat), vat_code_id="KOMY:25.5", vat_role="tax", label="VAT")])


def purchase(reference: str, partner: str, *, journal="invoice:purchase", number="P-77", analytic=None):
    return JournalEntry(reference=reference, journal_id=journal, date=DAY, label=f"Bill {number}",
                        source_number=number, kind="purchase", lines=[
                            EntryLine("2871", credit=D("251.00"), partner_id=partner, label="Supplier"),
                            EntryLine("4000", debit=D("200.00"), vat_code_id="KOOS:25.5", vat_role="base",
                                      label="Paper", analytic=analytic or {}),
                            EntryLine("1763", debit=D("51.00"), vat_code_id="KOOS:25.5", vat_role="tax")])


def test_check_names_the_company_and_the_lists_give_what_the_wizard_maps(connector):
    result = connector.check()
    assert result.ok and KEYS["organisation_id"] in result.message
    accounts = {a.number: a for a in connector.list_accounts()}
    assert accounts["1701"].usable and not accounts["1911"].active
    codes = {c.id: c for c in connector.list_vat_codes()}
    assert codes["KOMY:25.5"].rate == D("25.5") and codes["KOMY:25.5"].kind == "sale"
    assert "domestic sales" in codes["KOMY:25.5"].name and codes["KOMY:25.5"].account_number == "2939"
    assert codes["KOOS:14"].kind == "purchase" and codes["EUMY:0"].rate == 0
    assert {"invoice:sales", "invoice:purchase", "voucher:Muistiotosite"} <= {j.id for j in connector.list_journals()}
    assert ("Helsinki", "Kustannuspaikka") in [(label, dim) for _, label, dim in connector.list_dimensions()]


def test_a_bad_business_id_fails_the_check_before_any_call(connector, sandbox):
    connector.credentials["organisation_id"] = "1234567-0"
    result = connector.check()
    assert not result.ok and "check digit" in result.message
    assert sandbox.admin("GET", "requests")["requests"] == []


def test_a_sales_entry_becomes_an_invoice_with_a_finnish_reference_and_the_source_total(connector, sandbox):
    (result,) = connector.create_entries([sale("7-1", customer(connector), number="2025042")], post=True)
    assert result.ok and result.entry_id.startswith("salesinvoice:") and result.number == "2025042"
    invoice = sandbox.state.org.sales_invoices[int(result.entry_id.split(":")[1])]
    assert invoice.amount == D("125.50") and invoice.number == "2025042" and invoice.sent
    assert invoice.reference == make_reference("2025042") and "[hub 7-1]" in invoice.private_comment
    assert invoice.lines[0].account == "3000" and invoice.lines[0].vat_code == "KOMY"


def test_a_sales_entry_mapped_to_a_voucher_class_is_booked_with_its_dimension(connector, sandbox):
    helsinki = item(connector, "Helsinki")
    entry = sale("7-2", customer(connector), journal="voucher:Myyntilasku",
                 analytic={"Kustannuspaikka": helsinki})
    (result,) = connector.create_entries([entry], post=True)
    voucher = sandbox.state.org.vouchers[int(result.entry_id.split(":")[1])]
    assert voucher.voucher_class == "Myyntilasku" and "[hub 7-2]" in voucher.description
    by_account = {line.account: line for line in voucher.lines}
    assert by_account["1701"].line_sum == D("125.50") and by_account["3000"].line_sum == D("-100.00")
    assert by_account["2939"].line_sum == D("-25.50")
    assert by_account["3000"].dimensions == [("Kustannuspaikka", "Helsinki")]


def test_a_purchase_becomes_a_purchase_invoice_or_a_voucher(connector, sandbox):
    vendor = connector.create_partner(Partner(id="s1", name="Paperi Oy", registration_number="0112038-9"),
                                      kind="purchase")
    tampere = item(connector, "Tampere")
    bill, booked = connector.create_entries([
        purchase("8-1", vendor.id), purchase("8-2", vendor.id, journal="voucher:Ostolasku", number="P-78",
                                             analytic={"Kustannuspaikka": tampere})], post=True)
    invoice = sandbox.state.org.purchase_invoices[int(bill.entry_id.split(":")[1])]
    assert (invoice.vendor_name, invoice.vendor_business_id, invoice.amount) == ("Paperi Oy", "0112038-9", D("251.00"))
    assert "[hub 8-1]" in invoice.comment and invoice.lines[0].vat_code == "KOOS"
    voucher = sandbox.state.org.vouchers[int(booked.entry_id.split(":")[1])]
    assert {line.account: line.line_sum for line in voucher.lines} == {
        "2871": D("-251.00"), "4000": D("200.00"), "1763": D("51.00")}


def test_one_refused_entry_is_its_own_error_in_netvisors_words_and_the_others_are_booked(connector, sandbox):
    partner = customer(connector)
    good, bad, unbalanced = connector.create_entries([
        sale("9-1", partner), sale("9-2", partner, account="9999"),
        JournalEntry(reference="9-3", journal_id="voucher:Muistiotosite", date=DAY, label="x",
                     lines=[EntryLine("1910", debit=D("1")), EntryLine("3000", credit=D("2"))])], post=True)
    assert good.ok
    assert isinstance(bad.error, PermanentError) and "9999" in bad.error.provider_message
    assert isinstance(unbalanced.error, PermanentError) and "debits" in str(unbalanced.error)
    assert len([i for i in sandbox.state.org.sales_invoices.values() if "[hub 9-" in i.private_comment]) == 1


def test_a_business_id_with_a_wrong_check_digit_is_refused_before_netvisor_is_called(connector):
    with pytest.raises(PermanentError, match="check digit"):
        connector.create_partner(Partner(id="c9", name="Huono Oy", registration_number="1234567-0"), kind="sale")


def test_a_supplier_costs_no_call_netvisor_matches_the_vendor_from_the_purchase_invoice(connector, sandbox):
    from integration_hub.connectors.types import Partner

    before = len(sandbox.admin("GET", "requests"))
    made = connector.create_partner(Partner(id="s-9", name="Toimittaja Oy", registration_number="1234567-1"),
                                    kind="supplier")
    assert made.id.startswith("vendor:") and made.registration_number == "1234567-1"
    assert len(sandbox.admin("GET", "requests")) == before  # no customer created for a supplier


def test_a_lost_answer_is_found_again_by_reference_and_never_booked_twice(connector, sandbox):
    entry = sale("10-1", customer(connector))
    connector.list_vat_codes(), connector._product()  # reference data read before the fault is armed
    sandbox.admin("POST", "faults", {"kind": "drop_after", "method": "POST", "path_contains": "salesinvoice"})
    with pytest.raises(RetryableError):
        connector.create_entries([entry], post=True)
    found = connector.find_entries_by_reference(["10-1", "10-unknown"])
    assert set(found) == {"10-1"} and found["10-1"].entry_id.startswith("salesinvoice:")
    (again,) = connector.create_entries([entry], post=True)
    assert again.entry_id == found["10-1"].entry_id
    assert len([i for i in sandbox.state.org.sales_invoices.values() if "[hub 10-1]" in i.private_comment]) == 1


def test_a_fresh_connector_finds_what_an_earlier_one_booked(connector, clock):
    (booked,) = connector.create_entries([sale("11-1", customer(connector))], post=True)
    (voucher,) = connector.create_entries([sale("11-2", customer(connector), journal="voucher:Muistiotosite")],
                                          post=True)
    fresh = PROVIDER.connector(dict(connector.credentials), session=HubSession(
        provider="netvisor", sleep=lambda s: None, error_text=error_text, read_timeout=5))
    fresh.clock = clock.now
    found = fresh.find_entries_by_reference(["11-1", "11-2"])
    assert found["11-1"].entry_id == booked.entry_id and found["11-2"].entry_id == voucher.entry_id


def test_statuses_follow_the_sandbox_clock_payments_and_delivery(connector, sandbox, clock):
    nowhere = connector.create_partner(Partner(id="c2", name="Osoitteeton Oy"), kind="sale")
    somewhere = connector.create_partner(Partner(id="c3", name="Osoite Oy", address=Address(
        street="Katu 1", postal_code="00100", city="Helsinki")), kind="sale")
    (sent,) = connector.create_entries([sale("12-1", somewhere.id)], post=True)
    (draft,) = connector.create_entries([sale("12-2", somewhere.id)], post=False)
    (lost,) = connector.create_entries([sale("12-3", nowhere.id)], post=True)
    ids = [sent.entry_id, draft.entry_id, lost.entry_id, "salesinvoice:999999"]
    before = len(sandbox.admin("GET", "requests")["requests"])
    statuses = connector.entry_statuses(ids)
    assert len(sandbox.admin("GET", "requests")["requests"]) == before + 1  # one list call for every invoice
    assert [statuses[i].state for i in ids] == [TargetState.ACCEPTED, TargetState.PENDING, TargetState.ACCEPTED,
                                                TargetState.MISSING]
    clock.advance(11 * 60)  # past the sandbox's delivery attempt
    half = payment_entry("12-1/pay-1", somewhere.id, capital=D("60.00"))
    connector.book_payment(half, reconcile_with_entry_id=sent.entry_id, account_number="1701",
                           partner_id=somewhere.id, post=True)
    statuses = connector.entry_statuses(ids)
    assert statuses[sent.entry_id].state is TargetState.PARTLY_PAID
    assert statuses[sent.entry_id].open_amount == D("65.50")
    assert statuses[lost.entry_id].state is TargetState.REJECTED
    assert "no e-invoicing address" in statuses[lost.entry_id].reason
    rest = payment_entry("12-1/pay-2", somewhere.id, capital=D("65.50"))
    result = connector.book_payment(rest, reconcile_with_entry_id=sent.entry_id, account_number="1701",
                                    partner_id=somewhere.id, post=True)
    assert result.reconciled
    assert connector.entry_statuses([sent.entry_id])[sent.entry_id].state is TargetState.PAID


def payment_entry(reference: str, partner: str, *, capital: Decimal, interest=D("0"), fees=D("0")):
    lines = [EntryLine("1910", debit=capital + interest + fees, label="Bank"),
             EntryLine("1701", credit=capital, partner_id=partner, label="Capital")]
    if interest:
        lines.append(EntryLine("3010", credit=interest, label="Penalty interest"))
    if fees:
        lines.append(EntryLine("9170", credit=fees, label="Collection fee"))
    return JournalEntry(reference=reference, journal_id="voucher:Suoritus", date=DAY + dt.timedelta(days=20),
                        label=f"Payment {reference}", lines=lines)


def test_a_payment_with_interest_and_fees_is_split_onto_three_accounts_exactly_once(connector, sandbox):
    partner = customer(connector)
    (invoice,) = connector.create_entries([sale("13-1", partner)], post=True)
    entry = payment_entry("13-1/pay-1", partner, capital=D("125.50"), interest=D("3.20"), fees=D("5.00"))
    first = connector.book_payment(entry, reconcile_with_entry_id=invoice.entry_id, account_number="1701",
                                   partner_id=partner, post=True)
    again = connector.book_payment(entry, reconcile_with_entry_id=invoice.entry_id, account_number="1701",
                                   partner_id=partner, post=True)
    assert first.reconciled and again.entry_id == first.entry_id
    org = sandbox.state.org
    payments = [p for p in org.payments.values() if "[hub 13-1/pay-1]" in p.source_name]
    assert len(payments) == 1 and payments[0].amount == D("125.50")
    vouchers = [v for v in org.vouchers.values() if "[hub 13-1/pay-1]" in v.description and v.linked is None]
    assert len(vouchers) == 1
    booked: dict[str, Decimal] = {}
    for voucher in [org.vouchers[payments[0].voucher_key], vouchers[0]]:
        for line in voucher.lines:
            booked[line.account] = booked.get(line.account, D(0)) + line.line_sum
    assert booked == {"1910": D("133.70"), "1701": D("-125.50"), "3010": D("-3.20"), "9170": D("-5.00")}
    assert connector.third_party_amount(invoice.entry_id, account_number="1701", partner_id=partner) == D("125.50")


def test_received_documents_cannot_be_changed_or_given_files(connector):
    with pytest.raises(PermanentError, match="does not change"):
        connector.update_entry("salesinvoice:1", sale("14-1", "1"), post=True)
    with pytest.raises(PermanentError, match="files"):
        connector.attach_document("salesinvoice:1", None)
