"""The demo of `make run`: a real Tryton invoicing company syncing into a real Tryton accounting company.

A trytond server (integration_hub.peers.tryton) runs on a fixed port with two demo databases:
- the invoicing company: customers, suppliers, some 90 posted invoices and credit notes, plus four
  invoices with deliberate problems (a line without tax, an unmapped 2.1 % rate, an unreadable
  "PDF", and a supplier invoice with a good PDF), and five awkward ones (reverse charge from a German
  and a Belgian supplier, a USD SaaS subscription, a USD sale, a line taxed twice);
- the accounting company: an empty French chart, where the flow books entries.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
import logging
import os
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow, VatMapping
from syncs.services import flow_activate
from tenants.models import Connection, Tenant
from tenants.services import connection_connector, connection_create

logger = logging.getLogger(__name__)

def _checkout_tag() -> str:
    """Demo databases belong to one checkout: a second clone on the same PostgreSQL gets its own."""
    import hashlib

    return hashlib.sha1(str(settings.BASE_DIR).encode()).hexdigest()[:6]


INVOICING_DB = f"hub_tryton_demo_{_checkout_tag()}_invoicing"
ACCOUNTING_PREFIX = f"hub_tryton_demo_{_checkout_tag()}_accounting"
FLOW_NAME = "Tryton invoicing → Tryton accounting"
UNMAPPED_RATE = "2.1"  # left unmapped on purpose: its invoices show MAPPING_TAX_RATE_NOT_FOUND


def demo_workdir() -> Path:
    return Path(settings.BASE_DIR) / "var" / "tryton-demo"


def demo_port() -> int:
    return int(os.environ.get("HUB_DEMO_TRYTON_PORT", "8010"))


def start_demo_tryton():
    from integration_hub.peers.tryton import TrytonPeer

    return TrytonPeer.start(demo_workdir(), port=demo_port(), keep_databases=True)


def ensure_invoicing_database(peer, *, out=print) -> str:
    ready = peer.sqlite_dir / f"{INVOICING_DB}.ready"  # written once the preparation below went through
    if peer.database_exists(INVOICING_DB):
        # its attachments are files beside the database; a preparation that was interrupted has no marker
        if ready.exists() and (peer.sqlite_dir / INVOICING_DB).is_dir():
            peer.warm_database(INVOICING_DB)  # trytond 8.2 must load a database before its first login
            return INVOICING_DB
        peer.drop_database(INVOICING_DB)  # interrupted, or var/ was deleted (the files are gone): start again
    out("Preparing the demo invoicing company in Tryton (about a minute, once)...")
    peer.create_database(INVOICING_DB, company_name="Atelier Démo SARL")
    today = dt.date.today()
    seeded = peer.run_setup(INVOICING_DB, "seed_invoicing", customers=8, suppliers=5, customer_invoices=60,
                   supplier_invoices=30, seed=2026, credit_note_every=9,
                   supplier_profiles=["fr_siret", "fr_siren"],
                   start_date=(today - dt.timedelta(days=150)).isoformat(), end_date=today.isoformat())
    peer.run_setup(INVOICING_DB, "add_problem_invoices")
    # Invoices that are not ordinary: intra-EU reverse charge, a USD SaaS subscription (reverse charge too), a
    # USD sale, a line taxed twice; the hub books each as Tryton itself did.
    try:
        peer.run_setup(INVOICING_DB, "add_awkward_invoices", day=(today - dt.timedelta(days=5)).isoformat())
    except Exception as exc:  # noqa: BLE001 - the rest of the demo does not depend on them
        print(f"(the demo's awkward invoices could not be added: {exc})")
    # Payments: one customer invoice paid in full and one in part, for the flow to book and letter.
    try:
        unpaid = [i for i in seeded["invoices"] if i["type"] == "out" and not i["credit_note"]][:2]
        for invoice, share in zip(unpaid, ("1", "0.4")):
            amount = (Decimal(str(invoice["total_amount"])) * Decimal(share)).quantize(Decimal("0.01"))
            peer.run_setup(INVOICING_DB, "pay_invoice", number=invoice["number"], amount=str(amount),
                           day=today.isoformat())
    except Exception as exc:  # noqa: BLE001 - the demo goes on without payments
        out(f"Demo payments not added: {exc}")
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.touch()
    return INVOICING_DB


def _credentials(peer, database: str) -> dict:
    return {"url": peer.url, "database": database, "username": peer.admin_user, "password": peer.admin_password}


def seed_demo_flow(tenant: Tenant, peer, *, out=print) -> Flow:
    """The demo flow, created and activated once (its first run is queued for the worker)."""
    flow = Flow.objects.filter(tenant=tenant, name=FLOW_NAME).select_related("source", "target").first()
    if flow is not None:
        # The hub database outlived a restart: keep the connections pointing at this server.
        for connection in (flow.source, flow.target):
            values = connection.get_credentials()
            if values.get("database") and peer.database_exists(values["database"]):
                peer.warm_database(values["database"])
            if values.get("url") != peer.url:
                values["url"] = peer.url
                connection.set_credentials(values)
                connection.save(update_fields=["credentials_ciphertext"])
        return flow
    source_db = ensure_invoicing_database(peer, out=out)
    # A fresh accounting company for a fresh hub database, so both always agree.
    target_db = peer.create_database(f"{ACCOUNTING_PREFIX}_{int(time.time())}", company_name="Cabinet Compta Démo")
    try:  # analytic axes named like Factorial's cost centres and projects: the Factorial flow maps them by name
        peer.run_setup(target_db, "add_analytic_accounts", root="Centres de coût",
                       names=["Siège Paris", "Atelier Montreuil", "Commercial", "R&D"])
        peer.run_setup(target_db, "add_analytic_accounts", root="Projets",
                       names=["Salon Maison & Objet", "Rénovation boutique Marais"])
    except Exception as exc:  # noqa: BLE001 - the demo goes on without analytic accounts
        out(f"Demo analytic accounts not added: {exc}")
    with transaction.atomic():
        Connection.objects.filter(tenant=tenant, name__in=["Tryton invoicing", "Tryton accounting"]).delete()
        source = connection_create(tenant=tenant, name="Tryton invoicing", provider="tryton", role="source",
                                   auth_kind="credentials", credentials=_credentials(peer, source_db))
        target = connection_create(tenant=tenant, name="Tryton accounting", provider="tryton", role="target",
                                   auth_kind="credentials", credentials=_credentials(peer, target_db))
        flow = Flow.objects.create(tenant=tenant, name=FLOW_NAME, source=source, target=target,
                                   start_date=dt.date.today() - dt.timedelta(days=200), schedule_minutes=15)
    src, tgt = connection_connector(connection=source), connection_connector(connection=target)
    try:
        flow_apply_suggestions(flow=flow, source=src, target=tgt)
    finally:
        src.close(), tgt.close()
    VatMapping.objects.filter(flow=flow, kind="sale", source_rate=UNMAPPED_RATE).delete()
    if flow.payment_journal_id and flow.bank_account:  # payments are booked and lettered
        flow.sync_payments = True
        flow.save(update_fields=["sync_payments"])
    flow_activate(flow=flow)
    out(f"Flow “{flow.name}” activated; its first run is queued for the worker.")
    return flow


# --- Factorial (the sandbox mounted in the hub at /sandbox/factorial/) -------------------------------
FACTORIAL_FLOW = "Factorial → Tryton accounting"
MASTER_DATA_FLOW = "Tryton accounting → Factorial (ledger accounts, contacts)"


def seed_factorial_demo(tenant: Tenant, *, base_url: str, out=print) -> list[Flow]:
    """Once the web app answers (the sandbox lives in it): a Factorial connection, the documents and
    expenses flow into the demo's Tryton accounting company, and the master data flow back."""
    from mappings.models import FlowKind
    from syncs import webhooks

    accounting = Flow.objects.filter(tenant=tenant, name=FLOW_NAME).select_related("target").first()
    if accounting is None or accounting.target is None:
        return []
    # Factorial's address is the hub's setting, not the connection's: make run's .env points it at the sandbox.
    sandbox = base_url.rstrip("/") + "/sandbox/factorial"
    if settings.HUB_FACTORIAL_BASE_URL.rstrip("/") != sandbox:
        out(f"Note: HUB_FACTORIAL_BASE_URL is {settings.HUB_FACTORIAL_BASE_URL}, not this web app's sandbox "
            f"({sandbox}); the Factorial flows call that address.")
    factorial = Connection.objects.filter(tenant=tenant, name="Factorial (sandbox)").first()
    if factorial is None:
        factorial = connection_create(
            tenant=tenant, name="Factorial (sandbox)", provider="factorial", role="source", auth_kind="api_key",
            credentials={"api_key": settings.HUB_SANDBOX_FACTORIAL_API_KEY})
    flows = []
    documents = Flow.objects.filter(tenant=tenant, name=FACTORIAL_FLOW).first()
    if documents is None:
        documents = Flow.objects.create(tenant=tenant, name=FACTORIAL_FLOW, source=factorial, target=accounting.target,
                                        start_date=dt.date.today() - dt.timedelta(days=200), schedule_minutes=30)
        src = connection_connector(connection=factorial)
        tgt = connection_connector(connection=accounting.target)
        try:
            flow_apply_suggestions(flow=documents, source=src, target=tgt)
        finally:
            src.close(), tgt.close()
        flow_activate(flow=documents)
        out(f"Flow “{documents.name}” activated.")
    flows.append(documents)
    master = Flow.objects.filter(tenant=tenant, name=MASTER_DATA_FLOW).first()
    if master is None:
        master = Flow.objects.create(tenant=tenant, name=MASTER_DATA_FLOW, kind=FlowKind.MASTER_DATA,
                                     source=accounting.target, target=factorial, account_classes="467",
                                     schedule_minutes=60)
        flow_activate(flow=master)
        out(f"Flow “{master.name}” activated.")
    flows.append(master)
    try:
        webhooks.subscribe(factorial)
    except Exception as exc:  # noqa: BLE001 - the demo goes on without events
        out(f"Factorial events not subscribed: {exc}")
    return flows
