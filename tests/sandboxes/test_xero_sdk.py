"""Xero's own Python SDK (xero-python, generated from the same OpenAPI description) against the sandbox,
with only its base URLs changed, under the spec checker: it must work and nothing may break the description."""
from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from xero_python.accounting import (AccountingApi, Contact, Contacts, Invoice, Invoices, LineAmountTypes, LineItem)
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import AccountingBadRequestException, NotFoundException
from xero_python.identity import IdentityApi

from sandboxes.xero.app import start_sandbox
from tests.support.clock import SANDBOX_DAY
from tests.support.xero_spec import ACCOUNTING_SPEC, IDENTITY_SPEC, SpecChecked, load_spec

CLIENT_ID, SECRET = "sdk-client", "sdk-secret"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ROOMY = {"per_minute": 100_000, "per_day": 1_000_000, "concurrent": 50}


@pytest.fixture(scope="session")
def xero_specs():
    """Both descriptions, parsed once for the whole session (load_spec caches them)."""
    return load_spec(ACCOUNTING_SPEC), load_spec(IDENTITY_SPEC)


@pytest.fixture(scope="module")
def served(xero_specs):
    holder: dict = {}

    def wrap(app):
        holder["checker"] = SpecChecked(app)
        return holder["checker"]

    with start_sandbox(CLIENT_ID, SECRET, seed="demo", wrap=wrap, today=SANDBOX_DAY, **ROOMY) as running:
        yield running, holder["checker"]


class Sdk:
    """The SDK wired as its README says, pointed at the sandbox: AccountingApi/IdentityApi base_url, token URL."""

    def __init__(self, running, token: dict, temp: Path):
        self.running = running
        self.store = {"token": self.as_sdk_token(token)}
        configuration = Configuration(oauth2_token=OAuth2Token(client_id=CLIENT_ID, client_secret=SECRET))
        configuration.temp_folder_path = str(temp)
        self.client = ApiClient(configuration, oauth2_token_getter=lambda: self.store["token"],
                                oauth2_token_saver=lambda new: self.store.update(token=new))
        self.accounting = AccountingApi(self.client, base_url=running.api_url)
        self.identity = IdentityApi(self.client, base_url=running.url)

    @staticmethod
    def as_sdk_token(answer: dict) -> dict:
        """A token answer as the SDK keeps it (scope as a list, expires_at), as after its own code exchange."""
        return {**answer, "scope": answer["scope"].split(), "expires_at": time.time() + answer["expires_in"]}


@pytest.fixture
def sdk(served, tmp_path, monkeypatch) -> Sdk:
    running, checker = served
    # The token URL is a class attribute of the SDK: the only "base URL" of its identity calls.
    monkeypatch.setattr(TokenApi, "refresh_token_url", f"{running.url}/connect/token")
    monkeypatch.setattr(TokenApi, "client_credentials_token_url", f"{running.url}/connect/token")
    checker.clear()
    client = Sdk(running, running.connect(), tmp_path)
    yield client
    assert checker.violations == [], checker.report()


def plain(value) -> str:
    """The SDK gives some enums as Enum members, others as plain strings."""
    return str(getattr(value, "value", value))


def tenant_of(sdk: Sdk, name: str = "Demo Company (Global)") -> str:
    return next(t["tenantId"] for t in sdk.running.tenants if t["tenantName"] == name)


def test_the_sdk_lists_the_connected_organisations(sdk):
    connections = sdk.identity.get_connections()  # the SDK calls /Connections, capitalised as in the description
    assert {c.tenant_name for c in connections} == {"Demo Company (Global)", "Harbour Trading Ltd"}
    assert all(c.tenant_type == "ORGANISATION" and c.created_date_utc for c in connections)


def test_the_sdk_reads_the_organisation_and_the_live_lists(sdk):
    tenant = tenant_of(sdk)
    organisation = sdk.accounting.get_organisations(tenant).organisations[0]
    assert organisation.name == "Demo Company (Global)" and plain(organisation.base_currency) == "GBP"
    accounts = sdk.accounting.get_accounts(tenant, where='Status=="ACTIVE"', order="Code ASC").accounts
    assert any(a.code == "200" for a in accounts)
    rates = {r.tax_type: r for r in sdk.accounting.get_tax_rates(tenant).tax_rates}
    assert rates["OUTPUT2"].effective_rate == Decimal("20")
    contacts = sdk.accounting.get_contacts(tenant, page=1, include_archived=True).contacts
    assert any(plain(c.contact_status) == "ARCHIVED" for c in contacts)
    assert sdk.accounting.get_currencies(tenant).currencies
    assert sdk.accounting.get_tracking_categories(tenant).tracking_categories


def test_the_sdk_creates_a_contact_and_a_batch_of_invoices_with_one_refused(sdk):
    tenant = tenant_of(sdk)
    contact = sdk.accounting.create_contacts(tenant, Contacts(contacts=[
        Contact(name=f"SDK Customer {uuid.uuid4().hex[:6]}", tax_number="GB999999973",
                account_number=f"SDK-{uuid.uuid4().hex[:6]}")])).contacts[0]
    assert contact.contact_id

    def invoice(account_code: str, reference: str) -> Invoice:
        return Invoice(type="ACCREC", contact=Contact(contact_id=contact.contact_id), date=SANDBOX_DAY,
                       due_date=SANDBOX_DAY + dt.timedelta(days=30), reference=reference, status="AUTHORISED",
                       line_amount_types=LineAmountTypes.EXCLUSIVE, line_items=[
                           LineItem(description="Widgets", quantity=Decimal("3"), unit_amount=Decimal("0.10"),
                                    account_code=account_code, tax_type="OUTPUT2")])

    answer = sdk.accounting.create_invoices(tenant, Invoices(invoices=[invoice("200", "good"), invoice("NOPE", "bad")]),
                                            summarize_errors=False, idempotency_key=f"sdk-{uuid.uuid4()}")
    good, bad = answer.invoices
    assert (good.status_attribute_string, bad.status_attribute_string) == ("OK", "ERROR")
    assert good.total == Decimal("0.36") and good.invoice_id
    assert "Account code 'NOPE' is not a valid code" in bad.validation_errors[0].message

    with pytest.raises(AccountingBadRequestException) as refused:
        sdk.accounting.create_invoices(tenant, Invoices(invoices=[invoice("NOPE", "alone")]))
    assert "Account code 'NOPE'" in refused.value.reason


