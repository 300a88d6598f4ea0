"""The Links page of a document flow: who reaches it and what it refuses, without a live ERP (the listing, changes
and the import against Tryton and the Xero sandbox are in test_flow_links_tryton.py)."""
from __future__ import annotations

import pytest
from django.urls import reverse

from mappings.models import Flow, FlowKind
from syncs.models import PartnerLink
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import make_flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def document_flow(tenant_a):
    """A document flow whose tools are not an ERP and Xero (memory books): the page explains, never crashes."""
    return make_flow(tenant_a, name="docs", kind=FlowKind.DOCUMENTS)


def links_url(flow: Flow, name: str = "flow_links") -> str:
    return reverse(name, args=[flow.tenant.slug, flow.pk])


def test_an_invoice_flow_has_no_links_page(client, owner_a, tenant_a):
    flow = make_flow(tenant_a, name="invoices")
    client.force_login(owner_a)
    assert client.get(links_url(flow)).status_code == 404
    assert client.post(links_url(flow, "flow_link_party"), {"party": "1", "contact": ""}).status_code == 404
    assert b"flow-links" not in client.get(reverse("flow_detail", args=[tenant_a.slug, flow.pk])).content


def test_another_tenant_s_document_flow_looks_missing_to_every_action(client, owner_b, document_flow):
    PartnerLink.objects.create(tenant=document_flow.tenant, source=document_flow.source, target=document_flow.target,
                               source_partner_id="7", target_partner_id="c-7", name="Dupont")
    client.force_login(owner_b)
    for name in ("flow_links", "flow_link_party", "flow_link_product", "flow_links_import"):
        answer = client.post(links_url(document_flow, name), {"party": "7", "product": "7"}) \
            if name != "flow_links" else client.get(links_url(document_flow))
        assert answer.status_code == 404, name
    # the slug of the other tenant in the URL does not help either
    other = reverse("flow_links", args=["beta", document_flow.pk])
    assert client.get(other).status_code == 404
    assert PartnerLink.objects.filter(source_partner_id="7").exists()


def test_a_viewer_reads_the_page_but_cannot_change_a_link_or_import(client, make_user, document_flow):
    viewer = make_user("viewer")
    membership_set(tenant=document_flow.tenant, user=viewer, role=Role.VIEWER)
    PartnerLink.objects.create(tenant=document_flow.tenant, source=document_flow.source, target=document_flow.target,
                               source_partner_id="7", target_partner_id="c-7", name="Dupont")
    client.force_login(viewer)
    page = client.get(links_url(document_flow))
    assert page.status_code == 200
    assert b"Save" not in page.content and b"import-contacts" not in page.content
    assert client.post(links_url(document_flow, "flow_link_party"), {"party": "7", "contact": ""}).status_code == 403
    assert client.post(links_url(document_flow, "flow_links_import")).status_code == 403
    assert PartnerLink.objects.filter(source_partner_id="7").exists()


def test_an_accountant_may_change_links_and_an_owner_sees_the_page_from_the_flow(client, make_user, owner_a,
                                                                                  document_flow):
    accountant = make_user("accountant")
    membership_set(tenant=document_flow.tenant, user=accountant, role=Role.ACCOUNTANT)
    PartnerLink.objects.create(tenant=document_flow.tenant, source=document_flow.source, target=document_flow.target,
                               source_partner_id="7", target_partner_id="c-7", name="Dupont")
    client.force_login(accountant)
    # removing a link asks neither tool
    answer = client.post(links_url(document_flow, "flow_link_party"), {"party": "7", "contact": ""}, follow=True)
    assert answer.status_code == 200 and b"The link was removed" in answer.content
    assert not PartnerLink.objects.filter(source_partner_id="7").exists()
    client.force_login(owner_a)
    detail = client.get(reverse("flow_detail", args=[document_flow.tenant.slug, document_flow.pk])).content.decode()
    assert links_url(document_flow) in detail


def test_tools_that_are_not_an_erp_and_xero_are_explained_in_words(client, owner_a, document_flow):
    client.force_login(owner_a)
    page = client.get(links_url(document_flow)).content.decode()
    assert "is not an ERP the hub reads parties and products from" in page
    answer = client.post(links_url(document_flow, "flow_links_import"), follow=True).content.decode()
    assert "is not an ERP the hub reads parties and products from" in answer and "Traceback" not in answer
