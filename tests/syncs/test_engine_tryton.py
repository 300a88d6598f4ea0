"""The invoices sync end to end: a Tryton invoicing company -> the hub -> a Tryton accounting company."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow, VatMapping
from syncs import catalogue
from syncs.models import DocumentOutcome, DocumentStatus, RunStatus, SyncDocument, SyncError, SyncRun
from syncs.services import execute_run, recover_stale_runs
from tenants.services import connection_create
from tests.support.tryton import connector, credentials

pytestmark = pytest.mark.tryton
WRITE_OPERATIONS = ("create", "write", "delete", ".post")


@pytest.fixture
def tryton_flow(tenant_a, tryton_peer, tryton_invoicing_db, tryton_accounting_db):
    source_db, _ = tryton_invoicing_db
    source = connection_create(tenant=tenant_a, name="Tryton invoicing", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(tryton_peer, source_db))
    target = connection_create(tenant=tenant_a, name="Tryton accounting", provider="tryton", role="target",
                               auth_kind="credentials", credentials=credentials(tryton_peer, tryton_accounting_db))
    flow = Flow.objects.create(tenant=tenant_a, name="Tryton to Tryton", source=source, target=target,
                               start_date=dt.date(2026, 1, 1))
    src, tgt = connector(tryton_peer, source_db), connector(tryton_peer, tryton_accounting_db)
    missing = flow_apply_suggestions(flow=flow, source=src, target=tgt)
    assert not [m for m in missing if "VAT" not in m], missing  # accounts and journals all found
    src.close(), tgt.close()
    return flow


def hub_moves(peer, database: str) -> list[dict]:
    books = connector(peer, database)
    rows = books.client.search_read("account.move", [("description", "like", "%[hub:%")],
                                    ["description", "state", "lines"])
    books.close()
    return rows


def run_flow(flow) -> SyncRun:
    from syncs.services import run_request

    run, created = run_request(flow=flow, enqueue=False)
    assert created
    execute_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.clock
@pytest.mark.django_db
def test_a_full_sync_puts_one_balanced_posted_entry_per_invoice_into_tryton(tryton_flow, tryton_peer,
                                                                             tryton_invoicing_db, tryton_accounting_db):
    _, seeded = tryton_invoicing_db
    run = run_flow(tryton_flow)
    assert run.status == RunStatus.SUCCEEDED, (run.message, list(SyncError.objects.values_list("code", "message")))
    assert run.synced_count == len(seeded["invoices"])
    moves = hub_moves(tryton_peer, tryton_accounting_db)
    assert len(moves) == len(seeded["invoices"])
    assert {m["state"] for m in moves} == {"posted"}
    books = connector(tryton_peer, tryton_accounting_db)
    line_ids = [line for m in moves for line in m["lines"]]
    lines = books.client.read("account.move.line", line_ids, ["move", "debit", "credit", "party"])
    per_move = {}
    for line in lines:
        debit, credit = per_move.get(line["move"], (D(0), D(0)))
        per_move[line["move"]] = (debit + line["debit"], credit + line["credit"])
    assert all(debit == credit for debit, credit in per_move.values())
    # every third party of the invoicing company now exists once in accounting
    invoiced = {i["party_name"] for i in seeded["invoices"]}
    parties = books.client.search_read("party.party", [("name", "in", sorted(invoiced))], ["name"])
    assert sorted(p["name"] for p in parties) == sorted(invoiced)
    # credit notes were reversed: the customer collective is credited
    credit_notes = [i for i in seeded["invoices"] if i["credit_note"] and i["type"] == "out"]
    if credit_notes:
        doc = SyncDocument.objects.get(flow=tryton_flow, source_number=credit_notes[0]["number"])
        move_lines = [l for l in lines if l["move"] == int(doc.target_entry_id) and l["party"]]
        assert move_lines[0]["credit"] == abs(D(credit_notes[0]["total_amount"])) and move_lines[0]["debit"] == 0
    books.close()


@pytest.mark.django_db
def test_a_rerun_with_no_changes_makes_no_write_call_to_tryton(tryton_flow):
    run_flow(tryton_flow)
    tryton_flow.refresh_from_db()
    tryton_flow.cursor = None  # read everything again, from the start date
    tryton_flow.save()
    again = run_flow(tryton_flow)
    operations = [call["operation"] for call in again.call_log]
    assert operations and not [op for op in operations if op.endswith(WRITE_OPERATIONS)], operations
    assert again.synced_count == 0 and again.error_count == 0


@pytest.mark.django_db
def test_drafts_are_left_for_the_accountant_to_post(tryton_flow, tryton_peer, tryton_accounting_db):
    tryton_flow.create_as_draft = True
    tryton_flow.save()
    run_flow(tryton_flow)
    assert {m["state"] for m in hub_moves(tryton_peer, tryton_accounting_db)} == {"draft"}


@pytest.mark.django_db
def test_an_unmapped_rate_and_a_closed_default_account_are_catalogued_against_tryton(tryton_flow, tryton_peer,
                                                                                    tryton_accounting_db):
    VatMapping.objects.filter(flow=tryton_flow, kind="purchase").delete()
    tryton_flow.default_sales_account = "707"  # the closed parent account of the French chart
    tryton_flow.save()
    tryton_peer.run_setup(tryton_accounting_db, "set_account_state", code="7071", closed=True)
    run = run_flow(tryton_flow)
    codes = Counter(SyncError.objects.filter(flow=tryton_flow).values_list("code", flat=True))
    assert codes[catalogue.MAPPING_TAX_RATE_NOT_FOUND] >= 1
    assert codes[catalogue.ACCOUNT_NUMBER_NOT_ACTIVE] >= 1
    assert run.status == RunStatus.PARTIAL
    error = SyncError.objects.filter(code=catalogue.ACCOUNT_NUMBER_NOT_ACTIVE).first()
    assert "7071" in error.message and "707" in error.message


def _sync_process(flow: Flow, extra_env: dict) -> subprocess.Popen:
    name = db.settings_dict["NAME"]
    if db.vendor == "sqlite":
        url = f"sqlite:///{name}"
    else:
        s = db.settings_dict
        url = f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings", "HUB_SYNC_BATCH_SIZE": "4",
           **extra_env}
    return subprocess.Popen([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "sync", str(flow.pk)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _recover_and_finish(flow: Flow) -> SyncRun:
    """What the housekeeping schedule does: fail the dead run and queue a recovery run (the test
    settings run django-q2 tasks inline, so it has finished when this returns)."""
    assert recover_stale_runs() == 1
    recovery = SyncRun.objects.filter(flow=flow).order_by("-id").first()
    assert recovery.trigger == "recovery"
    return recovery


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_then_retried_leaves_exactly_one_entry_per_invoice(tryton_flow, tryton_peer,
                                                                                   tryton_invoicing_db,
                                                                                   tryton_accounting_db):
    _, seeded = tryton_invoicing_db
    expected = len(seeded["invoices"])
    # 1. killed in the worst place: Tryton has created the batch, the hub has not recorded it yet
    process = _sync_process(tryton_flow, {"HUB_FAILPOINT": "after_target_create"})
    assert process.wait(timeout=300) == -signal.SIGKILL
    assert SyncDocument.objects.filter(flow=tryton_flow, status=DocumentStatus.PENDING).exists()
    assert len(hub_moves(tryton_peer, tryton_accounting_db)) >= 1
    killed = SyncRun.objects.get(flow=tryton_flow)
    assert killed.status == RunStatus.RUNNING  # the dead worker could not say anything
    # 2. a new worker process takes over (it sees the dead run and fails it), and is killed at a random moment
    process = _sync_process(tryton_flow, {})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not SyncDocument.objects.filter(
            flow=tryton_flow, status=DocumentStatus.SYNCED).count() > 4:
        time.sleep(0.02)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    killed.refresh_from_db()
    assert killed.status == RunStatus.FAILED and "stopped" in killed.message
    # 3. recovered (when the second worker died before the end) and finished
    if SyncRun.objects.filter(flow=tryton_flow, status=RunStatus.RUNNING).exists():
        final = _recover_and_finish(tryton_flow)
    else:
        final = SyncRun.objects.filter(flow=tryton_flow).order_by("-id").first()
    assert final.status == RunStatus.SUCCEEDED, final.message
    moves = hub_moves(tryton_peer, tryton_accounting_db)
    references = Counter(m["description"].rsplit("[hub:", 1)[1] for m in moves)
    assert len(references) == expected and set(references.values()) == {1}, references
    assert SyncDocument.objects.filter(flow=tryton_flow, status=DocumentStatus.SYNCED).count() == expected
    # the batch Tryton had created when the first worker died was found there, not created again
    assert DocumentOutcome.objects.filter(run__flow=tryton_flow, action="linked").count() >= 1


def _tryton_sql(peer, database: str, sql: str, params: tuple = ()):
    """Change a Tryton database behind Tryton's back: what a broken import or a buggy module can leave."""
    if peer.backend == "postgresql":
        from integration_hub.peers.tryton import pg_execute

        return pg_execute([(sql, params)], dbname=database, fetch=sql.lstrip().upper().startswith("SELECT"))
    import sqlite3

    with sqlite3.connect(str(peer.sqlite_dir / f"{database}.sqlite")) as conn:
        return conn.execute(sql.replace("%s", "?"), params).fetchall()


