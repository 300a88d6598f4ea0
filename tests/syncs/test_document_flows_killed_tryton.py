"""Document flows exactly once (issue 16), even when the worker dies: `manage.py sync` is SIGKILLed at random
moments while it sends an ERP company (a live Tryton) into the Xero sandbox, then a last run finishes. And a
document whose answer Xero sent but the hub never received is bound on the next run, not sent twice.

The sandbox runs in this process (a thread, behind the spec checker); the sync command runs in subprocesses on the
test database. What Xero holds is read back over its API, what the ERP shows from Tryton."""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest
import requests

from integration_hub.connectors.erp_types import ErpKind
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.tryton.erp import TrytonErp
from integration_hub.connectors.xero.mapper import HUB_TAG, reference_of
from sandboxes.xero.seed import tenant_id
from syncs.documents import XERO_WORDS, xero_tag
from syncs.models import ErrorStatus, RunStatus, SyncDocument, SyncError, SyncRun
from tests.support.tryton import credentials, unique_db
from tests.support.xero import checked_sandbox
from tests.syncs.test_document_flows_tryton import ORGANISATION, document_flow, run
from tests.syncs.test_killed_at_random_tryton import kill_at_random, start

pytestmark = pytest.mark.tryton
SPEED = 30.0  # a Xero minute lasts 2 s here
BATCH = 2  # ERP documents per batch (HUB_SYNC_BATCH_SIZE): many batches, many moments to die in
KILLS = 5
TODAY = dt.date.today()
# Xero's endpoint and fields for each ERP document type (a sales order and its invoice are one Xero invoice).
XERO = {ErpKind.QUOTE: ("Quotes", "QuoteID", "QuoteNumber"), ErpKind.SALES_ORDER: ("Invoices", "InvoiceID",
                                                                                  "InvoiceNumber"),
        ErpKind.INVOICE: ("Invoices", "InvoiceID", "InvoiceNumber"),
        ErpKind.PURCHASE_ORDER: ("PurchaseOrders", "PurchaseOrderID", "PurchaseOrderNumber"),
        ErpKind.BILL: ("Invoices", "InvoiceID", "InvoiceNumber")}


@pytest.fixture(scope="module")
def busy_erp(tryton_peer):
    """An ERP company with several batches of every document type."""
    name = tryton_peer.create_database(unique_db("erpkill"), kind="erp", company_name="Usine Coupée SAS")
    tryton_peer.run_setup(
        name, "seed_erp", customers=4, suppliers=3, products=6, quotes=5, orders=6, invoiced_orders=3,
        purchase_orders=5, billed_purchases=3, seed=16,
        start_date=(TODAY - dt.timedelta(days=40)).isoformat(), end_date=(TODAY - dt.timedelta(days=3)).isoformat())
    yield name
    tryton_peer.drop_database(name)


@pytest.fixture
def xero(settings):
    with checked_sandbox(settings, speed=SPEED) as running:
        yield running


def xero_env(sandbox) -> dict:
    """What a sync process needs to reach the same sandbox at the same speed, in small batches."""
    return {"HUB_XERO_LOGIN_URL": sandbox.url, "HUB_XERO_IDENTITY_URL": sandbox.url, "HUB_XERO_API_URL": sandbox.url,
            "HUB_XERO_CLOCK_SPEED": str(SPEED), "DJANGO_SETTINGS_MODULE": "tests.settings",
            "HUB_SYNC_BATCH_SIZE": str(BATCH)}


def erp_documents(peer, database: str) -> list:
    erp = TrytonErp(credentials(peer, database))
    try:
        return [document for kind in ErpKind for document in erp.list_documents(kind)]
    finally:
        erp.close()


def written_back(peer, database: str, documents) -> dict[str, list[str]]:
    """The write-back lines of each ERP document (what a Tryton user sees), by the document's key."""
    erp = TrytonErp(credentials(peer, database))
    try:
        return {d.key: erp.written_back(d.kind, d.id) for d in documents}
    finally:
        erp.close()


def xero_by_tag(sandbox, flow) -> dict[tuple[str, str], list[dict]]:
    """Every Xero document this flow tagged, read back page by page: (endpoint, hub reference) -> rows."""
    headers = {"Authorization": f"Bearer {sandbox.custom_token()}", "xero-tenant-id": tenant_id(ORGANISATION),
               "Accept": "application/json"}
    found: dict[tuple[str, str], list[dict]] = {}
    for endpoint in ("Quotes", "Invoices", "PurchaseOrders"):
        page = 1
        while True:
            answer = requests.get(f"{sandbox.api_url}/{endpoint}", params={"page": page}, headers=headers, timeout=10)
            answer.raise_for_status()
            rows = answer.json()[endpoint]
            for row in rows:
                reference = reference_of(row)
                if reference.startswith(f"{flow.pk}-"):
                    found.setdefault((endpoint, reference), []).append(row)
            if len(rows) < 100:
                break
            page += 1
    return found


def xero_number(kind: ErpKind, row: dict) -> str:
    """The number the hub writes back: a bill's is its InvoiceNumber without the hub tag (the supplier's)."""
    number = str(row.get(XERO[kind][2]) or "")
    return HUB_TAG.sub("", number).strip() if kind is ErpKind.BILL else number


