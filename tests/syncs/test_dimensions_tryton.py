"""Analytic accounts from a real Tryton invoicing company to a real Tryton accounting company."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal as D

import pytest

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import DimensionMapping, Flow, UnmappedDimension
from syncs import catalogue
from syncs.models import RunStatus, SyncDocument, SyncError
from syncs.services import execute_run, run_request
from tenants.services import connection_create
from tests.support.tryton import connector, credentials, unique_db

pytestmark = [pytest.mark.tryton, pytest.mark.django_db]
CENTRES = ["Siège Paris", "Atelier Montreuil"]


@pytest.fixture
def analytic_source(tryton_peer):
    """An invoicing company with two cost centres (an analytic axis) and nothing else."""
    name = tryton_peer.create_database(unique_db("ana"), company_name="Atelier Analytique SARL")
    axis = tryton_peer.run_setup(name, "add_analytic_accounts", root="Centres de coût", names=CENTRES + ["Commercial"])
    yield name, axis
    tryton_peer.drop_database(name)


def tryton_flow(tenant, peer, source_db, target_db) -> Flow:
    source = connection_create(tenant=tenant, name="Tryton invoicing", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(peer, source_db))
    target = connection_create(tenant=tenant, name="Tryton accounting", provider="tryton", role="target",
                               auth_kind="credentials", credentials=credentials(peer, target_db))
    flow = Flow.objects.create(tenant=tenant, name="Analytic Tryton to Tryton", source=source, target=target,
                               start_date=dt.date(2026, 1, 1))
    src, tgt = connector(peer, source_db), connector(peer, target_db)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    return flow


def run_flow(flow):
    run, created = run_request(flow=flow, enqueue=False)
    assert created
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def per_account(rows) -> dict[str, D]:
    """{analytic account name: credit - debit}."""
    sums: dict[str, D] = defaultdict(D)
    for name, debit, credit in rows:
        sums[name] += D(str(credit)) - D(str(debit))
    return dict(sums)


def test_analytic_accounts_of_tryton_invoice_lines_reach_the_target_moves_as_the_source_booked_them(
        tenant_a, tryton_peer, analytic_source, tryton_accounting_db):
    source_db, axis = analytic_source
    ids = axis["accounts"]
    target_axis = tryton_peer.run_setup(tryton_accounting_db, "add_analytic_accounts", root="Axe analytique",
                                        names=CENTRES)
    made = tryton_peer.run_setup(source_db, "add_analytic_invoice", kind="out", day="2026-06-15", lines=[
        {"description": "Chaises", "amount": "100.00", "root_id": axis["root_id"], "account_id": ids["Siège Paris"]},
        {"description": "Tables", "amount": "40.00", "root_id": axis["root_id"], "account_id": ids["Atelier Montreuil"]},
        {"description": "Lampes", "amount": "10.00", "root_id": axis["root_id"], "account_id": ids["Siège Paris"]},
        {"description": "Livraison", "amount": "5.00"},
    ])
    # the hub reads what Tryton says each line carries
    invoice = connector(tryton_peer, source_db).get_invoice(str(made["id"]))
    dimension = f"analytic:{axis['root_id']}"
    assert sorted((l.description, l.dimensions.get(dimension, ("", ""))[1]) for l in invoice.lines) == [
        ("Chaises", "Siège Paris"), ("Lampes", "Siège Paris"), ("Livraison", ""), ("Tables", "Atelier Montreuil")]

    flow = tryton_flow(tenant_a, tryton_peer, source_db, tryton_accounting_db)
    # the mapping step matched the analytic accounts by name; "Commercial" has no namesake in accounting
    assert sorted(DimensionMapping.objects.filter(flow=flow).values_list("source_label", "target_dimension_id")) == [
        ("Atelier Montreuil", str(target_axis["accounts"]["Atelier Montreuil"])),
        ("Siège Paris", str(target_axis["accounts"]["Siège Paris"]))]
    run = run_flow(flow)
    assert run.status == RunStatus.SUCCEEDED and run.synced_count == 1, (
        run.message, list(SyncError.objects.values_list("code", "message")))

    doc = SyncDocument.objects.get(flow=flow, source_id=str(made["id"]))
    books = connector(tryton_peer, tryton_accounting_db)
    booked = books.client.search_read("analytic_account.line", [("move_line.move", "=", int(doc.target_entry_id))],
                                      ["account.name", "debit", "credit", "move_line"])
    moves = books.client.read("account.move", [int(doc.target_entry_id)], ["state", "lines"])
    states = books.client.read("account.move.line", moves[0]["lines"], ["analytic_state", "credit", "account.code"])
    books.close()
    target_sums = per_account((b["account."]["name"], b["debit"], b["credit"]) for b in booked)
    assert target_sums == per_account(made["analytic_lines"]) == {"Siège Paris": D("110.00"),
                                                                  "Atelier Montreuil": D("40.00")}
    assert moves[0]["state"] == "posted"
    # each revenue line of the same centre is one line whose analytic lines equal it
    revenue = [s for s in states if s["account."]["code"].startswith("7")]
    assert sorted(s["credit"] for s in revenue) == [D("5.00"), D("40.00"), D("110.00")]
    assert sorted(s["analytic_state"] for s in revenue if s["credit"] != D("5.00")) == ["valid", "valid"]


def test_an_unmapped_tryton_analytic_account_stops_its_invoice_when_the_flow_says_so(
        tenant_a, tryton_peer, analytic_source, tryton_accounting_db):
    source_db, axis = analytic_source
    tryton_peer.run_setup(tryton_accounting_db, "add_analytic_accounts", root="Axe analytique", names=CENTRES)
    commercial = tryton_peer.run_setup(source_db, "add_analytic_invoice", kind="in", day="2026-06-16",
                                       party_name="Fournisseur Salon SAS", lines=[
        {"description": "Stand salon", "amount": "300.00", "root_id": axis["root_id"],
         "account_id": axis["accounts"]["Commercial"]}])
    mapped = tryton_peer.run_setup(source_db, "add_analytic_invoice", kind="in", day="2026-06-17",
                                   party_name="Fournisseur Atelier SAS", lines=[
        {"description": "Bois", "amount": "80.00", "root_id": axis["root_id"],
         "account_id": axis["accounts"]["Atelier Montreuil"]}])
    flow = tryton_flow(tenant_a, tryton_peer, source_db, tryton_accounting_db)
    flow.unmapped_dimension = UnmappedDimension.ERROR
    flow.save()
    run = run_flow(flow)
    assert run.status == RunStatus.PARTIAL and run.synced_count == 1
    error = SyncError.objects.get(flow=flow)
    assert error.code == catalogue.DIMENSION_NOT_MAPPED and error.document.source_id == str(commercial["id"])
    assert "“Commercial”" in error.message and "Stand salon" in error.message
    assert SyncDocument.objects.get(flow=flow, source_id=str(mapped["id"])).target_entry_id
