"""The ERP company in the Tryton peer, read and written through TrytonErp (issue 16).

One ERP database (cloned from the peer's ``erp`` template and seeded once) serves the module: most
tests only read it; the ones that change it touch documents no other test looks at.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import uuid
from decimal import Decimal

import pytest

if importlib.util.find_spec("trytond") is None:  # find_spec does not import trytond
    pytest.skip("trytond is not installed (pip install -e '.[tryton]')", allow_module_level=True)

from integration_hub.connectors.erp_types import ErpKind, ErpParty  # noqa: E402
from integration_hub.connectors.errors import PermanentError  # noqa: E402
from integration_hub.connectors.tryton.erp import TrytonErp  # noqa: E402
from integration_hub.connectors.types import Address  # noqa: E402
from integration_hub.peers import tryton as peers  # noqa: E402
from tests.support.tryton import credentials, unique_db  # noqa: E402

pytestmark = pytest.mark.tryton

TODAY = dt.date.today()


@pytest.fixture(scope="module")
def erp_db(tryton_peer):
    name = tryton_peer.create_database(unique_db("erp"), kind="erp", company_name="Usine Démo SAS")
    seeded = tryton_peer.run_setup(
        name, "seed_erp", customers=4, suppliers=2, products=6, quotes=3, orders=4, invoiced_orders=2,
        purchase_orders=3, billed_purchases=2, seed=5,
        start_date=(TODAY - dt.timedelta(days=50)).isoformat(), end_date=(TODAY - dt.timedelta(days=5)).isoformat())
    yield name, seeded
    tryton_peer.drop_database(name)


@pytest.fixture(scope="module")
def seeded(erp_db):
    return erp_db[1]


@pytest.fixture
def erp(tryton_peer, erp_db):
    reader = TrytonErp(credentials(tryton_peer, erp_db[0]))
    yield reader
    reader.close()


def test_the_erp_template_is_cached_apart_from_the_invoicing_one(tryton_peer, erp_db):
    assert tryton_peer.templates["erp"] == peers.template_name("erp")
    assert tryton_peer.templates["erp"] != tryton_peer.template
    assert tryton_peer.template == peers.template_name("invoicing")


def test_installing_the_erp_modules_leaves_the_invoicing_template_key_as_it_was(monkeypatch):
    key = peers.template_key()
    installed = peers._installed_versions()
    erp_only = {"trytond_sale", "trytond_purchase", "trytond_stock", "trytond_account_invoice_stock"}
    assert erp_only <= set(installed)
    monkeypatch.setattr(peers, "_installed_versions",
                        lambda: {k: v for k, v in installed.items() if k not in erp_only})
    assert peers.template_key() == key


def test_check_reports_a_database_without_sales_and_purchases(tryton_peer):
    name = tryton_peer.create_database(unique_db("noerp"))
    try:
        result = TrytonErp(credentials(tryton_peer, name)).check()
    finally:
        tryton_peer.drop_database(name)
    assert not result.ok
    assert "activate the sale and purchase modules" in result.message


def test_check_signs_in_to_the_erp_company(erp):
    result = erp.check()
    assert result.ok, result.message
    assert result.organisation_name == "Usine Démo SAS"


def test_parties_come_with_their_roles_vat_numbers_and_addresses(erp, seeded):
    parties = {p.name: p for p in erp.list_parties()}
    assert "Usine Démo SAS" not in parties  # the company's own party
    for data in seeded["customers"] + seeded["suppliers"]:
        party = parties[data["name"]]
        assert party.id == str(data["id"])
        vat = next((i["code"] for i in data["identifiers"] if i["type"] == "eu_vat"), "")
        assert party.vat_number == vat
        assert party.address is not None and party.address.country_code == data["country"]
        assert party.version
    buyers = {str(d["party"]) for d in seeded["quotes"] + seeded["orders"]}
    sellers = {str(d["party"]) for d in seeded["purchase_orders"]}
    assert {p.id for p in parties.values() if p.is_customer} == buyers
    assert {p.id for p in parties.values() if p.is_supplier} == sellers


def test_products_share_categories_and_carry_their_prices_and_taxes(erp, seeded):
    products = {p.code: p for p in erp.list_products()}
    assert set(products) == {p["code"] for p in seeded["products"]}
    for data in seeded["products"]:
        product = products[data["code"]]
        assert (product.id, product.name, product.kind, product.category) == \
            (str(data["id"]), data["name"], data["type"], data["category"])
        assert product.purchase_price == Decimal(data["cost_price"])
        if data["salable"]:
            assert product.sale_price == Decimal(data["list_price"])
        expected = Decimal("5.5") if data["category"] == "Documentation" else Decimal("20")
        assert [t.rate for t in product.sale_taxes] == [expected]
    assert {p.kind for p in products.values()} == {"goods", "service"}
    categories = [p.category for p in products.values()]
    assert any(categories.count(c) > 1 for c in categories)


@pytest.mark.parametrize("kind, key", [
    (ErpKind.QUOTE, "quotes"), (ErpKind.SALES_ORDER, "orders"), (ErpKind.INVOICE, "invoices"),
    (ErpKind.PURCHASE_ORDER, "purchase_orders"), (ErpKind.BILL, "bills"),
])
def test_each_kind_lists_its_documents_with_numbers_lines_and_totals(erp, seeded, kind, key):
    expected = {d["number"]: d for d in seeded[key]}
    documents = {d.number: d for d in erp.list_documents(kind) if d.number in expected}
    assert set(documents) == set(expected)
    for number, data in expected.items():
        document = documents[number]
        assert document.kind is kind and document.id == str(data["id"])
        assert document.party_id == str(data["party"])
        assert document.total_amount == Decimal(data["total_amount"])
        assert document.untaxed_amount == sum(line.amount for line in document.lines)
        assert document.total_amount == document.untaxed_amount + document.tax_amount
        assert abs(sum(line.tax_amount for line in document.lines) - document.tax_amount) <= Decimal("0.05")
        assert document.currency == "EUR" and document.date is not None
        assert all(line.product_id and line.quantity > 0 and line.tax_rates for line in document.lines)


def test_invoices_and_bills_name_the_order_they_come_from(erp, seeded):
    invoices = {d.number: d for d in erp.list_sale_invoices()}
    for data in seeded["invoices"]:
        assert invoices[data["number"]].origin_number == data["sale_number"]
        assert invoices[data["number"]].origin_id == str(data["sale_id"])
        assert invoices[data["number"]].due_date is not None
    bills = {d.number: d for d in erp.list_bills()}
    for data in seeded["bills"]:
        assert bills[data["number"]].origin_number == data["purchase_number"]
        assert bills[data["number"]].reference == data["reference"]  # the supplier's own invoice number


def test_listings_come_oldest_change_first_page_by_page_and_since_is_inclusive(erp):
    orders = list(erp.list_purchase_orders())
    stamps = [d.updated_at for d in orders]
    assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
    assert [d.id for d in erp.list_purchase_orders(page_size=1)] == [d.id for d in orders]
    middle = orders[len(orders) // 2]
    later = [d.id for d in erp.list_purchase_orders(since=middle.updated_at, page_size=1)]
    assert middle.id in later
    assert later == [d.id for d in orders if d.updated_at >= middle.updated_at]
    assert list(erp.list_purchase_orders(since=stamps[-1] + dt.timedelta(seconds=1))) == []


def test_a_quote_changed_then_confirmed_in_tryton_comes_again_and_becomes_a_sales_order(tryton_peer, erp_db, erp,
                                                                                       seeded):
    customer, product = seeded["customers"][0], next(p for p in seeded["products"] if p["salable"])
    made = tryton_peer.run_setup(erp_db[0], "erp_add_sale", customer=customer["id"], state="quotation",
                                 lines=[{"product": product["code"], "quantity": 2}])
    quote = erp.get_document(ErpKind.QUOTE, str(made["id"]))
    assert (quote.number, quote.total_amount) == (made["number"], Decimal(made["total_amount"]))
    seen = max(d.updated_at for d in erp.list_quotes())
    tryton_peer.run_setup(erp_db[0], "erp_update_sale", number=quote.number, quantities={"0": 77})
    changed = {d.id: d for d in erp.list_quotes(since=seen)}
    assert changed[quote.id].version != quote.version
    assert changed[quote.id].lines[0].quantity == 77
    assert changed[quote.id].total_amount > quote.total_amount

    tryton_peer.run_setup(erp_db[0], "erp_update_sale", number=quote.number, state="confirmed")
    assert erp.get_document(ErpKind.QUOTE, quote.id) is None
    order = erp.get_document(ErpKind.SALES_ORDER, quote.id)
    assert (order.number, order.state) == (quote.number, "processing")
    assert order.id in {d.id for d in erp.list_sales_orders(since=seen)}


def test_the_target_number_is_written_back_under_what_a_person_typed(erp, seeded):
    order = erp.get_document(ErpKind.SALES_ORDER, str(seeded["orders"][-1]["id"]))
    erp.client.write("sale.sale", [int(order.id)], {"comment": "Livrer avant midi"})
    assert erp.write_back_number(ErpKind.SALES_ORDER, order.id, "Xero INV-0041") is True
    assert erp.write_back_number(ErpKind.SALES_ORDER, order.id, "Xero INV-0041") is False
    assert erp.written_back(ErpKind.SALES_ORDER, order.id) == ["Livrer avant midi", "Xero INV-0041"]
    again = erp.get_document(ErpKind.SALES_ORDER, order.id)
    assert again.version == order.version  # the note is not a change to send again
    assert again.updated_at > order.updated_at


def test_a_posted_invoice_and_a_confirmed_purchase_accept_the_written_back_number(tryton_peer, erp_db, erp, seeded):
    invoice = seeded["invoices"][0]
    assert erp.write_back_number("invoice", str(invoice["id"]), "Xero INV-0042")
    stored = tryton_peer.run_setup(erp_db[0], "erp_document", model="account.invoice", id=invoice["id"])
    assert stored["state"] == "posted" and stored["number"] == invoice["number"]
    assert stored["comment"] == "Xero INV-0042"
    bill, purchase = seeded["bills"][0], seeded["purchase_orders"][0]
    assert erp.write_back_number("bill", str(bill["id"]), "Xero bill 7f3c")
    assert erp.write_back_number("purchase_order", str(purchase["id"]), "Xero PO-0007")
    assert erp.written_back("purchase_order", str(purchase["id"])) == ["Xero PO-0007"]


def test_a_user_without_account_administration_is_told_which_group_it_needs(tryton_peer, erp_db, seeded):
    login = f"ventes_{uuid.uuid4().hex[:6]}"
    tryton_peer.run_setup(erp_db[0], "erp_add_user", login=login, password="ventes-2026-secret")
    clerk = TrytonErp(credentials(tryton_peer, erp_db[0], username=login, password="ventes-2026-secret"))
    try:
        assert clerk.write_back_number("sales_order", str(seeded["orders"][0]["id"]), "Xero INV-0099")
        with pytest.raises(PermanentError, match="Account Administration"):
            clerk.write_back_number("invoice", str(seeded["invoices"][-1]["id"]), "Xero INV-0100")
    finally:
        clerk.close()


def test_create_party_imports_a_contact_the_erp_then_lists(erp):
    stamp = uuid.uuid4().hex[:6]
    created = erp.create_party(ErpParty(id="", name=f"Acier Import {stamp}", vat_number="FR40303265045",
                                        email="achats@acier.example", phone="+33 1 23 45 67 89",
                                        address=Address(street="2 quai Ouest", postal_code="69002", city="Lyon",
                                                        country_code="FR")))
    odd = erp.create_party(ErpParty(id="", name=f"Contact Xero {stamp}", vat_number="not-a-vat-number"))
    party = erp.get_party(created)
    assert (party.name, party.vat_number, party.email, party.phone) == \
        (f"Acier Import {stamp}", "FR40303265045", "achats@acier.example", "+33 1 23 45 67 89")
    assert party.address.city == "Lyon" and party.address.country_code == "FR"
    assert [p.id for p in erp.find_parties(vat_number="FR40303265045")] == [created]
    assert [p.id for p in erp.find_parties(name=f"Contact Xero {stamp}")] == [odd]
    kept = erp.client.search_read("party.identifier", [("party", "=", int(odd))], ["type", "code"])
    assert [(i["type"], i["code"]) for i in kept] == [(None, "not-a-vat-number")]  # Tryton checks VAT numbers
    assert created in {p.id for p in erp.list_parties(since=party.updated_at)}