def assert_exactly_once(sandbox, flow, documents, before: dict[str, list[str]], after: dict[str, list[str]]) -> None:
    """Xero holds one document per ERP document and type (an order and its invoice: one), the hub's bindings name
    that document, no error is open, and each ERP document shows that Xero number once."""
    held = xero_by_tag(sandbox, flow)
    twice = {tag: [r.get("Status") for r in rows] for tag, rows in held.items() if len(rows) > 1}
    assert not twice, f"sent more than once: {twice}"
    expected = {(XERO[d.kind][0], xero_tag(flow, d)) for d in documents}
    assert set(held) == expected, (sorted(expected - set(held)), sorted(set(held) - expected))
    bindings = {b.source_id: b for b in SyncDocument.objects.filter(flow=flow).exclude(kind="product")}
    assert set(bindings) == {d.key for d in documents}
    disagree, backs = {}, {}
    for document in documents:
        (row,) = held[(XERO[document.kind][0], xero_tag(flow, document))]
        binding = bindings[document.key]
        number = xero_number(document.kind, row)
        if (binding.status, binding.target_entry_id, binding.target_number) != ("synced", row[XERO[document.kind][1]],
                                                                              number):
            disagree[document.number] = (binding.status, binding.target_entry_id, binding.target_number, number)
        # The line once, nothing else added (an earlier test of this ERP company may have written the same
        # number, a fresh sandbox counting from 1 again: the ERP side never adds a line twice).
        line, lines = f"Xero {XERO_WORDS[document.kind]} {number}", after[document.key]
        gained = lines[len(before[document.key]):]
        if lines[:len(before[document.key])] != before[document.key] or set(gained) - {line} or lines.count(line) != 1:
            backs[f"{document.kind.value} {document.number}"] = (number, gained)
        if document.kind is ErpKind.INVOICE:
            assert row["Status"] == "AUTHORISED", (document.number, row["Status"])
    assert not disagree, f"the hub and Xero disagree (status, id, number; Xero's number): {disagree}"
    assert not backs, f"Xero's number not written back exactly once (Xero's number, lines added): {backs}"
    opened = list(SyncError.objects.filter(flow=flow, status=ErrorStatus.OPEN).values_list("code", "message"))
    assert not opened, opened


def sent(flow) -> int:
    return SyncDocument.objects.filter(flow=flow, status="synced").exclude(kind="product").count()


@pytest.mark.django_db(transaction=True)
def test_the_sync_command_killed_at_random_moments_leaves_one_xero_document_per_erp_document_and_type(
        tenant_a, tryton_peer, busy_erp, xero, tmp_path):
    documents = erp_documents(tryton_peer, busy_erp)
    kinds = Counter(d.kind for d in documents)
    assert all(kinds[kind] >= BATCH for kind in ErpKind), kinds  # several batches of every type
    before = written_back(tryton_peer, busy_erp, documents)
    flow = document_flow(tenant_a, tryton_peer, busy_erp, xero)
    rng = random.Random(16)
    log = tmp_path / "sync.log"
    env = xero_env(xero)
    killed_at = [kill_at_random(start(["sync", str(flow.pk)], log, **env), flow, rng, len(documents),
                                batch=BATCH, done=sent)
                 for _ in range(KILLS)]
    print("kills (batches let through, then s, what happened, documents sent):", killed_at)
    last = start(["sync", str(flow.pk)], log, **env)
    assert last.wait(timeout=120) == 0, log.read_text()[-3000:]
    assert [k for k in killed_at if k[2] == "killed"], killed_at  # the kills did happen
    final = SyncRun.objects.filter(flow=flow).latest("pk")
    assert final.status == RunStatus.SUCCEEDED, (final.message, killed_at)
    assert_exactly_once(xero, flow, documents, before, written_back(tryton_peer, busy_erp, documents))


@pytest.mark.django_db(transaction=True)
def test_a_document_whose_answer_was_lost_is_bound_on_the_next_run_not_sent_twice(
        tenant_a, tryton_peer, busy_erp, xero, monkeypatch):
    documents = [d for d in erp_documents(tryton_peer, busy_erp) if d.kind is ErpKind.QUOTE]
    before = written_back(tryton_peer, busy_erp, documents)
    flow = document_flow(tenant_a, tryton_peer, busy_erp, xero, object_types=["customers", "products", "quote"])
    monkeypatch.setattr(HubSession, "_backoff", lambda self, attempt: 0.0)  # the hub's pauses between repeats
    # Xero creates the quotes, but every answer to that PUT, and to its repeats, is lost on the way back.
    xero.admin("POST", "faults", {"kind": "drop_after", "count": 10, "method": "PUT", "path_contains": "Quotes"})
    first = run(flow)
    assert first.status == RunStatus.FAILED, first.message
    assert len(xero_by_tag(xero, flow)) == len(documents)  # in Xero, unknown to the hub
    assert not SyncDocument.objects.filter(flow=flow, kind="quote").exclude(target_entry_id="").exists()
    xero.admin("DELETE", "faults")
    with xero.state.lock:  # later: Xero no longer remembers the idempotency key, the run must find them itself
        xero.state.org(tenant_id(ORGANISATION)).idempotency.clear()
    second = run(flow)
    assert second.status == RunStatus.SUCCEEDED, second.message
    creates = [c for c in second.call_log if c["method"] == "PUT" and "/Quotes" in c["path"]]
    assert creates == [], creates
    assert_exactly_once(xero, flow, documents, before, written_back(tryton_peer, busy_erp, documents))
