"""A `next` address is followed only when it is on this site (the OAuth return, the login page)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from tenants.services import connection_create

pytestmark = pytest.mark.django_db
ELSEWHERE = ["///evil.example/x", "//evil.example/x", "/\\evil.example/x", "\\\\evil.example/x", "/\t/evil.example/x",
             "https://evil.example/x", "http://testserver@evil.example/x", "javascript:alert(1)", " //evil.example/x"]


@pytest.fixture
def oauth_connection(tenant_a):
    return connection_create(tenant=tenant_a, name="Factorial", provider="factorial", role="source",
                             auth_kind="oauth2", credentials={})


def sign_in_and_come_back(client, tenant, connection, next_url: str) -> str:
    """Start connecting with OAuth2 with ``next``, come back from the provider, return where the hub sends us."""
    start = client.get(reverse("oauth_start", args=[tenant.slug, connection.pk]), {"next": next_url})
    assert start.status_code == 302
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    back = client.get(reverse("oauth_callback"), {"state": state, "error": "access_denied"})
    assert back.status_code == 302
    return back["Location"]


@pytest.mark.parametrize("elsewhere", ELSEWHERE)
def test_the_oauth_return_never_sends_the_owner_to_another_site(client, owner_a, tenant_a, oauth_connection,
                                                                elsewhere):
    client.force_login(owner_a)
    location = sign_in_and_come_back(client, tenant_a, oauth_connection, elsewhere)
    assert location == reverse("connection_detail", args=[tenant_a.slug, oauth_connection.pk])


def test_the_oauth_return_follows_a_next_address_on_this_site(client, owner_a, tenant_a, oauth_connection):
    client.force_login(owner_a)
    here = reverse("tenant_home", args=[tenant_a.slug]) + "?from=oauth"
    assert sign_in_and_come_back(client, tenant_a, oauth_connection, here) == here


@pytest.mark.parametrize("elsewhere", ELSEWHERE)
def test_logging_in_never_sends_the_user_to_another_site(client, owner_a, elsewhere):
    response = client.post(reverse("login") + "?next=" + elsewhere,
                           {"username": "owner_a", "password": "pw-owner_a", "next": elsewhere})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert not location.netloc and not location.scheme
    assert response["Location"] == reverse("home")
