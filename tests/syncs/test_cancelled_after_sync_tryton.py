"""A Tryton invoice cancelled after the hub booked it: a real Tryton invoicing company -> the hub -> a real
Tryton accounting company. In Tryton 8 a posted customer invoice can be cancelled once its company allows it
(*Cancel Customer Invoice*); the setup action `cancel_invoice` turns that on and presses *Cancel*."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal as D

import pytest
from django.urls import reverse

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow
from syncs import catalogue
from syncs.cancellations import reversal_reference
from syncs.models import DocumentStatus, ErrorStatus, SyncDocument, SyncError, SyncRun
from syncs.services import execute_run, run_request
from tenants.models import Role
from tenants.services import connection_create, membership_set
from tests.support.tryton import connector, credentials, unique_db

pytestmark = [pytest.mark.tryton, pytest.mark.django_db]


@pytest.fixture
def invoicing_db(tryton_peer):
    """A fresh invoicing company with one posted customer invoice (this test cancels it)."""
    name = tryton_peer.create_database(unique_db("cxl"), company_name="Atelier Annulation SARL")
    invoice = tryton_peer.run_setup(name, "add_invoice", kind="out", day="2026-03-10", amount="250.00",
                                    party_name="Client Qui Annule SARL")
    yield name, invoice
    tryton_peer.drop_database(name)


@pytest.fixture
def tryton_flow(tenant_a, tryton_peer, invoicing_db, tryton_accounting_db):
    source_db, _ = invoicing_db
    source = connection_create(tenant=tenant_a, name="Tryton invoicing", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(tryton_peer, source_db))
    target = connection_create(tenant=tenant_a, name="Tryton accounting", provider="tryton", role="target",
                               auth_kind="credentials", credentials=credentials(tryton_peer, tryton_accounting_db))
    flow = Flow.objects.create(tenant=tenant_a, name="Tryton to Tryton", source=source, target=target,
                               start_date=dt.date(2026, 1, 1))
    src, tgt = connector(tryton_peer, source_db), connector(tryton_peer, tryton_accounting_db)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    return flow


@pytest.fixture
def accountant(make_user, tenant_a):
    user = make_user("accountant", staff=True)
    membership_set(tenant=tenant_a, user=user, role=Role.ACCOUNTANT)
    return user


def run_flow(flow) -> SyncRun:
    run, created = run_request(flow=flow, enqueue=False)
    assert created
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def hub_moves(peer, database: str) -> list[dict]:
    books = connector(peer, database)
    try:
        return books.client.search_read("account.move", [("description", "like", "%[hub:%")],
                                        ["description", "state", "date", "lines", "origin"], order=[("id", "ASC")])
    finally:
        books.close()


def balances(peer, database: str, move_ids: list[int]) -> tuple[dict, dict]:
    """(debit - credit) per (account, party) and VAT amount per tax, over these moves."""
    books = connector(peer, database)
    try:
        lines = books.client.search_read("account.move.line", [("move", "in", move_ids)],
                                         ["account.code", "party", "debit", "credit", "tax_lines"])
        per_account: dict = defaultdict(D)
        for line in lines:
            per_account[(line["account."]["code"], line["party"])] += line["debit"] - line["credit"]
        tax_ids = [t for line in lines for t in line["tax_lines"]]
        per_tax: dict = defaultdict(D)
        for row in books.client.read("account.tax.line", tax_ids, ["tax", "type", "amount"]):
            per_tax[(row["tax"], row["type"])] += row["amount"]
        return dict(per_account), dict(per_tax)
    finally:
        books.close()


def test_a_posted_invoice_cancelled_in_tryton_is_reversed_once_from_the_error_desk(
        client, accountant, tryton_flow, tryton_peer, invoicing_db, tryton_accounting_db):
    source_db, invoice = invoicing_db
    assert run_flow(tryton_flow).synced_count == 1
    (original,) = hub_moves(tryton_peer, tryton_accounting_db)
    assert original["state"] == "posted"
    accounts, taxes = balances(tryton_peer, tryton_accounting_db, [original["id"]])
    assert any(accounts.values()) and any(taxes.values())  # the invoice counts in accounting

    cancelled = tryton_peer.run_setup(source_db, "cancel_invoice", number=invoice["number"])
    assert cancelled["state"] == "cancelled"
    run = run_flow(tryton_flow)
    doc = SyncDocument.objects.get(flow=tryton_flow)
    error = SyncError.objects.get(document=doc, status=ErrorStatus.OPEN)
    assert error.code == catalogue.SOURCE_CANCELLED and run.error_count == 1
    assert invoice["number"] in error.message and doc.target_number and doc.target_number in error.message
    assert len(hub_moves(tryton_peer, tryton_accounting_db)) == 1  # a posted entry is never touched by a run

    client.force_login(accountant)
    for _ in range(2):  # a double click
        client.post(reverse("admin:syncs_syncerror_changelist"),
                    {"action": "book_reversal", "_selected_action": [error.pk]})
    moves = hub_moves(tryton_peer, tryton_accounting_db)
    assert len(moves) == 2
    reversal = moves[1]
    assert reversal["state"] == "posted" and f"[hub:{reversal_reference(doc)}]" in reversal["description"]
    assert reversal["origin"] == f"account.move,{original['id']}"
    assert reversal["date"] == max(dt.date.fromisoformat(error.details["day"]), original["date"])
    accounts, taxes = balances(tryton_peer, tryton_accounting_db, [m["id"] for m in moves])
    assert accounts and set(accounts.values()) == {D(0)}  # every account, and the customer, back to zero
    assert taxes and set(taxes.values()) == {D(0)}  # and the VAT report too
    doc.refresh_from_db()
    error.refresh_from_db()
    assert (doc.status, doc.reversal_entry_id) == (DocumentStatus.CANCELLED, str(reversal["id"]))
    assert error.status == ErrorStatus.RESOLVED

    books = connector(tryton_peer, tryton_accounting_db)  # asked again (a crash lost the answer): found, not booked
    again = books.reverse_entry(doc.target_entry_id, date=dt.date(2026, 11, 21), reference=reversal_reference(doc))
    books.close()
    assert again.entry_id == str(reversal["id"]) and len(hub_moves(tryton_peer, tryton_accounting_db)) == 2


def test_a_draft_entry_of_an_invoice_cancelled_in_tryton_is_deleted(tryton_flow, tryton_peer, invoicing_db,
                                                                    tryton_accounting_db):
    source_db, invoice = invoicing_db
    tryton_flow.create_as_draft = True
    tryton_flow.save()
    run_flow(tryton_flow)
    assert [m["state"] for m in hub_moves(tryton_peer, tryton_accounting_db)] == ["draft"]
    tryton_peer.run_setup(source_db, "cancel_invoice", number=invoice["number"])
    run = run_flow(tryton_flow)
    assert hub_moves(tryton_peer, tryton_accounting_db) == []
    doc = SyncDocument.objects.get(flow=tryton_flow)
    assert (doc.status, doc.source_gone, doc.target_entry_id) == (DocumentStatus.CANCELLED, "cancelled", "")
    assert run.error_count == 0 and not SyncError.objects.filter(flow=tryton_flow, status=ErrorStatus.OPEN).exists()


def test_a_reversal_in_a_closed_period_says_so_and_books_nothing(client, accountant, tryton_flow, tryton_peer,
                                                                invoicing_db, tryton_accounting_db):
    source_db, invoice = invoicing_db
    run_flow(tryton_flow)
    tryton_peer.run_setup(source_db, "cancel_invoice", number=invoice["number"])
    run_flow(tryton_flow)
    error = SyncError.objects.get(flow=tryton_flow, status=ErrorStatus.OPEN)
    day = error.details["day"]
    tryton_peer.run_setup(tryton_accounting_db, "close_period", day=day)
    client.force_login(accountant)
    page = client.post(reverse("admin:syncs_syncerror_changelist"),
                       {"action": "book_reversal", "_selected_action": [error.pk]}, follow=True).content.decode()
    assert "in a period that is not open in accounting" in page and day in page
    assert len(hub_moves(tryton_peer, tryton_accounting_db)) == 1
    error.refresh_from_db()
    assert error.status == ErrorStatus.OPEN and "not open in accounting" in error.provider_message
