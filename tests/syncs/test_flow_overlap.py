"""One accounting company, one booking per invoice: a second invoices flow between the same books is refused,
unless the two flows split the invoices (sales in one, purchases in the other)."""
from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse
from django_q.models import Schedule

from integration_hub.connectors.memory import connector as memory
from mappings.models import Flow
from syncs import overlap
from syncs.services import flow_activate, schedule_name
from tenants.services import connection_create
from tests.support.books import add, customer, invoice, line, make_books, make_flow

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def pair(tenant_a, request):
    """An active flow "first" between two memory stores, and their store names."""
    name = f"ov-{request.node.name[:30]}"
    make_books(name)
    first = make_flow(tenant_a, name=name)
    first.name = "first"
    first.save()
    flow_activate(flow=first, start_first_run=False)
    first.refresh_from_db()
    return first, name


def connection_to(tenant, store: str, role: str, label: str):
    return connection_create(tenant=tenant, name=label, provider="memory", role=role, auth_kind="api_key",
                             credentials={"store": store, "api_key": "memory-key"})


def second_flow(tenant, first: Flow, **overrides) -> Flow:
    values = {"source": first.source, "target": first.target, **overrides}
    return make_flow(tenant, name="second", **values)


def booked_invoices(store) -> list[str]:
    """The invoice of every entry in the accounting store (the reference is '<flow id>-<invoice id>')."""
    return sorted(reference.split("-", 1)[1] for reference in store.by_reference)


def test_a_second_flow_on_the_same_connections_is_refused_on_activation_naming_the_first(tenant_a, pair):
    first, _ = pair
    second = second_flow(tenant_a, first)
    with pytest.raises(overlap.FlowOverlaps) as refused:
        flow_activate(flow=second, start_first_run=False)
    assert "“first”" in str(refused.value) and "sales and purchase invoices" in str(refused.value)
    assert refused.value.flows == [first]
    second.refresh_from_db()
    assert not second.enabled
    assert not Schedule.objects.filter(name=schedule_name(second)).exists()


def test_a_second_flow_through_its_own_connections_to_the_same_stores_is_refused(tenant_a, pair):
    first, name = pair
    second = second_flow(tenant_a, first, source=connection_to(tenant_a, f"{name}-source", "source", "Again (inv)"),
                         target=connection_to(tenant_a, f"{name}-target", "target", "Again (acc)"))
    assert overlap.overlapping_flows(second) == [first]
    with pytest.raises(overlap.FlowOverlaps):
        flow_activate(flow=second, start_first_run=False)


def test_split_scopes_are_accepted_and_each_invoice_is_booked_exactly_once(tenant_a, pair, sync):
    first, name = pair
    Flow.objects.filter(pk=first.pk).update(scope="sales")
    first.refresh_from_db()
    second = second_flow(tenant_a, first, scope="purchases")
    flow_activate(flow=second, start_first_run=False)
    assert Flow.objects.filter(pk__in=[first.pk, second.pk], enabled=True).count() == 2
    source, target = memory.store(f"{name}-source"), memory.store(f"{name}-target")
    add(source, invoice("s1"), invoice("s2"),
        invoice("p1", kind="purchase", lines=[line(tax="p20", account="6071")]),
        invoice("p2", kind="purchase", lines=[line(tax="p20", account="6071")], partner=customer("s2", "Other SA")))
    sync(first)
    sync(second)
    sync(first)  # a later run of each books nothing again
    sync(second)
    assert booked_invoices(target) == ["p1", "p2", "s1", "s2"]
    by_flow = {reference.split("-", 1)[0] for reference in target.by_reference}
    assert by_flow == {str(first.pk), str(second.pk)}


