"""Lost answers against a live Tryton: a gateway fails calls after Tryton applied them; nothing is doubled."""
from __future__ import annotations

import datetime as dt

import pytest

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow
from syncs.models import RunStatus, SyncDocument, SyncError
from tenants.services import connection_create
from tests.support.tryton import connector, credentials
from tests.syncs.test_engine_tryton import run_flow

pytestmark = pytest.mark.tryton


@pytest.mark.django_db
def test_writes_whose_answers_are_lost_after_tryton_applied_them_leave_one_posted_move_per_invoice_with_its_file(
        tenant_a, tryton_peer, tryton_invoicing_db, tryton_accounting_db):
    from tests.support.fault_proxy import FaultProxy

    source_db, seeded = tryton_invoicing_db
    proxy = FaultProxy(tryton_peer.url)
    try:
        source = connection_create(tenant=tenant_a, name="Tryton invoicing", provider="tryton", role="source",
                                   auth_kind="credentials", credentials=credentials(tryton_peer, source_db))
        target = connection_create(tenant=tenant_a, name="Tryton behind a gateway", provider="tryton",
                                   role="target", auth_kind="credentials",
                                   credentials=credentials(tryton_peer, tryton_accounting_db, url=proxy.url))
        flow = Flow.objects.create(tenant=tenant_a, name="Through faults", source=source, target=target,
                                   start_date=dt.date(2026, 1, 1))
        src, tgt = connector(tryton_peer, source_db), connector(tryton_peer, tryton_accounting_db)
        flow_apply_suggestions(flow=flow, source=src, target=tgt)
        src.close(), tgt.close()
        # The gateway answers 503 after Tryton created the batch, drops the answer of a posting, and loses the
        # answer of an attachment: each time Tryton did the work.
        proxy.fail("model.party.party.create", "after:503")
        proxy.fail("model.account.move.create", "after:503")
        proxy.fail("model.account.move.post", "after:drop")
        proxy.fail("model.ir.attachment.create", "after:503")

        run = run_flow(flow)
    finally:
        proxy.close()

    assert len(proxy.faults_done) == 4, (proxy.faults_done, run.status, run.message)
    assert run.status == RunStatus.SUCCEEDED, (run.message, list(SyncError.objects.values_list("code", "message")))
    books = connector(tryton_peer, tryton_accounting_db)
    moves = books.client.search_read("account.move", [("description", "like", "%[hub:%")], ["description", "state"])
    references = [m["description"].rsplit("[hub:", 1)[1].rstrip("]") for m in moves]
    assert sorted(references) == sorted(set(references)) and len(moves) == len(seeded["invoices"])
    assert {m["state"] for m in moves} == {"posted"}
    files = {row["resource"] for row in books.client.search_read(
        "ir.attachment", [("resource", "in", [f"account.move,{m['id']}" for m in moves])], ["resource"])}
    names = [p["name"] for p in books.client.search_read("party.party", [], ["name"])]
    books.close()
    invoiced = {i["party_name"] for i in seeded["invoices"]}
    assert all(names.count(name) == 1 for name in invoiced), sorted(names)  # no third party created twice
    customer_docs = SyncDocument.objects.filter(flow=flow, kind="sale")
    assert customer_docs.exists()
    assert {f"account.move,{d.target_entry_id}" for d in customer_docs} <= files


def _flow_through(proxy, tenant_a, tryton_peer, source_db, accounting_db) -> Flow:
    source = connection_create(tenant=tenant_a, name="Tryton invoicing", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(tryton_peer, source_db))
    target = connection_create(tenant=tenant_a, name="Tryton behind a gateway", provider="tryton", role="target",
                               auth_kind="credentials", credentials=credentials(tryton_peer, accounting_db, url=proxy.url))
    flow = Flow.objects.create(tenant=tenant_a, name="Through faults", source=source, target=target,
                               start_date=dt.date(2026, 1, 1))
    src, tgt = connector(tryton_peer, source_db), connector(tryton_peer, accounting_db)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    return flow


@pytest.mark.django_db
def test_a_creation_still_on_its_way_when_the_hub_timed_out_is_found_not_sent_again_and_other_faults_are_ridden_out(
        tenant_a, tryton_peer, tryton_invoicing_db, tryton_accounting_db, settings):
    from tests.support.fault_proxy import FaultProxy

    settings.HUB_HTTP_READ_TIMEOUT = 1.5
    settings.HUB_SYNC_INFLIGHT_WAIT = 40  # polling stops as soon as the move appears; generous for loaded machines
    settings.HUB_SYNC_UNREACHABLE_BUDGET = 30
    settings.HUB_SYNC_OUTAGE_PAUSE = 0.1
    source_db, seeded = tryton_invoicing_db
    proxy = FaultProxy(tryton_peer.url)
    try:
        flow = _flow_through(proxy, tenant_a, tryton_peer, source_db, tryton_accounting_db)
        # the first batch reaches Tryton 2.5 s after it was sent, when the hub has stopped waiting for the answer;
        # a gateway's rate limit, a 504 and a slow answer on the way
        proxy.fail("model.account.move.create", "inflight:2.5")
        proxy.fail("model.account.move.search_read", "before:429", "before:504")
        proxy.fail("model.ir.attachment.create", "delay:0.5")
        run = run_flow(flow)
    finally:
        proxy.close()
    assert run.status == RunStatus.SUCCEEDED, (run.message, list(SyncError.objects.values_list("code", "message")))
    assert ("model.account.move.create", "inflight:2.5") in proxy.faults_done
    books = connector(tryton_peer, tryton_accounting_db)
    moves = books.client.search_read("account.move", [("description", "like", "%[hub:%")], ["description", "state"])
    books.close()
    references = [m["description"].rsplit("[hub:", 1)[1].rstrip("]") for m in moves]
    assert len(references) == len(set(references)) == len(seeded["invoices"]), "a move was booked twice"
    assert {m["state"] for m in moves} == {"posted"}
