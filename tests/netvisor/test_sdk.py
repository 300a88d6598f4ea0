"""An open-source Netvisor client (PyPI netvisor-api-client, MIT, Heltti Oy) against the sandbox, only its host
changed: what a third party sends must be understood as Netvisor understands it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine

from sandboxes.netvisor import start_sandbox

from .conftest import KEYS, NOW

netvisor_api_client = pytest.importorskip("netvisor_api_client")
from netvisor_api_client.exc import AuthenticationFailed, InvalidData  # noqa: E402


@pytest.fixture
def sdk():
    # The library signs with the real clock (datetime.now, time.time): pin it, and let the sandbox follow it.
    with time_machine.travel(NOW, tick=False), start_sandbox(seed="demo", **KEYS) as running:
        yield running, netvisor_api_client.Netvisor(
            host=running.url, sender="sdk-tests", partner_id=KEYS["partner_id"], partner_key=KEYS["partner_key"],
            customer_id=KEYS["customer_id"], customer_key=KEYS["customer_key"],
            organization_id=KEYS["organisation_id"], language="EN")


def test_the_library_lists_and_reads_sales_invoices(sdk):
    _, netvisor = sdk
    invoices = netvisor.sales_invoices.list()
    assert [(i["number"], i["status"]) for i in invoices] == [(1001, "paid"), (1002, "open"), (1003, "open"),
                                                              (1004, "unsent")]
    detail = netvisor.sales_invoices.get(invoices[0]["netvisor_key"])
    assert detail["amount"] == D("953.80")
    assert detail["invoice_lines"][0]["vat_percentage"] == {"percentage": D("25.5"), "code": "KOMY"}


def test_the_library_reads_customers_accounts_dimensions_and_payments(sdk):
    _, netvisor = sdk
    assert netvisor.customers.list()[0]["name"] == "Mäkinen Rakennus Oy"
    assert netvisor.customers.get(netvisor.customers.list()[0]["netvisor_key"])[
        "customer_base_information"]["internal_identifier"] == "ASIAKAS1"
    assert 1701 in [a["number"] for a in netvisor.accounting.account_list()["accounts"]]
    assert netvisor.dimensions.list()[0]["name"] == "Kustannuspaikka"
    assert netvisor.sales_payments.list()[0]["sum"] == D("953.80")
    # A day whose vouchers have no VAT: the library reads VatPercent as an integer and cannot read "25,5".
    ledger = netvisor.accounting.ledger(start_date=dt.date(2025, 1, 20), end_date=dt.date(2025, 1, 20))
    assert ledger[0]["class"] == "Suoritus"


def test_the_library_writes_a_payment_a_customer_and_a_voucher(sdk):
    running, netvisor = sdk
    netvisor.sales_payments.create({
        "sum": {"value": D("168.73"), "currency": "EUR"}, "payment_date": "2025-06-12",
        "target_identifier": {"type": "invoicenumber", "targettype": "invoice", "target": "1002"},
        "source_name": "Virtanen & Korhonen Ky", "payment_method": {"method": "Pankki"}})
    assert netvisor.sales_invoices.list(invoice_number=1002)[0]["status"] == "paid"
    assert netvisor.customers.create({"customer_base_information": {"internal_identifier": "SDK1",
                                                                    "name": "Säätiö SDK"}})
    assert [c["name"] for c in netvisor.customers.list("SDK")] == ["Säätiö SDK"]
    netvisor.accounting.create({
        "mode": "net", "date": dt.date(2025, 6, 2), "description": "sdk voucher", "class": "Muistiotosite",
        "voucher_line": [
            {"line_sum": {"sum": D("10"), "type": "net"}, "description": "a", "account_number": 4450,
             "vat_percent": {"percentage": D("0"), "code": "NONE"}},
            {"line_sum": {"sum": D("-10"), "type": "net"}, "description": "b", "account_number": 1910,
             "vat_percent": {"percentage": D("0"), "code": "NONE"}}]})
    assert running.state.org.vouchers[max(running.state.org.vouchers)].description == "sdk voucher"


def test_the_library_sees_netvisors_refusals_as_its_own_error_classes(sdk):
    running, netvisor = sdk
    with pytest.raises(InvalidData, match="Sales invoice not found with invoicenumber 9999"):
        netvisor.sales_payments.create({
            "sum": {"value": D("1"), "currency": "EUR"}, "payment_date": "2025-06-12",
            "target_identifier": {"type": "invoicenumber", "targettype": "invoice", "target": "9999"},
            "source_name": "X", "payment_method": {"method": "Pankki"}})
    wrong = netvisor_api_client.Netvisor(
        host=running.url, sender="sdk-tests", partner_id=KEYS["partner_id"], partner_key="wrong",
        customer_id=KEYS["customer_id"], customer_key=KEYS["customer_key"], organization_id=KEYS["organisation_id"],
        language="EN")
    with pytest.raises(AuthenticationFailed, match="Integration keys are not valid"):
        wrong.customers.list()
