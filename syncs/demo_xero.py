"""The Xero part of `make run`: a second tenant whose Tryton invoicing company books into the Xero sandbox.

The sandbox lives in the web app (/sandbox/xero/), so this runs once the web app answers. The connection is an
OAuth2 one made the way a person makes it: consent on the sandbox's page (for the organisation "Harbour Trading
Ltd"), the code exchanged for tokens, which then rotate at every refresh. The organisation is given tax rates
for the French rates it lacks (10 %, 5.5 %), as an accountant would create them; the 2.1 % sales rate is mapped
to a purchase tax rate on purpose, so that Xero refuses those invoices and the error desk explains why.
"""
from __future__ import annotations

import datetime as dt
import urllib.parse
from decimal import Decimal

import requests
from django.conf import settings
from django.db import transaction

from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow, VatMapping
from mappings.services import vat_mapping_set
from syncs.entries import rate_key
from syncs.services import flow_activate
from tenants.models import Connection, Role, Tenant
from tenants.services import connection_connector, connection_create, membership_set, tenant_create

TENANT_SLUG = "harbour"
FLOW_NAME = "Tryton invoicing → Xero"
ORGANISATION = "Harbour Trading Ltd"
EXTRA_RATES = [("10", "10% (VAT on Income, FR)", "OUTPUT"), ("5.5", "5.5% (VAT on Income, FR)", "OUTPUT"),
               ("10", "10% (VAT on Expenses, FR)", "INPUT"), ("5.5", "5.5% (VAT on Expenses, FR)", "INPUT")]
WRONG_RATE = "2.1"  # mapped to a purchase tax rate on purpose: Xero refuses those sales invoices


