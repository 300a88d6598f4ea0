"""Guessing passwords is throttled: one user name from one address is locked for a while after a few failures."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db
HOME = "198.51.100.7"  # documentation addresses (RFC 5737), never contacted
OTHER = "203.0.113.9"


def attempt(client, user: str, password: str, address: str = HOME, url: str | None = None, **extra):
    return client.post(url or reverse("login"), {"username": user, "password": password}, REMOTE_ADDR=address,
                       **extra)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in_and_the_page_says_why(client, owner_a):
    answers = [attempt(client, "owner_a", f"guess-{i}") for i in range(30)]
    assert [a.status_code for a in answers[:4]] == [200] * 4  # the form again, "please enter a correct…"
    assert all(a.status_code == 429 for a in answers[5:])
    response = attempt(client, "owner_a", "pw-owner_a")
    assert response.status_code == 429
    assert not signed_in(client)
    page = text(response)
    assert "Log-in locked for a while" in page
    assert "Too many failed log-in attempts for owner_a from this address (5 in a row)" in page
    assert "This account is locked temporarily" in page
    retry_at = timezone.localtime(timezone.now() + dt.timedelta(minutes=15))
    assert "Try again in 15 minutes, after" in page
    assert retry_at.strftime("%H:%M") in page or (retry_at - dt.timedelta(minutes=1)).strftime("%H:%M") in page
    assert client.get(reverse("home")).status_code == 302  # still a visitor


def test_the_admin_log_in_page_is_throttled_too(client, owner_a):
    url = reverse("admin:login")
    for i in range(30):
        attempt(client, "owner_a", f"guess-{i}", url=url)
    response = attempt(client, "owner_a", "pw-owner_a", url=url)
    assert response.status_code == 429 and not signed_in(client)
    assert "This account is locked temporarily" in text(response)


def test_a_lock_holds_only_for_that_user_name_from_that_address(client, owner_a, owner_b):
    for i in range(6):
        attempt(client, "owner_a", f"guess-{i}")
    assert attempt(client, "owner_a", "pw-owner_a").status_code == 429
    # another person at the same address signs in
    assert attempt(client, "owner_b", "pw-owner_b").status_code == 302 and signed_in(client)
    client.logout()
    # the same person from another address signs in
    assert attempt(client, "owner_a", "pw-owner_a", address=OTHER).status_code == 302 and signed_in(client)
    client.logout()
    assert attempt(client, "owner_a", "pw-owner_a").status_code == 429  # still locked where the guesses came from


def test_a_successful_log_in_forgets_the_failures_before_it(client, owner_a):
    for round_ in range(3):
        for i in range(4):
            assert attempt(client, "owner_a", f"guess-{round_}-{i}").status_code == 200
        assert attempt(client, "owner_a", "pw-owner_a").status_code == 302 and signed_in(client)
        client.logout()


def test_the_lock_ends_after_the_cool_off(client, owner_a):
    for i in range(5):
        attempt(client, "owner_a", f"guess-{i}")
    assert attempt(client, "owner_a", "pw-owner_a").status_code == 429
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=14)):
        assert attempt(client, "owner_a", "pw-owner_a").status_code == 429  # and the wait starts again
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=14 + 16)):
        assert attempt(client, "owner_a", "pw-owner_a").status_code == 302 and signed_in(client)


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_locked(client, owner_a, settings):
    settings.HUB_TRUSTED_PROXY_COUNT = 1
    proxy = "127.0.0.1"
    for i in range(5):
        attempt(client, "owner_a", f"guess-{i}", address=proxy, HTTP_X_FORWARDED_FOR=HOME)
    assert attempt(client, "owner_a", "pw-owner_a", address=proxy, HTTP_X_FORWARDED_FOR=HOME).status_code == 429
    # a forged left-most entry changes nothing: the proxy's own entry is the right-most
    forged = attempt(client, "owner_a", "pw-owner_a", address=proxy, HTTP_X_FORWARDED_FOR=f"{OTHER}, {HOME}")
    assert forged.status_code == 429
    # the same user behind the same proxy, from another address, signs in
    assert attempt(client, "owner_a", "pw-owner_a", address=proxy, HTTP_X_FORWARDED_FOR=OTHER).status_code == 302
