"""Factorial in the hub: documents and expenses into a live Tryton, master data back, tokens, webhooks."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from integration_hub.connectors.types import Address, Partner
from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow, FlowKind
from sandboxes.factorial import start_sandbox
from syncs import catalogue
from syncs.models import DocumentStatus, RunStatus, SyncDocument, SyncError, SyncRun, WebhookDelivery
from syncs.services import execute_run, flow_activate, run_request
from syncs.tasks import scheduled_run
from tenants.models import Connection, ConnectionStatus, Role
from tenants.services import connection_connector, connection_create, membership_set
from tests.support.tryton import connector as tryton_connector
from tests.support.tryton import credentials as tryton_credentials
from tests.support.clock import SANDBOX_DAY

KEY = "factorial-flow-key"
pytestmark = pytest.mark.tryton


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(api_key=KEY, seed="demo", today=SANDBOX_DAY, post_rate_limit=None) as running:
        yield running


@pytest.fixture(autouse=True)
def factorial_address(settings, sandbox):
    """Factorial's address is the hub's setting: here, the sandbox's random port."""
    settings.HUB_FACTORIAL_BASE_URL = sandbox.url


@pytest.fixture
def fresh(sandbox):
    sandbox.state.reset(seed="demo")
    sandbox.state.faults.clear()
    return sandbox


def factorial_connection(tenant, sandbox, **kwargs):
    auth = kwargs.pop("auth_kind", "api_key")
    credentials = {"api_key": KEY} if auth == "api_key" else dict(kwargs)
    return connection_create(tenant=tenant, name=f"Factorial {auth}", provider="factorial", role="source",
                             auth_kind=auth, credentials=credentials)


def tryton_connection(tenant, peer, database):
    return connection_create(tenant=tenant, name="Tryton books", provider="tryton", role="target",
                             auth_kind="credentials", credentials=tryton_credentials(peer, database))


def documents_flow(tenant, source, target) -> Flow:
    flow = Flow.objects.create(tenant=tenant, name="Factorial to Tryton", source=source, target=target,
                               start_date=dt.date(2026, 1, 1))
    src, tgt = connection_connector(connection=source), connection_connector(connection=target)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    return flow


def run_now(flow) -> SyncRun:
    run, created = run_request(flow=flow, enqueue=False)
    assert created, run
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def hub_references(peer, database) -> Counter:
    books = tryton_connector(peer, database)
    rows = books.client.search_read("account.move", [("description", "like", "%[hub:%")], ["description"])
    books.close()
    return Counter(r["description"].rsplit("[hub:", 1)[1].rstrip("]") for r in rows)


@pytest.mark.django_db
@pytest.mark.clock
def test_factorial_documents_and_expenses_land_in_tryton_and_the_broken_ones_are_explained(
        tenant_a, fresh, tryton_peer, tryton_accounting_db):
    flow = documents_flow(tenant_a, factorial_connection(tenant_a, fresh),
                          tryton_connection(tenant_a, tryton_peer, tryton_accounting_db))
    run = run_now(flow)
    assert run.status == RunStatus.PARTIAL and run.synced_count > 300
    broken = fresh.state.seed_info["broken"]
    codes = {e.document.source_id: e.code for e in SyncError.objects.filter(flow=flow).select_related("document")}
    assert codes[f"fd-{broken['no_tax']}"] == catalogue.LINE_VALIDATION
    assert codes[f"fd-{broken['unknown_vendor']}"] == catalogue.CONTACT_NOT_FOUND
    assert codes[f"fd-{broken['total_mismatch']}"] == catalogue.AMOUNT_VALIDATION
    assert codes[f"fd-{broken['non_pdf_file']}"] == catalogue.PDF
    # Foreign documents state no rate: Tryton's own rate table on the booking date gives it (issue 12).
    assert not SyncError.objects.filter(flow=flow, code=catalogue.EXCHANGE_RATE_NOT_FOUND).exists()
    foreign = SyncDocument.objects.filter(flow=flow, status=DocumentStatus.SYNCED).exclude(currency="EUR")
    assert {d.exchange_rate_source for d in foreign} <= {
        "accounting tool's rate table", "Factorial (the expense's exchange rate)"}
    references = hub_references(tryton_peer, tryton_accounting_db)
    assert len(references) == run.synced_count and set(references.values()) == {1}
    expense = SyncDocument.objects.get(flow=flow, source_id="ex-23001")
    assert expense.status == DocumentStatus.SYNCED and expense.partner_name == "BOUILLON PIGALLE"
    books = tryton_connector(tryton_peer, tryton_accounting_db)
    files = books.client.search_read("ir.attachment", [("resource", "=", f"account.move,{expense.target_entry_id}")],
                                     ["name"])
    books.close()
    assert [f["name"] for f in files] == ["ticket_372515.pdf"]


