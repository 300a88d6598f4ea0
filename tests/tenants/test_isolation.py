"""A user of tenant B must not learn anything about tenant A: every A URL answers like a missing one."""
from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.models import Membership, Role
from tenants.services import membership_set

pytestmark = pytest.mark.django_db


def tenant_a_urls(tenant, connection):
    slug, pk = tenant.slug, connection.pk
    return [
        ("get", reverse("tenant_home", args=[slug])),
        ("get", reverse("connection_new", args=[slug])),
        ("get", reverse("connection_detail", args=[slug, pk])),
        ("get", reverse("connection_edit", args=[slug, pk])),
        ("post", reverse("connection_check", args=[slug, pk])),
    ]


def admin_object_urls(tenant, connection):
    membership = Membership.objects.filter(tenant=tenant).first()
    urls = []
    for model, obj in (("tenant", tenant), ("connection", connection), ("membership", membership)):
        for view in ("change", "delete", "history"):
            urls.append(reverse(f"admin:tenants_{model}_{view}", args=[obj.pk]))
    return urls


def test_a_user_of_tenant_b_gets_404_on_every_tenant_a_page(client, owner_a, owner_b, tenant_a, connection_a):
    client.force_login(owner_b)
    for method, url in tenant_a_urls(tenant_a, connection_a):
        response = getattr(client, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)


def test_a_forbidden_connection_looks_exactly_like_a_missing_one(client, owner_a, owner_b, tenant_b, connection_a):
    client.force_login(owner_b)
    forbidden = client.get(reverse("connection_detail", args=[tenant_b.slug, connection_a.pk]))
    missing = client.get(reverse("connection_detail", args=[tenant_b.slug, connection_a.pk + 1000]))
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.content == missing.content


def test_a_forbidden_tenant_looks_exactly_like_a_missing_one(client, owner_a, owner_b, tenant_a):
    client.force_login(owner_b)
    forbidden = client.get(reverse("tenant_home", args=[tenant_a.slug]))
    missing = client.get(reverse("tenant_home", args=["no-such-tenant"]))
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.content == missing.content


def test_switching_to_a_tenant_the_user_does_not_belong_to_is_a_404(client, owner_a, owner_b, tenant_a):
    client.force_login(owner_b)
    assert client.post(reverse("tenant_switch"), {"tenant": tenant_a.slug}).status_code == 404


def test_a_staff_user_of_tenant_b_gets_404_on_every_tenant_a_admin_object(client, owner_a, owner_b, tenant_a, connection_a):
    client.force_login(owner_b)
    for url in admin_object_urls(tenant_a, connection_a):
        assert client.get(url).status_code == 404, url
        if "/delete/" in url:
            assert client.post(url, {"post": "yes"}).status_code == 404, url
    # nothing was deleted through the refused posts
    assert connection_a.__class__.objects.filter(pk=connection_a.pk).exists()


def test_admin_changelists_show_only_the_users_tenants(client, owner_a, owner_b, tenant_a, tenant_b, connection_a):
    client.force_login(owner_b)
    for model in ("tenant", "membership", "connection"):
        response = client.get(reverse(f"admin:tenants_{model}_changelist"))
        assert response.status_code == 200
        assert b"Alpha SAS" not in response.content, model
    tenants_page = client.get(reverse("admin:tenants_tenant_changelist"))
    assert b"Beta GmbH" in tenants_page.content


def test_an_admin_search_cannot_reveal_another_tenants_connection(client, owner_a, owner_b, connection_a):
    client.force_login(owner_b)
    response = client.get(reverse("admin:tenants_connection_changelist"), {"q": "Books"})
    assert response.context["cl"].result_count == 0
    assert reverse("admin:tenants_connection_change", args=[connection_a.pk]).encode() not in response.content


def test_the_tenant_choices_in_the_admin_membership_form_are_only_the_users_tenants(client, owner_b, tenant_a, tenant_b):
    client.force_login(owner_b)
    response = client.get(reverse("admin:tenants_membership_add"))
    assert response.status_code == 200
    assert b"Beta GmbH" in response.content
    assert b"Alpha SAS" not in response.content


def test_support_staff_see_every_tenant(client, make_user, tenant_a, tenant_b, connection_a):
    support = make_user("support", staff=True, perms=("tenants.support_all_tenants", "tenants.view_connection"))
    client.force_login(support)
    assert client.get(reverse("tenant_home", args=[tenant_a.slug])).status_code == 200
    assert client.get(reverse("connection_detail", args=[tenant_a.slug, connection_a.pk])).status_code == 200
    listing = client.get(reverse("admin:tenants_connection_changelist"))
    assert b"Books" in listing.content


def test_a_viewer_may_look_but_not_add_connections(client, make_user, tenant_a, connection_a):
    viewer = make_user("viewer")
    membership_set(tenant=tenant_a, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)
    assert client.get(reverse("connection_detail", args=[tenant_a.slug, connection_a.pk])).status_code == 200
    assert client.get(reverse("connection_new", args=[tenant_a.slug])).status_code == 403
    assert client.post(reverse("connection_check", args=[tenant_a.slug, connection_a.pk])).status_code == 403


def test_an_accountant_cannot_change_a_connection_in_the_admin(client, make_user, staff_perms, tenant_a, connection_a):
    accountant = make_user("acc", staff=True, perms=staff_perms)
    membership_set(tenant=tenant_a, user=accountant, role=Role.ACCOUNTANT)
    client.force_login(accountant)
    url = reverse("admin:tenants_connection_change", args=[connection_a.pk])
    page = client.get(url)
    assert page.status_code == 200  # may look...
    client.post(url, {"name": "Renamed", "status": "connected", "status_message": ""})
    connection_a.refresh_from_db()
    assert connection_a.name == "Books"  # ...but not change


def test_anonymous_visitors_are_sent_to_the_login_page(client, tenant_a):
    response = client.get(reverse("tenant_home", args=[tenant_a.slug]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
