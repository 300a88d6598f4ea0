"""The Factorial connector against the Factorial sandbox, over real HTTP."""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal as D

import pytest
from django.test import override_settings

from integration_hub.connectors.errors import NeedsReauthorization, PermanentError
from integration_hub.connectors.factorial.connector import FactorialConnector
from integration_hub.connectors.oauth import MemoryTokenStore
from integration_hub.connectors.types import Scope
from sandboxes.factorial import start_sandbox
from tests.support.clock import SANDBOX_DAY

pytestmark = pytest.mark.clock

KEY = "test-factorial-key"


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(api_key=KEY, seed="demo", today=SANDBOX_DAY, post_rate_limit=None) as running:
        yield running


@pytest.fixture(autouse=True)
def factorial_address(settings, sandbox):
    """Factorial's address is the hub's setting: here, the sandbox's random port."""
    settings.HUB_FACTORIAL_BASE_URL = sandbox.url


@pytest.fixture
def factorial(sandbox):
    sandbox.state.faults.clear()
    connector = FactorialConnector({"api_key": KEY}, auth_kind="api_key")
    yield connector
    connector.close()


def documents(sandbox):
    return [d for d in sandbox.state.records("finance/financial_documents")
            if d.get("status") != "processing" and not d.get("duplicate_financial_document_id")]


def test_an_api_key_connects_and_a_wrong_one_is_reported(sandbox, factorial):
    result = factorial.check()
    assert result.ok and result.organisation_id == "7301" and "Atelier Lumière SAS" in result.message
    wrong = FactorialConnector({"api_key": "nope"}, auth_kind="api_key").check()
    assert not wrong.ok and "401" in wrong.message


def test_every_call_uses_the_api_version_pinned_in_one_setting(sandbox):
    before = dict(sandbox.state.api_versions)
    with override_settings(HUB_FACTORIAL_API_VERSION="2026-07-01"):
        FactorialConnector({"api_key": KEY}, auth_kind="api_key").list_tax_rates()
    after = dict(sandbox.state.api_versions)
    assert after.get("2026-07-01", 0) > before.get("2026-07-01", 0)
    connector = FactorialConnector({"api_key": KEY}, auth_kind="api_key")
    connector.list_tax_rates()
    assert all("/api/2026-10-01/resources/" in c.path for c in connector.call_log.records)


def test_listing_follows_every_page_and_maps_documents_and_expenses(sandbox, factorial):
    invoices = list(factorial.list_invoices(since=None, scope=Scope.ALL))
    expected_docs = len(documents(sandbox))
    postable = [e for e in sandbox.state.records("expenses/expenses")
                if e["status"] in ("approved", "sent_to_pay", "paid", "in_payroll")]
    assert len([i for i in invoices if i.id.startswith("fd-")]) == expected_docs > 100
    assert len([i for i in invoices if i.id.startswith("ex-")]) == len(postable)
    pages = [c for c in factorial.call_log.records if "financial_documents" in c.path]
    assert len(pages) >= 3 and any("after_id=" in c.path for c in pages) and all("limit=100" in c.path for c in pages)


def test_documents_changed_since_the_cursor_are_the_only_ones_read_again(sandbox, factorial):
    moment = sandbox.state.now()
    doc_id = documents(sandbox)[3]["id"]
    sandbox.state.touch("finance/financial_documents", doc_id, description="corrected")
    invoices = list(factorial.list_invoices(since=moment - dt.timedelta(seconds=1), scope=Scope.ALL))
    assert [i.id for i in invoices if i.id.startswith("fd-")] == [f"fd-{doc_id}"]
    assert any("updated_from=" in c.path for c in factorial.call_log.records)


def test_a_supplier_invoice_a_credit_note_and_a_sales_invoice_are_mapped(sandbox, factorial):
    invoices = {i.id: i for i in factorial.list_invoices(since=None, scope=Scope.ALL)}
    supplier = invoices["fd-120001"]
    assert (supplier.kind, supplier.number, supplier.total_amount) == ("purchase", "BV00068115", D("438.49"))
    assert supplier.partner.name and supplier.partner.vat_number.startswith("FR")
    assert supplier.lines[0].tax_rate == D(20) and supplier.lines[0].tax_code == "401"
    assert supplier.untaxed_amount + supplier.tax_amount == supplier.total_amount
    credit = invoices["fd-120265"]
    assert credit.is_credit_note and credit.total_amount == D("500.94")
    sale = invoices["fd-120002"]
    assert sale.kind == "sale" and sale.partner.name == "Berthier Décoration SAS"