def sandbox_consent(sandbox: str, redirect_uri: str, organisation: str, state: str = "demo") -> dict:
    """A person's consent on the sandbox's page for one organisation, and the code exchanged for tokens (as the
    hub's OAuth callback would store them)."""
    from sandboxes.xero.seed import tenant_id

    client_id, secret, scope = settings.HUB_XERO_CLIENT_ID, settings.HUB_XERO_CLIENT_SECRET, settings.HUB_XERO_SCOPE
    ask = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
           "state": state}
    requests.get(f"{sandbox}/identity/connect/authorize", params=ask, timeout=10).raise_for_status()
    form = {**ask, "decision": "allow", "tenant_choice": "1", f"tenant_{tenant_id(organisation)}": "on"}
    answer = requests.post(f"{sandbox}/identity/connect/authorize", data=form, allow_redirects=False, timeout=10)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(answer.headers.get("Location", "")).query).get("code", [""])[0]
    if not code:
        raise RuntimeError(f"the Xero sandbox gave no authorisation code ({answer.status_code})")
    token = requests.post(f"{sandbox}/connect/token", auth=(client_id, secret), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
    token.raise_for_status()
    values = token.json()
    return {"access_token": values["access_token"], "refresh_token": values.get("refresh_token", ""),
            "token_type": "Bearer", "expires_at": dt.datetime.now().timestamp() + float(values.get("expires_in", 1800))}


def _link_one_customer_to_an_archived_contact(flow: Flow, source, target) -> None:
    """One customer linked, as if long ago, to a contact that has since been archived in Xero: Xero refuses that
    customer's invoices (ERROR_SYNC_INVOICE_TARGET_CONTACT_ARCHIVED), and the error desk says how to fix it."""
    from syncs.models import PartnerLink

    archived = target.client.get("Contacts", includeArchived="true",
                                 where='ContactStatus=="ARCHIVED"').get("Contacts") or []
    from integration_hub.connectors.types import Scope

    customer = next((i.partner for i in source.list_invoices(since=None, scope=Scope.SALES)
                     if i.partner is not None and i.partner.name), None)
    if not archived or customer is None:
        return
    PartnerLink.objects.get_or_create(source=flow.source, target=flow.target, source_partner_id=customer.id, defaults={
        "tenant": flow.tenant, "target_partner_id": archived[0]["ContactID"], "name": customer.name[:200],
        "matched_by": "name"})


def seed_xero_demo(*, base_url: str, invoicing: Connection, owner, out=print) -> Flow | None:
    """The Harbour tenant, its Xero connection and its flow from the demo's invoicing company (idempotent)."""
    existing = Flow.objects.filter(tenant__slug=TENANT_SLUG, name=FLOW_NAME).first()
    if existing is not None:
        return existing
    sandbox = base_url.rstrip("/") + "/sandbox/xero"
    if settings.HUB_XERO_API_URL.rstrip("/") != sandbox:
        out(f"Note: HUB_XERO_API_URL is {settings.HUB_XERO_API_URL}, not this web app's sandbox ({sandbox}); "
            "the Xero demo is left out.")
        return None
    tokens = sandbox_consent(sandbox, base_url.rstrip("/") + "/oauth/callback/", ORGANISATION)
    with transaction.atomic():
        tenant = Tenant.objects.filter(slug=TENANT_SLUG).first() or tenant_create(
            name="Harbour Trading (Xero demo)", slug=TENANT_SLUG, country="FR", base_currency="EUR")
        membership_set(tenant=tenant, user=owner, role=Role.OWNER)
        source = connection_create(tenant=tenant, name="Tryton invoicing", provider="tryton", role="source",
                                   auth_kind="credentials", credentials=invoicing.get_credentials())
        target = connection_create(tenant=tenant, name="Xero (sandbox)", provider="xero", role="target",
                                   auth_kind="oauth2", credentials=tokens)
    xero = connection_connector(connection=target)
    try:
        organisations = xero.organisations()
        harbour = [tenant_id for tenant_id, name in organisations if name == ORGANISATION]
        if harbour:  # what the organisation picker stores after consent
            xero.store.refresh_locked(lambda current: {**current, "tenant_id": harbour[0], "tenant_name": ORGANISATION})
            xero.credentials.update(tenant_id=harbour[0])
        have = {(code.rate, code.kind) for code in xero.list_vat_codes()}
        for rate, name, report in EXTRA_RATES:
            kind = "sale" if report == "OUTPUT" else "purchase"
            if (Decimal(rate), kind) not in have:
                xero.client.write("PUT", "TaxRates", {"TaxRates": [{
                    "Name": name, "ReportTaxType": report, "TaxComponents": [{"Name": "VAT", "Rate": float(rate)}]}]},
                    idempotency_key=f"demo-tax-{name}")
        xero._cache.clear()
    finally:
        xero.close()
    target.refresh_from_db()
    flow = Flow.objects.create(tenant=tenant, name=FLOW_NAME, source=source, target=target,
                               start_date=dt.date.today() - dt.timedelta(days=200), schedule_minutes=30)
    src, tgt = connection_connector(connection=source), connection_connector(connection=target)
    try:
        flow_apply_suggestions(flow=flow, source=src, target=tgt)
        wrong = next((c for c in tgt.list_vat_codes() if c.kind == "purchase" and c.rate == Decimal("20")), None)
        for rate in src.list_tax_rates():
            if rate.kind in ("sale", "both") and rate_key(rate.rate) == WRONG_RATE and wrong is not None:
                vat_mapping_set(flow=flow, kind="sale", source_tax_id=rate.id, source_rate=rate.rate,
                                source_label=rate.name, target_vat_code_id=wrong.id, target_vat_code_label=wrong.code)
        _link_one_customer_to_an_archived_contact(flow, src, tgt)
    finally:
        src.close(), tgt.close()
    flow.refresh_from_db()
    unmapped = VatMapping.objects.filter(flow=flow).count()
    flow_activate(flow=flow)
    out(f"Flow “{flow.name}” (tenant {tenant.name}) activated with {unmapped} VAT mappings; its first run is queued.")
    return flow