def test_changing_an_active_flows_scope_to_overlap_is_refused_and_the_scope_kept(client, owner_a, tenant_a, pair):
    first, _ = pair
    Flow.objects.filter(pk=first.pk).update(scope="sales")
    second = second_flow(tenant_a, first, scope="purchases", wizard_step="review")
    flow_activate(flow=second, start_first_run=False)
    client.force_login(owner_a)
    form = {"name": "second", "start_date": "2026-01-01", "booking_date": "accounting", "create_as_draft": "False",
            "sync_without_attachment": "True", "label_option": "partner_then_description", "schedule_minutes": "60",
            "rounding_tolerance": "0.05", "unmapped_dimension": "ignore", "sync_payments": "False"}
    url = reverse("wizard_step", args=[tenant_a.slug, second.pk, "configuration"])
    page = client.post(url, {**form, "scope": "all"}).content.decode()
    assert "already books the sales invoices" in page
    assert f'href="{reverse("flow_detail", args=[tenant_a.slug, first.pk])}"' in page
    second.refresh_from_db()
    assert second.scope == "purchases"
    # the same form with the split kept is saved
    assert client.post(url, {**form, "scope": "purchases", "schedule_minutes": "30"}).status_code == 302
    second.refresh_from_db()
    assert second.schedule_minutes == 30


def test_the_admin_refuses_to_widen_an_active_flows_scope_onto_another(make_user, tenant_a, pair):
    first, _ = pair
    Flow.objects.filter(pk=first.pk).update(scope="sales")
    second = second_flow(tenant_a, first, scope="purchases")
    flow_activate(flow=second, start_first_run=False)
    second.refresh_from_db()
    request = RequestFactory().post("/")
    request.user = make_user("root", superuser=True)
    form_class = site._registry[Flow].get_form(request, second, change=True)
    data = {key: value for key, value in model_to_dict(second).items() if value is not None}
    assert form_class(data, instance=second).is_valid()
    refused = form_class({**data, "scope": "all"}, instance=second)
    assert not refused.is_valid()
    assert "“first”" in " ".join(refused.non_field_errors())


def test_a_flow_into_another_accounting_company_is_accepted(tenant_a, pair):
    first, name = pair
    make_books(f"{name}-other")
    second = second_flow(tenant_a, first, target=connection_to(tenant_a, f"{name}-other-target", "target", "Other co"))
    assert overlap.overlapping_flows(second) == []
    flow_activate(flow=second, start_first_run=False)
    second.refresh_from_db()
    assert second.enabled


def test_an_inactive_first_flow_does_not_block_a_second_one(tenant_a, pair):
    first, _ = pair
    Flow.objects.filter(pk=first.pk).update(enabled=False)
    second = second_flow(tenant_a, first)
    flow_activate(flow=second, start_first_run=False)
    assert Flow.objects.get(pk=second.pk).enabled


def test_another_tenants_flow_on_the_same_stores_is_not_compared(tenant_a, tenant_b, pair):
    first, name = pair
    other = make_flow(tenant_b, name="theirs", source=connection_to(tenant_b, f"{name}-source", "source", "S"),
                      target=connection_to(tenant_b, f"{name}-target", "target", "T"))
    assert overlap.overlapping_flows(other) == []


def test_tryton_connections_are_the_same_books_by_address_and_database_whoever_signs_in(tenant_a):
    def tryton(label, url, database, username, org=""):
        connection = connection_create(tenant=tenant_a, name=label, provider="tryton", role="target",
                                       auth_kind="credentials",
                                       credentials={"url": url, "database": database, "username": username,
                                                    "password": "secret"})
        connection.external_org_id = org
        return connection

    main = tryton("main", "https://erp.example.com/", "books", "alice")
    assert overlap.same_system(main, tryton("other user", "HTTPS://ERP.example.com:443", "books", "bob"))
    assert not overlap.same_system(main, tryton("other db", "https://erp.example.com", "books2", "alice"))
    assert not overlap.same_system(main, tryton("other host", "https://erp2.example.com", "books", "alice"))
    one = tryton("company 1", "https://erp.example.com", "books", "carol", org="books/1")
    assert not overlap.same_system(one, tryton("company 2", "https://erp.example.com", "books", "dan", org="books/2"))
    assert overlap.same_system(one, tryton("company 1 again", "https://erp.example.com", "books", "eve", org="books/1"))


