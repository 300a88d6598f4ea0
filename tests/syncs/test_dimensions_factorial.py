"""Factorial expenses charged to a cost centre and a project land in Tryton on the matching analytic accounts."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import DimensionMapping, Flow
from sandboxes.factorial import start_sandbox
from syncs.models import DocumentStatus, RunStatus, SyncDocument
from syncs.services import execute_run, run_request
from tenants.services import connection_connector, connection_create
from tests.support.clock import SANDBOX_DAY
from tests.support.tryton import connector as tryton_connector
from tests.support.tryton import credentials as tryton_credentials

KEY = "factorial-dimensions-key"
pytestmark = [pytest.mark.tryton, pytest.mark.django_db]


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(api_key=KEY, seed="demo", today=SANDBOX_DAY, post_rate_limit=None) as running:
        yield running


@pytest.fixture(autouse=True)
def factorial_address(settings, sandbox):
    settings.HUB_FACTORIAL_BASE_URL = sandbox.url


def expense_flow(tenant, sandbox, peer, database) -> Flow:
    source = connection_create(tenant=tenant, name="Factorial", provider="factorial", role="source",
                               auth_kind="api_key", credentials={"api_key": KEY})
    target = connection_create(tenant=tenant, name="Tryton books", provider="tryton", role="target",
                               auth_kind="credentials", credentials=tryton_credentials(peer, database))
    # November's purchases only: a handful of documents and expenses
    flow = Flow.objects.create(tenant=tenant, name="Factorial expenses to Tryton", source=source, target=target,
                               start_date=dt.date(2026, 11, 1), scope="purchases")
    src, tgt = connection_connector(connection=source), connection_connector(connection=target)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    return flow


def analytic_of(peer, database, move_id: str) -> dict[str, D]:
    books = tryton_connector(peer, database)
    rows = books.client.search_read("analytic_account.line", [("move_line.move", "=", int(move_id))],
                                    ["account.name", "debit", "credit"])
    books.close()
    return {row["account."]["name"]: row["debit"] - row["credit"] for row in rows}


def test_an_expense_with_a_cost_centre_and_a_project_is_booked_on_both_analytic_accounts(
        tenant_a, sandbox, tryton_peer, tryton_accounting_db):
    sandbox.state.reset(seed="demo")
    tryton_peer.run_setup(tryton_accounting_db, "add_analytic_accounts", root="Centres de coût",
                          names=["Siège Paris", "Atelier Montreuil", "Commercial"])
    tryton_peer.run_setup(tryton_accounting_db, "add_analytic_accounts", root="Projets",
                          names=["Salon Maison & Objet", "Rénovation boutique Marais"])
    flow = expense_flow(tenant_a, sandbox, tryton_peer, tryton_accounting_db)
    # mapped by name: R&D has no analytic account in Tryton, nor has the closed Boutique Lyon
    assert sorted(DimensionMapping.objects.filter(flow=flow).values_list("dimension", "source_label")) == [
        ("cost_center", "Atelier Montreuil"), ("cost_center", "Commercial"), ("cost_center", "Siège Paris"),
        ("project", "Rénovation boutique Marais"), ("project", "Salon Maison & Objet")]

    run, created = run_request(flow=flow, enqueue=False)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL) and run.synced_count > 3, run.message

    expense = sandbox.state.get("expenses/expenses", "23096")  # Siège Paris, project "Rénovation boutique Marais"
    assert expense["cost_center_ids"] == ["61"] and expense["project_id"] == "89"
    base = (D(expense["amount"]) - sum((D(t["amount"]) for t in expense["taxes"]), D(0))) / 100
    doc = SyncDocument.objects.get(flow=flow, source_id="ex-23096")
    assert doc.status == DocumentStatus.SYNCED
    assert analytic_of(tryton_peer, tryton_accounting_db, doc.target_entry_id) == {
        "Siège Paris": base, "Rénovation boutique Marais": base}

    # a cost centre without an analytic account in accounting (R&D): the flow's default books the line without it
    research = sandbox.state.get("expenses/expenses", "23090")
    assert research["cost_center_ids"] == ["64"] and not research.get("project_id")
    doc = SyncDocument.objects.get(flow=flow, source_id="ex-23090")
    assert doc.status == DocumentStatus.SYNCED
    assert analytic_of(tryton_peer, tryton_accounting_db, doc.target_entry_id) == {}
