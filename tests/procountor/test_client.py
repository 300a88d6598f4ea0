"""The hub's Procountor client against the sandbox over real HTTP: tokens, paging, each resource, errors."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from integration_hub.connectors.errors import (AuthenticationError, NeedsReauthorization, NotFound, PeriodClosed,
                                               PermanentError, RateLimited, RetryableError)
from integration_hub.connectors.http import CallLog
from tests.procountor.support import API_KEY, SECRET, client_for, purchase_invoice, sales_invoice, serve

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def running():
    with serve() as sandbox:
        yield sandbox


@pytest.fixture
def log():
    return CallLog()


@pytest.fixture
def client(running, log):
    made = client_for(running, call_log=log)
    yield made
    made.close()


def operations(log: CallLog) -> list[tuple[str, int | None]]:
    return [(r.operation, r.status) for r in log.records]


def token_requests(log: CallLog) -> int:
    return sum(1 for r in log.records if r.operation == "POST oauth/token")


# ---- tokens -------------------------------------------------------------------------------------


def test_the_token_is_taken_once_and_reused_for_later_calls(client, log):
    client.chart_of_accounts()
    client.fiscal_years()
    assert token_requests(log) == 1
    assert [op for op, _ in operations(log)] == ["POST oauth/token", "GET coa", "GET fiscalyears"]


def test_a_token_near_the_end_of_its_hour_is_replaced_before_the_call(running, client, log):
    client.chart_of_accounts()
    running.clock.advance(3600 - 200)  # inside the 300 s margin: still valid, but not for long
    client.chart_of_accounts()
    assert token_requests(log) == 2
    assert all(status != 401 for _, status in operations(log))


def test_a_token_procountor_no_longer_accepts_is_replaced_once_and_the_call_goes_through(running, client, log):
    client.chart_of_accounts()
    running.admin("POST", "tokens/expire")
    assert client.vat_defaults()["vatStatuses"]
    assert [s for op, s in operations(log) if op == "GET vats"] == [401, 200]
    assert token_requests(log) == 2


def test_a_refused_api_key_needs_a_new_key_and_no_secret_shows_in_the_error_or_the_log(running, log):
    client = client_for(running, api_key="old-revoked-key", call_log=log)
    with pytest.raises(NeedsReauthorization) as refused:
        client.chart_of_accounts()
    text = f"{refused.value} {refused.value.provider_message} {log.as_list()}"
    assert "invalid_grant" in text
    for secret in (SECRET, "old-revoked-key"):
        assert secret not in text


def test_the_session_knows_every_secret_it_must_never_show(client):
    client.chart_of_accounts()
    assert {SECRET, API_KEY, client.access_token()} <= client.http.secrets


# ---- settings -----------------------------------------------------------------------------------


def test_the_settings_are_the_finnish_demo_company(client):
    codes = {a["ledgerAccountCode"] for a in client.chart_of_accounts()}
    assert {"1701", "2871", "3000", "4000", "2939", "1910"} <= codes
    defaults = client.vat_defaults()
    percents = {p["vatPercent"] for p in defaults["vatInformation"][0]["percentages"] if p["sales"]}
    assert percents == {Decimal("25.5"), 14, Decimal("13.5"), 10, 0}
    statuses = {s["vatStatus"]: s for s in defaults["vatStatuses"]}
    assert "käännetty" in statuses[4]["description"] and statuses[5]["purchase"] is False
    assert [d["name"] for d in client.dimensions()][0] == "Kustannuspaikka"
    assert [y["status"] for y in client.fiscal_years()] == ["OPEN", "CLOSED"]


def test_a_business_partner_is_created_and_a_bad_business_id_is_refused(client):
    created = client.create_business_partner({"type": "CUSTOMER", "name": "Uusi Asiakas Oy", "identifier": "7654321-0",
                                              "address": {"street": "Katu 1", "zip": "00100", "city": "Helsinki",
                                                          "country": "FINLAND"}})
    assert client.business_partner(created["id"])["name"] == "Uusi Asiakas Oy"
    assert created["id"] in [p["id"] for p in client.business_partners(type="CUSTOMER")]
    with pytest.raises(PermanentError) as refused:
        client.create_business_partner({"type": "CUSTOMER", "name": "Huono Oy", "identifier": "12345"})
    assert refused.value.details["errors"] == [{"field": "identifier", "message": "ERROR_BRN_CODE"}]


# ---- invoices -----------------------------------------------------------------------------------


def test_keyset_paging_reads_every_invoice_across_pages_of_fifty(running, client, log):
    for n in range(60):
        running.state.create_invoice(sales_invoice(f"BULK-{n}"))
    listed = list(client.invoices(types=["SALES_INVOICE"]))
    assert len(listed) == 60 + 3  # the demo's three sales invoices
    ids = [row["id"] for row in listed]
    assert ids == sorted(set(ids))
    pages = [r for r in log.records if r.operation == "GET invoices"]
    assert len(pages) == 2 and f"previousId={ids[49]}" in pages[1].path


def test_a_sales_invoice_is_created_sent_and_paid_with_decimal_amounts(client):
    created = client.create_invoice(sales_invoice("ORDER-77"))
    assert created["status"] == "UNFINISHED" and created["invoiceRows"][0]["unitPrice"] == Decimal("95.50")
    client.send_invoice(created["id"])
    assert client.invoice(created["id"])["status"] == "SENT"
    client.mark_paid(created["id"], amount=Decimal("100.00"), payment_date="2026-11-21")
    assert client.invoice(created["id"])["status"] == "PARTLY_PAID"
    client.mark_paid(created["id"], amount=Decimal("259.56"), payment_date="2026-11-21")  # 286.50 + 73.06 VAT
    assert client.invoice(created["id"])["status"] == "PAID"
    assert [e["amount"] for e in client.payment_events(created["id"])] == [Decimal("100.00"), Decimal("259.56")]


def test_an_invoice_refusal_carries_procountors_field_and_message(client):
    body = sales_invoice()
    body["paymentInfo"]["dueDate"] = "2026-11-01"
    with pytest.raises(PermanentError) as refused:
        client.create_invoice(body)
    assert refused.value.details["errors"] == [{"field": "paymentInfo.dueDate", "message": "DUE_DATE_BEFORE_BILL_DATE"}]
    assert "paymentInfo.dueDate: DUE_DATE_BEFORE_BILL_DATE" in str(refused.value)


def test_an_invoice_dated_in_the_closed_fiscal_year_is_period_closed(client):
    with pytest.raises(PeriodClosed):
        client.create_invoice(sales_invoice(day="2025-12-30"))


def test_an_invoice_that_does_not_exist_is_not_found(client):
    with pytest.raises(NotFound):
        client.invoice(1)


def test_a_purchase_invoice_moves_from_queued_to_paid_when_its_payment_day_comes(running, client):
    created = client.create_invoice(purchase_invoice("SUP-881"))
    client.send_to_circulation(created["id"])
    client.approve_invoice(created["id"])
    assert client.invoice(created["id"])["status"] == "APPROVED"
    tomorrow = (running.clock.today() + dt.timedelta(days=1)).isoformat()
    [payment] = client.create_payments([{"invoiceId": created["id"], "amount": Decimal("359.56"), "currency": "EUR",
                                         "paymentDate": tomorrow}])
    assert payment["status"] == "PAYMENT_QUEUED"
    assert client.invoice(created["id"])["status"] == "PAYMENT_QUEUED"
    running.clock.advance(24 * 3600)
    assert client.invoice(created["id"])["status"] == "PAID"
    assert client.payment(payment["id"])["status"] == "PAID"
    assert [p["id"] for p in client.find_payments(created["id"], amount=Decimal("359.56"))] == [payment["id"]]


def test_a_payment_larger_than_what_is_open_is_refused_for_its_row(client):
    created = client.create_invoice(purchase_invoice("SUP-882"))
    client.send_to_circulation(created["id"])
    with pytest.raises(PermanentError) as refused:
        client.create_payments([{"invoiceId": created["id"], "amount": Decimal("1000.00"), "currency": "EUR",
                                 "paymentDate": "2026-11-22"}])
    assert refused.value.details["errors"][0]["field"] == "payments[0].amount"


def test_a_post_whose_answer_is_lost_is_not_repeated_and_the_lookup_finds_it(running, client, log):
    client.chart_of_accounts()
    running.admin("POST", "faults", {"kind": "drop_after", "method": "POST", "path_contains": "/invoices"})
    with pytest.raises(RetryableError):
        client.create_invoice(sales_invoice("ORDER-LOST"))
    assert sum(1 for r in log.records if r.operation == "POST invoices") == 1
    found = client.find_invoices("ORDER-LOST", created_since=running.clock.now() - dt.timedelta(minutes=1))
    assert [invoice["orderReference"] for invoice in found] == ["ORDER-LOST"]
    assert client.find_invoices("ORDER-NEVER-SENT") == []


# ---- ledger receipts ----------------------------------------------------------------------------


def journal(*lines, name: str = "HUB-J-1", day: str = "2026-11-20") -> dict:
    return {"type": "JOURNAL", "name": name, "receiptDate": day, "vatType": "PURCHASE",
            "invoiceNotes": f"hub reference\n{name}", "transactions": list(lines)}


def line(account: str, value: str, vat: str = "0", **extra) -> dict:
    return {"transactionType": "ENTRY", "account": account, "accountingValue": Decimal(value),
            "vatPercent": Decimal(vat), **extra}


def test_a_balanced_journal_with_dimensions_is_booked_and_read_back(client):
    expense = line("7600", "100.00", "25.5", vatStatus=1, dimensionItemValues=[
        {"dimensionId": 101, "itemId": 1011, "value": Decimal("60.00")},
        {"dimensionId": 101, "itemId": 1012, "value": Decimal("40.00")}])
    created = client.create_ledger_receipt(journal(line("1910", "-125.50"), expense))
    stored = client.ledger_receipt(created["id"])
    assert stored["type"] == "JOURNAL" and stored["status"] == "UNFINISHED"
    assert stored["transactions"][1]["dimensionItemValues"][0] == {"dimensionId": 101, "itemId": 1011,
                                                                   "value": Decimal("60.00")}
    assert [r["id"] for r in client.find_ledger_receipts("HUB-J-1", start_date="2026-11-01",
                                                         end_date="2026-11-30")] == [created["id"]]


def test_an_unbalanced_journal_is_refused_unless_procountor_may_reconcile_it(client):
    unbalanced = journal(line("1910", "-120.00"), line("7600", "100.00", "25.5", vatStatus=1))
    with pytest.raises(PermanentError) as refused:
        client.create_ledger_receipt(unbalanced)
    [error] = refused.value.details["errors"]
    assert error["field"] == "transactions" and "TRANSACTIONS_NOT_BALANCED" in error["message"]
    reconciled = client.create_ledger_receipt(unbalanced, create_reconciliation=True)
    assert reconciled["transactions"][-1]["transactionType"] == "RECONCILIATION_ENTRY"
    assert reconciled["transactions"][-1]["accountingValue"] == Decimal("-5.50")


def test_a_journal_on_an_unknown_account_or_dimension_item_is_refused_by_field(client):
    bad = line("7600", "100.00", dimensionItemValues=[{"dimensionId": 101, "itemId": 1014, "value": Decimal("100.00")}])
    with pytest.raises(PermanentError) as refused:
        client.create_ledger_receipt(journal(line("9999", "-100.00"), bad))
    fields = [e["field"] for e in refused.value.details["errors"]]
    assert fields == ["transactions[0].account", "transactions[1].dimensionItemValues[0].itemId"]


def test_an_invoices_own_receipt_is_listed_and_its_accounting_can_be_replaced_with_the_current_version(client):
    created = client.create_invoice(sales_invoice("ORDER-ACC"))
    receipt = client.ledger_receipt(created["ledgerReceiptId"])
    assert receipt["type"] == "SALES_INVOICE" and receipt["invoiceId"] == created["id"]
    assert receipt["id"] in [r["id"] for r in client.ledger_receipts(types=["SALES_INVOICE"])]
    lines = [line("1701", "359.56", transactionType="REVERSING_ENTRY"),
             line("3010", "-286.50", "25.5", vatType="SALES", vatStatus=1,
                  dimensionItemValues=[{"dimensionId": 102, "itemId": 1021, "value": Decimal("-286.50")}])]
    updated = client.update_ledger_receipt(receipt["id"], {"version": receipt["version"], "transactions": lines})
    assert updated["transactions"][1]["account"] == "3010"
    with pytest.raises(PermanentError) as stale:
        client.update_ledger_receipt(receipt["id"], {"version": "2000-01-01T00:00:00.000", "transactions": lines})
    assert stale.value.details["errors"][0]["field"] == "version"


# ---- attachments --------------------------------------------------------------------------------


def test_an_attachment_is_uploaded_to_an_invoice_read_back_and_deleted(client):
    created = client.create_invoice(sales_invoice("ORDER-PDF"))
    meta = client.upload_attachment(reference_type="INVOICE", reference_id=created["id"], name="lasku.pdf",
                                    content=PDF, content_type="application/pdf")
    assert [a["id"] for a in client.invoice(created["id"])["attachments"]] == [meta["id"]]
    read_meta, content = client.attachment(meta["id"])
    assert content == PDF and read_meta["name"] == "lasku.pdf"
    client.delete_attachment(meta["id"])
    with pytest.raises(NotFound):
        client.attachment(meta["id"])
    with pytest.raises(PermanentError) as refused:
        client.upload_attachment(reference_type="INVOICE", reference_id=1, name="x.pdf", content=PDF)
    assert refused.value.details["errors"][0]["field"] == "referenceId"


# ---- limits and failures ------------------------------------------------------------------------


def test_past_the_rate_limit_the_client_waits_then_gives_up_with_rate_limited():
    with serve(seed=None, rate_limit=2) as sandbox:
        waits: list[float] = []
        client = client_for(sandbox, max_retries=2, sleep=waits.append)
        client.chart_of_accounts()
        client.chart_of_accounts()
        with pytest.raises(RateLimited) as limited:
            client.chart_of_accounts()  # the pinned clock never lets the second end
        assert limited.value.retryable and limited.value.retry_after == 1.0
        assert waits == [1.0, 1.0]


def test_server_errors_on_a_read_are_retried_then_retryable(running, client, log):
    client.chart_of_accounts()
    running.admin("POST", "faults", {"kind": "500", "count": 2, "path_contains": "/fiscalyears"})
    assert client.fiscal_years()
    running.admin("POST", "faults", {"kind": "503", "count": 20, "path_contains": "/fiscalyears"})
    with pytest.raises(RetryableError):
        client.fiscal_years()


def test_a_client_id_procountor_does_not_know_is_an_authentication_error(running):
    client = client_for(running)
    client.client_id = "someone-else"
    with pytest.raises(AuthenticationError):
        client.chart_of_accounts()
