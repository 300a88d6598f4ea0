"""The sync command killed at random moments (issue 17) while it books a Finnish Tryton company's invoices into the
Netvisor sandbox and into the Procountor sandbox, which have no idempotency key: after the kills a last run
finishes, and each target holds every invoice exactly once (read from the sandbox itself)."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from sandboxes.netvisor import Clock, start_sandbox as netvisor_sandbox
from syncs.entries import reference_for
from syncs.models import ErrorStatus, RunStatus, SyncDocument, SyncError, SyncRun
from tests.support.tryton import unique_db
from tests.syncs.test_finnish_flows_tryton import (  # noqa: F401 - the Procountor fixture and the flow set-up
    NV_KEYS,
    PC_CLIENT,
    PC_SECRET,
    finnish_flow,
    invoice_days,
    netvisor_connection,
    netvisor_documents,
    procountor,
    procountor_connection,
    procountor_documents,
)
from tests.syncs.test_killed_at_random_tryton import kill_at_random, start, what_was_done

pytestmark = [pytest.mark.tryton, pytest.mark.django_db(transaction=True)]
KILLS = 4


@pytest.fixture(scope="module")
def sales_company(tryton_peer):
    """A Finnish invoicing company with 14 customer invoices (no payments: the kills are about the invoices)."""
    start_day, end_day = invoice_days()
    name = tryton_peer.create_database(unique_db("fikill"), company_name="Kiireinen Laskutus Oy")
    seeded = tryton_peer.run_setup(name, "seed_finnish", seed=3, customers=5, suppliers=2, invoices=14,
                                   supplier_invoices=1, paid=0, start_date=start_day.isoformat(),
                                   end_date=end_day.isoformat())
    yield name, seeded
    tryton_peer.drop_database(name)


@pytest.fixture
def netvisor(settings):
    # The real clock on both sides: the worker processes sign with it.
    with netvisor_sandbox(seed="demo", clock=Clock(), **NV_KEYS) as running:
        settings.HUB_NETVISOR_API_URL = running.url
        settings.HUB_NETVISOR_PARTNER_ID, settings.HUB_NETVISOR_PARTNER_KEY = NV_KEYS["partner_id"], \
            NV_KEYS["partner_key"]
        settings.HUB_NETVISOR_SENDER = NV_KEYS["sender"]
        settings.HUB_BUDGET_BACKEND = "memory"
        yield running


def netvisor_env(running) -> dict:
    return {"HUB_NETVISOR_API_URL": running.url, "HUB_NETVISOR_PARTNER_ID": NV_KEYS["partner_id"],
            "HUB_NETVISOR_PARTNER_KEY": NV_KEYS["partner_key"], "HUB_NETVISOR_SENDER": NV_KEYS["sender"],
            "DJANGO_SETTINGS_MODULE": "tests.settings"}


def procountor_env(running) -> dict:
    return {"HUB_PROCOUNTOR_API_URL": running.url, "HUB_PROCOUNTOR_CLIENT_ID": PC_CLIENT,
            "HUB_PROCOUNTOR_CLIENT_SECRET": PC_SECRET, "DJANGO_SETTINGS_MODULE": "tests.settings"}


def kill_then_finish(flow, invoices: list[dict], env: dict, tmp_path, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    log = tmp_path / "sync.log"
    killed_at = [kill_at_random(start(["sync", str(flow.pk)], log, **env), flow, rng, len(invoices))
                 for _ in range(KILLS)]
    print("kills (batches let through, then s, what happened, documents synced):", killed_at)
    last = start(["sync", str(flow.pk)], log, **env)
    assert last.wait(timeout=120) == 0, log.read_text()[-3000:]
    assert [k for k in killed_at if k[2] == "killed"], killed_at
    final = SyncRun.objects.filter(flow=flow).latest("pk")
    assert final.status == RunStatus.SUCCEEDED, (final.message, killed_at, what_was_done(flow))
    print("document outcomes:", what_was_done(flow).rsplit("outcomes ", 1)[1])
    return killed_at


def assert_once(flow, invoices: list[dict], documents: dict[str, list]) -> None:
    expected = {reference_for(flow.pk, str(i["id"])) for i in invoices}
    held = {ref: rows for ref, rows in documents.items() if ref in expected}
    assert set(held) == expected, sorted(expected - set(held))
    twice = {ref: len(rows) for ref, rows in held.items() if len(rows) > 1}
    assert not twice, f"documents booked more than once: {twice}"
    recorded = Counter(SyncDocument.objects.filter(flow=flow).values_list("status", flat=True))
    assert recorded == {"synced": len(expected)}, recorded
    assert not SyncError.objects.filter(flow=flow, status=ErrorStatus.OPEN).exists()


def test_the_sync_command_killed_at_random_leaves_each_invoice_once_in_netvisor(
        tenant_a, tryton_peer, sales_company, netvisor, tmp_path):
    database, seeded = sales_company
    flow = finnish_flow(tenant_a, tryton_peer, database, seeded, netvisor_connection(tenant_a),
                        purchases="invoice:purchase", name="Killed into Netvisor")
    flow.scope = "sales"
    flow.save()
    invoices = [i for i in seeded["invoices"] if i["type"] == "out"]
    kill_then_finish(flow, invoices, netvisor_env(netvisor), tmp_path, seed=17)
    documents = {ref: [r for kind, r in rows if kind == "sales"]
                 for ref, rows in netvisor_documents(netvisor.state).items()}
    assert_once(flow, invoices, documents)


def test_the_sync_command_killed_at_random_leaves_each_invoice_once_in_procountor(
        tenant_a, tryton_peer, sales_company, procountor, tmp_path):
    database, seeded = sales_company
    flow = finnish_flow(tenant_a, tryton_peer, database, seeded, procountor_connection(tenant_a),
                        purchases="invoice:purchase", name="Killed into Procountor")
    flow.scope = "sales"
    flow.save()
    invoices = [i for i in seeded["invoices"] if i["type"] == "out"]
    kill_then_finish(flow, invoices, procountor_env(procountor), tmp_path, seed=23)
    assert_once(flow, invoices, procountor_documents(procountor.state))


