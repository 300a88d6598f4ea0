"""Payments (lettering) end to end: an invoice paid in a Tryton invoicing company, with Tryton's own pay wizard,
is paid and lettered by the hub in a Tryton accounting company, the way Tryton itself books the payment."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal as D

import pytest

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow
from syncs.models import PartnerLink, PaymentStatus, RunStatus, SyncDocument, SyncError, SyncPayment
from syncs.payments import Books, payment_entry, payment_reference
from syncs.services import execute_run, run_request
from tenants.services import connection_create
from tests.support.clock import SANDBOX_DAY
from tests.support.tryton import connector, credentials, unique_db

pytestmark = [pytest.mark.tryton, pytest.mark.django_db]
INVOICE_DAY = (SANDBOX_DAY - dt.timedelta(days=20)).isoformat()
PAY_DAY = (SANDBOX_DAY - dt.timedelta(days=5)).isoformat()
WRITE_OPERATIONS = ("create", "write", "delete", ".post")


@pytest.fixture
def invoicing_db(tryton_peer):
    """A fresh invoicing company of its own: the tests pay its invoices."""
    name = tryton_peer.create_database(unique_db("pay"), company_name="Atelier Payé SARL")
    yield name
    tryton_peer.drop_database(name)


@pytest.fixture
def paying_flow(tenant_a, tryton_peer, invoicing_db, tryton_accounting_db):
    source = connection_create(tenant=tenant_a, name="Tryton invoicing", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(tryton_peer, invoicing_db))
    target = connection_create(tenant=tenant_a, name="Tryton accounting", provider="tryton", role="target",
                               auth_kind="credentials", credentials=credentials(tryton_peer, tryton_accounting_db))
    flow = Flow.objects.create(tenant=tenant_a, name="Paid invoices", source=source, target=target,
                               start_date=dt.date(2026, 1, 1))
    src, tgt = connector(tryton_peer, invoicing_db), connector(tryton_peer, tryton_accounting_db)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    flow.refresh_from_db()
    assert (flow.bank_account, flow.exchange_gain_account, flow.exchange_loss_account) == ("5121", "766", "666")
    assert flow.payment_journal_label.startswith("CASH")  # suggested from the chart; payments stay off until asked
    flow.sync_payments = True
    flow.save()
    return flow


def run_flow(flow) -> "SyncRun":  # noqa: F821
    # Tryton stamps write_date with the real clock; under a moved test clock (the clock passes) the hub's cursor
    # would be a year ahead of it and a payment made after the first run would never be listed. Read from the
    # start date every time, as the other date-dependent Tryton tests do.
    flow.cursor = None
    flow.save(update_fields=["cursor"])
    run, created = run_request(flow=flow, enqueue=False)
    assert created
    execute_run(run.pk)
    run.refresh_from_db()
    flow.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, (run.message, list(SyncError.objects.values_list("code", "message")))
    return run


def invoiced(peer, db, amount: str = "100.00", party: str = "Client Réglé SARL") -> dict:
    return peer.run_setup(db, "add_invoice", kind="out", day=INVOICE_DAY, amount=amount, party_name=party)


def moves(peer, db, *move_ids) -> dict:
    return peer.run_setup(db, "read_moves", move_ids=[int(i) for i in move_ids])


def shape(lines: list[dict]) -> list[tuple]:
    return sorted((l["account"], D(l["debit"]), D(l["credit"]), l["party"]) for l in lines)


def third_party_lines(move: dict) -> list[dict]:
    return [line for line in move["lines"] if line["account"] == "4111"]


# --- one payment, as Tryton books it ------------------------------------------------------------------------
@pytest.mark.clock  # one representative under the shifted clocks; the others use the same pinned days
def test_a_paid_invoice_is_lettered_in_tryton_with_the_very_move_tryton_makes_for_the_payment(
        paying_flow, tryton_peer, invoicing_db, tryton_accounting_db):
    invoice = invoiced(tryton_peer, invoicing_db)
    run_flow(paying_flow)
    paid = tryton_peer.run_setup(invoicing_db, "pay_invoice", number=invoice["number"], amount="120.00", day=PAY_DAY)
    assert paid["state"] == "paid" and len(paid["moves"]) == 1
    run = run_flow(paying_flow)
    assert run.synced_count == 0  # the invoice itself did not change
    doc = SyncDocument.objects.get(flow=paying_flow, source_number=invoice["number"])
    row = SyncPayment.objects.get(document=doc)
    assert (row.source_payment_id, row.status, row.amount) == (str(paid["payment_line_ids"][0]),
                                                              PaymentStatus.RECONCILED, D("120.00"))
    booked = moves(tryton_peer, tryton_accounting_db, row.target_entry_id, doc.target_entry_id)
    ours, theirs = booked[row.target_entry_id], paid["moves"][0]
    assert shape(ours["lines"]) == shape(theirs["lines"])  # 5121 debit, 4111 credit to the customer
    assert (ours["journal"], ours["state"], ours["date"]) == ("CASH", "posted", PAY_DAY)
    assert f"[hub:{row.reference}]" in ours["description"]
    lettering = {line["reconciliation"] for line in third_party_lines(ours) + third_party_lines(booked[doc.target_entry_id])}
    assert len(lettering) == 1 and None not in lettering
    # a run that reads everything again books nothing again
    paying_flow.cursor = None
    paying_flow.save()
    again = run_flow(paying_flow)
    operations = [call["operation"] for call in again.call_log]
    assert operations and not [op for op in operations if op.endswith(WRITE_OPERATIONS)], operations
    assert SyncPayment.objects.count() == 1


def test_a_partial_payment_is_booked_at_once_and_lettered_when_the_rest_is_paid_in_tryton(
        paying_flow, tryton_peer, invoicing_db, tryton_accounting_db):
    invoice = invoiced(tryton_peer, invoicing_db)
    run_flow(paying_flow)
    first = tryton_peer.run_setup(invoicing_db, "pay_invoice", number=invoice["number"], amount="50.00", day=PAY_DAY)
    assert first["state"] == "posted" and D(first["amount_to_pay"]) == D("70.00")
    run_flow(paying_flow)
    doc = SyncDocument.objects.get(flow=paying_flow, source_number=invoice["number"])
    row = SyncPayment.objects.get(document=doc)
    assert row.status == PaymentStatus.SYNCED
    assert {l["reconciliation"] for l in third_party_lines(
        moves(tryton_peer, tryton_accounting_db, doc.target_entry_id)[doc.target_entry_id])} == {None}
    rest = tryton_peer.run_setup(invoicing_db, "pay_invoice", number=invoice["number"], amount="70.00",
                                 day=(SANDBOX_DAY - dt.timedelta(days=2)).isoformat())
    assert rest["state"] == "paid"
    run_flow(paying_flow)
    rows = list(SyncPayment.objects.filter(document=doc).order_by("date"))
    assert [(r.amount, r.status) for r in rows] == [(D("50.00"), PaymentStatus.RECONCILED),
                                                    (D("70.00"), PaymentStatus.RECONCILED)]
    booked = moves(tryton_peer, tryton_accounting_db, doc.target_entry_id, *[r.target_entry_id for r in rows])
    assert shape(booked[rows[1].target_entry_id]["lines"]) == shape(rest["moves"][0]["lines"])
    lettering = {line["reconciliation"] for move in booked.values() for line in third_party_lines(move)}
    assert len(lettering) == 1 and None not in lettering


def test_an_overpayment_in_tryton_is_booked_whole_and_its_excess_stays_open_on_the_customer(
        paying_flow, tryton_peer, invoicing_db, tryton_accounting_db):
    invoice = invoiced(tryton_peer, invoicing_db)
    run_flow(paying_flow)
    paid = tryton_peer.run_setup(invoicing_db, "pay_invoice", number=invoice["number"], amount="150.00", day=PAY_DAY)
    assert paid["state"] == "paid"
    run_flow(paying_flow)
    doc = SyncDocument.objects.get(flow=paying_flow, source_number=invoice["number"])
    row = SyncPayment.objects.get(document=doc)
    assert (row.amount, row.status) == (D("150.00"), PaymentStatus.RECONCILED)
    booked = moves(tryton_peer, tryton_accounting_db, row.target_entry_id, doc.target_entry_id)
    ours = booked[row.target_entry_id]
    assert shape(ours["lines"]) == shape(paid["moves"][0]["lines"])  # 5121 D 150, 4111 C 120 and C 30
    excess = next(l for l in third_party_lines(ours) if D(l["credit"]) == D("30.00"))
    settling = next(l for l in third_party_lines(ours) if D(l["credit"]) == D("120.00"))
    invoice_line, = third_party_lines(booked[doc.target_entry_id])
    assert excess["reconciliation"] is None
    assert settling["reconciliation"] == invoice_line["reconciliation"] is not None


# --- exactly once -----------------------------------------------------------------------------------------------
def test_a_payment_tryton_booked_before_a_crash_is_bound_not_booked_again(paying_flow, tryton_peer, invoicing_db,
                                                                          tryton_accounting_db):
    invoice = invoiced(tryton_peer, invoicing_db)
    run_flow(paying_flow)
    paid = tryton_peer.run_setup(invoicing_db, "pay_invoice", number=invoice["number"], amount="120.00", day=PAY_DAY)
    doc = SyncDocument.objects.get(flow=paying_flow, source_number=invoice["number"])
    payment_id = str(paid["payment_line_ids"][0])
    reference = payment_reference(doc, payment_id)
    # What a run that died after Tryton booked the payment leaves: the pending row, and the move in accounting.
    SyncPayment.objects.create(tenant=doc.tenant, flow=paying_flow, document=doc, source_payment_id=payment_id,
                               reference=reference, status=PaymentStatus.PENDING)
    partner = PartnerLink.objects.get(target=paying_flow.target).target_partner_id
    books = Books(paying_flow.payment_journal_id, "5121", "4111", partner, "766", "666", "EUR")
    accounting = connector(tryton_peer, tryton_accounting_db)
    crashed = accounting.book_payment(
        payment_entry(reference=reference, day=dt.date.fromisoformat(PAY_DAY), label="Payment", money_in=True,
                      currency="EUR", amount=D("120.00"), company_value=D("120.00"), settled=D("120.00"),
                      share=D("120.00"), books=books),
        reconcile_with_entry_id=doc.target_entry_id, account_number="4111", partner_id=partner, post=True)
    run_flow(paying_flow)
    row = SyncPayment.objects.get(document=doc)
    assert (row.status, row.target_entry_id) == (PaymentStatus.RECONCILED, crashed.entry_id)
    tagged = accounting.client.search("account.move", [("description", "like", f"%[hub:{reference}]%")])
    accounting.close()
    assert tagged == [int(crashed.entry_id)]


# --- a foreign currency ---------------------------------------------------------------------------------------
def per_account(lines: list[dict]) -> dict:
    """Moves netted per account: (company amount, foreign amount), the way two moves add up to one."""
    nets: dict = defaultdict(lambda: [D(0), D(0)])
    for line in lines:
        nets[line["account"]][0] += D(line["debit"]) - D(line["credit"])
        nets[line["account"]][1] += D(line["amount_second_currency"] or 0)
    return {account: tuple(v) for account, v in nets.items() if any(v)}


@pytest.mark.parametrize("rate, account", [("1.20", "666"), ("1.00", "766")])
def test_a_usd_payment_worth_other_euros_books_the_difference_on_666_or_766_as_tryton_does(
        rate, account, paying_flow, tryton_peer, invoicing_db, tryton_accounting_db):
    usd = tryton_peer.run_setup(invoicing_db, "add_awkward_invoices", day=INVOICE_DAY, cases=["usd_sale"])["usd_sale"]
    run_flow(paying_flow)
    paid = tryton_peer.run_setup(invoicing_db, "pay_invoice", number=usd["number"], amount=str(usd["total_amount"]),
                                 day=PAY_DAY, rate=rate)  # the invoice was at 1.08 USD for 1 EUR
    assert paid["state"] == "paid" and len(paid["moves"]) == 2  # Tryton: the payment, then the exchange move
    run_flow(paying_flow)
    doc = SyncDocument.objects.get(flow=paying_flow, source_number=usd["number"])
    row = SyncPayment.objects.get(document=doc)
    assert (row.currency, row.amount, row.status) == ("USD", D(str(usd["total_amount"])), PaymentStatus.RECONCILED)
    booked = moves(tryton_peer, tryton_accounting_db, row.target_entry_id, doc.target_entry_id)
    ours = per_account(booked[row.target_entry_id]["lines"])
    theirs = per_account([line for move in paid["moves"] for line in move["lines"]])
    assert ours == theirs and account in ours
    assert (ours[account][0] > 0) == (account == "666")  # a loss is a debit, a gain a credit
    lettering = {line["reconciliation"] for move in booked.values() for line in third_party_lines(move)}
    assert len(lettering) == 1 and None not in lettering
