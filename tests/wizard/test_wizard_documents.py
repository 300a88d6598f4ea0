"""A document flow (ERP -> Xero) set up through the wizard, against a live Tryton ERP company and the Xero sandbox
(behind Xero's OpenAPI description): the ERP and Xero connected, object types chosen, the ERP's taxes mapped to Xero's
tax types and the accounts chosen from the live lists with suggestions, parties and products linked from both live
lists, the review counting what the first run sends, activation; then the switches changed from the flow's page."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import requests
from django.urls import reverse

from integration_hub.connectors.tryton.erp import TrytonErp
from mappings.models import Flow, FlowKind, VatMapping
from sandboxes.xero.seed import tenant_id
from syncs.models import PartnerLink, ProductLink, SyncDocument, SyncError
from syncs.services import execute_run
from tenants.services import connection_create
from tests.support.tryton import credentials, unique_db
from tests.support.xero import checked_sandbox
from tests.syncs.test_document_flows_tryton import ORGANISATION, run, xero_get
from tests.wizard.test_wizard_views import post_connection
from tests.wizard.test_wizard_xero import form_values, progress_labels

pytestmark = [pytest.mark.django_db, pytest.mark.tryton]
SPEED = 30.0
TODAY = dt.date.today()


@pytest.fixture(scope="module")
def erp_company(tryton_peer):
    name = tryton_peer.create_database(unique_db("erpwizard"), kind="erp", company_name="Usine Assistant SAS")
    tryton_peer.run_setup(name, "seed_erp", customers=3, suppliers=2, products=4, quotes=2, orders=2,
                          invoiced_orders=1, purchase_orders=2, billed_purchases=1, seed=21,
                          start_date=(TODAY - dt.timedelta(days=30)).isoformat(),
                          end_date=(TODAY - dt.timedelta(days=2)).isoformat())
    yield name
    tryton_peer.drop_database(name)


@pytest.fixture
def xero(settings):
    with checked_sandbox(settings, speed=SPEED) as running:
        yield running


@pytest.fixture
def erp(tryton_peer, erp_company):
    client = TrytonErp(credentials(tryton_peer, erp_company))
    yield client
    client.close()


def xero_connection(tenant, sandbox, name="Xero (Demo Company)"):
    token = sandbox.connect([tenant_id(ORGANISATION)])
    return connection_create(tenant=tenant, name=name, provider="xero", role="target", auth_kind="oauth2",
                             credentials={"access_token": token["access_token"], "refresh_token": token["refresh_token"],
                                          "expires_at": dt.datetime.now().timestamp() + 1700,
                                          "tenant_id": tenant_id(ORGANISATION)})


def xero_put(sandbox, resource: str, body: dict) -> dict:
    headers = {"Authorization": f"Bearer {sandbox.custom_token()}", "xero-tenant-id": tenant_id(ORGANISATION),
               "Accept": "application/json"}
    answer = requests.put(f"{sandbox.api_url}/{resource}", json=body, headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()


def step_url(flow: Flow, step: str) -> str:
    return reverse("wizard_step", args=[flow.tenant.slug, flow.pk, step])


def submit(client, flow: Flow, step: str, **changes):
    """What a browser submits on the step as shown (suggestions included), with `changes` typed over it."""
    page = client.get(step_url(flow, step)).content.decode()
    values = form_values(page)
    values.update({name: value if isinstance(value, list) else [value] for name, value in changes.items()})
    return client.post(step_url(flow, step), values)


def start(client, tenant) -> Flow:
    answer = client.get(reverse("wizard_start", args=[tenant.slug]) + "?new=1&kind=documents")
    flow = Flow.objects.get(tenant=tenant, kind=FlowKind.DOCUMENTS)
    assert answer["Location"].endswith(step_url(flow, "source"))
    return flow


# --- without an ERP: what the setup asks and offers ---------------------------------------------------------
@pytest.mark.parametrize("kinds, expected", [
    (["customers", "quote", "bill"], ["ERP", "Accounting tool", "Object types", "Sales VAT", "Purchase VAT",
                                      "Accounts", "Links", "Review"]),
    (["customers", "quote", "sales_order"], ["ERP", "Accounting tool", "Object types", "Sales VAT", "Accounts",
                                             "Links", "Review"]),
])
def test_a_document_setup_asks_for_object_types_and_links_and_only_the_vat_its_types_book(client, owner_a, tenant_a,
                                                                                          kinds, expected):
    client.force_login(owner_a)
    flow = start(client, tenant_a)
    assert flow.name == "Documents sync"
    Flow.objects.filter(pk=flow.pk).update(object_types=kinds)
    page = client.get(step_url(flow, "source")).content.decode()
    assert [re.sub(r"^\d+\. ", "", label) for label in progress_labels(page)] == expected
    assert "Connect your ERP" in page
    # the invoice flows' steps do not exist here
    assert client.get(step_url(flow, "journals")).status_code == 404
    assert client.get(step_url(flow, "configuration")).status_code == 404


def test_the_erp_step_offers_only_tools_whose_documents_the_hub_reads(client, owner_a, tenant_a):
    client.force_login(owner_a)
    flow = start(client, tenant_a)
    page = client.get(step_url(flow, "source")).content.decode()
    assert 'value="tryton"' in page and 'value="memory"' not in page and 'value="factorial"' not in page
    # a tool that cannot be an ERP here is not accepted even when posted by hand
    refused = client.post(step_url(flow, "source"), {"provider": "factorial", "auth_kind": "api_key", "name": "F",
                                                     "cred_api_key": "k", "action": "save"})
    assert refused.status_code == 404
    assert Flow.objects.get(pk=flow.pk).source is None


def test_object_types_need_at_least_one_switch_and_keep_a_name_unique(client, owner_a, tenant_a):
    client.force_login(owner_a)
    Flow.objects.create(tenant=tenant_a, name="Taken", kind=FlowKind.INVOICES)
    flow = start(client, tenant_a)
    answer = client.post(step_url(flow, "object_types"), {"name": "Taken"}).content.decode()
    assert "Switch on at least one object type" in answer
    assert "This tenant already has a flow with that name." in answer
    flow.refresh_from_db()
    assert flow.name == "Documents sync" and flow.wizard_step == "source"


# --- the whole setup against the ERP and Xero ---------------------------------------------------------------
def test_a_document_flow_is_set_up_from_live_lists_linked_with_suggestions_and_activated(
        client, owner_a, tenant_a, tryton_peer, erp_company, erp, xero):
    client.force_login(owner_a)
    flow = start(client, tenant_a)
    # 1. the ERP: a Tryton connection made on the step
    answer = post_connection(client, flow, "source", tryton_peer, erp_company)
    assert answer.status_code == 302 and answer["Location"].endswith(step_url(flow, "target")), answer.content[-800:]
    # 2. Xero: a connection the tenant already has
    target = xero_connection(tenant_a, xero)
    answer = client.post(step_url(flow, "target"), {"provider": "xero", "use_existing": target.pk})
    assert answer["Location"].endswith(step_url(flow, "object_types"))
    # 3. object types: everything but purchase orders; contacts created, items not
    types = ["customers", "suppliers", "products", "quote", "sales_order", "invoice", "bill"]
    answer = client.post(step_url(flow, "object_types"), {"name": "Usine → Xero", "object_types": types,
                                                           "create_contacts": "on"})
    assert answer["Location"].endswith(step_url(flow, "sale_vat"))
    flow.refresh_from_db()
    assert (flow.name, flow.object_types, flow.create_contacts, flow.create_items) == (
        "Usine → Xero", types, True, False)
    # 4-5. VAT: each ERP tax offered with Xero's tax type of the same rate suggested
    page = client.get(step_url(flow, "sale_vat")).content.decode()
    assert "Rate in the ERP" in page and "OUTPUT2" in page
    assert submit(client, flow, "sale_vat")["Location"].endswith(step_url(flow, "purchase_vat"))
    assert submit(client, flow, "purchase_vat")["Location"].endswith(step_url(flow, "accounts"))
    sales = {m.source_rate: m.target_vat_code_id for m in VatMapping.objects.filter(flow=flow, kind="sale")}
    assert sales.get(20) == "OUTPUT2", sales
    # 6. accounts: only the two line accounts, from Xero's chart
    page = client.get(step_url(flow, "accounts")).content.decode()
    assert 'name="default_sales_account"' in page and 'name="customer_collective_account"' not in page
    assert 'name="credit_rounding_account"' not in page
    assert submit(client, flow, "accounts", default_sales_account="200",
                  default_purchase_account="310")["Location"].endswith(step_url(flow, "links"))
    # 7. links: Xero gets a contact named as an ERP customer and an item coded as an ERP product: both suggested
    party = next(p for p in erp.list_parties() if p.name)
    product = next(p for p in erp.list_products() if p.code)
    contact = xero_put(xero, "Contacts", {"Contacts": [{"Name": party.name}]})["Contacts"][0]
    xero_put(xero, "Items", {"Items": [{"Code": product.code, "Name": f"Xero's {product.name}"}]})
    page = client.get(step_url(flow, "links")).content.decode()
    assert html.escape(party.name) in page and f'data-suggested="{party.id}"' in page
    assert f'data-suggested="{product.id}"' in page
    values = form_values(page)
    assert values[f"party:{party.id}"] == [contact["ContactID"]]
    assert values[f"product:{product.id}"] == [product.code]
    assert submit(client, flow, "links")["Location"].endswith(step_url(flow, "review"))
    link = PartnerLink.objects.get(source=flow.source, source_partner_id=party.id)
    assert (link.target_partner_id, link.matched_by) == (contact["ContactID"], "person")
    assert ProductLink.objects.get(source=flow.source, source_product_id=product.id).target_item_code == product.code
    # 8. review: what the first run sends, per type, counted in the ERP
    page = client.get(step_url(flow, "review")).content.decode()
    for kind in ("quote", "sales_order", "invoice", "bill"):
        count = sum(1 for _ in erp.list_documents(kind))
        assert re.search(rf'data-type="{kind}"><td>[^<]+</td><td>on</td>\s*<td>{count}</td>', page), (kind, page)
    assert re.search(r'data-type="purchase_order"><td>[^<]+</td><td>off</td>', page)
    linked = re.search(r"<strong>(\d+)</strong> of (\d+) ERP parties", page)
    assert linked and 1 <= int(linked.group(1)) <= int(linked.group(2)), page
    assert 'id="activate"' in page
    answer = client.post(reverse("wizard_activate", args=[tenant_a.slug, flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled and answer.status_code == 302
    # the first run (queued by the activation): the linked customer's documents go to the contact chosen, purchase
    # orders stay in the ERP
    (queued,) = flow.runs.all()
    execute_run(queued.pk)
    finished = flow.runs.get()
    errors = list(SyncError.objects.filter(flow=flow).values_list("code", "message"))
    # items are not created (switch off): the products left unlinked are reported, the one linked is not
    assert finished.status in ("succeeded", "partial"), (finished.message, errors)
    assert {code for code, _ in errors} <= {"ERROR_SYNC_DOCUMENT_ITEM_NOT_LINKED"}, errors
    assert not [message for _, message in errors if f"product {product.code} " in message], errors
    assert SyncDocument.objects.filter(flow=flow, kind="quote", status="synced").count() == \
        sum(1 for _ in erp.list_documents("quote"))
    assert not SyncDocument.objects.filter(flow=flow, kind="purchase_order").exists()
    mine = SyncDocument.objects.filter(flow=flow, kind="quote", partner_name=party.name, status="synced")
    for doc in mine:
        (quote,) = xero_get(xero, f"Quotes/{doc.target_entry_id}")["Quotes"]
        assert quote["Contact"]["ContactID"] == contact["ContactID"]
    named = [c for c in xero_get(xero, "Contacts")["Contacts"] if c["Name"] == party.name]
    assert len(named) == 1  # linked, not created a second time


def test_a_link_to_a_contact_xero_lacks_is_refused_and_the_step_stays(client, owner_a, tenant_a, tryton_peer,
                                                                      erp_company, erp, xero):
    client.force_login(owner_a)
    source = connection_create(tenant=tenant_a, name="ERP", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(tryton_peer, erp_company))
    flow = Flow.objects.create(tenant=tenant_a, name="Docs", kind=FlowKind.DOCUMENTS, source=source,
                               target=xero_connection(tenant_a, xero), wizard_step="links")
    party = next(iter(erp.list_parties()))
    answer = client.post(step_url(flow, "links"), {f"party:{party.id}": "<i>not-a-contact</i>"}, follow=True)
    page = answer.content.decode()
    assert "its link was not saved" in page and "<i>not-a-contact</i>" not in page
    assert answer.redirect_chain[-1][0].endswith(step_url(flow, "links"))
    assert not PartnerLink.objects.filter(source=source).exists()
    flow.refresh_from_db()
    assert flow.wizard_step == "links"


def test_a_type_switched_on_from_the_flow_page_is_read_from_the_beginning_and_nothing_is_sent_twice(
        client, owner_a, tenant_a, tryton_peer, erp_company, erp, xero):
    from tests.syncs.test_document_flows_tryton import document_flow

    flow = document_flow(tenant_a, tryton_peer, erp_company, xero, enabled=True,
                         object_types=["customers", "suppliers", "products", "quote"])
    first = run(flow)
    assert first.status == "succeeded", first.message
    quotes_in_xero = len(xero_get(xero, "Quotes")["Quotes"])
    assert flow.cursor is not None
    client.force_login(owner_a)
    page = client.get(reverse("flow_detail", args=[tenant_a.slug, flow.pk])).content.decode()
    assert 'id="switches-form"' in page and "every minute" in page
    answer = client.post(reverse("flow_switches", args=[tenant_a.slug, flow.pk]),
                         {"object_types": ["customers", "suppliers", "products", "quote", "purchase_order"],
                          "create_contacts": "on", "create_items": "on"}, follow=True)
    assert "Purchase orders" in answer.content.decode()
    flow.refresh_from_db()
    assert "purchase_order" in flow.object_types and flow.cursor is None
    second = run(flow)
    assert second.status == "succeeded", second.message
    orders = sum(1 for _ in erp.list_documents("purchase_order"))
    assert SyncDocument.objects.filter(flow=flow, kind="purchase_order", status="synced").count() == orders > 0
    assert len(xero_get(xero, "PurchaseOrders")["PurchaseOrders"]) >= orders
    assert len(xero_get(xero, "Quotes")["Quotes"]) == quotes_in_xero  # the quotes were not sent again
    # switching everything off is refused in words, the switches stay
    refused = client.post(reverse("flow_switches", args=[tenant_a.slug, flow.pk]), {}, follow=True).content.decode()
    assert "Switch on at least one object type" in refused
    flow.refresh_from_db()
    assert "purchase_order" in flow.object_types
