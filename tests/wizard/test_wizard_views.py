"""The onboarding wizard through Django's test client, against the live Tryton."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from mappings.models import Flow, VatMapping
from tenants.models import Role
from tenants.services import membership_set
from tests.support.tryton import credentials

pytestmark = [pytest.mark.django_db, pytest.mark.tryton, pytest.mark.clock]


def selected(html: str, name: str) -> str:
    block = re.search(rf'<select name="{re.escape(name)}".*?</select>', html, re.S).group(0)
    found = re.search(r'<option value="([^"]*)" selected', block)
    return found.group(1) if found else ""


def post_connection(client, flow, step, peer, database, **overrides):
    values = credentials(peer, database, **overrides)
    url = reverse("wizard_step", args=[flow.tenant.slug, flow.pk, step])
    return client.post(url, {"provider": "tryton", "auth_kind": "credentials", "name": f"Tryton {step}",
                             "cred_url": values["url"], "cred_database": values["database"],
                             "cred_username": values["username"], "cred_password": values["password"],
                             "action": "save"})


def test_only_owners_may_run_the_wizard(client, make_user, tenant_a):
    accountant = make_user("acc")
    membership_set(tenant=tenant_a, user=accountant, role=Role.ACCOUNTANT)
    client.force_login(accountant)
    assert client.get(reverse("wizard_start", args=[tenant_a.slug])).status_code == 403


def test_the_wizard_resumes_the_unfinished_flow_where_the_owner_stopped(client, owner_a, tenant_a):
    client.force_login(owner_a)
    first = client.get(reverse("wizard_start", args=[tenant_a.slug]))
    flow = Flow.objects.get(tenant=tenant_a)
    assert first["Location"] == reverse("wizard_step", args=[tenant_a.slug, flow.pk, "source"])
    Flow.objects.filter(pk=flow.pk).update(wizard_step="accounts")
    again = client.get(reverse("wizard_start", args=[tenant_a.slug]))
    assert again["Location"] == reverse("wizard_step", args=[tenant_a.slug, flow.pk, "accounts"])
    fresh = client.get(reverse("wizard_start", args=[tenant_a.slug]) + "?new=1")
    assert Flow.objects.filter(tenant=tenant_a).count() == 2 and fresh.status_code == 302


def test_a_wizard_flow_of_another_tenant_is_a_404(client, owner_b, tenant_a):
    flow = Flow.objects.create(tenant=tenant_a, name="A's flow")
    client.force_login(owner_b)
    for step in ("source", "accounts", "review"):
        assert client.get(reverse("wizard_step", args=[tenant_a.slug, flow.pk, step])).status_code == 404
        assert client.get(reverse("wizard_step", args=["beta", flow.pk, step])).status_code == 404


def test_mapping_steps_offer_live_lists_with_suggestions(client, owner_a, tenant_a, tryton_peer, tryton_invoicing_db,
                                                         tryton_accounting_db):
    client.force_login(owner_a)
    client.get(reverse("wizard_start", args=[tenant_a.slug]))
    flow = Flow.objects.get(tenant=tenant_a)
    assert post_connection(client, flow, "source", tryton_peer, tryton_invoicing_db[0]).status_code == 302
    assert post_connection(client, flow, "target", tryton_peer, tryton_accounting_db).status_code == 302
    vat_page = client.get(reverse("wizard_step", args=[tenant_a.slug, flow.pk, "sale_vat"])).content.decode()
    assert "T.V.A. Vente de biens Taux Normal — 20 %" in vat_page and "suggested" in vat_page
    accounts = client.get(reverse("wizard_step", args=[tenant_a.slug, flow.pk, "accounts"])).content.decode()
    assert selected(accounts, "customer_collective_account") == "4111"
    assert selected(accounts, "credit_rounding_account") == "758"
    assert selected(accounts, "default_sales_account").startswith("707")
    assert ">411 " not in accounts  # closed grouping accounts are not offered
    # saving the suggested VAT mapping
    form = {}
    for name, value in re.findall(r'<select name="(tax_\d+)".*?<option value="([^"]*)" selected', vat_page, re.S):
        form[name] = value
    client.post(reverse("wizard_step", args=[tenant_a.slug, flow.pk, "sale_vat"]), form)
    assert VatMapping.objects.filter(flow=flow, kind="sale").count() == len(form) > 5


def test_a_connection_that_fails_says_why_and_keeps_what_was_typed(client, owner_a, tenant_a, tryton_peer,
                                                                   tryton_accounting_db):
    client.force_login(owner_a)
    client.get(reverse("wizard_start", args=[tenant_a.slug]))
    flow = Flow.objects.get(tenant=tenant_a)
    response = post_connection(client, flow, "target", tryton_peer, tryton_accounting_db, password="not-the-password")
    page = response.content.decode()
    assert response.status_code == 200
    assert "The connection failed: Tryton refused the user name or password" in page
    assert f'value="{tryton_accounting_db}"' in page and f'value="{tryton_peer.url}"' in page
    assert "not-the-password" not in page
    flow.refresh_from_db()
    assert flow.target is not None and flow.target.status == "error"
