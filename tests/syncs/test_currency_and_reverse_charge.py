"""Foreign currency without a rate of its own, and reverse charge from sources that only give rates.

Where the rate comes from, in order: the document, the accounting tool's rate table on the booking date,
the operator's rate source (ECB format, cached). Never an invented rate.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from integration_hub.connectors.types import TaxRate, VatCode
from mappings.services import vat_mapping_set
from syncs import catalogue
from syncs.models import DocumentStatus, ExchangeRate, RunStatus, SyncDocument, SyncError
from syncs.rates import OPERATOR_SOURCE, TARGET_SOURCE, parse_reference_rates
from tests.support.books import add, invoice, line
from tests.support.scripted_server import Reply, ScriptedServer

pytestmark = [pytest.mark.django_db]
FRIDAY, SUNDAY = dt.date(2026, 3, 13), dt.date(2026, 3, 15)

ECB = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <Cube>
    <Cube time="2026-03-13"><Cube currency="USD" rate="1.0800"/><Cube currency="GBP" rate="0.8500"/></Cube>
    <Cube time="2026-03-12"><Cube currency="USD" rate="1.0900"/><Cube currency="GBP" rate="0.8600"/></Cube>
  </Cube>
</gesmes:Envelope>"""


def usd_invoice(iid: str, day=SUNDAY):
    inv = invoice(iid, date=day, lines=[line("SaaS seat", "100.00")])  # 100 + 20 % = 120 USD
    inv.currency = "USD"
    return inv


def entry_of(target, flow, iid):
    doc = SyncDocument.objects.get(flow=flow, source_id=iid)
    return doc, target.entries[doc.target_entry_id].entry


def test_a_foreign_invoice_with_no_rate_anywhere_is_a_clear_error_and_the_others_still_sync(flow, books, sync):
    source, target = books
    add(source, usd_invoice("usd"), invoice("eur"))
    run = sync(flow)
    assert run.status == RunStatus.PARTIAL
    error = SyncError.objects.get(flow=flow)
    assert error.code == catalogue.EXCHANGE_RATE_NOT_FOUND
    assert "USD" in error.message and "2026-03-15" in error.message and "F-usd" in error.message
    assert SyncDocument.objects.get(flow=flow, source_id="eur").status == DocumentStatus.SYNCED


def test_the_accounting_tool_s_rate_table_gives_the_rate_of_the_booking_date(flow, books, sync):
    source, target = books
    target.exchange_rates[("USD", dt.date(2026, 3, 1))] = D("0.9")
    target.exchange_rates[("USD", dt.date(2026, 3, 20))] = D("0.5")  # after the invoice: not used
    add(source, usd_invoice("usd"))
    assert sync(flow).status == RunStatus.SUCCEEDED
    doc, entry = entry_of(target, flow, "usd")
    assert (doc.exchange_rate, doc.exchange_rate_source, doc.exchange_rate_date) == (D("0.9"), TARGET_SOURCE, SUNDAY)
    customer = next(l for l in entry.lines if l.account_number == "4111")
    assert (customer.debit, customer.amount_currency, customer.currency) == (D("108.00"), D("120.00"), "USD")
    assert entry.total_debit == entry.total_credit


def test_the_operator_s_reference_rates_are_fetched_once_and_the_last_business_day_is_used(flow, books, sync, settings):
    source, target = books
    add(source, usd_invoice("usd1"), usd_invoice("usd2"))
    with ScriptedServer() as ecb:
        ecb.default = Reply(body=ECB, content_type="application/xml")
        settings.HUB_EXCHANGE_RATES_URL = f"{ecb.url}/eurofxref-hist-90d.xml"
        assert sync(flow).status == RunStatus.SUCCEEDED
        assert len(ecb.seen) == 1  # one fetch for both invoices, then the hub's cache
    doc, entry = entry_of(target, flow, "usd1")
    assert doc.exchange_rate_source == OPERATOR_SOURCE
    assert doc.exchange_rate_date == FRIDAY  # Sunday has no reference rate: the Friday before
    assert doc.exchange_rate == (D(1) / D("1.08")).quantize(D("0.000000000001"))
    customer = next(l for l in entry.lines if l.account_number == "4111")
    assert customer.debit == D("111.11")  # 120 USD / 1.08
    assert ExchangeRate.objects.filter(source=OPERATOR_SOURCE).count() == 4


