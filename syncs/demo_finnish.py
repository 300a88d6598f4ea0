"""The Finnish part of `make run` (issue 17): a Finnish invoicing company in the demo's Tryton booking into the
Netvisor and Procountor sandboxes the web app mounts.

The tenant "Pohjoisen Laskutus Oy (Finnish demo)" has two flows from the same Tryton company:
- Tryton → Netvisor: sales as Netvisor sales invoices (followed for status and payments), purchases as vouchers
  (class Ostolasku), payments with their interest and collection fees accounts;
- Tryton → Procountor: sales and purchases as Procountor invoices, payments recorded on them.
Both are configured as a person would in the wizard: VAT rates mapped from each target's live list, the usual
Finnish accounts of each chart, journals chosen among what each target offers. Like the other sandbox demos it
runs once the web app answers (the sandboxes live in it), and only when the settings point at them.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow
from syncs.demo import _checkout_tag, _credentials
from syncs.demo_erp import _keep_pointing_at
from syncs.services import flow_activate
from tenants.models import Connection, Role, Tenant
from tenants.services import connection_connector, connection_create, membership_set, tenant_create

TENANT_SLUG = "finnish"
TENANT_NAME = "Pohjoisen Laskutus Oy (Finnish demo)"
COMPANY_NAME = "Pohjoisen Laskutus Oy"
FI_DB = f"hub_tryton_demo_{_checkout_tag()}_finnish"
TRYTON_CONNECTION, NETVISOR_CONNECTION, PROCOUNTOR_CONNECTION = "Tryton (Finnish company)", "Netvisor (sandbox)", \
    "Procountor (sandbox)"
NETVISOR_FLOW, PROCOUNTOR_FLOW = "Tryton → Netvisor", "Tryton → Procountor"

# What a person picks in the wizard for each target (both sandboxes have the usual Finnish chart): sales and
# purchases, receivables and payables, the bank, rounding, and where interest and collection fees go. Netvisor's
# chart has no interest income account: the flow leaves it empty, so a payment carrying interest is explained
# on the error desk instead of being booked on a guess.
NETVISOR_SETTINGS = {
    "sales_journal": ("invoice:sales", "Sales invoices (Netvisor follows them)"),
    "purchase_journal": ("voucher:Ostolasku", "Vouchers, class Ostolasku"),
    "payment_journal": ("voucher:Suoritus", "Vouchers, class Suoritus"),
    "default_sales_account": "3000", "default_purchase_account": "4000",
    "customer_collective_account": "1701", "supplier_collective_account": "2871",
    "credit_rounding_account": "8570", "debit_rounding_account": "8570",
    "bank_account": "1910", "interest_account": "", "collection_fees_account": "9170",
    "sales_rounding_vat_code": ("KOMY:25.5", "KOMY 25.5 %"), "purchase_rounding_vat_code": ("KOOS:25.5", "KOOS 25.5 %"),
}
PROCOUNTOR_SETTINGS = {
    "sales_journal": ("invoice:sales", "Sales invoices (Procountor follows them)"),
    "purchase_journal": ("invoice:purchase", "Purchase invoices (sent to circulation)"),
    "payment_journal": ("receipt:JOURNAL", "Ledger receipts (JOURNAL)"),
    "default_sales_account": "3000", "default_purchase_account": "4000",
    "customer_collective_account": "1701", "supplier_collective_account": "2871",
    "credit_rounding_account": "3700", "debit_rounding_account": "8500",
    "bank_account": "1910", "interest_account": "9160", "collection_fees_account": "3700",
    "sales_rounding_vat_code": ("sale:1:25.5", "25.5 % domestic"),
    "purchase_rounding_vat_code": ("purchase:1:25.5", "25.5 % domestic"),
}


def sandbox_urls(base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {"netvisor": base + "/sandbox/netvisor", "procountor": base + "/sandbox/procountor"}


def netvisor_credentials() -> dict:
    """The company keys the mounted Netvisor sandbox accepts."""
    from sandboxes.urls import netvisor_company_keys

    return netvisor_company_keys()


def procountor_credentials() -> dict:
    """The API key the mounted Procountor sandbox accepts. Procountor does not send the invoices it receives
    (NO_SENDING): the invoicing tool already sent them."""
    from sandboxes.urls import procountor_company_keys

    return {**procountor_company_keys(), "invoice_channel": "NO_SENDING"}


UNDELIVERABLE_CUSTOMER = "Osoitteeton Asiakas Oy"


def ensure_finnish_database(peer, *, out: Callable[[str], object] = print) -> str:
    """The Finnish company, prepared once per checkout (the `.ready` marker says the seeding went through)."""
    ready = peer.sqlite_dir / f"{FI_DB}.ready-2"  # -2: with the undeliverable invoice
    if peer.database_exists(FI_DB):
        if ready.exists():
            peer.warm_database(FI_DB)  # trytond must load a database before its first login
            return FI_DB
        peer.drop_database(FI_DB)  # an interrupted preparation: start again
    out("Preparing the demo's Finnish company in Tryton (taxes, parties, invoices, payments: about a minute, "
        "once)...")
    peer.create_database(FI_DB, company_name=COMPANY_NAME)
    today = dt.date.today()
    # This year only: Procountor keeps last year's books closed.
    start = max(dt.date(today.year, 1, 1), today - dt.timedelta(days=60))
    peer.run_setup(FI_DB, "seed_finnish", customers=5, suppliers=3, invoices=12, supplier_invoices=5, paid=4,
                   seed=17, start_date=start.isoformat(), end_date=today.isoformat())
    # The refused invoice of the demo: a customer known by name only; Netvisor accepts the invoice, then reports it
    # undeliverable (within HUB_SANDBOX_REJECT_AFTER_SECONDS on the mounted sandbox) and the desk explains it.
    peer.run_setup(FI_DB, "fi_undeliverable_invoice", name=UNDELIVERABLE_CUSTOMER, business_id="2345678-0",
                   day=today.isoformat())
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.touch()
    return FI_DB


def _points_at_sandboxes(urls: dict[str, str], out) -> bool:
    wrong = [(name, value) for name, value in (("HUB_NETVISOR_API_URL", settings.HUB_NETVISOR_API_URL),
                                               ("HUB_PROCOUNTOR_API_URL", settings.HUB_PROCOUNTOR_API_URL))
             if not value.rstrip("/").startswith(urls[name.split("_")[1].lower()])]
    for name, value in wrong:
        out(f"Note: {name} is {value}, not this web app's sandbox; the Finnish demo is left out.")
    return not wrong


def _configure(flow: Flow, choices: dict) -> list[str]:
    """The wizard's steps for one flow: VAT from the target's live list (the suggestions), then the journals and
    accounts a person picks in that target's chart. Returns what stays unmapped."""
    source, target = connection_connector(connection=flow.source), connection_connector(connection=flow.target)
    try:
        missing = flow_apply_suggestions(flow=flow, source=source, target=target)
    finally:
        source.close(), target.close()
    flow.refresh_from_db()
    for field, value in choices.items():
        if field.endswith(("_journal", "_vat_code")):
            setattr(flow, f"{field}_id", value[0])
            setattr(flow, f"{field}_label", value[1])
        else:
            setattr(flow, field, value)
    flow.sync_payments = True
    flow.save()
    return [m for m in missing if "VAT" in m and "rounding" not in m]


