"""The invoices sync into Xero end to end: a live Tryton invoicing company -> the hub -> the Xero sandbox.

The sandbox runs in this process (a thread) and enforces Xero's limits on a clock running faster; the hub's
budget is told the same speed. What Xero holds afterwards is read back over its API."""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from decimal import Decimal as D

import pytest
import requests

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow
from mappings.services import vat_mapping_set
from syncs import catalogue
from syncs.entries import reference_for
from syncs.models import RunStatus, SyncDocument, SyncError, SyncRun
from integration_hub.connectors.xero.mapper import reference_of
from sandboxes.xero.app import start_sandbox
from sandboxes.xero.seed import tenant_id
from tenants.services import connection_connector, connection_create
from tests.support.tryton import connector, credentials
from tests.syncs.test_killed_at_random_tryton import (  # noqa: F401 - fixtures and helpers shared with Tryton's test
    BATCH,
    file_name,
    invoices_with_pdfs,
    kill_at_random,
    start,
)

pytestmark = pytest.mark.tryton
ORGANISATION = "Demo Company (Global)"
SPEED = 20.0  # a Xero minute lasts 3 s here


@pytest.fixture
def xero(settings):
    with start_sandbox(seed="demo", speed=SPEED) as running:
        settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = running.url
        settings.HUB_XERO_CLOCK_SPEED = SPEED
        add_french_rates(running)
        yield running


def add_french_rates(sandbox) -> None:
    """The rates a French invoicing company uses that a UK organisation lacks, created as an accountant would."""
    headers = {"Authorization": f"Bearer {sandbox.custom_token()}", "xero-tenant-id": tenant_id(ORGANISATION)}
    for rate in (10, 5.5):
        for report, side in (("OUTPUT", "Income"), ("INPUT", "Expenses")):
            answer = requests.put(f"{sandbox.api_url}/TaxRates", headers=headers, timeout=10, json={"TaxRates": [{
                "Name": f"{rate}% (VAT on {side}, FR)", "ReportTaxType": report,
                "TaxComponents": [{"Name": "VAT", "Rate": rate}]}]})
            answer.raise_for_status()


def xero_env(sandbox) -> dict:
    """What a worker process needs to reach the same sandbox, at the same speed."""
    return {"HUB_XERO_LOGIN_URL": sandbox.url, "HUB_XERO_IDENTITY_URL": sandbox.url, "HUB_XERO_API_URL": sandbox.url,
            "HUB_XERO_CLOCK_SPEED": str(SPEED), "DJANGO_SETTINGS_MODULE": "tests.settings"}


def xero_connection(tenant, sandbox):
    token = sandbox.connect([tenant_id(ORGANISATION)])
    return connection_create(tenant=tenant, name="Xero", provider="xero", role="target", auth_kind="oauth2",
                             credentials={"access_token": token["access_token"],
                                          "refresh_token": token["refresh_token"], "token_type": "Bearer",
                                          "expires_at": dt.datetime.now().timestamp() + 1700,
                                          "tenant_id": tenant_id(ORGANISATION)})


def make_flow(tenant, peer, source_db: str, target, *, name: str, scope: str = "all", post: bool = True) -> Flow:
    source = connection_create(tenant=tenant, name=f"Tryton {name}", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(peer, source_db))
    flow = Flow.objects.create(tenant=tenant, name=name, source=source, target=target, scope=scope,
                               start_date=dt.date(2026, 1, 1), create_as_draft=not post)
    src, tgt = connector(peer, source_db), connection_connector(connection=target)
    missing = flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    assert not [m for m in missing if "VAT" not in m and "discount" not in m], missing
    return flow


def xero_documents(sandbox) -> list[dict]:
    """Every invoice and credit note of the organisation, read back over the API."""
    token = sandbox.custom_token()
    headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant_id(ORGANISATION), "Accept": "application/json"}
    rows = []
    for endpoint in ("Invoices", "CreditNotes"):
        page = 1
        while True:
            answer = requests.get(f"{sandbox.api_url}/{endpoint}", params={"page": page}, headers=headers, timeout=10)
            answer.raise_for_status()
            found = answer.json()[endpoint]
            rows += [{**row, "endpoint": endpoint} for row in found]
            if len(found) < 100:
                break
            page += 1
    return [row for row in rows if reference_of(row)]