def test_the_broken_documents_keep_what_makes_them_broken(sandbox, factorial):
    invoices = {i.id: i for i in factorial.list_invoices(since=None, scope=Scope.ALL)}
    broken = {k: invoices[f"fd-{v}"] for k, v in sandbox.state.seed_info["broken"].items()}
    assert broken["no_tax"].lines[0].tax_rate is None
    assert broken["unknown_vendor"].partner is None and broken["unknown_vendor"].partner_id == "999999"
    total = broken["total_mismatch"]
    assert total.untaxed_amount + total.tax_amount != total.total_amount
    with pytest.raises(PermanentError, match="not a valid PDF"):
        factorial.get_attachment(broken["non_pdf_file"])
    good = factorial.get_attachment(invoices["fd-120001"])
    assert good.content.startswith(b"%PDF-") and good.filename == "BV00068115.pdf"


def test_an_expense_carries_its_amounts_rate_receipt_account_project_cost_centre_and_card(sandbox, factorial):
    invoices = {i.id: i for i in factorial.list_invoices(since=None, scope=Scope.ALL)}
    card = invoices["ex-23001"]
    assert (card.total_amount, card.tax_amount, card.lines[0].tax_rate) == (D("46.61"), D("4.24"), D(10))
    assert card.extra["card_last4"] == "7205" and card.extra["project"] == "89" and card.extra["cost_centre"] == "61"
    assert card.extra["approval_status"] == "paid" and card.extra["accounting_account_code"] == card.lines[0].account_number
    assert card.extra["document_amount"] == "46.61" and card.extra["reimbursable_amount"] == "0.00"
    assert card.has_attachment and card.partner.name == "BOUILLON PIGALLE"
    foreign = next(i for i in invoices.values() if i.id.startswith("ex-") and i.currency != "EUR")
    assert foreign.exchange_rate and foreign.exchange_rate != 1 and foreign.extra["reimbursable_currency"] == "EUR"
    drafts = {e["id"] for e in sandbox.state.records("expenses/expenses") if e["status"] in ("draft", "rejected", "pending")}
    assert not {f"ex-{d}" for d in drafts} & set(invoices)


def test_faults_on_reads_are_absorbed_by_retries(sandbox, factorial):
    factorial.client.http.backoff_base = 0.01
    sandbox.state.faults.set(rate=0.3, kinds=["500", "503", "429"], retry_after=0, seed=4, methods=["GET"])
    try:
        invoices = list(factorial.list_invoices(since=None, scope=Scope.PURCHASES))
    finally:
        sandbox.state.faults.clear()
    assert len(invoices) > 200
    assert any(c.status in (500, 503, 429) for c in factorial.call_log.records)


def test_oauth_tokens_are_refreshed_once_for_many_threads_and_a_refused_refresh_needs_a_person(sandbox):
    token = sandbox.state.issue_token()
    store = MemoryTokenStore({"access_token": token["access_token"],
                              "refresh_token": token["refresh_token"], "expires_at": 0})
    before = sandbox.state.refresh_count
    errors = []

    def use():
        try:
            FactorialConnector({}, auth_kind="oauth2", token_store=store).list_tax_rates()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(10)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and sandbox.state.refresh_count - before == 1
    sandbox.state.revoke_grant(refresh_token=store.credentials["refresh_token"])
    store.credentials["expires_at"] = 0
    with pytest.raises(NeedsReauthorization):
        FactorialConnector({}, auth_kind="oauth2", token_store=store).list_tax_rates()


def test_a_document_factorial_returns_malformed_is_listed_as_unreadable_and_the_listing_goes_on(sandbox, factorial):
    good = documents(sandbox)
    model = dict(good[0])
    model.pop("id", None)
    model.update(document_number="BROKEN-1", document_date="31/12/2026", total_amount_cents="lots")
    broken = sandbox.state.add("finance/financial_documents", model)
    try:
        listed = {i.id: i for i in factorial.list_invoices(since=None, scope=Scope.ALL)}
    finally:
        sandbox.state.data["finance/financial_documents"].pop(str(broken["id"]), None)
    stand_in = listed[f"fd-{broken['id']}"]
    assert stand_in.number == "BROKEN-1" and "ValueError" in stand_in.extra["unreadable"]
    assert {f"fd-{d['id']}" for d in good} <= set(listed)


def test_a_file_that_only_starts_like_a_pdf_is_refused_in_words_not_bytes(sandbox, factorial):
    invoices = {i.id: i for i in factorial.list_invoices(since=None, scope=Scope.ALL)}
    document = invoices["fd-120001"]
    stored = next(f for f in sandbox.state.files.values() if f["filename"] == "BV00068115.pdf")
    original = stored["content"]
    stored["content"] = b"%PDF-1.4"
    try:
        with pytest.raises(PermanentError) as refused:
            factorial.get_attachment(document)
    finally:
        stored["content"] = original
    message = str(refused.value) + (refused.value.provider_message or "")
    assert "not a valid PDF" in message and "a PDF reader cannot open it" in message
    assert "b'" not in message and "\\x" not in message
    assert factorial.get_attachment(document).content == original  # the real file still passes