@pytest.mark.django_db
def test_with_faults_injected_at_20_percent_every_document_is_still_synced_exactly_once(
        tenant_a, fresh, tryton_peer, tryton_accounting_db):
    flow = documents_flow(tenant_a, factorial_connection(tenant_a, fresh),
                          tryton_connection(tenant_a, tryton_peer, tryton_accounting_db))
    fresh.state.faults.set(rate=0.2, kinds=["500", "503", "502", "429", "timeout"], retry_after=0,
                           timeout_delay=0.2, seed=11)
    runs = []
    with override_settings(HUB_HTTP_READ_TIMEOUT=5):
        for _ in range(6):  # a run stopped by a fault leaves the cursor; the next one goes on
            runs.append(run_now(flow))
            if runs[-1].status != RunStatus.FAILED:
                break
    fresh.state.faults.clear()
    assert len(fresh.state.faults.history) > 20
    final = runs[-1]
    assert final.status == RunStatus.PARTIAL, [r.message for r in runs]
    synced = set(SyncDocument.objects.filter(flow=flow, status=DocumentStatus.SYNCED).values_list("reference", flat=True))
    references = hub_references(tryton_peer, tryton_accounting_db)
    assert set(references) == synced and set(references.values()) == {1}
    # what did not sync is a data problem of its own document (a broken file, a VAT number Tryton refuses...),
    # never a trace of the faults: nothing left pending, no error about an unreachable tool
    errors = list(SyncError.objects.filter(flow=flow, status="open").values_list("code", "message"))
    not_synced = SyncDocument.objects.filter(flow=flow).exclude(status=DocumentStatus.SYNCED)
    assert not not_synced.exclude(status=DocumentStatus.ERROR).exists()
    assert len(errors) == not_synced.count() >= 4, errors
    assert {code for code, _ in errors} <= {
        catalogue.PDF, catalogue.LINE_VALIDATION, catalogue.AMOUNT_VALIDATION, catalogue.CONTACT_NOT_FOUND,
        catalogue.TARGET_REJECTED}, errors


@pytest.mark.django_db
def test_master_data_pushed_twice_creates_each_account_and_contact_once(tenant_a, fresh, tryton_peer,
                                                                         tryton_accounting_db):
    factorial = factorial_connection(tenant_a, fresh)
    books = tryton_connection(tenant_a, tryton_peer, tryton_accounting_db)
    tryton_connector(tryton_peer, tryton_accounting_db).create_partner(Partner(
        id="x", name="Papeterie Centrale SARL", vat_number="FR40303265045",
        address=Address(street="3 rue du Pont", postal_code="69001", city="Lyon", country_code="FR")), kind="supplier")
    flow = Flow.objects.create(tenant=tenant_a, name="Master data", kind=FlowKind.MASTER_DATA, source=books,
                               target=factorial, account_classes="467")
    # the first create of a contact "fails" after Factorial wrote it: the next run must not create it again
    fresh.state.faults.queue("500_after_write", count=1, method="POST", path_contains="finance/contacts")
    first = run_now(flow)
    assert first.status == RunStatus.FAILED
    second = run_now(flow)
    assert second.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), second.message
    third = run_now(flow)
    ours = [a for a in fresh.state.records("finance/accounts") if str(a.get("external_id", "")).isdigit()]
    numbers = Counter(a["external_id"] for a in ours)
    assert len(ours) > 100 and set(numbers.values()) == {1}
    contacts = [c for c in fresh.state.records("finance/contacts") if str(c.get("external_id", "")).isdigit()]
    assert [c["name"] for c in contacts] == ["Papeterie Centrale SARL"]
    assert third.synced_count == 0 and third.skipped_count == third.seen_count
    writes = [r for r in fresh.state.requests if r[0] in ("POST", "PUT")]
    calls_after_second = [c for c in third.call_log if c["method"] in ("POST", "PUT") and c["path"].startswith("/api/")]
    assert writes and not calls_after_second