@pytest.mark.clock
@pytest.mark.django_db
def test_a_tryton_invoice_that_lost_its_date_is_an_error_on_it_and_the_others_still_sync(
        tryton_flow, tryton_peer, tryton_invoicing_db, tryton_accounting_db):
    source_db, seeded = tryton_invoicing_db
    victim = seeded["invoices"][1]
    rows = _tryton_sql(tryton_peer, source_db, "SELECT invoice_date, accounting_date FROM account_invoice WHERE number = %s",
                       (victim["number"],))
    saved = rows[0]
    _tryton_sql(tryton_peer, source_db,
                "UPDATE account_invoice SET invoice_date = NULL, accounting_date = NULL WHERE number = %s",
                (victim["number"],))
    try:
        run = run_flow(tryton_flow)
    finally:
        _tryton_sql(tryton_peer, source_db, "UPDATE account_invoice SET invoice_date = %s, accounting_date = %s "
                    "WHERE number = %s", (saved[0], saved[1], victim["number"]))
    assert run.status == RunStatus.PARTIAL, run.message
    error = SyncError.objects.get(flow=tryton_flow)
    assert (error.code, error.document.source_number) == (catalogue.DATE_VALIDATION, victim["number"])
    assert victim["number"] in error.message
    assert run.synced_count == len(seeded["invoices"]) - 1
    assert len(hub_moves(tryton_peer, tryton_accounting_db)) == len(seeded["invoices"]) - 1


