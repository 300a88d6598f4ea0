"""How the hub's entries become Xero documents (pure: no HTTP)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from integration_hub.connectors.types import EntryLine, JournalEntry, UnbalancedEntry
from integration_hub.connectors.xero import mapper

D = Decimal
RATES = {"OUTPUT2": D("20"), "INPUT2": D("20"), "RROUTPUT": D("5")}


def sale(lines, *, partner_debit=True, reference="7-42", number="F-42", kind="sale"):
    total = sum((line.credit - line.debit for line in lines), D("0"))
    partner = EntryLine("accounts receivable", debit=total if partner_debit else D("0"),
                        credit=D("0") if partner_debit else -total, partner_id="contact-1")
    return JournalEntry(reference=reference, journal_id="", date=dt.date(2026, 11, 30), label="x",
                        lines=[partner, *lines], currency="GBP", source_number=number, kind=kind,
                        due_date=dt.date(2026, 12, 30), document_currency="GBP")


def test_a_sales_invoice_becomes_an_accrec_invoice_whose_total_is_the_source_total_to_the_cent():
    # Three lines of 0.33 at 20 %: Xero alone would compute 0.07 x 3 = 0.21, the source says 0.20.
    lines = [EntryLine("200", credit=D("0.33"), label=f"Item {i}", vat_code_id="OUTPUT2", vat_role="base")
             for i in range(3)]
    lines.append(EntryLine("VAT OUTPUT2", credit=D("0.20"), vat_code_id="OUTPUT2", vat_role="tax"))
    document = mapper.document_for(sale(lines), status="AUTHORISED", rates=RATES)
    assert document.endpoint == "Invoices" and document.type == "ACCREC"
    assert document.total == D("1.19")
    taxes = [D(item["TaxAmount"]) for item in document.body["LineItems"]]
    assert sum(taxes) == D("0.20") and len(taxes) == 3
    assert document.body["Reference"] == "F-42 [hub 7-42]"
    assert document.body["DueDate"] == "2026-12-30" and document.body["Status"] == "AUTHORISED"
    assert any("Xero would compute 0.21" in note for note in document.notes)


def test_a_sales_credit_note_becomes_an_accreccredit_with_positive_amounts():
    lines = [EntryLine("200", debit=D("100.00"), vat_code_id="OUTPUT2", vat_role="base"),
             EntryLine("VAT OUTPUT2", debit=D("20.00"), vat_code_id="OUTPUT2", vat_role="tax")]
    document = mapper.document_for(sale(lines, partner_debit=False), status="DRAFT", rates=RATES)
    assert (document.endpoint, document.type) == ("CreditNotes", "ACCRECCREDIT")
    assert document.body["LineItems"][0]["LineAmount"] == D("100.00")
    assert document.total == D("120.00") and "DueDate" not in document.body


def test_a_supplier_invoice_becomes_a_bill_numbered_with_the_suppliers_number():
    lines = [EntryLine("429", debit=D("50.00"), vat_code_id="INPUT2", vat_role="base"),
             EntryLine("VAT INPUT2", debit=D("10.00"), vat_code_id="INPUT2", vat_role="tax")]
    entry = sale(lines, partner_debit=False, number="SUP-9", kind="purchase")
    document = mapper.document_for(entry, status="DRAFT", rates=RATES)
    # Xero keeps no Reference on bills: the supplier's number and the hub's tag share the number field
    assert document.type == "ACCPAY" and document.body["InvoiceNumber"] == "SUP-9 [hub 7-42]"
    assert "Reference" not in document.body
    assert document.body["LineItems"][0]["TaxAmount"] == D("10.00") and document.notes == []


def test_a_rounding_line_goes_to_xero_as_a_line_item_on_the_rounding_account():
    lines = [EntryLine("200", credit=D("10.00"), vat_code_id="OUTPUT2", vat_role="base"),
             EntryLine("VAT OUTPUT2", credit=D("2.00"), vat_code_id="OUTPUT2", vat_role="tax"),
             EntryLine("860", credit=D("0.01"), label="Rounding")]
    document = mapper.document_for(sale(lines), status="DRAFT", rates=RATES)
    rounding = document.body["LineItems"][-1]
    assert (rounding["AccountCode"], rounding["LineAmount"], rounding["TaxType"]) == ("860", D("0.01"), "NONE")
    assert document.total == D("12.01")


def test_an_unbalanced_entry_never_becomes_a_xero_document():
    entry = sale([EntryLine("200", credit=D("10.00"), vat_code_id="OUTPUT2", vat_role="base")])
    entry.lines[0].debit = D("10.01")
    with pytest.raises(UnbalancedEntry):
        mapper.document_for(entry, status="DRAFT", rates=RATES)


def test_the_hub_reference_is_read_back_from_a_reference_field():
    field = mapper.reference_field("INV 001", "12-abc")
    assert mapper.reference_from(field) == "12-abc"
    assert mapper.reference_from("INV 001") == ""
    assert mapper.parse_date("/Date(1764460800000+0000)/") == dt.datetime(2025, 11, 30, tzinfo=dt.timezone.utc)


def test_amounts_go_to_xero_as_exact_json_numbers():
    from integration_hub.connectors.xero.client import encode

    assert encode({"Amount": D("1234567.89"), "Rate": D("5.5")}) == b'{"Amount": 1234567.89, "Rate": 5.5}'
    with pytest.raises(ValueError):
        encode({"Amount": D("0.1000000000000000000001")})
