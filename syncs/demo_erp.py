"""The manufacturing part of `make run` (issue 16): an ERP company in the demo's Tryton syncing into the Xero sandbox.

The tenant "Atelier Mécanique (ERP → Xero demo)" has a document flow from the ERP company (customers, suppliers,
products, quotes, sales orders, invoices, purchase orders, bills) into the sandbox's organisation
"Demo Company (Global)", every object type switched on. Like the Harbour demo (syncs/demo_xero.py) it runs once
the web app answers, because the sandbox lives in the web app, and its Xero connection is made the way a person
makes it: consent on the sandbox's page, the code exchanged for tokens.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from mappings.models import Flow, FlowKind
from mappings.services import vat_mapping_set
from syncs.demo import _checkout_tag, _credentials
from syncs.demo_xero import EXTRA_RATES, sandbox_consent
from syncs.services import flow_activate
from tenants.models import Connection, Role, Tenant
from tenants.services import connection_connector, connection_create, membership_set, tenant_create

TENANT_SLUG = "manufacturing"
TENANT_NAME = "Atelier Mécanique (ERP → Xero demo)"
FLOW_NAME = "Tryton ERP → Xero"
ORGANISATION = "Demo Company (Global)"
ERP_DB = f"hub_tryton_demo_{_checkout_tag()}_erp"
ERP_CONNECTION, XERO_CONNECTION = "Tryton ERP", "Xero (sandbox)"
SALES_ACCOUNT, PURCHASE_ACCOUNT = "200", "310"  # Sales, Cost of Goods Sold in the organisation's chart
#: Xero's own tax types for the ERP rates the organisation already has; 5.5 % and 10 % are created (EXTRA_RATES).
STANDARD_TAX_TYPES = {("sale", Decimal("20")): "OUTPUT2", ("purchase", Decimal("20")): "INPUT2",
                      ("sale", Decimal("0")): "ZERORATEDOUTPUT", ("purchase", Decimal("0")): "ZERORATEDINPUT"}


def ensure_erp_database(peer, *, out: Callable[[str], object] = print) -> str:
    """The ERP company, prepared once per checkout (the `.ready` marker says the seeding went through)."""
    ready = peer.sqlite_dir / f"{ERP_DB}.ready"
    if peer.database_exists(ERP_DB):
        if ready.exists():
            peer.warm_database(ERP_DB)  # trytond must load a database before its first login
            return ERP_DB
        peer.drop_database(ERP_DB)  # an interrupted preparation: start again
    out("Preparing the demo ERP company in Tryton (sales, purchases, products: about 80 s the first time, "
        "when Tryton's ERP template is built; a few seconds after that)...")
    peer.create_database(ERP_DB, kind="erp", company_name="Atelier Mécanique SAS")
    today = dt.date.today()
    peer.run_setup(ERP_DB, "seed_erp", customers=8, suppliers=4, products=14, quotes=6, orders=10,
                   invoiced_orders=5, purchase_orders=6, billed_purchases=3, seed=2016,
                   start_date=(today - dt.timedelta(days=60)).isoformat(), end_date=today.isoformat())
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.touch()
    return ERP_DB


def _prepare_organisation(target: Connection) -> dict[tuple[str, Decimal], str]:
    """Pick the organisation (what the picker after consent stores), give it the French rates it lacks, and
    return its tax types by (kind, rate)."""
    xero = connection_connector(connection=target)
    try:
        chosen = [tid for tid, name in xero.organisations() if name == ORGANISATION]
        if not chosen:
            raise RuntimeError(f"the consent did not grant the organisation {ORGANISATION!r}")
        xero.store.refresh_locked(lambda current: {**current, "tenant_id": chosen[0], "tenant_name": ORGANISATION})
        xero.credentials.update(tenant_id=chosen[0])
        have = {(code.kind, code.rate) for code in xero.list_vat_codes()}
        for rate, name, report in EXTRA_RATES:
            kind = "sale" if report == "OUTPUT" else "purchase"
            if (kind, Decimal(rate)) not in have:
                xero.client.write("PUT", "TaxRates", {"TaxRates": [{
                    "Name": name, "ReportTaxType": report, "TaxComponents": [{"Name": "VAT", "Rate": float(rate)}]}]},
                    idempotency_key=f"demo-erp-tax-{chosen[0]}-{name}")
        xero._cache.clear()
        codes: dict[tuple[str, Decimal], str] = {}
        for code in xero.list_vat_codes():
            if code.rate is None:
                continue
            for kind in (("sale", "purchase") if code.kind == "both" else (code.kind,)):
                codes.setdefault((kind, code.rate), code.id)
        codes.update(STANDARD_TAX_TYPES)  # the usual types win over others of the same rate (EXEMPT..., NONE)
        return codes
    finally:
        xero.close()


def _map_erp_taxes(flow: Flow, codes: dict[tuple[str, Decimal], str]) -> int:
    """Each of the ERP's taxes to the Xero tax type of its rate; a reverse charge (the ERP's document shows no
    VAT) to zero-rated, so Xero's totals stay the ERP's. Rates Xero has no type for are left unmapped."""
    source = connection_connector(connection=flow.source)
    mapped = 0
    try:
        for tax in source.list_tax_rates():
            for kind in (("sale", "purchase") if tax.kind == "both" else (tax.kind,)):
                rate = Decimal("0") if tax.reverse_charge else tax.rate
                code = codes.get((kind, rate))
                if code:
                    # by the rate it is mapped at: the flow's fallback by rate must not send 20 % to zero-rated
                    vat_mapping_set(flow=flow, kind=kind, source_tax_id=tax.id, source_rate=rate,
                                    source_label=tax.name, target_vat_code_id=code, target_vat_code_label=code)
                    mapped += 1
    finally:
        source.close()
    return mapped


def _keep_pointing_at(flow: Flow, peer) -> None:
    """The hub database outlived a restart: the ERP connection follows this Tryton server."""
    connection = flow.source
    values = connection.get_credentials()
    if values.get("database") and peer.database_exists(values["database"]):
        peer.warm_database(values["database"])
    if values.get("url") != peer.url:
        values["url"] = peer.url
        connection.set_credentials(values)
        connection.save(update_fields=["credentials_ciphertext"])


def seed_erp_demo(*, base_url: str, peer, owner, out: Callable[[str], object] = print) -> Flow | None:
    """The manufacturing tenant, its ERP and Xero connections and its document flow, activated (idempotent)."""
    existing = Flow.objects.filter(tenant__slug=TENANT_SLUG, name=FLOW_NAME).select_related("source").first()
    if existing is not None:
        _keep_pointing_at(existing, peer)
        return existing
    sandbox = base_url.rstrip("/") + "/sandbox/xero"
    if settings.HUB_XERO_API_URL.rstrip("/") != sandbox:
        out(f"Note: HUB_XERO_API_URL is {settings.HUB_XERO_API_URL}, not this web app's sandbox ({sandbox}); "
            "the manufacturing (ERP → Xero) demo is left out.")
        return None
    database = ensure_erp_database(peer, out=out)
    tokens = sandbox_consent(sandbox, base_url.rstrip("/") + "/oauth/callback/", ORGANISATION, state="demo-erp")
    with transaction.atomic():
        tenant = Tenant.objects.filter(slug=TENANT_SLUG).first() or tenant_create(
            name=TENANT_NAME, slug=TENANT_SLUG, country="FR", base_currency="EUR")
        membership_set(tenant=tenant, user=owner, role=Role.OWNER)
        # left by an attempt that stopped before its flow existed
        Connection.objects.filter(tenant=tenant, name__in=[ERP_CONNECTION, XERO_CONNECTION],
                                  flows_as_source__isnull=True, flows_as_target__isnull=True).delete()
        source = connection_create(tenant=tenant, name=ERP_CONNECTION, provider="tryton", role="source",
                                   auth_kind="credentials", credentials=_credentials(peer, database))
        target = connection_create(tenant=tenant, name=XERO_CONNECTION, provider="xero", role="target",
                                   auth_kind="oauth2", credentials=tokens)
    codes = _prepare_organisation(target)
    target.refresh_from_db()
    flow = Flow.objects.create(
        tenant=tenant, name=FLOW_NAME, kind=FlowKind.DOCUMENTS, source=source, target=target,
        default_sales_account=SALES_ACCOUNT, default_purchase_account=PURCHASE_ACCOUNT, create_contacts=True,
        create_items=True, start_date=dt.date.today() - dt.timedelta(days=200), schedule_minutes=5)
    mapped = _map_erp_taxes(flow, codes)
    flow_activate(flow=flow)
    out(f"Flow “{flow.name}” (tenant {tenant.name}) activated: every object type on, {mapped} VAT mappings; "
        "its first run is queued.")
    return flow