def test_reference_rates_older_than_a_week_are_not_used(flow, books, sync, settings):
    source, target = books
    ExchangeRate.objects.create(base="EUR", currency="USD", day=dt.date(2026, 2, 1), rate=D("1.1"),
                                source=OPERATOR_SOURCE)
    add(source, usd_invoice("usd"))
    with ScriptedServer() as ecb:
        ecb.default = Reply(status=503, body=b"down", content_type="text/plain")
        settings.HUB_EXCHANGE_RATES_URL = f"{ecb.url}/rates.xml"
        run = sync(flow)
    assert run.status == RunStatus.PARTIAL
    assert SyncError.objects.get(flow=flow).code == catalogue.EXCHANGE_RATE_NOT_FOUND


def test_a_rate_source_answer_that_is_not_reference_rates_is_refused():
    with pytest.raises(ValueError):
        parse_reference_rates(b"<html><body>Maintenance</body></html>")
    with pytest.raises(ValueError):
        parse_reference_rates(b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')  # entities: refused by defusedxml


def test_a_stated_company_total_is_the_third_party_amount_and_cents_go_to_the_largest_line(flow, books, sync):
    source, target = books
    inv = invoice("exp", kind="purchase", lines=[line("Hotel", "100.00", tax="p20", account="6071")])
    inv.currency, inv.exchange_rate, inv.company_total = "USD", D("0.9137"), D("109.70")
    add(source, inv)
    assert sync(flow).status == RunStatus.SUCCEEDED
    _, entry = entry_of(target, flow, "exp")
    supplier = next(l for l in entry.lines if l.account_number == "4011")
    assert supplier.credit == D("109.70")  # what the expense says it cost in euros, not 120 * 0.9137 = 109.64
    assert entry.total_debit == entry.total_credit == D("109.70")


@pytest.fixture
def reverse_books(flow, books):
    """A domestic reverse charge (construction subcontracting): the supplier invoices without VAT."""
    source, target = books
    source.tax_rates.append(TaxRate("btp", "Autoliquidation sous-traitance BTP", D("20"), "purchase",
                                    reverse_charge=True))
    target.accounts["4452"] = target.accounts["44566"].__class__(id="A4452", number="4452", name="TVA due")
    target.vat_codes += [
        VatCode("RCD", "AL-D-20", "Autoliquidation déductible 20 %", D("20"), "purchase", "44566",
                reverse_charge="deductible", pair="RCU"),
        VatCode("RCU", "AL-U-20", "Autoliquidation due 20 %", D("20"), "purchase", "4452",
                reverse_charge="due", pair="RCD"),
    ]
    return source, target


def test_a_reverse_charge_mapped_as_a_pair_books_the_vat_both_ways_on_its_base(flow, reverse_books, sync):
    source, target = reverse_books
    vat_mapping_set(flow=flow, kind="purchase", source_tax_id="btp", source_rate=D("20"),
                    target_vat_code_id="RCD", due_vat_code_id="RCU")
    add(source, invoice("btp", kind="purchase", lines=[line("Gros oeuvre", "1000.00", tax="btp", vat="0",
                                                            account="6071")]))
    assert sync(flow).status == RunStatus.SUCCEEDED
    _, entry = entry_of(target, flow, "btp")
    rows = sorted((l.account_number, l.debit, l.credit, l.vat_code_id) for l in entry.lines)
    assert rows == [("4011", D(0), D("1000.00"), ""), ("4452", D(0), D("200.00"), "RCU"),
                    ("44566", D("200.00"), D(0), "RCD"), ("6071", D("1000.00"), D(0), "RCD")]
    base = next(l for l in entry.lines if l.account_number == "6071")
    assert base.more_vat_code_ids == ("RCU",)  # the base of both halves in the VAT return


def test_a_reverse_charge_tax_mapped_to_an_ordinary_code_is_an_error(flow, reverse_books, sync):
    source, target = reverse_books
    vat_mapping_set(flow=flow, kind="purchase", source_tax_id="btp", source_rate=D("20"), target_vat_code_id="RCD")
    add(source, invoice("btp", kind="purchase", lines=[line("Gros oeuvre", "1000.00", tax="btp", vat="0",
                                                            account="6071")]))
    run = sync(flow)
    assert run.status == RunStatus.PARTIAL
    assert SyncError.objects.get(flow=flow).code == catalogue.REVERSE_CHARGE_NOT_MAPPED


def test_the_purchase_vat_step_asks_a_reverse_charge_for_both_codes_and_refuses_half_a_mapping(
        client, owner_a, flow, reverse_books):
    from django.urls import reverse

    from mappings.models import VatMapping

    client.force_login(owner_a)
    url = reverse("wizard_step", args=[flow.tenant.slug, flow.pk, "purchase_vat"])
    page = client.get(url).content.decode()
    assert "reverse charge" in page and 'name="due_btp"' in page
    assert '<option value="RCU" selected' in page  # the due half of the suggested pair

    half = client.post(url, {"tax_p20": "A20", "tax_btp": "RCD", "due_btp": ""})
    assert half.status_code == 200 and "choose the due VAT code too" in half.content.decode()
    assert not VatMapping.objects.filter(flow=flow, source_tax_id="btp").exists()

    client.post(url, {"tax_p20": "A20", "tax_btp": "RCD", "due_btp": "RCU"})
    mapping = VatMapping.objects.get(flow=flow, source_tax_id="btp")
    assert (mapping.reverse_charge, mapping.target_vat_code_id, mapping.due_vat_code_id) == (True, "RCD", "RCU")


# --- a 0 % rate with nothing to report: "no VAT" ------------------------------------------------------------
@pytest.mark.django_db
def test_a_zero_rate_purchase_mapped_to_no_vat_is_booked_without_a_vat_code_and_a_taxed_rate_cannot_be(
        flow, books, sync):
    from mappings.models import NO_VAT
    from mappings.suggestions import suggest_vat_code

    source, target = books
    # the accounting tool has no 0 % purchase code: the suggestion is "no VAT"; a taxed rate is never offered it
    assert suggest_vat_code(TaxRate("p0", "Hors champ", D("0"), "purchase"), target.vat_codes, "purchase").id == NO_VAT
    assert suggest_vat_code(TaxRate("p7", "Odd", D("7"), "purchase"), target.vat_codes, "purchase") is None
    vat_mapping_set(flow=flow, kind="purchase", source_tax_id="p0", source_rate=D("0"), target_vat_code_id=NO_VAT)
    vat_mapping_set(flow=flow, kind="purchase", source_tax_id="p55", source_rate=D("5.5"), target_vat_code_id=NO_VAT)
    add(source, invoice("h1", kind="purchase", lines=[line("Hotel in London", "180.00", rate="0", tax="p0",
                                                          account="6071")]),
        invoice("h2", kind="purchase", lines=[line("Books", "100.00", rate="5.5", tax="p55", account="6071")]))
    run = sync(flow)
    assert (run.synced_count, run.error_count) == (1, 1)
    (stored,) = target.entries.values()
    assert sorted((l.account_number, l.debit, l.credit, l.vat_code_id, l.vat_role) for l in stored.entry.lines) == [
        ("4011", D("0"), D("180.00"), "", ""), ("6071", D("180.00"), D("0"), "", "")]
    error = SyncError.objects.get(document__source_id="h2")
    assert error.code == catalogue.MAPPING_TAX_RATE_NOT_FOUND and "only fits a 0 % rate" in error.message


def test_the_vat_step_offers_no_vat_for_a_zero_rate_only():
    from mappings.models import NO_VAT
    from syncs.wizard_forms import VatForm

    rates = [TaxRate("p0", "Hors champ", D("0"), "purchase"), TaxRate("p20", "TVA 20 %", D("20"), "purchase")]
    codes = [VatCode("A20", "FR-A-20", "TVA déductible 20 %", D("20"), "purchase", "44566")]
    form = VatForm(data={"tax_p0": NO_VAT, "tax_p20": NO_VAT}, rates=rates, codes=codes, initial_map={}, suggested={})
    assert not form.is_valid()
    assert "tax_p20" in form.errors and "tax_p0" not in form.errors
    form = VatForm(data={"tax_p0": NO_VAT, "tax_p20": "A20"}, rates=rates, codes=codes, initial_map={}, suggested={})
    assert form.is_valid() and form.mapping() == {"p0": NO_VAT, "p20": "A20"}
