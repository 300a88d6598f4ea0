"""Processes killed at random moments (issue 13): the sync command and a real django-q worker are SIGKILLed
several times while they book posted entries with their PDFs into a live Tryton; a last run then finishes.
What Tryton holds afterwards is read back: one posted move per invoice, each with its own file, and the hub
agreeing with it."""
from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db
from django.utils import timezone

from integration_hub.pdfs import make_pdf
from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow
from syncs import services
from syncs.entries import reference_for
from syncs.models import ACTIVE_RUN_STATUSES, DocumentOutcome, ErrorStatus, RunStatus, SyncDocument, SyncError, SyncRun
from tenants.services import connection_create
from tests.support.tryton import connector, credentials, unique_db

pytestmark = pytest.mark.tryton

KILLS = 6
BATCH = 4  # invoices per batch (HUB_SYNC_BATCH_SIZE)
SEED = 13
MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def file_name(invoice: dict) -> str:
    return f"{invoice['number'].replace('/', '-')}.pdf"


@pytest.fixture(scope="module")
def invoices_with_pdfs(tryton_peer):
    """An invoicing company whose every invoice (customer and supplier) has its own PDF attached."""
    name = tryton_peer.create_database(unique_db("pdfinv"), company_name="Atelier Fichiers SARL")
    seeded = tryton_peer.run_setup(name, "seed_invoicing", customers=5, suppliers=3, customer_invoices=14,
                                   supplier_invoices=8, seed=7, credit_note_every=5,
                                   supplier_profiles=["fr_siret", "fr_siren"],
                                   start_date="2026-01-05", end_date="2026-10-30")
    books = connector(tryton_peer, name)
    books.client.create("ir.attachment", [
        {"name": file_name(i), "resource": f"account.invoice,{i['id']}", "type": "data",
         "data": make_pdf([f"Invoice {i['number']}", i["party_name"]])} for i in seeded["invoices"]])
    books.close()
    yield name, seeded["invoices"]
    tryton_peer.drop_database(name)


@pytest.fixture
def posting_flow(tenant_a, tryton_peer, invoices_with_pdfs, tryton_accounting_db):
    source_db, _ = invoices_with_pdfs
    source = connection_create(tenant=tenant_a, name="Tryton invoicing", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(tryton_peer, source_db))
    target = connection_create(tenant=tenant_a, name="Tryton accounting", provider="tryton", role="target",
                               auth_kind="credentials", credentials=credentials(tryton_peer, tryton_accounting_db))
    flow = Flow.objects.create(tenant=tenant_a, name="Killed at random", source=source, target=target,
                               start_date=dt.date(2026, 1, 1), create_as_draft=False, sync_without_attachment=False)
    src, tgt = connector(tryton_peer, source_db), connector(tryton_peer, tryton_accounting_db)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    return flow


