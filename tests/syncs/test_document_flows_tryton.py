"""Document flows (issue 16) end to end: the ERP company in a live Tryton -> the hub -> the Xero sandbox.

What Xero holds afterwards is read back over its API (behind Xero's OpenAPI description), and what the ERP
shows is read back from Tryton."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal as D

import pytest
import requests

from integration_hub.connectors.erp_types import ErpKind
from integration_hub.connectors.tryton.erp import TrytonErp
from mappings.models import Flow, FlowKind
from mappings.services import vat_mapping_set
from sandboxes.xero.seed import tenant_id
from syncs import catalogue
from syncs.models import PartnerLink, ProductLink, RunStatus, SyncDocument, SyncError
from syncs.services import execute_run, run_request
from tenants.services import connection_create
from tests.support.tryton import credentials, unique_db
from tests.support.xero import checked_sandbox

pytestmark = pytest.mark.tryton
ORGANISATION = "Demo Company (Global)"
SPEED = 30.0
TODAY = dt.date.today()


@pytest.fixture(scope="module")
def erp_company(tryton_peer):
    name = tryton_peer.create_database(unique_db("erpflow"), kind="erp", company_name="Usine Flux SAS")
    seeded = tryton_peer.run_setup(
        name, "seed_erp", customers=4, suppliers=2, products=5, quotes=2, orders=3, invoiced_orders=2,
        purchase_orders=2, billed_purchases=1, seed=9,
        start_date=(TODAY - dt.timedelta(days=40)).isoformat(), end_date=(TODAY - dt.timedelta(days=3)).isoformat())
    yield name, seeded
    tryton_peer.drop_database(name)


@pytest.fixture
def xero(settings):
    with checked_sandbox(settings, speed=SPEED) as running:
        yield running


def document_flow(tenant, peer, database: str, sandbox, **overrides) -> Flow:
    source = connection_create(tenant=tenant, name="Tryton ERP", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(peer, database))
    token = sandbox.connect([tenant_id(ORGANISATION)])
    target = connection_create(tenant=tenant, name="Xero", provider="xero", role="target", auth_kind="oauth2",
                               credentials={"access_token": token["access_token"],
                                            "refresh_token": token["refresh_token"],
                                            "expires_at": dt.datetime.now().timestamp() + 1700,
                                            "tenant_id": tenant_id(ORGANISATION)})
    values = dict(tenant=tenant, name="ERP to Xero", kind=FlowKind.DOCUMENTS, source=source, target=target,
                  default_sales_account="200", default_purchase_account="310", create_contacts=True, create_items=True)
    values.update(overrides)
    flow = Flow.objects.create(**values)
    erp = TrytonErp(credentials(peer, database))
    for product in erp.list_products():
        for side, taxes in (("sale", product.sale_taxes), ("purchase", product.purchase_taxes)):
            for tax in taxes:
                code = {("sale", D("20")): "OUTPUT2", ("purchase", D("20")): "INPUT2", ("sale", D("5.5")): "RROUTPUT",
                        ("purchase", D("5.5")): "RRINPUT", ("sale", D("10")): "RROUTPUT",
                        ("purchase", D("10")): "RRINPUT"}.get((side, tax.rate), "NONE" if not tax.rate else "")
                if code:
                    vat_mapping_set(flow=flow, kind=side, source_tax_id=tax.id, source_rate=tax.rate,
                                    target_vat_code_id=code)
    erp.close()
    # Any other 0 % tax (exports, intra-EU supplies) by its rate: zero-rated in Xero.
    vat_mapping_set(flow=flow, kind="sale", source_tax_id="rate-0", source_rate=D("0"),
                    target_vat_code_id="ZERORATEDOUTPUT")
    vat_mapping_set(flow=flow, kind="purchase", source_tax_id="rate-0", source_rate=D("0"),
                    target_vat_code_id="ZERORATEDINPUT")
    return flow


def run(flow):
    run_obj, created = run_request(flow=flow, enqueue=False)
    assert created
    execute_run(run_obj.pk)
    run_obj.refresh_from_db()
    flow.refresh_from_db()
    return run_obj


def xero_get(sandbox, resource: str) -> dict:
    headers = {"Authorization": f"Bearer {sandbox.custom_token()}", "xero-tenant-id": tenant_id(ORGANISATION),
               "Accept": "application/json"}
    answer = requests.get(f"{sandbox.api_url}/{resource}", headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()


def test_every_switched_on_object_type_reaches_xero_once_with_numbers_written_back_both_ways(
        tenant_a, tryton_peer, erp_company, xero):
    database, seeded = erp_company
    flow = document_flow(tenant_a, tryton_peer, database, xero)
    first = run(flow)
    errors = list(SyncError.objects.filter(flow=flow).values_list("code", "message", "provider_message"))
    assert first.status == RunStatus.SUCCEEDED, (first.message, errors)
    kinds = Counter(SyncDocument.objects.filter(flow=flow, status="synced").values_list("kind", flat=True))
    assert kinds["quote"] >= 1 and kinds["purchase_order"] >= 1 and kinds["bill"] >= 1 and kinds["invoice"] >= 1, kinds
    assert PartnerLink.objects.filter(source=flow.source).count() >= 3
    assert ProductLink.objects.filter(source=flow.source).exists()
    # Each document once in Xero, the ERP's number on a description line, Xero's number back in the ERP.
    erp = TrytonErp(credentials(tryton_peer, database))
    try:
        for doc in SyncDocument.objects.filter(flow=flow, status="synced").exclude(kind="product"):
            endpoint, id_field = {"quote": ("Quotes", "QuoteID"), "sales_order": ("Invoices", "InvoiceID"),
                                  "invoice": ("Invoices", "InvoiceID"), "purchase_order": ("PurchaseOrders",
                                                                                          "PurchaseOrderID"),
                                  "bill": ("Invoices", "InvoiceID")}[doc.kind]
            (row,) = xero_get(xero, f"{endpoint}/{doc.target_entry_id}")[endpoint]
            # the ERP's number as a description line: an order's invoice shows its order's (as the draft did)
            numbers = {doc.source_number} | set(SyncDocument.objects.filter(
                flow=flow, kind="sales_order", target_entry_id=doc.target_entry_id).values_list("source_number", flat=True))
            texts = [line.get("Description") or "" for line in row["LineItems"]]
            assert any(number in text for number in numbers for text in texts), (numbers, texts)
            kind, erp_id = doc.source_id.split(":", 1)
            written = erp.written_back(kind, erp_id)
            assert any(doc.target_number in text for text in written), (doc.source_number, written)
            if doc.kind == "invoice":
                assert row["Status"] == "AUTHORISED"
    finally:
        erp.close()
    invoices = [d for d in SyncDocument.objects.filter(flow=flow, kind="invoice")]
    orders = {d.source_id.split(":")[1]: d for d in SyncDocument.objects.filter(flow=flow, kind="sales_order")}
    for invoice in invoices:  # an order's invoice is its draft, authorised: one Xero document, not two
        origin = next(i for i in seeded["invoiced_orders"] if i["invoice_number"] == invoice.source_number) \
            if "invoiced_orders" in seeded and isinstance(seeded["invoiced_orders"], list) else None
        if origin and str(origin.get("sale_id")) in orders:
            assert orders[str(origin["sale_id"])].target_entry_id == invoice.target_entry_id
    # A second run sends nothing: unchanged documents are skipped.
    again = run(flow)
    writes = [c for c in again.call_log if c["method"] in ("PUT", "POST") and "/api.xro/" in c["path"]]
    assert again.status == RunStatus.SUCCEEDED and writes == [], writes


def test_switched_off_types_are_not_sent_and_an_unlinked_customer_is_reported(tenant_a, tryton_peer, erp_company,
                                                                                xero):
    database, _ = erp_company
    flow = document_flow(tenant_a, tryton_peer, database, xero, object_types=["customers", "quote"],
                         create_contacts=False)
    result = run(flow)
    kinds = set(SyncDocument.objects.filter(flow=flow).values_list("kind", flat=True))
    assert kinds <= {"quote"}, kinds
    unlinked = SyncError.objects.filter(flow=flow, code=catalogue.DOC_CONTACT_NOT_LINKED)
    linked = PartnerLink.objects.filter(source=flow.source).count()
    assert result.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
    assert unlinked.exists() or linked, "quotes are either sent to matched contacts or reported as unlinked"


@pytest.mark.django_db(transaction=True)
def test_a_quote_made_in_the_erp_while_a_run_follows_reaches_xero_in_that_same_run(
        tenant_a, tryton_peer, erp_company, xero, settings):
    import threading
    import time

    database, seeded = erp_company
    settings.HUB_DOCUMENT_FOLLOW_SECONDS, settings.HUB_DOCUMENT_POLL_SECONDS = 60, 0.5
    flow = document_flow(tenant_a, tryton_peer, database, xero, object_types=["customers", "products", "quote"],
                         enabled=True)  # a run follows an active flow only
    run_obj, created = run_request(flow=flow, enqueue=False)
    assert created
    def work():
        from django.db import connections

        try:
            execute_run(run_obj.pk)
        finally:
            connections.close_all()  # this thread's own connection, so the test database can be dropped

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while not SyncDocument.objects.filter(flow=flow, kind="quote", status="synced").exists():
        assert time.monotonic() < deadline, "the first pass sent no quote"
        time.sleep(0.2)
    customer = seeded["customers"][0]["id"]
    product = next(p["code"] for p in seeded["products"] if p.get("salable", True))
    made = tryton_peer.run_setup(database, "erp_add_sale", customer=customer, lines=[{"product": product, "quantity": 2}],
                                 state="quotation")
    while not SyncDocument.objects.filter(flow=flow, source_id=f"quote:{made['id']}", status="synced").exists():
        assert time.monotonic() < deadline, "the new quote did not reach Xero while the run followed the ERP"
        time.sleep(0.2)
    Flow.objects.filter(pk=flow.pk).update(enabled=False)  # the following run ends at its next poll
    worker.join(timeout=30)
    assert not worker.is_alive()
    doc = SyncDocument.objects.get(flow=flow, source_id=f"quote:{made['id']}")
    assert doc.last_run_id == run_obj.pk  # the same run, not a later one
    (row,) = xero_get(xero, f"Quotes/{doc.target_entry_id}")["Quotes"]
    assert row["QuoteNumber"] == doc.target_number
