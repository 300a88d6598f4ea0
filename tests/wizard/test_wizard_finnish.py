"""Netvisor and Procountor set up through the same wizard as every accounting tool (issue 17), against their sandboxes
over real HTTP: the connection typed on the accounting step, the Finnish VAT codes and statuses offered from the live
list with the code of the same rate suggested, the journals step offering "sales invoices" or a ledger-entry type,
the chart offered for the accounts, the review's dry run, then a real run booking into the sandbox."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal as D

import pytest
from django.urls import reverse

from integration_hub.connectors.memory.connector import store
from integration_hub.connectors.types import TaxRate
from mappings.models import Flow, VatMapping
from mappings.services import flow_problems
from sandboxes.netvisor.app import start_sandbox as start_netvisor
from sandboxes.procountor.app import start_sandbox as start_procountor
from syncs.models import SyncDocument
from syncs.services import execute_run
from tenants.services import connection_create
from tests.support.books import add, invoice, line, make_books
from tests.wizard.test_wizard_xero import form_values

pytestmark = [pytest.mark.django_db]

FINNISH_RATES = [TaxRate("fi255", "ALV 25,5 %", D("25.5"), "sale"), TaxRate("fi14", "ALV 14 %", D("14"), "sale"),
                 TaxRate("fi0", "ALV 0 %", D("0"), "sale"), TaxRate("fp255", "ALV 25,5 % ostot", D("25.5"), "purchase")]
NETVISOR_KEYS = dict(sender="integration-hub", customer_id="wizard-customer", customer_key="wizard-customer-key",
                     partner_id="sandbox-partner", partner_key="sandbox-partner-key", organisation_id="1234567-1")


@pytest.fixture
def netvisor(settings):
    with start_netvisor(seed="demo", **NETVISOR_KEYS) as running:
        settings.HUB_NETVISOR_API_URL = running.url
        settings.HUB_NETVISOR_PARTNER_ID, settings.HUB_NETVISOR_PARTNER_KEY = "sandbox-partner", "sandbox-partner-key"
        settings.HUB_NETVISOR_SENDER = "integration-hub"
        yield running


@pytest.fixture
def procountor(settings):
    with start_procountor(client_id="wizard-client", client_secret="wizard-secret", api_key="wizard-key",
                          seed="demo", limits=False) as running:
        settings.HUB_PROCOUNTOR_API_URL = running.api_url
        settings.HUB_PROCOUNTOR_CLIENT_ID, settings.HUB_PROCOUNTOR_CLIENT_SECRET = "wizard-client", "wizard-secret"
        yield running


def step_url(flow: Flow, step: str) -> str:
    return reverse("wizard_step", args=[flow.tenant.slug, flow.pk, step])


def choices(html: str, name: str) -> list[str]:
    block = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    return [value for value in re.findall(r'<option value="([^"]*)"', block.group(1))] if block else []


def submit(client, flow: Flow, step: str, **typed) -> str:
    """Submit the step as a person would: what is suggested kept, an empty choice given the first one offered
    (or what the test types), then return where the wizard went."""
    page = client.get(step_url(flow, step)).content.decode()
    values = form_values(page, "configuration-form" if step == "configuration" else "step-form")
    for name, value in list(values.items()):
        offered = [choice for choice in choices(page, name) if choice]
        if value in ([""], []) and offered:
            values[name] = [offered[0]]
    values.update({name: value if isinstance(value, list) else [value] for name, value in typed.items()})
    answer = client.post(step_url(flow, step), values)
    assert answer.status_code == 302, (step, re.findall(r'class="error">([^<]+)<', answer.content.decode()))
    return answer["Location"]


def source_books(tenant, name: str):
    source, _ = make_books(name)
    source.tax_rates = FINNISH_RATES
    return connection_create(tenant=tenant, name="Laskutus", provider="memory", role="source", auth_kind="api_key",
                             credentials={"store": f"{name}-source", "api_key": "memory-key"})


def walk(client, flow: Flow, target_form: dict, expected_journal: str) -> str:
    """From the accounting step to the review; returns the review page."""
    answer = client.post(step_url(flow, "target"), {"action": "save", "auth_kind": "credentials", **target_form})
    assert answer.status_code == 302 and answer["Location"].endswith(step_url(flow, "sale_vat")), \
        re.findall(r'role="alert">([^<]+)', answer.content.decode())
    vat = client.get(step_url(flow, "sale_vat")).content.decode()
    assert "25.5 %" in vat or "25,5 %" in vat
    submit(client, flow, "sale_vat")
    submit(client, flow, "purchase_vat")
    submit(client, flow, "rounding_vat")
    journals = client.get(step_url(flow, "journals")).content.decode()
    assert expected_journal in journals and "invoice:sales" in journals
    submit(client, flow, "journals", journal_mode="by_kind", sales_journal_id="invoice:sales")
    submit(client, flow, "accounts")
    submit(client, flow, "discounts")
    submit(client, flow, "configuration")
    flow.refresh_from_db()
    assert flow_problems(flow) == [], flow_problems(flow)
    sales = {m.source_tax_id: m for m in VatMapping.objects.filter(flow=flow, kind="sale")}
    assert "25.5" in sales["fi255"].target_vat_code_id or "25.5" in sales["fi255"].target_vat_code_label, \
        vars(sales["fi255"])
    return client.get(step_url(flow, "review")).content.decode()


def start(client, tenant, name: str) -> Flow:
    client.get(reverse("wizard_start", args=[tenant.slug]) + "?new=1")
    flow = Flow.objects.filter(tenant=tenant).latest("pk")
    flow.source = source_books(tenant, name)
    flow.save()
    return flow


def test_netvisor_is_connected_mapped_and_activated_through_the_wizard_and_the_run_books_into_it(
        client, owner_a, tenant_a, netvisor):
    client.force_login(owner_a)
    flow = start(client, tenant_a, "wiz-netvisor")
    review = walk(client, flow, {"provider": "netvisor", "name": "Netvisor", "cred_customer_id": "wizard-customer",
                                 "cred_customer_key": "wizard-customer-key", "cred_organisation_id": "1234567-1"},
                  expected_journal="voucher:")
    assert "would sync" in review
    add(store("wiz-netvisor-source"), invoice("i1", number="2026-0001", date=dt.date.today(),
                                              lines=[line(rate="25.5", tax="fi255", amount="100.00")]))
    answer = client.post(reverse("wizard_activate", args=[tenant_a.slug, flow.pk]))
    assert answer.status_code == 302
    run = flow.runs.get()
    execute_run(run.pk)
    run.refresh_from_db()
    doc = SyncDocument.objects.get(flow=flow, source_id="i1")
    assert run.status == "succeeded" and doc.status == "synced", (run.message, doc.status)
    assert doc.target_status in ("pending", "accepted")
    assert doc.target_entry_id.startswith("salesinvoice:")


def test_procountor_is_connected_through_the_wizard_with_its_api_key_only(client, owner_a, tenant_a, procountor):
    client.force_login(owner_a)
    flow = start(client, tenant_a, "wiz-procountor")
    page = client.get(step_url(flow, "target") + "?provider=procountor").content.decode()
    assert 'name="cred_api_key"' in page and 'name="cred_client_secret"' not in page  # the operator's, never typed
    review = walk(client, flow, {"provider": "procountor", "name": "Procountor", "cred_api_key": "wizard-key",
                                 "cred_invoice_channel": "NO_SENDING"}, expected_journal="receipt:JOURNAL")
    assert "would sync" in review
    # a wrong API key is said on the step in words, never echoed
    refused = client.post(step_url(flow, "target"), {"action": "test", "auth_kind": "credentials", "mode": "change",
                                                      "provider": "procountor", "name": "Procountor",
                                                      "cred_api_key": "not-the-key",
                                                      "cred_invoice_channel": "NO_SENDING"})
    text = refused.content.decode()
    assert "not-the-key" not in text and ("failed" in text or "refused" in text), text[-1500:]
