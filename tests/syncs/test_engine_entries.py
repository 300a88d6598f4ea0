"""What the entries look like: sides, VAT, rounding, labels, credit notes, discounts, currencies."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from integration_hub.connectors.types import JournalEntry
from syncs.entries import DocumentProblem, build_entry
from syncs.engine import flow_settings
from syncs.models import SyncDocument
from tests.support.books import add, invoice, line

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def only_entry(target) -> JournalEntry:
    assert target.entry_count() == 1
    return next(iter(target.entries.values())).entry


def rows(entry: JournalEntry):
    return sorted((l.account_number, l.debit, l.credit) for l in entry.lines)


def test_a_sales_invoice_debits_the_customer_and_credits_sales_and_vat(flow, books, sync):
    source, target = books
    add(source, invoice(lines=[line("Widget", "100.00"), line("Gadget", "50.00"), line("Book", "20.00", rate="10", tax="t10")]))
    sync(flow)
    entry = only_entry(target)
    assert rows(entry) == [("4111", D("202.00"), D("0")), ("44571", D("0"), D("2.00")), ("44571", D("0"), D("30.00")),
                           ("7071", D("0"), D("20.00")), ("7071", D("0"), D("150.00"))]
    partner_line = next(l for l in entry.lines if l.account_number == "4111")
    assert partner_line.partner_id.startswith("P")
    assert entry.total_debit == entry.total_credit == D("202.00")


def test_one_line_per_account_and_vat_code(flow, books, sync):
    source, target = books
    add(source, invoice(lines=[line("A", "10.00"), line("B", "20.00"), line("C", "30.00", account="7061")]))
    sync(flow)
    entry = only_entry(target)
    base_lines = [l for l in entry.lines if l.vat_role == "base"]
    assert sorted((l.account_number, l.credit) for l in base_lines) == [("7061", D("30.00")), ("7071", D("30.00"))]


def test_a_purchase_invoice_credits_the_supplier_and_debits_expenses_and_vat(flow, books, sync):
    source, target = books
    add(source, invoice("p1", kind="purchase", lines=[line("Paper", "80.00", tax="p20", account="6071")]))
    sync(flow)
    assert rows(only_entry(target)) == [("4011", D("0"), D("96.00")), ("44566", D("16.00"), D("0")),
                                        ("6071", D("80.00"), D("0"))]


def test_a_credit_note_reverses_every_side(flow, books, sync):
    source, target = books
    add(source, invoice("c1", credit_note=True, lines=[line("Return", "100.00")]))
    sync(flow)
    assert rows(only_entry(target)) == [("4111", D("0"), D("120.00")), ("44571", D("20.00"), D("0")),
                                        ("7071", D("100.00"), D("0"))]


def test_lines_below_the_total_add_a_credit_rounding_line_with_the_rounding_vat_code(flow, books, sync):
    source, target = books
    add(source, invoice(lines=[line("A", "10.00"), line("B", "10.00")]))
    inv = source.invoices["i1"]
    inv.total_amount, inv.tax_amount = D("24.01"), D("4.01")
    sync(flow)
    entry = only_entry(target)
    rounding = next(l for l in entry.lines if l.account_number == "758")
    assert (rounding.debit, rounding.credit, rounding.vat_code_id) == (D("0"), D("0.01"), "V20")
    assert entry.total_debit == entry.total_credit == D("24.01")


def test_lines_above_the_total_add_a_debit_rounding_line(flow, books, sync):
    source, target = books
    add(source, invoice(lines=[line("A", "10.00"), line("B", "10.00")]))
    inv = source.invoices["i1"]
    inv.total_amount, inv.tax_amount = D("23.98"), D("3.98")
    sync(flow)
    entry = only_entry(target)
    rounding = next(l for l in entry.lines if l.account_number == "658")
    assert (rounding.debit, rounding.credit) == (D("0.02"), D("0"))
    customer_line = next(l for l in entry.lines if l.account_number == "4111")
    assert customer_line.debit == D("23.98")
    assert entry.total_debit == entry.total_credit == D("24.00")


def test_a_difference_beyond_the_tolerance_is_not_booked_as_rounding(flow, books, sync):
    source, target = books
    add(source, invoice(lines=[line("A", "10.00")]))
    inv = source.invoices["i1"]
    inv.total_amount, inv.tax_amount = D("12.10"), D("2.10")
    sync(flow)
    assert target.entry_count() == 0
    assert SyncDocument.objects.get(flow=flow).errors.get().code == "ERROR_SYNC_INVOICE_AMOUNT_VALIDATION"


LABELS = {
    "partner_then_description": {"4111": "Dupont SARL", "7071": "Widget / Gadget", "44571": "TVA collectée 20 %"},
    "partner": {"4111": "Dupont SARL", "7071": "Dupont SARL", "44571": "Dupont SARL"},
    "partner_and_description": {"4111": "Dupont SARL - Widget / Gadget", "7071": "Dupont SARL - Widget / Gadget",
                                "44571": "Dupont SARL - TVA collectée 20 %"},
    "partner_and_number": {"4111": "Dupont SARL - F-2026-7", "7071": "Dupont SARL - F-2026-7",
                           "44571": "Dupont SARL - F-2026-7"},
}


@pytest.mark.parametrize("option", list(LABELS))
def test_each_label_option_composes_the_line_labels_as_described(option, flow, books, sync):
    flow.label_option = option
    flow.save()
    source, target = books
    add(source, invoice(number="F-2026-7", lines=[line("Widget", "10.00"), line("Gadget", "5.00")]))
    sync(flow)
    labels = {l.account_number: l.label for l in only_entry(target).lines}
    assert labels == LABELS[option]


def test_discounts_go_to_their_own_account_when_the_flow_says_so(flow, books, sync):
    flow.separate_discounts = True
    flow.save()
    source, target = books
    add(source, invoice(lines=[line("Widget", "90.00", discount="10.00")]))
    sync(flow)
    assert rows(only_entry(target)) == [("4111", D("108.00"), D("0")), ("44571", D("0"), D("18.00")),
                                        ("7071", D("0"), D("100.00")), ("709", D("10.00"), D("0"))]


def test_without_the_discount_option_the_net_amount_is_booked(flow, books, sync):
    source, target = books
    add(source, invoice(lines=[line("Widget", "90.00", discount="10.00")]))
    sync(flow)
    assert ("7071", D("0"), D("90.00")) in rows(only_entry(target))


def test_an_invoice_in_another_currency_is_converted_and_still_balances(flow, books):
    inv = invoice(lines=[line("A", "33.33"), line("B", "33.33"), line("C", "33.34")])
    inv.currency, inv.exchange_rate = "USD", D("0.9137")
    from syncs.entries import TargetCatalog
    from tests.support.books import seed_target
    from integration_hub.connectors.memory.connector import Store

    store = Store()
    seed_target(store)
    catalog = TargetCatalog(accounts=store.accounts, vat_codes={v.id: v for v in store.vat_codes})
    entry = build_entry(inv, flow_settings(flow), catalog, partner_target_id="P1")
    assert inv.total_amount == D("120.01")  # VAT rounded per line: 6.67 * 3
    assert entry.total_debit == entry.total_credit == D("109.65")  # 120.01 USD * 0.9137, to the cent


def test_an_unbalanced_entry_never_leaves_the_hub():
    from integration_hub.connectors.types import EntryLine, UnbalancedEntry

    entry = JournalEntry(reference="r", journal_id="J1", date=dt.date(2026, 1, 1), label="x",
                         lines=[EntryLine("4111", debit=D("10.00")), EntryLine("7071", credit=D("9.99"))])
    with pytest.raises(UnbalancedEntry):
        entry.check_balanced()
    floats = JournalEntry(reference="r", journal_id="J1", date=dt.date(2026, 1, 1), label="x",
                          lines=[EntryLine("4111", debit=10.0), EntryLine("7071", credit=10.0)])
    with pytest.raises(UnbalancedEntry, match="Decimal"):
        floats.check_balanced()


def test_the_builder_reports_problems_without_touching_anything(flow):
    from syncs.entries import TargetCatalog

    with pytest.raises(DocumentProblem) as caught:
        build_entry(invoice(partner=None), flow_settings(flow), TargetCatalog({}, {}), partner_target_id="")
    assert caught.value.code == "ERROR_SYNC_INVOICE_PARTNER_VALIDATION"


def test_an_account_number_padded_with_zeros_finds_the_short_account(flow, books, sync):
    source, target = books
    add(source, invoice("i1", kind="purchase", lines=[line("Paper", "50.00", tax="p20", account="607100")]))
    sync(flow)
    expense_line = next(l for l in only_entry(target).lines if l.vat_role == "base")
    assert expense_line.account_number == "6071"


def test_a_rounding_that_comes_to_less_than_a_cent_writes_no_zero_line(flow, books, sync):
    source, target = books
    sub_cent = invoice(lines=[line("Widget", "100.004", vat="20.00")], total="120.00")
    add(source, sub_cent)
    sync(flow)
    entry = only_entry(target)
    assert all(l.debit or l.credit for l in entry.lines), rows(entry)
    assert "658" not in {l.account_number for l in entry.lines} and "758" not in {l.account_number for l in entry.lines}
    assert entry.total_debit == entry.total_credit == D("120.00")
