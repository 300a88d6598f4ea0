"""A Finnish company in the Tryton peer (issue 17), read as an invoicing source through TrytonConnector.

One invoicing database, renamed and seeded once with ``seed_finnish`` (integration_hub/peers/tryton_fi_setup.py),
serves the module; the tests only read it, except the one that runs ``fi_taxes`` again (idempotent).
"""
from __future__ import annotations

import datetime as dt
import importlib.util
from decimal import Decimal

import pytest

if importlib.util.find_spec("trytond") is None:  # find_spec does not import trytond
    pytest.skip("trytond is not installed (pip install -e '.[tryton]')", allow_module_level=True)

from integration_hub.connectors import finnish  # noqa: E402
from integration_hub.connectors.types import InvoiceKind, Scope  # noqa: E402
from tests.support.tryton import connector, unique_db  # noqa: E402

pytestmark = pytest.mark.tryton

TODAY = dt.date.today()
D = Decimal

# What a Finnish accountant expects to map: name -> (rate in force today or the rate itself, kind, reverse charge).
EXPECTED_RATES = {
    "ALV 25,5 % myynnit": (D("25.5"), "sale", False),
    "ALV 14 % myynnit": (D("14"), "sale", False),
    "ALV 13,5 % myynnit": (D("13.5"), "sale", False),
    "ALV 10 % myynnit": (D("10"), "sale", False),
    "ALV 0 % myynnit": (D("0"), "sale", False),
    "ALV 0 % EU-tavaramyynti": (D("0"), "sale", False),
    "ALV 0 % EU-palvelumyynti": (D("0"), "sale", False),
    "ALV 0 % rakentamispalvelut, käännetty verovelvollisuus": (D("0"), "sale", False),
    "ALV 0 % vienti EU:n ulkopuolelle": (D("0"), "sale", False),
    "ALV 25,5 % ostot": (D("25.5"), "purchase", False),
    "ALV 14 % ostot": (D("14"), "purchase", False),
    "ALV 13,5 % ostot": (D("13.5"), "purchase", False),
    "ALV 10 % ostot": (D("10"), "purchase", False),
    "ALV 0 % ostot": (D("0"), "purchase", False),
    "ALV EU-tavaraostot, käännetty verovelvollisuus": (D("25.5"), "purchase", True),
    "ALV EU-palveluostot, käännetty verovelvollisuus": (D("25.5"), "purchase", True),
    "ALV rakentamispalveluostot, käännetty verovelvollisuus": (D("25.5"), "purchase", True),
}
INVOICES, SUPPLIER_INVOICES, PAID = 12, 5, 4


@pytest.fixture(scope="module")
def finnish_db(tryton_peer):
    name = tryton_peer.create_database(unique_db("fi"), company_name="Pohjoisen Laskutus Oy")
    seeded = tryton_peer.run_setup(
        name, "seed_finnish", customers=6, suppliers=3, invoices=INVOICES, supplier_invoices=SUPPLIER_INVOICES,
        paid=PAID, seed=11, start_date=(TODAY - dt.timedelta(days=45)).isoformat(), end_date=TODAY.isoformat())
    yield name, seeded
    tryton_peer.drop_database(name)


@pytest.fixture(scope="module")
def source(tryton_peer, finnish_db):
    reader = connector(tryton_peer, finnish_db[0])
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def invoices(source):
    return list(source.list_invoices(since=None, scope=Scope.ALL))


def test_the_tax_rates_listed_are_the_finnish_ones_with_their_rates_and_kinds(source):
    listed = {rate.name: (rate.rate, rate.kind, rate.reverse_charge) for rate in source.list_tax_rates()}
    assert listed == EXPECTED_RATES  # the French chart's taxes are inactive: not offered for mapping
    assert all(isinstance(rate, Decimal) for rate, _kind, _reverse in listed.values())


def test_reverse_charged_purchases_offer_a_deductible_and_a_due_vat_code_at_the_general_rate(source):
    reverse = {code.name: code for code in source.list_vat_codes() if code.reverse_charge}
    construction = [c for c in reverse.values() if c.name.startswith("Construction services bought")]
    assert sorted(c.reverse_charge for c in construction) == ["deductible", "due"]
    assert {c.rate for c in construction} == {D("25.5")}
    assert {c.account_number for c in construction} == {"44566", "44571"}
    assert len(reverse) == 6  # three reverse-charged purchase taxes, two halves each


def test_the_company_has_a_finnish_name_business_id_and_helsinki_address(source, finnish_db):
    company = source.company()
    assert company["rec_name"] == "Pohjoisen Laskutus Oy"
    assert (company.get("currency.") or {}).get("code") == "EUR"
    own = source.get_partner(str(company["party"]))
    assert own.registration_number == finnish.validate_business_id(finnish_db[1]["company"]["business_id"])
    assert own.vat_number == finnish.business_id_to_vat(own.registration_number)
    assert (own.address.city, own.address.postal_code, own.address.country_code) == ("Helsinki", "00100", "FI")


def test_every_invoice_is_posted_in_euros_and_numbered_in_date_order(invoices):
    assert len([i for i in invoices if i.kind is InvoiceKind.SALE]) == INVOICES
    assert len([i for i in invoices if i.kind is InvoiceKind.PURCHASE]) == SUPPLIER_INVOICES
    assert {i.currency for i in invoices} == {"EUR"}
    for kind in InvoiceKind:
        mine = sorted((i for i in invoices if i.kind is kind), key=lambda i: i.number)
        assert [i.issue_date for i in mine] == sorted(i.issue_date for i in mine)
        assert all(TODAY - dt.timedelta(days=45) <= i.issue_date <= TODAY for i in mine)