def database_url() -> str:
    name = db.settings_dict["NAME"]
    if db.vendor == "sqlite":
        return f"sqlite:///{name}"
    s = db.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def start(args: list[str], log: Path, **env) -> subprocess.Popen:
    """A hub process on the test database, in its own process group (so its children die with it)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HUB_FAILPOINT")}
    environment.update({"DATABASE_URL": database_url(), "HUB_SYNC_BATCH_SIZE": str(BATCH), **env})
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, MANAGE, *args], env=environment, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def synced(flow) -> int:
    return SyncDocument.objects.filter(flow=flow, status="synced").count()


def assert_books_agree(peer, database: str, flow, invoices: list[dict]) -> None:
    """Tryton holds one posted move per invoice, under the invoice's hub reference, with that invoice's file
    attached once, and each third party once; the hub records that very move for every document and has no open
    error."""
    books = connector(peer, database)
    moves = books.client.search_read("account.move", [("description", "like", "%[hub:%")],
                                     ["description", "state"])
    files = books.client.search_read("ir.attachment", [("resource", "in", [f"account.move,{m['id']}"
                                                                            for m in moves])], ["resource", "name"])
    parties = Counter(p["name"] for p in books.client.search_read(
        "party.party", [("name", "in", sorted({i["party_name"] for i in invoices}))], ["name"]))
    books.close()
    by_reference: dict[str, list[dict]] = {}
    for move in moves:
        by_reference.setdefault(move["description"].rsplit("[hub:", 1)[1].split("]", 1)[0], []).append(move)
    expected = {reference_for(flow.pk, str(i["id"])): i for i in invoices}
    duplicated = {ref: [m["id"] for m in found] for ref, found in by_reference.items() if len(found) > 1}
    assert not duplicated, f"references with more than one move: {duplicated}"
    assert set(by_reference) == set(expected), (sorted(set(expected) - set(by_reference)),
                                                sorted(set(by_reference) - set(expected)))
    drafts = {ref: found[0]["id"] for ref, found in by_reference.items() if found[0]["state"] != "posted"}
    assert not drafts, f"moves left as drafts in a posting flow: {drafts}"
    names_by_move: dict[int, list[str]] = {}
    for row in files:
        names_by_move.setdefault(int(row["resource"].split(",")[1]), []).append(row["name"])
    wrong_files = {ref: names_by_move.get(found[0]["id"], []) for ref, found in by_reference.items()
                   if names_by_move.get(found[0]["id"], []) != [file_name(expected[ref])]}
    assert not wrong_files, f"moves without their one file (reference: files found): {wrong_files}"
    documents = {d.reference: d for d in SyncDocument.objects.filter(flow=flow)}
    assert set(documents) == set(expected)
    disagree = {ref: (d.status, d.target_entry_id, by_reference[ref][0]["id"]) for ref, d in documents.items()
                if d.status != "synced" or d.target_entry_id != str(by_reference[ref][0]["id"])}
    assert not disagree, f"hub and Tryton disagree (status, recorded entry, Tryton's move): {disagree}"
    assert parties == {i["party_name"]: 1 for i in invoices}, f"third parties missing or made twice: {parties}"
    open_errors = list(SyncError.objects.filter(flow=flow, status=ErrorStatus.OPEN).values_list(
        "document__source_number", "code", "message"))
    assert not open_errors, open_errors


def what_was_done(flow) -> str:
    """For failure messages: every run, and the errors ever opened (a recovery may close them again)."""
    runs = [(r.pk, r.trigger, r.status, r.synced_count, r.message[:120]) for r in SyncRun.objects.filter(
        flow=flow).order_by("pk")]
    errors = list(SyncError.objects.filter(flow=flow).values_list("document__source_number", "code", "status"))
    actions = Counter(DocumentOutcome.objects.filter(run__flow=flow).values_list("action", flat=True))
    return f"runs {runs}; errors {errors}; outcomes {dict(actions)}"


def kill_at_random(process: subprocess.Popen, flow, rng: random.Random, total: int, *, batch: int = BATCH,
                   done=synced) -> tuple:
    """SIGKILL the process group at a random moment of its run: once it has claimed a run, a random number of
    batches (0 up to those left) is let through, then it dies a random 0-0.5 s later, in the middle of whatever
    comes next (reading, creating, posting, attaching, recording). Counted in batches rather than seconds: how
    long Django takes to start and a batch takes to book varies with the machine's load.
    `done(flow)` counts the documents through so far, `batch` documents per batch.
    Returns (batches let through, delay, what happened, documents synced then)."""
    started = timezone.now()
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline and not SyncRun.objects.filter(
            flow=flow, status=RunStatus.RUNNING, started_at__gte=started).exists():
        time.sleep(0.02)
    before = done(flow)
    batches = rng.randint(0, max(0, (total - before - 1) // batch))
    delay = rng.uniform(0.0, 0.5)
    while process.poll() is None and time.monotonic() < deadline and done(flow) < before + batches * batch:
        time.sleep(0.02)
    try:
        process.wait(timeout=delay)
        outcome = f"exited {process.returncode}"
    except subprocess.TimeoutExpired:
        kill(process)
        outcome = "killed"
    return batches, round(delay, 2), outcome, done(flow)


@pytest.mark.django_db(transaction=True)
def test_the_sync_command_killed_at_random_moments_leaves_one_posted_entry_per_invoice_with_its_file(
        posting_flow, tryton_peer, invoices_with_pdfs, tryton_accounting_db, tmp_path):
    _, invoices = invoices_with_pdfs
    rng = random.Random(SEED)
    log = tmp_path / "sync.log"
    killed_at = [kill_at_random(start(["sync", str(posting_flow.pk)], log, DJANGO_SETTINGS_MODULE="tests.settings"),
                                posting_flow, rng, len(invoices)) for _ in range(KILLS)]
    print("kills (batches let through, then s, what happened, documents synced):", killed_at)
    last = start(["sync", str(posting_flow.pk)], log, DJANGO_SETTINGS_MODULE="tests.settings")
    assert last.wait(timeout=120) == 0, log.read_text()[-3000:]
    final = SyncRun.objects.filter(flow=posting_flow).order_by("-pk").first()
    assert [k for k in killed_at if k[2] == "killed"], killed_at  # the kills did happen
    assert final.status == RunStatus.SUCCEEDED, (final.message, killed_at, what_was_done(posting_flow))
    print("document outcomes:", what_was_done(posting_flow).rsplit("outcomes ", 1)[1])
    assert_books_agree(tryton_peer, tryton_accounting_db, posting_flow, invoices)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_at_random_moments_leaves_one_posted_entry_per_invoice_with_its_file(
        posting_flow, tryton_peer, invoices_with_pdfs, tryton_accounting_db, tmp_path, monkeypatch):
    from django_q.conf import Conf

    _, invoices = invoices_with_pdfs
    monkeypatch.setattr(Conf, "SYNC", False)  # this process queues runs on the database broker, as the site does
    rng = random.Random(SEED)
    log = tmp_path / "qcluster.log"
    # The production settings with this test's database; one worker polling the database broker often.
    worker_env = {"DJANGO_SETTINGS_MODULE": "integration_hub.settings", "HUB_ENV_FILE": "", "Q_WORKERS": "1",
                  "Q_POLL": "0.2", "HUB_SYNC_RETRY_PAUSE": "0"}

    def housekeeping() -> None:
        """What the housekeeping schedule does once the worker is gone: fail the dead run and queue its
        recovery; a run still queued whose task the dead cluster had taken is queued again (the schedule waits
        longer for that; no worker is alive here, so nothing running can be mistaken for dead)."""
        with monkeypatch.context() as patch:
            patch.setattr(services, "STALE_AFTER_SECONDS", 0)
            services.recover_stale_runs()

    killed_at = []
    worker = None
    try:
        for _ in range(KILLS):
            services.run_request(flow=posting_flow)  # a new run, or the recovery run already queued
            worker = start(["qcluster"], log, **worker_env)
            killed_at.append(kill_at_random(worker, posting_flow, rng, len(invoices)))
            assert killed_at[-1][2] == "killed", log.read_text()[-3000:]  # a worker never exits by itself
            housekeeping()
        print("kills (batches let through, then s, what happened, documents synced):", killed_at)
        services.run_request(flow=posting_flow)
        worker = start(["qcluster"], log, **worker_env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and SyncRun.objects.filter(
                flow=posting_flow, status__in=ACTIVE_RUN_STATUSES).exists():
            assert worker.poll() is None, log.read_text()[-3000:]
            time.sleep(0.25)
    finally:
        if worker is not None:
            kill(worker)
    final = SyncRun.objects.filter(flow=posting_flow).order_by("-pk").first()
    assert [k for k in killed_at if k[2] == "killed"], killed_at
    assert final.status == RunStatus.SUCCEEDED, (final.message, killed_at, what_was_done(posting_flow),
                                                 log.read_text()[-3000:])
    print("document outcomes:", what_was_done(posting_flow).rsplit("outcomes ", 1)[1])
    assert_books_agree(tryton_peer, tryton_accounting_db, posting_flow, invoices)
