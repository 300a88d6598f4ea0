"""Each Netvisor resource through the hub's client against the sandbox: the happy path and Netvisor's refusals."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
import requests

from integration_hub.connectors.errors import NotFound, PeriodClosed, PermanentError
from integration_hub.connectors.netvisor import (CustomerData, Dimension, PurchaseInvoiceData,
                                                 PurchaseInvoiceLineData, SalesInvoiceData, SalesInvoiceLine,
                                                 SalesPaymentData, VoucherData, VoucherLineData)

from .conftest import signed


def consulting(quantity="2", vat="25.5", code="KOMY", **extra) -> SalesInvoiceLine:
    return SalesInvoiceLine(product="KONSULTOINTI", name="Konsultointi", unit_price=D("95.00"),
                            quantity=D(quantity), vat_percent=D(vat), vat_code=code, **extra)


def invoice(lines=None, amount="238.45", **extra) -> SalesInvoiceData:
    return SalesInvoiceData(date=dt.date(2025, 6, 10), amount=D(amount), customer="ASIAKAS2",
                            lines=lines or [consulting(dimensions=[Dimension("Kustannuspaikka", "Helsinki")])], **extra)


# ---- customers ---------------------------------------------------------------------------------


def test_a_customer_is_added_listed_read_and_edited(client):
    key = client.add_customer(CustomerData(name="Öljy-Äijät Oy", code="OLJY", business_id="3456789-0",
                                           city="Oulu", email="laskut@oljy.fi"))
    assert [c["name"] for c in client.customers("öljy")] == ["Öljy-Äijät Oy"]
    assert client.customer(key)["business_id"] == "3456789-0"
    client.edit_customer(key, CustomerData(name="Öljy-Äijät Oy", city="Kemi"))
    assert client.customer(key)["city"] == "Kemi"


def test_a_customer_code_already_in_use_is_refused_as_duplicate_data(client):
    with pytest.raises(PermanentError) as refused:
        client.add_customer(CustomerData(name="Toinen", code="ASIAKAS1"))
    assert refused.value.details["code"] == "DUPLICATE_DATA"
    assert refused.value.provider_message == "Customer code ASIAKAS1 is already in use"


# ---- sales invoices ----------------------------------------------------------------------------


def test_a_sales_invoice_is_added_and_read_back_with_its_amounts_vat_and_dimensions(client):
    key = client.add_sales_invoice(invoice(number="2001"))
    detail = client.sales_invoice(key)
    assert (detail["number"], detail["amount"], detail["status"]) == ("2001", D("238.45"), "open")
    line = detail["lines"][0]
    assert (line["vat_percent"], line["vat_code"], line["vat_amount"]) == (D("25.5"), "KOMY", D("48.45"))
    assert line["dimensions"] == [Dimension("Kustannuspaikka", "Helsinki")]
    assert detail["due_date"] == dt.date(2025, 6, 24)
    assert client.find_sales_invoice("2001")["key"] == key


def test_the_invoice_is_booked_as_a_balanced_sales_voucher(client):
    key = client.add_sales_invoice(invoice())
    voucher = next(v for v in client.ledger(dt.date(2025, 6, 10), dt.date(2025, 6, 10))
                   if v["linked"] == ("salesinvoice", key))
    assert voucher["voucher_class"] == "Myyntilasku"
    assert {line["account"]: line["amount"] for line in voucher["lines"]} == {
        "1701": D("238.45"), "3050": D("-190.00"), "2939": D("-48.45")}


def test_an_unknown_vat_code_is_refused_with_netvisors_text(client):
    with pytest.raises(PermanentError) as refused:
        client.add_sales_invoice(invoice([consulting(code="XXXX")]))
    assert refused.value.provider_message == ("Data form incorrect:. InvoiceLine 1 ProductVatPercentage: unknown VAT "
                                              "code 'XXXX'")


def test_the_old_general_vat_rate_is_refused_after_it_ended(client):
    with pytest.raises(PermanentError, match="VAT percentage 24 is not valid on 2025-06-10"):
        client.add_sales_invoice(invoice([consulting(vat="24")], amount="235.60"))


def test_an_amount_that_does_not_match_the_lines_is_refused(client):
    with pytest.raises(PermanentError, match="SalesInvoiceAmount 200.00 does not match the sum of the invoice lines"):
        client.add_sales_invoice(invoice(amount="200.00"))


def test_an_invoice_number_in_use_is_refused_and_nothing_is_saved(client):
    before = len(client.sales_invoices())
    with pytest.raises(PermanentError, match="Sales invoice number 1001 is already in use"):
        client.add_sales_invoice(invoice(number="1001"))
    assert len(client.sales_invoices()) == before


def test_a_date_in_an_unknown_form_is_refused(sandbox):
    url = f"{sandbox.url}/salesinvoice.nv?method=add"
    body = ("<Root><SalesInvoice><SalesInvoiceDate format=\"ansi\">10.6.2025</SalesInvoiceDate>"
            "</SalesInvoice></Root>").encode()
    response = requests.post(url, data=body, headers=signed(url), timeout=5)
    assert response.status_code == 400
    assert b"INVALID_DATA :: Data form incorrect:. Element SalesInvoiceDate has an invalid date" in response.content


def test_a_credit_note_matched_to_its_invoice_closes_both(client):
    invoice_key = client.add_sales_invoice(invoice())
    credit_key = client.add_sales_invoice(invoice([consulting(quantity="-2")], amount="-238.45"))
    client.match_credit_note(credit_key, invoice_key)
    assert client.sales_invoice(invoice_key)["status"] == "paid"
    assert client.sales_invoice(credit_key)["open_amount"] == D("0.00")


def test_an_unknown_sales_invoice_is_not_found(client):
    with pytest.raises(NotFound):
        client.sales_invoice(999999)


# ---- payments and status over time -------------------------------------------------------------


def test_payments_move_an_invoice_from_open_to_paid(client):
    key = client.add_sales_invoice(invoice(number="2002"))
    client.add_sales_payment(SalesPaymentData(D("100.00"), dt.date(2025, 6, 12), "2002", "Virtanen & Korhonen"))
    row = client.find_sales_invoice("2002")
    assert (row["status"], row["open_amount"]) == ("open", D("138.45"))
    reference = client.sales_invoice(key)["reference"]
    client.add_sales_payment(SalesPaymentData(D("138.45"), dt.date(2025, 6, 14), reference, "Virtanen & Korhonen",
                                              target_type="reference"))
    assert client.find_sales_invoice("2002")["status"] == "paid"
    assert client.find_sales_payment("2002", dt.date(2025, 6, 14), D("138.45"))["reference"] == reference


def test_an_unpaid_invoice_becomes_overdue_when_the_clock_passes_its_due_date(client, clock):
    client.add_sales_invoice(invoice(number="2003"))
    assert client.find_sales_invoice("2003")["substatus"] == ""
    clock.advance(days=10)
    row = client.find_sales_invoice("2003")
    assert (row["status"], row["substatus"]) == ("open", "overdue")


def test_an_unsent_invoice_stays_unsent_until_money_arrives(client):
    client.add_sales_invoice(invoice(number="2004", status="unsent"))
    assert client.find_sales_invoice("2004")["status"] == "unsent"
    client.add_sales_payment(SalesPaymentData(D("10.00"), dt.date(2025, 6, 12), "2004", "Virtanen"))
    assert client.find_sales_invoice("2004")["status"] == "open"


def test_a_payment_for_an_unknown_invoice_is_refused(client):
    with pytest.raises(PermanentError, match="Sales invoice not found with invoicenumber 9999"):
        client.add_sales_payment(SalesPaymentData(D("10.00"), dt.date(2025, 6, 12), "9999", "Joku"))


# ---- vouchers ----------------------------------------------------------------------------------


def voucher(*lines, day=dt.date(2025, 6, 2), description="hub:entry-1") -> VoucherData:
    return VoucherData(date=day, voucher_class="Muistiotosite", description=description, lines=list(lines))


def test_a_voucher_with_vat_and_cost_centres_is_booked_and_listed_in_the_ledger(client):
    key = client.add_voucher(voucher(
        VoucherLineData(D("100.00"), "4450", D("25.5"), "KOOS", dimensions=[Dimension("Kustannuspaikka", "Tampere")]),
        VoucherLineData(D("-125.50"), "1910")))
    found = client.find_voucher(dt.date(2025, 6, 2), "hub:entry-1")
    assert found["key"] == key
    assert [(line["account"], line["amount"]) for line in found["lines"]] == [
        ("4450", D("100.00")), ("1763", D("25.50")), ("1910", D("-125.50"))]
    assert found["lines"][0]["dimensions"] == [Dimension("Kustannuspaikka", "Tampere")]


def test_an_unbalanced_voucher_is_refused(client):
    with pytest.raises(PermanentError) as refused:
        client.add_voucher(voucher(VoucherLineData(D("100.00"), "4450"), VoucherLineData(D("-90.00"), "1910")))
    assert refused.value.provider_message == ("Data form incorrect:. Voucher is not in balance: the line sums add up "
                                              "to 10.00, not 0")
    assert client.find_voucher(dt.date(2025, 6, 2), "hub:entry-1") is None


def test_an_account_that_does_not_exist_is_refused(client):
    with pytest.raises(PermanentError, match="account 9999 not found in the chart of accounts"):
        client.add_voucher(voucher(VoucherLineData(D("1"), "9999"), VoucherLineData(D("-1"), "1910")))


def test_an_unknown_dimension_item_is_refused(client):
    with pytest.raises(PermanentError, match="dimension item 'Oulu' not found in dimension 'Kustannuspaikka'"):
        client.add_voucher(voucher(VoucherLineData(D("1"), "4450", dimensions=[Dimension("Kustannuspaikka", "Oulu")]),
                                   VoucherLineData(D("-1"), "1910")))


def test_a_voucher_in_a_locked_period_is_refused_as_period_closed(client):
    with pytest.raises(PeriodClosed) as refused:
        client.add_voucher(voucher(VoucherLineData(D("1"), "4450"), VoucherLineData(D("-1"), "1910"),
                                   day=dt.date(2023, 12, 1)))
    assert refused.value.details["code"] == "PERIOD_LOCK"


# ---- purchase invoices, accounts, dimensions ---------------------------------------------------


def test_a_purchase_invoice_is_added_listed_and_read(client):
    key = client.add_purchase_invoice(PurchaseInvoiceData(
        number="PI-1", date=dt.date(2025, 6, 3), vendor_name="Tarvike Oy", amount=D("251.00"),
        lines=[PurchaseInvoiceLineData(D("251.00"), D("25.5"), name="Paperi", account="4000")]))
    assert client.find_purchase_invoice("PI-1", "Tarvike Oy")["key"] == key
    detail = client.purchase_invoice(key)
    assert detail["lines"][0]["net_amount"] == D("200.00")


def test_a_purchase_invoice_without_a_vendor_is_refused(client):
    with pytest.raises(PermanentError, match="Element VendorName is missing or empty"):
        client.add_purchase_invoice(PurchaseInvoiceData(number="PI-2", date=dt.date(2025, 6, 3), vendor_name="",
                                                        amount=D("1")))


def test_the_chart_of_accounts_lists_finnish_accounts_and_the_default_ones(client):
    chart = client.accounts()
    numbers = {a["number"]: a for a in chart["accounts"]}
    assert {"1701", "1910", "2871", "2939", "3000", "4000"} <= set(numbers)
    assert numbers["1911"]["active"] is False
    assert chart["default_accounts"]["SalesReceivables"] == "1701"


def test_a_dimension_item_is_added_and_a_duplicate_refused(client):
    client.add_dimension_item("Kustannuspaikka", "Oulu")
    items = next(d for d in client.dimensions() if d["name"] == "Kustannuspaikka")["items"]
    assert "Oulu" in [i["name"] for i in items]
    with pytest.raises(PermanentError, match="already exists"):
        client.add_dimension_item("Kustannuspaikka", "Oulu")


def test_products_are_listed(client):
    assert "KONSULTOINTI" in [p["code"] for p in client.products()]