def test_finnish_partners_carry_a_valid_business_id_and_its_vat_number(invoices):
    finnish_partners = {i.partner.id: i.partner for i in invoices if i.partner.address.country_code == "FI"}
    assert len(finnish_partners) >= 4
    for partner in finnish_partners.values():
        assert finnish.validate_business_id(partner.registration_number) == partner.registration_number
        assert partner.vat_number == finnish.business_id_to_vat(partner.registration_number)
        assert partner.address.postal_code.isdigit() and len(partner.address.postal_code) == 5
        assert partner.name.endswith(("Oy", "Ab", "Oyj"))


def test_only_the_eu_and_export_documents_go_to_partners_outside_finland(invoices):
    from stdnum.eu import vat

    foreign = {(i.kind, i.partner.address.country_code, i.partner.vat_number[:2]) for i in invoices
               if i.partner.address.country_code != "FI"}
    assert foreign == {(InvoiceKind.SALE, "SE", "SE"), (InvoiceKind.SALE, "NO", ""),
                       (InvoiceKind.PURCHASE, "EE", "EE")}
    for invoice in invoices:
        if invoice.partner.address.country_code in ("SE", "EE"):
            assert vat.is_valid(invoice.partner.vat_number)


def test_amounts_balance_in_decimal_on_every_invoice(invoices):
    for invoice in invoices:
        assert isinstance(invoice.total_amount, Decimal)
        assert invoice.untaxed_amount + invoice.tax_amount == invoice.total_amount, invoice.number
        assert sum(line.untaxed_amount for line in invoice.lines) == invoice.untaxed_amount, invoice.number
        assert sum(line.tax_amount for line in invoice.lines) == invoice.tax_amount, invoice.number
        assert not invoice.is_credit_note and invoice.total_amount > 0


def test_each_line_is_taxed_at_a_finnish_rate_in_force_on_the_invoice_date(invoices, source):
    names = {rate.id: rate.name for rate in source.list_tax_rates()}
    used = set()
    for invoice in invoices:
        for line in invoice.lines:
            assert line.tax_code in names, (invoice.number, line.description)
            assert finnish.finnish_vat_rate_valid(line.tax_rate, on=invoice.issue_date), (invoice.number, line)
            used.add(names[line.tax_code])
    general = [line for i in invoices for line in i.lines if line.tax_rate == D("25.5")]
    assert len(general) > len([line for i in invoices for line in i.lines]) / 2  # mostly the general rate
    assert {"ALV 0 % EU-palvelumyynti", "ALV 0 % rakentamispalvelut, käännetty verovelvollisuus",
            "ALV 0 % vienti EU:n ulkopuolelle", "ALV EU-palveluostot, käännetty verovelvollisuus",
            "ALV rakentamispalveluostot, käännetty verovelvollisuus"} <= used


def test_a_reverse_charged_purchase_shows_no_vat_but_carries_the_self_assessed_tax(invoices, source):
    names = {rate.id: rate.name for rate in source.list_tax_rates()}
    construction = [i for i in invoices if i.kind is InvoiceKind.PURCHASE and any(
        names[t.tax_code] == "ALV rakentamispalveluostot, käännetty verovelvollisuus" for t in i.taxes)]
    assert len(construction) == 1
    invoice = construction[0]
    assert invoice.tax_amount == 0 and invoice.total_amount == invoice.untaxed_amount
    (tax,) = invoice.taxes
    assert tax.reverse_charge and tax.rate == D("25.5")
    assert tax.amount == (invoice.untaxed_amount * D("0.255")).quantize(D("0.01"))


def test_the_paid_invoices_payments_are_read_back_in_full_and_the_partial_one_in_part(source, finnish_db):
    seeded = finnish_db[1]
    payments = seeded["payments"]
    assert [p["full"] for p in payments] == [True] * PAID + [False]
    read = source.invoice_payments([str(p["invoice_id"]) for p in payments])
    totals = {str(i["id"]): D(i["total_amount"]) for i in seeded["invoices"]}
    for payment in payments:
        (found,) = read[str(payment["invoice_id"])]
        assert found.amount == D(payment["amount"])
        assert found.date == dt.date.fromisoformat(payment["date"])
        if payment["full"]:
            assert found.amount == totals[str(payment["invoice_id"])] and payment["state"] == "paid"
        else:
            assert found.amount == (totals[str(payment["invoice_id"])] / 2).quantize(D("0.01"))
            assert payment["state"] == "posted"
    unpaid = [str(i["id"]) for i in seeded["invoices"] if i["state"] == "posted" and i["type"] == "out"
              and i["id"] != payments[-1]["invoice_id"]]
    assert unpaid and source.invoice_payments(unpaid) == {}


def test_seeding_the_finnish_taxes_again_creates_no_second_set(tryton_peer, finnish_db, source):
    again = tryton_peer.run_setup(finnish_db[0], "fi_taxes")
    assert again["taxes"] == finnish_db[1]["taxes"]
    fresh = connector(tryton_peer, finnish_db[0])
    try:
        assert len(fresh.list_tax_rates()) == len(EXPECTED_RATES)
    finally:
        fresh.close()
