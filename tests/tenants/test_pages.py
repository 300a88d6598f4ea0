"""Logging in, choosing a tenant, adding a connection: the pages a customer sees first."""
from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.models import Connection, Role
from tenants.services import membership_set

pytestmark = pytest.mark.django_db


def test_logging_in_with_the_right_password_lands_on_the_users_only_tenant(client, owner_a, tenant_a):
    response = client.post(reverse("login"), {"username": "owner_a", "password": "pw-owner_a"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("tenant_home", args=[tenant_a.slug])
    assert b"Alpha SAS" in response.content


def test_logging_in_with_a_wrong_password_says_so(client, owner_a):
    response = client.post(reverse("login"), {"username": "owner_a", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_a_user_with_two_tenants_picks_one_and_can_switch(client, owner_a, tenant_a, tenant_b):
    membership_set(tenant=tenant_b, user=owner_a, role=Role.ACCOUNTANT)
    client.force_login(owner_a)
    picker = client.get(reverse("home"), follow=True)
    assert picker.redirect_chain[-1][0] == reverse("tenant_list")
    assert b"Alpha SAS" in picker.content and b"Beta GmbH" in picker.content
    switched = client.post(reverse("tenant_switch"), {"tenant": tenant_b.slug}, follow=True)
    assert switched.redirect_chain[-1][0] == reverse("tenant_home", args=[tenant_b.slug])
    assert b"your role: accountant" in switched.content
    # the choice is remembered
    again = client.get(reverse("home"))
    assert again["Location"] == reverse("tenant_home", args=[tenant_b.slug])


def test_logout_ends_the_session(client, owner_a, tenant_a):
    client.force_login(owner_a)
    client.post(reverse("logout"))
    assert client.get(reverse("tenant_home", args=[tenant_a.slug])).status_code == 302


def test_an_owner_adds_a_connection_and_it_is_stored_encrypted(client, owner_a, tenant_a):
    client.force_login(owner_a)
    url = reverse("connection_new", args=[tenant_a.slug]) + "?role=target&provider=tryton"
    form = client.get(url)
    assert b"Server URL" in form.content and b"Password" in form.content
    response = client.post(url, {"name": "Ledger", "cred_url": "https://erp.example.com", "cred_database": "books",
                                 "cred_username": "admin", "cred_password": "pw-123456789"})
    assert response.status_code == 302
    connection = Connection.objects.get(tenant=tenant_a, name="Ledger")
    assert connection.role == "target" and connection.provider == "tryton" and connection.status == "new"
    assert connection.get_credentials()["password"] == "pw-123456789"


def test_an_invalid_connection_form_shows_each_field_error(client, owner_a, tenant_a, connection_a):
    client.force_login(owner_a)
    url = reverse("connection_new", args=[tenant_a.slug]) + "?role=target&provider=tryton"
    response = client.post(url, {"name": "Books", "cred_url": "not a url", "cred_database": "", "cred_username": "x",
                                 "cred_password": ""})
    assert response.status_code == 200
    form = response.context["form"]
    assert "already has a connection with that name" in form.errors["name"][0]
    assert "Enter a valid URL." in form.errors["cred_url"]
    assert "This field is required." in form.errors["cred_database"]
    assert "This field is required." in form.errors["cred_password"]
    assert Connection.objects.filter(tenant=tenant_a).count() == 1


def test_an_unknown_provider_or_a_role_it_cannot_play_is_refused_on_the_form(client, owner_a, tenant_a):
    client.force_login(owner_a)
    response = client.get(reverse("connection_new", args=[tenant_a.slug]), {"role": "target", "provider": "nope"})
    assert response.status_code == 200
    assert "provider" in response.context["form"].errors


def test_testing_a_connection_that_cannot_be_reached_reports_the_reason(client, owner_a, tenant_a, connection_a):
    client.force_login(owner_a)
    response = client.post(reverse("connection_check", args=[tenant_a.slug, connection_a.pk]), follow=True)
    assert response.status_code == 200
    connection_a.refresh_from_db()
    assert connection_a.status == "error"
    assert connection_a.last_checked_at is not None
    assert b"Connection failed" in response.content