def test_choosing_an_existing_connection_that_overlaps_is_refused_in_the_wizard(client, owner_a, tenant_a, pair):
    first, name = pair
    make_books(f"{name}-other")
    second = second_flow(tenant_a, first, target=connection_to(tenant_a, f"{name}-other-target", "target", "Other co"),
                         scope="purchases", wizard_step="review")
    flow_activate(flow=second, start_first_run=False)
    client.force_login(owner_a)
    response = client.post(reverse("wizard_step", args=[tenant_a.slug, second.pk, "target"]),
                           {"provider": "memory", "use_existing": first.target.pk}, follow=True)
    page = response.content.decode()
    assert "already books the purchase invoices" in page
    assert f'href="{reverse("flow_detail", args=[tenant_a.slug, first.pk])}"' in page
    second.refresh_from_db()
    assert second.target.name == "Other co"


@pytest.mark.parametrize("mode", ["change", "new"])
def test_pointing_an_active_flows_connection_at_the_other_flows_books_is_refused(mode, client, owner_a, tenant_a, pair):
    first, name = pair
    make_books(f"{name}-other")
    second = second_flow(tenant_a, first, target=connection_to(tenant_a, f"{name}-other-target", "target", "Other co"),
                         wizard_step="review")
    flow_activate(flow=second, start_first_run=False)
    client.force_login(owner_a)
    response = client.post(reverse("wizard_step", args=[tenant_a.slug, second.pk, "target"]),
                           {"provider": "memory", "auth_kind": "api_key", "mode": mode, "name": f"Moved {mode}",
                            "cred_store": f"{name}-target", "cred_api_key": "memory-key", "action": "save"})
    assert response.status_code == 200
    assert "The active flow “first” already books the sales and purchase invoices" in response.content.decode()
    second.refresh_from_db()
    assert second.target.name == "Other co"
    assert second.target.get_credentials()["store"] == f"{name}-other-target"
    assert not second.target.__class__.objects.filter(name=f"Moved {mode}").exists()


def test_the_wizard_activation_shows_the_refusal_with_a_link_to_the_other_flow(client, owner_a, tenant_a, pair):
    first, _ = pair
    second = second_flow(tenant_a, first, wizard_step="review")
    client.force_login(owner_a)
    response = client.post(reverse("wizard_activate", args=[tenant_a.slug, second.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("wizard_step", args=[tenant_a.slug, second.pk, "review"])
    page = response.content.decode()
    assert "The active flow “first” already books the sales and purchase invoices" in page
    link = reverse("flow_detail", args=[tenant_a.slug, first.pk])
    assert f'<a href="{link}">Open “first”</a>' in page
    assert not Flow.objects.get(pk=second.pk).enabled


def test_the_review_says_so_before_activation_and_activate_stays_disabled(client, owner_a, tenant_a, pair):
    first, _ = pair
    second = second_flow(tenant_a, first, wizard_step="review")
    client.force_login(owner_a)
    page = client.get(reverse("wizard_step", args=[tenant_a.slug, second.pk, "review"])).content.decode()
    assert "The active flow “first” already books the sales and purchase invoices" in page
    assert '<button type="submit" id="activate" disabled>' in page


def test_editing_a_connection_on_its_own_page_to_point_at_the_other_flows_books_is_refused(
        client, owner_a, tenant_a, pair):
    first, name = pair
    make_books(f"{name}-other")
    moved = connection_to(tenant_a, f"{name}-other-target", "target", "Other co")
    second = second_flow(tenant_a, first, target=moved)
    flow_activate(flow=second, start_first_run=False)
    client.force_login(owner_a)
    response = client.post(reverse("connection_edit", args=[tenant_a.slug, moved.pk]),
                           {"name": "Other co", "cred_store": f"{name}-target", "cred_api_key": "memory-key"})
    assert response.status_code == 200
    assert "The active flow “first” already books the sales and purchase invoices" in response.content.decode()
    moved.refresh_from_db()
    assert moved.get_credentials()["store"] == f"{name}-other-target"
