"""Invoice flows into the Xero sandbox from an in-memory invoicing tool: drafts kept up to date, documents Xero has
locked reported, and a spent daily call budget pausing the run until the reset."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
import requests
from django_q.models import Schedule

from integration_hub.connectors.memory import connector as memory
from mappings.models import Flow
from mappings.services import vat_mapping_set
from sandboxes.xero.app import start_sandbox
from sandboxes.xero.seed import tenant_id
from syncs import catalogue
from syncs.models import RunStatus, SyncDocument, SyncError
from tenants.services import connection_create
from tests.support.books import add, invoice, line, seed_source
from tests.support.xero import checked_sandbox

ORGANISATION = "Demo Company (Global)"
SPEED = 20.0


def start(**limits):
    return start_sandbox(seed="demo", speed=SPEED, **limits)


@pytest.fixture
def xero(settings):
    """The sandbox behind Xero's OpenAPI description: whatever the hub sends must be what Xero describes."""
    with checked_sandbox(settings, speed=SPEED) as running:
        yield running


def point_at(settings, running) -> None:
    settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = running.url
    settings.HUB_XERO_CLOCK_SPEED = SPEED


def xero_flow(tenant, sandbox, name: str, **overrides) -> tuple[memory.Store, Flow]:
    store = memory.reset(f"{name}-source")
    seed_source(store)
    source = connection_create(tenant=tenant, name=f"{name} invoicing", provider="memory", role="source",
                               auth_kind="api_key", credentials={"store": f"{name}-source", "api_key": "memory-key"})
    token = sandbox.connect([tenant_id(ORGANISATION)])
    target = connection_create(tenant=tenant, name=f"{name} Xero", provider="xero", role="target", auth_kind="oauth2",
                               credentials={"access_token": token["access_token"],
                                            "refresh_token": token["refresh_token"],
                                            "expires_at": dt.datetime.now().timestamp() + 1700,
                                            "tenant_id": tenant_id(ORGANISATION)})
    values = dict(tenant=tenant, name=name, source=source, target=target, start_date=dt.date(2026, 1, 1),
                  default_sales_account="200", default_purchase_account="429", credit_rounding_account="460",
                  debit_rounding_account="460", sales_rounding_vat_code_id="NONE", purchase_rounding_vat_code_id="NONE")
    values.update(overrides)
    flow = Flow.objects.create(**values)
    vat_mapping_set(flow=flow, kind="sale", source_tax_id="t20", source_rate=D("20"), target_vat_code_id="OUTPUT2")
    vat_mapping_set(flow=flow, kind="purchase", source_tax_id="p20", source_rate=D("20"), target_vat_code_id="INPUT2")
    return store, flow


def read(sandbox, endpoint: str, document_id: str) -> dict:
    headers = {"Authorization": f"Bearer {sandbox.custom_token()}", "xero-tenant-id": tenant_id(ORGANISATION),
               "Accept": "application/json"}
    answer = requests.get(f"{sandbox.api_url}/{endpoint}/{document_id}", headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()[endpoint][0]


def test_a_draft_in_xero_is_updated_in_place_when_the_invoice_changes(tenant_a, xero, sync):
    store, flow = xero_flow(tenant_a, xero, "drafts", create_as_draft=True)
    add(store, invoice("d1", lines=[line(amount="100.00")], version="1"))
    first = sync(flow)
    assert first.status == RunStatus.SUCCEEDED, first.message
    doc = SyncDocument.objects.get(flow=flow)
    created = read(xero, "Invoices", doc.target_entry_id)
    assert created["Status"] == "DRAFT" and created["Total"] == 120.0 and created["HasAttachments"] is True
    add(store, invoice("d1", lines=[line(amount="250.00")], version="2"))
    second = sync(flow)
    assert second.status == RunStatus.SUCCEEDED, second.message
    doc.refresh_from_db()
    updated = read(xero, "Invoices", doc.target_entry_id)
    assert updated["InvoiceID"] == created["InvoiceID"] and updated["Total"] == 300.0
    assert updated["Reference"] == "F-d1 [hub %s]" % doc.reference


def test_an_authorised_invoice_with_a_payment_that_changes_is_reported_never_booked_twice(tenant_a, xero, sync):
    store, flow = xero_flow(tenant_a, xero, "locked")
    add(store, invoice("p1", lines=[line(amount="100.00")], version="1"))
    assert sync(flow).status == RunStatus.SUCCEEDED
    doc = SyncDocument.objects.get(flow=flow)
    headers = {"Authorization": f"Bearer {xero.custom_token()}", "xero-tenant-id": tenant_id(ORGANISATION)}
    paid = requests.put(f"{xero.api_url}/Payments", headers=headers, timeout=10, json={"Payments": [{
        "Invoice": {"InvoiceID": doc.target_entry_id}, "Account": {"Code": "090"}, "Date": "2026-03-20",
        "Amount": 60.0}]})
    assert paid.status_code == 200, paid.text
    add(store, invoice("p1", lines=[line(amount="90.00")], version="2"))
    again = sync(flow)
    assert again.status == RunStatus.PARTIAL
    (error,) = SyncError.objects.filter(flow=flow)
    assert error.code == catalogue.POSTED_ENTRY_CHANGED
    assert read(xero, "Invoices", doc.target_entry_id)["Total"] == 120.0
    listed = requests.get(f"{xero.api_url}/Invoices", headers={**headers, "Accept": "application/json"}, timeout=10,
                          params={"where": f'Reference.EndsWith("[hub {doc.reference}]")'}).json()["Invoices"]
    assert len(listed) == 1


def test_when_the_days_calls_are_spent_the_run_pauses_until_the_reset_and_says_so(tenant_a, settings, sync,
                                                                                   owner_a, client):
    with start(per_day=6) as running:
        point_at(settings, running)
        store, flow = xero_flow(tenant_a, running, "daily")
        add(store, *[invoice(f"b{i}", lines=[line(amount="10.00")]) for i in range(3)])
        run = sync(flow)
    assert run.status == RunStatus.PAUSED, (run.status, run.message)
    assert run.resume_at is not None and run.resume_at > run.finished_at
    assert "resumes at" in run.message and "Nothing failed" in run.message
    assert not SyncError.objects.filter(flow=flow).exists()  # a 429 never becomes a document error
    assert Schedule.objects.filter(func="syncs.tasks.scheduled_run", args__startswith=f"{flow.pk},").exists()
    client.force_login(owner_a)
    page = client.get(f"/t/{tenant_a.slug}/runs/{run.pk}/")
    assert page.status_code == 200 and b"run-resume-at" in page.content and b"Paused" in page.content
