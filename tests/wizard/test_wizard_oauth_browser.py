"""Connecting Factorial with OAuth2 from the wizard, in headless Chromium, against the Factorial sandbox."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from mappings.models import Flow
from sandboxes.factorial import start_sandbox
from tests.support.clock import SANDBOX_DAY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox(settings):
    with start_sandbox(api_key="oauth-browser-key", seed="demo", today=SANDBOX_DAY, post_rate_limit=None) as running:
        settings.HUB_FACTORIAL_BASE_URL = running.url  # Factorial's address is the hub's setting
        yield running


def start_wizard(page, live_server, owner) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", f"pw-{owner.username}")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Set one up").click()
    page.select_option("#provider-select", "factorial")
    expect(page.locator("#auth-select")).to_have_value("oauth2")


def test_an_owner_connects_factorial_with_oauth_from_the_wizard(page, live_server, owner_a, sandbox):
    shot = page.shots
    start_wizard(page, live_server, owner_a)
    shot("factorial-oauth")
    page.get_by_role("button", name="Connect with Factorial").click()
    # Factorial (the sandbox) approves and sends the browser back; the hub checks state and stores the tokens
    expect(page.locator(".messages")).to_contain_text("Connected: connected to Atelier Lumière SAS")
    expect(page.get_by_role("status")).to_contain_text("Connected")
    shot("factorial-connected")
    flow = Flow.objects.get()
    credentials = flow.source.get_credentials()
    assert flow.source.auth_kind == "oauth2" and flow.source.status == "connected"
    assert credentials["access_token"] and credentials["refresh_token"] and credentials["expires_at"]
    raw = type(flow.source).objects.filter(pk=flow.source.pk).values_list("credentials_ciphertext", flat=True)[0]
    assert credentials["access_token"] not in raw and credentials["refresh_token"] not in raw
    assert [kind for kind, _client in sandbox.state.oauth_events] == ["authorized", "issued"]
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("h2")).to_have_text("Connect your accounting tool")


def test_a_refused_authorisation_says_so_and_a_forged_state_is_rejected(page, live_server, owner_a, sandbox):
    start_wizard(page, live_server, owner_a)
    sandbox.state.oauth_deny = True
    try:
        page.get_by_role("button", name="Connect with Factorial").click()
        expect(page.locator(".messages")).to_contain_text("was not connected")
    finally:
        sandbox.state.oauth_deny = False
    page.shots("refused")
    page.goto(f"{live_server.url}/oauth/callback/?code=stolen&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("the state does not match")
    page.shots("forged-state")
    assert Flow.objects.get().source.status == "error"