def by_reference(rows: list[dict]) -> dict[str, list[dict]]:
    """Documents by the hub reference they carry (Reference for sales, the number for bills: Xero's rule)."""
    found: dict[str, list[dict]] = {}
    for row in rows:
        found.setdefault(reference_of(row), []).append(row)
    return found


def run_flow(flow) -> SyncRun:
    from syncs.services import execute_run, run_request

    run, created = run_request(flow=flow, enqueue=False)
    assert created
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_every_invoice_is_booked_once_in_xero_with_the_source_total_and_refusals_are_catalogued(
        tenant_a, tryton_peer, tryton_invoicing_db, xero):
    source_db, seeded = tryton_invoicing_db
    flow = make_flow(tenant_a, tryton_peer, source_db, xero_connection(tenant_a, xero), name="Tryton to Xero")
    # One purchase rate mapped to a sales tax type by mistake: Xero refuses those bills, in its own words.
    purchases = [m for m in flow.vat_mappings.filter(kind="purchase") if m.source_rate == D("20")]
    assert purchases
    for purchase in purchases:
        vat_mapping_set(flow=flow, kind="purchase", source_tax_id=purchase.source_tax_id,
                        source_rate=purchase.source_rate, source_label=purchase.source_label,
                        target_vat_code_id="OUTPUT2", target_vat_code_label="OUTPUT2")
    run = run_flow(flow)
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
    documents = by_reference(xero_documents(xero))
    assert all(len(rows) == 1 for rows in documents.values()), {r: len(v) for r, v in documents.items() if len(v) > 1}
    synced = SyncDocument.objects.filter(flow=flow, status="synced")
    assert synced.count() >= 10, Counter(SyncError.objects.filter(flow=flow).values_list("code", "message"))
    for doc in synced:
        (row,) = documents[doc.reference]
        invoice = next(i for i in seeded["invoices"] if reference_for(flow.pk, str(i["id"])) == doc.reference)
        assert D(str(row["Total"])) == abs(D(str(invoice["total_amount"]))), (doc.source_number, row["Total"])
        assert row["Status"] == "AUTHORISED"
        assert row["endpoint"] == ("CreditNotes" if invoice["credit_note"] else "Invoices")
        assert doc.target_entry_id.removeprefix("CN:") == row.get("InvoiceID", row.get("CreditNoteID"))
    refused = SyncError.objects.filter(flow=flow, code=catalogue.TARGET_TAX_REFUSED)
    assert refused.exists() and all("OUTPUT2" in e.provider_message for e in refused), Counter(
        SyncError.objects.filter(flow=flow).values_list("code", "message", "provider_message"))
    assert set(SyncError.objects.filter(flow=flow).values_list("code", flat=True)) <= {
        catalogue.TARGET_TAX_REFUSED, catalogue.MAPPING_TAX_RATE_NOT_FOUND}
    # A second run books nothing again: only the refused documents are tried once more (one batch call per
    # endpoint at most), and Xero holds exactly what it held.
    again = run_flow(flow)
    writes = [c for c in again.call_log if c["method"] in ("PUT", "POST") and "/api.xro/" in c["path"]]
    assert len(writes) <= 2 and all("summarizeErrors=false" in c["path"] for c in writes), writes
    assert by_reference(xero_documents(xero)).keys() == documents.keys()
    assert SyncDocument.objects.filter(flow=flow, status="synced").count() == synced.count()