@pytest.fixture
def dated_books(tenant_a, tryton_peer, tryton_accounting_db):
    """An invoicing company with one invoice dated 11 November that Tryton booked on 1 December."""
    from tests.support.tryton import unique_db

    source_db = tryton_peer.create_database(unique_db("dated"), company_name="Source Datée SARL")
    invoice = tryton_peer.run_setup(source_db, "add_invoice", kind="out", day="2026-11-11",
                                    accounting_day="2026-12-01", amount="500.00")
    source = connection_create(tenant=tenant_a, name="Tryton dated", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(tryton_peer, source_db))
    target = connection_create(tenant=tenant_a, name="Tryton books", provider="tryton", role="target",
                               auth_kind="credentials", credentials=credentials(tryton_peer, tryton_accounting_db))
    flow = Flow.objects.create(tenant=tenant_a, name="Dated", source=source, target=target,
                               start_date=dt.date(2026, 1, 1))
    src, tgt = connector(tryton_peer, source_db), connector(tryton_peer, tryton_accounting_db)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    yield flow, invoice
    tryton_peer.drop_database(source_db)


@pytest.mark.clock
@pytest.mark.django_db
def test_the_entry_is_booked_on_the_accounting_date_tryton_itself_used(dated_books, tryton_peer,
                                                                        tryton_accounting_db):
    from syncs.engine import Engine

    flow, invoice = dated_books
    assert (invoice["invoice_date"], invoice["move_date"]) == ("2026-11-11", "2026-12-01")  # Tryton's own move

    flow.booking_date = "invoice"  # the other choice of the flow's Configuration step: a preview shows it
    flow.save()
    previews = Engine(flow, dry_run=True).execute()
    assert [p.entry.date.isoformat() for p in previews if p.entry] == ["2026-11-11"]

    flow.booking_date = "accounting"  # the default
    flow.save()
    run = run_flow(flow)
    assert run.status == RunStatus.SUCCEEDED, run.message
    books = connector(tryton_peer, tryton_accounting_db)
    moves = books.client.search_read("account.move", [("description", "like", "%[hub:%")], ["date"])
    books.close()
    assert [m["date"].isoformat() for m in moves] == [invoice["move_date"]]


@pytest.mark.clock
@pytest.mark.django_db
def test_an_entry_dated_in_a_closed_period_gets_its_own_clear_error(dated_books, tryton_peer, tryton_accounting_db):
    flow, invoice = dated_books
    tryton_peer.run_setup(tryton_accounting_db, "close_period", day=invoice["move_date"])
    run = run_flow(flow)
    assert run.status == RunStatus.PARTIAL
    error = SyncError.objects.get(flow=flow)
    assert error.code == catalogue.PERIOD_CLOSED, error.message
    assert invoice["number"] in error.message and "2026-12-01" in error.message