@pytest.mark.django_db(transaction=True)
@pytest.mark.clock
def test_twenty_workers_on_an_expired_token_make_exactly_one_refresh(tenant_a, fresh):
    token = fresh.state.issue_token()
    connection = factorial_connection(tenant_a, fresh, auth_kind="oauth2", access_token=token["access_token"],
                                      refresh_token=token["refresh_token"], expires_at=time.time() - 10)
    fresh.state.expire_access_tokens()
    before = fresh.state.refresh_count
    errors, barrier = [], threading.Barrier(20)

    def worker():
        from django.db import connection as db

        try:
            barrier.wait()
            factorial = connection_connector(connection=Connection.objects.get(pk=connection.pk))
            factorial.list_tax_rates()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors[:3]
    assert fresh.state.refresh_count - before == 1
    stored = Connection.objects.get(pk=connection.pk).get_credentials()
    assert stored["refresh_token"] != token["refresh_token"] and stored["expires_at"] > time.time()


@pytest.mark.django_db
@pytest.mark.clock
def test_a_refused_refresh_pauses_the_flow_and_tells_the_owners_once(tenant_a, owner_a, fresh, tryton_peer,
                                                                     tryton_accounting_db):
    owner_a.email = "owner@alpha.example"
    owner_a.save()
    token = fresh.state.issue_token()
    factorial = factorial_connection(tenant_a, fresh, auth_kind="oauth2", access_token=token["access_token"],
                                     refresh_token=token["refresh_token"], expires_at=time.time() - 10)
    fresh.state.revoke_grant(refresh_token=token["refresh_token"])
    target = tryton_connection(tenant_a, tryton_peer, tryton_accounting_db)
    flow = Flow.objects.create(tenant=tenant_a, name="Paused", source=factorial, target=target,
                               start_date=dt.date(2026, 1, 1), enabled=True)
    run = run_now(flow)
    factorial.refresh_from_db()
    assert run.status == RunStatus.FAILED and "connect it again" in run.message.lower()
    assert factorial.status == ConnectionStatus.NEEDS_REAUTH
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["owner@alpha.example"]
    assert "needs to be connected again" in mail.outbox[0].subject
    # the schedule does not pile up failed runs meanwhile, and nobody is e-mailed again
    assert "paused" in scheduled_run(flow.pk)
    again = run_now(flow)
    assert again.status == RunStatus.FAILED and "nothing was attempted" in again.message
    assert SyncRun.objects.filter(flow=flow).count() == 2 and len(mail.outbox) == 1


@pytest.mark.django_db
def test_webhooks_are_subscribed_once_verified_deduplicated_and_start_a_run(client, tenant_a, owner_a, fresh,
                                                                          tryton_peer, tryton_accounting_db):
    factorial = factorial_connection(tenant_a, fresh)
    flow = documents_flow(tenant_a, factorial, tryton_connection(tenant_a, tryton_peer, tryton_accounting_db))
    flow_activate(flow=flow, start_first_run=False)
    client.force_login(owner_a)
    with override_settings(HUB_PUBLIC_URL="http://hub.example"):
        client.post(reverse("connection_webhooks", args=[tenant_a.slug, factorial.pk]))
        client.post(reverse("connection_webhooks", args=[tenant_a.slug, factorial.pk]))  # idempotent
    subscriptions = fresh.state.records("api_public/webhook_subscriptions")
    assert len(subscriptions) == 2 and all(s["target_url"].startswith("http://hub.example/hooks/") for s in subscriptions)
    factorial.refresh_from_db()
    challenge = factorial.get_credentials()["webhook_challenge"]
    url = reverse("webhook_receive", args=[factorial.webhook_token, "expenses/expensable/bulk_set_to_paid"])
    body = json.dumps({"id": "31001", "status": "paid"})
    assert client.post(url, body, content_type="application/json",
                       HTTP_X_FACTORIAL_WH_CHALLENGE="wrong").status_code == 403
    accepted = client.post(url, body, content_type="application/json", HTTP_X_FACTORIAL_WH_CHALLENGE=challenge)
    assert accepted.status_code == 202 and accepted.json()["runs"]
    assert accepted["x-factorial-wh-challenge"] == challenge
    verification = client.get(url, HTTP_X_FACTORIAL_WH_CHALLENGE=challenge)
    assert verification.status_code == 200 and verification.json() == {"challenge": challenge}
    run = SyncRun.objects.get(pk=accepted.json()["runs"][0])
    assert run.trigger == "webhook" and run.flow_id == flow.pk
    duplicate = client.post(url, body, content_type="application/json", HTTP_X_FACTORIAL_WH_CHALLENGE=challenge)
    assert duplicate.json() == {"status": "duplicate"} and WebhookDelivery.objects.count() == 1
    assert client.post(reverse("webhook_receive", args=["not-a-token", "x"]), body,
                       content_type="application/json").status_code == 404