@pytest.mark.django_db(transaction=True)
def test_three_workers_booking_into_one_organisation_stay_within_its_limits_and_no_document_fails(
        tenant_a, tryton_peer, tryton_invoicing_db, invoices_with_pdfs, xero, tmp_path):
    target = xero_connection(tenant_a, xero)
    inv_db, seeded = tryton_invoicing_db
    pdf_db, pdf_invoices = invoices_with_pdfs
    flows = [make_flow(tenant_a, tryton_peer, inv_db, target, name="Sales", scope="sales"),
             make_flow(tenant_a, tryton_peer, inv_db, target, name="Purchases", scope="purchases"),
             make_flow(tenant_a, tryton_peer, pdf_db, target, name="With files")]
    processes = [start(["sync", str(flow.pk)], tmp_path / f"sync-{flow.pk}.log", **xero_env(xero)) for flow in flows]
    for process, flow in zip(processes, flows):
        assert process.wait(timeout=300) == 0, (tmp_path / f"sync-{flow.pk}.log").read_text()[-3000:]
    stats = xero.limiter.stats()[tenant_id(ORGANISATION)]
    print("sandbox counts:", stats)
    assert stats["refused"] == 0, stats  # the hub never made Xero refuse a call
    assert stats["peak_minute"] <= 60 and stats["peak_concurrent"] <= 5, stats
    for flow in flows:
        run = SyncRun.objects.filter(flow=flow).latest("pk")
        assert run.status == RunStatus.SUCCEEDED or not SyncError.objects.filter(
            flow=flow).exclude(code=catalogue.MAPPING_TAX_RATE_NOT_FOUND).exists(), (run.status, run.message, list(
                SyncError.objects.filter(flow=flow).values_list("code", "message", "provider_message")))
    documents = by_reference(xero_documents(xero))
    assert all(len(rows) == 1 for rows in documents.values())
    expected = SyncDocument.objects.filter(flow__in=flows, status="synced").count()
    assert len(documents) == expected and expected >= len(pdf_invoices)


@pytest.mark.django_db(transaction=True)
def test_the_sync_command_killed_at_random_moments_leaves_one_xero_document_per_invoice_with_its_file(
        tenant_a, tryton_peer, invoices_with_pdfs, xero, tmp_path):
    source_db, invoices = invoices_with_pdfs
    flow = make_flow(tenant_a, tryton_peer, source_db, xero_connection(tenant_a, xero), name="Killed")
    flow.sync_without_attachment = False
    flow.save(update_fields=["sync_without_attachment"])
    rng = random.Random(15)
    log = tmp_path / "sync.log"
    env = {**xero_env(xero), "HUB_SYNC_BATCH_SIZE": str(BATCH)}
    killed_at = [kill_at_random(start(["sync", str(flow.pk)], log, **env), flow, rng, len(invoices)) for _ in range(4)]
    print("kills (batches let through, then s, what happened, documents synced):", killed_at)
    last = start(["sync", str(flow.pk)], log, **env)
    assert last.wait(timeout=180) == 0, log.read_text()[-3000:]
    assert [k for k in killed_at if k[2] == "killed"], killed_at
    final = SyncRun.objects.filter(flow=flow).latest("pk")
    assert final.status == RunStatus.SUCCEEDED, final.message
    documents = by_reference(xero_documents(xero))
    expected = {reference_for(flow.pk, str(i["id"])): i for i in invoices}
    assert set(documents) == set(expected), (sorted(set(expected) - set(documents)), sorted(set(documents) - set(expected)))
    duplicated = {ref: len(rows) for ref, rows in documents.items() if len(rows) > 1}
    assert not duplicated, duplicated
    token = xero.custom_token()
    headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant_id(ORGANISATION), "Accept": "application/json"}
    files = Counter()
    for ref, (row,) in documents.items():
        key = "InvoiceID" if row["endpoint"] == "Invoices" else "CreditNoteID"
        listed = requests.get(f"{xero.api_url}/{row['endpoint']}/{row[key]}/Attachments", headers=headers, timeout=10)
        names = [a["FileName"] for a in listed.json().get("Attachments", [])]
        assert names == [file_name(expected[ref])], (ref, names)
        files[ref] += 1
        assert row["Status"] == "AUTHORISED", (ref, row["Status"])
    recorded = {d.reference: d for d in SyncDocument.objects.filter(flow=flow)}
    assert all(d.status == "synced" for d in recorded.values())
    assert not SyncError.objects.filter(flow=flow, status="open").exists()