def seed_finnish_demo(*, base_url: str, peer, owner, out: Callable[[str], object] = print) -> list[Flow]:
    """The Finnish tenant, its Tryton, Netvisor and Procountor connections and both flows, activated
    (idempotent: a restart keeps them and re-points the Tryton connection at this server)."""
    existing = list(Flow.objects.filter(tenant__slug=TENANT_SLUG, name__in=[NETVISOR_FLOW, PROCOUNTOR_FLOW])
                    .select_related("source").order_by("name"))
    if len(existing) == 2:
        _keep_pointing_at(existing[0], peer)  # both flows share the Tryton connection
        return existing
    urls = sandbox_urls(base_url)
    if not _points_at_sandboxes(urls, out):
        return []
    database = ensure_finnish_database(peer, out=out)
    with transaction.atomic():
        tenant = Tenant.objects.filter(slug=TENANT_SLUG).first() or tenant_create(
            name=TENANT_NAME, slug=TENANT_SLUG, country="FI", base_currency="EUR")
        membership_set(tenant=tenant, user=owner, role=Role.OWNER)
        # left by an attempt that stopped before its flows existed
        Flow.objects.filter(tenant=tenant, name__in=[NETVISOR_FLOW, PROCOUNTOR_FLOW], enabled=False).delete()
        Connection.objects.filter(tenant=tenant, flows_as_source__isnull=True, flows_as_target__isnull=True).delete()
        source = Connection.objects.filter(tenant=tenant, name=TRYTON_CONNECTION).first() or connection_create(
            tenant=tenant, name=TRYTON_CONNECTION, provider="tryton", role="source", auth_kind="credentials",
            credentials=_credentials(peer, database))
        targets = {}
        for name, provider, credentials in ((NETVISOR_CONNECTION, "netvisor", netvisor_credentials()),
                                            (PROCOUNTOR_CONNECTION, "procountor", procountor_credentials())):
            targets[provider] = Connection.objects.filter(tenant=tenant, name=name).first() or connection_create(
                tenant=tenant, name=name, provider=provider, role="target", auth_kind="credentials",
                credentials=credentials)
    start = dt.date(dt.date.today().year, 1, 1)  # Procountor's books before this year are closed
    flows = []
    for name, provider, choices in ((NETVISOR_FLOW, "netvisor", NETVISOR_SETTINGS),
                                    (PROCOUNTOR_FLOW, "procountor", PROCOUNTOR_SETTINGS)):
        flow = Flow.objects.filter(tenant=tenant, name=name).first()
        if flow is None:
            flow = Flow.objects.create(tenant=tenant, name=name, source=source, target=targets[provider],
                                       start_date=start, schedule_minutes=5)
        if not flow.enabled:
            unmapped = _configure(flow, choices)
            flow_activate(flow=flow)
            note = f"; left unmapped: {', '.join(unmapped)}" if unmapped else ""
            out(f"Flow “{flow.name}” (tenant {tenant.name}) activated{note}; its first run is queued.")
        flows.append(flow)
    return flows