def test_the_sdk_attaches_a_file_and_reads_it_back(sdk):
    tenant = tenant_of(sdk)
    invoice = sdk.accounting.get_invoices(tenant, statuses=["AUTHORISED"], page=1).invoices[0]
    stored = sdk.accounting.create_invoice_attachment_by_file_name(
        tenant, invoice.invoice_id, "scan.pdf", PDF, idempotency_key=f"sdk-{uuid.uuid4()}").attachments[0]
    assert stored.file_name == "scan.pdf" and stored.content_length == len(PDF)
    listed = sdk.accounting.get_invoice_attachments(tenant, invoice.invoice_id).attachments
    assert "scan.pdf" in {a.file_name for a in listed}
    path = sdk.accounting.get_invoice_attachment_by_id(tenant, invoice.invoice_id, stored.attachment_id,
                                                       "application/pdf")
    assert Path(path).read_bytes() == PDF
    assert sdk.accounting.get_invoice(tenant, invoice.invoice_id).invoices[0].has_attachments is True


def test_the_sdk_filters_invoices_by_modification_time_and_where(sdk, served):
    running, _ = served
    tenant = tenant_of(sdk)
    running.clock.advance(60)  # the seed was written moments ago: leave it a sandbox minute behind
    before = running.clock.utcnow().replace(tzinfo=None) - dt.timedelta(seconds=1)
    contact = sdk.accounting.get_contacts(tenant, where='ContactStatus=="ACTIVE"').contacts[0]
    created = sdk.accounting.create_invoices(tenant, Invoices(invoices=[Invoice(
        type="ACCPAY", contact=Contact(contact_id=contact.contact_id), invoice_number="SDK-BILL-1",
        date=SANDBOX_DAY, due_date=SANDBOX_DAY, line_items=[LineItem(
            description="Paper", quantity=Decimal(1), unit_amount=Decimal("12.00"), account_code="429",
            tax_type="INPUT2")])])).invoices[0]
    recent = sdk.accounting.get_invoices(tenant, if_modified_since=before).invoices
    assert created.invoice_id in {i.invoice_id for i in recent}
    assert len(recent) < len(sdk.accounting.get_invoices(tenant, page=1).invoices)
    found = sdk.accounting.get_invoices(tenant, where=f'Type=="ACCPAY" AND InvoiceNumber=="SDK-BILL-1"').invoices
    assert [i.invoice_id for i in found] == [created.invoice_id]
    with pytest.raises(NotFoundException):
        sdk.accounting.get_invoice(tenant, str(uuid.uuid4()))


def test_the_sdk_refreshes_its_token_against_the_sandbox_and_the_old_one_is_rotated_out(sdk, served):
    running, _ = served
    tenant = tenant_of(sdk)
    old = dict(sdk.store["token"])
    running.identity.expire_access_tokens()
    sdk.store["token"]["expires_at"] = time.time() - 1  # the SDK decides by its own clock when to refresh
    assert sdk.accounting.get_organisations(tenant).organisations
    new = sdk.store["token"]
    assert new["access_token"] != old["access_token"] and new["refresh_token"] != old["refresh_token"]
    # Within the grace the old refresh token replays the same pair; the new one works as usual.
    replay = running.identity.token({"grant_type": "refresh_token", "refresh_token": old["refresh_token"],
                                     "client_id": CLIENT_ID, "client_secret": SECRET}, None)
    assert replay[0] == 200 and replay[1]["refresh_token"] == new["refresh_token"]


def test_the_sdk_gets_a_custom_connection_token_and_waits_out_a_rate_limit_by_itself(xero_specs, monkeypatch,
                                                                                     tmp_path):
    holder: dict = {}

    def wrap(app):
        holder["checker"] = SpecChecked(app)
        return holder["checker"]

    # urllib3 under the SDK retries a 429 after Retry-After, which it reads only as whole seconds.
    with start_sandbox(CLIENT_ID, SECRET, seed=None, wrap=wrap, speed=120, per_minute=1,
                       whole_retry_after=True) as running:
        monkeypatch.setattr(TokenApi, "client_credentials_token_url", f"{running.url}/connect/token")
        sdk = Sdk(running, {"access_token": "", "scope": "", "expires_in": 0, "token_type": "Bearer"}, tmp_path)
        token = sdk.client.get_client_credentials_token()
        assert token["access_token"] and "refresh_token" not in token
        tenant = running.tenants[0]["tenantId"]
        for _ in range(2):
            assert sdk.accounting.get_organisations(tenant).organisations
        stats = running.limiter.stats()[tenant]
    assert (stats["calls"], stats["refused_by"]) == (2, {"minute": 1})
    assert holder["checker"].violations == [], holder["checker"].report()
