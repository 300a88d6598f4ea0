"""vilkasgroup's open-source Procountor client (PyPI "Procountor", MIT) against the sandbox, with only its host
changed: it must get its token, read, page, write and upload as it does against Procountor's test server."""
from __future__ import annotations

import pytest

from tests.procountor.support import API_KEY, CLIENT_ID, SECRET, serve

procountor = pytest.importorskip("procountor.client", reason="the 'Procountor' package (test extras) is not installed")


@pytest.fixture
def vilkas(monkeypatch):
    with serve() as running:
        # The only change: the address of Procountor's test host (the client keeps it in a class-level table).
        monkeypatch.setitem(procountor.Client._endpoints["hosts"], "test", running.url)
        client = procountor.Client(api_key=API_KEY, client_id=CLIENT_ID, client_secret=SECRET,
                                   redirect_uri="https://example.invalid/callback", test_mode=True,
                                   api_version="latest")
        yield running, client


def sales_invoice(reference: str) -> dict:
    return {"type": "SALES_INVOICE", "date": "2026-11-20", "orderReference": reference, "invoiceChannel": "EMAIL",
            "counterParty": {"counterPartyAddress": {"name": "Kaupparaitti Oy", "country": "FINLAND"}},
            "paymentInfo": {"paymentMethod": "BANK_TRANSFER", "currency": "EUR", "dueDate": "2026-12-04"},
            "extraInfo": {"accountingByRow": False, "unitPricesIncludeVat": False},
            "invoiceRows": [{"product": "Tuki", "quantity": 2, "unitPrice": 80.0, "vatPercent": 25.5,
                             "vatStatus": 1}]}


def test_the_open_source_client_gets_a_token_and_reads_the_settings(vilkas):
    running, client = vilkas
    assert client.access_token in running.tokens.issued
    coa = client.get_coa()
    assert coa["status"] == 200 and any(a["ledgerAccountCode"] == "1701" for a in coa["content"]["ledgerAccounts"])
    assert client.get_dimensions()["content"][0]["name"] == "Kustannuspaikka"
    assert client.get_fiscal_years()["content"]["fiscalYears"][0]["status"] == "OPEN"
    assert {r["path"] for r in running.state.requests} >= {"/latest/api/oauth/token/", "/latest/api/coa"}


def test_the_open_source_client_creates_sends_and_pages_invoices(vilkas):
    running, client = vilkas
    created = client.post_invoice(**sales_invoice("OSS-1"))
    assert created["status"] == 200, created
    invoice_id = created["content"]["id"]
    assert client.send_invoice(invoice_id)["status"] == 200
    assert client.get_invoice(invoice_id)["content"]["status"] == "SENT"
    for n in range(50):
        running.state.create_invoice(sales_invoice(f"OSS-BULK-{n}"))
    first = client.get_invoices(types="SALES_INVOICE")["content"]
    second = client.get_invoices(types="SALES_INVOICE", previousId=first["results"][-1]["id"])["content"]
    assert len(first["results"]) == 50 and len(second["results"]) == 4  # 3 demo + 1 + 50
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in second["results"])


def test_the_open_source_client_books_a_journal_and_uploads_an_attachment(vilkas, tmp_path):
    _, client = vilkas
    receipt = client.post_ledger_receipt(
        type="JOURNAL", name="OSS journal", receiptDate="2026-11-20", vatType="PURCHASE",
        transactions=[{"transactionType": "ENTRY", "account": "1910", "accountingValue": -50.0, "vatPercent": 0},
                      {"transactionType": "ENTRY", "account": "7000", "accountingValue": 50.0, "vatPercent": 0}])
    assert receipt["status"] == 200, receipt
    pdf = tmp_path / "kuitti.pdf"
    pdf.write_bytes(b"%PDF-1.4 kuitti")
    meta = {"name": "kuitti.pdf", "referenceType": "LEDGER_RECEIPT", "referenceId": receipt["content"]["id"]}
    uploaded = client.post_attachment(meta, str(pdf))
    assert uploaded["status"] == 200, uploaded
    fetched = client.get_attachment(uploaded["content"]["id"])
    assert fetched["content"] == b"%PDF-1.4 kuitti" and fetched["metadata"]["name"] == "kuitti.pdf"


def test_the_open_source_client_sees_procountors_validation_errors(vilkas):
    _, client = vilkas
    body = sales_invoice("OSS-BAD")
    body["invoiceRows"][0]["vatPercent"] = 17
    refused = client.post_invoice(**body)
    assert refused["status"] == 400
    assert '"field": "invoiceRows[0].vatPercent"' in refused["message"]


def test_after_its_token_expires_the_open_source_client_fails_once_then_recovers(vilkas):
    # Its retry after a 401 takes a new token but resends the old header (its own bug, see the docs); the
    # sandbox answers that resend 401 as Procountor would, and the next call carries the new token.
    running, client = vilkas
    running.admin("POST", "tokens/expire")
    assert client.get_coa()["status"] == 401
    assert client.get_coa()["status"] == 200
    assert sum(1 for r in running.state.requests if r["path"] == "/latest/api/oauth/token/") == 2
