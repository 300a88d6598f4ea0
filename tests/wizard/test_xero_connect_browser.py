"""Connecting Xero in headless Chromium: the hub's form, the sandbox's own consent page, the hub's organisation
picker, and the connection page saying which organisation the connection books into."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from sandboxes.xero.app import start_sandbox
from tenants.models import Connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox(settings):
    with start_sandbox(seed="demo", limits=False) as running:
        settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = running.url
        settings.HUB_XERO_CLOCK_SPEED = 600.0  # the hub's own budget never makes the test wait
        settings.HUB_BUDGET_BACKEND = "memory"
        yield running


def test_an_owner_connects_xero_through_its_consent_page_and_picks_the_organisation(
        page, live_server, owner_a, tenant_a, sandbox):
    shot = page.shots
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", owner_a.username)
    page.fill("#id_password", f"pw-{owner_a.username}")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/t/{tenant_a.slug}/connections/new/")
    page.select_option("#id_role", "target")
    page.select_option("#id_provider", "xero")
    page.get_by_role("button", name="Next").click()
    page.fill("#id_name", "Xero books")
    page.get_by_role("button", name="Save").click()

    # Xero's consent page (the sandbox's): both organisations ticked, Allow
    expect(page.get_by_role("heading")).to_contain_text("wants to access your Xero data")
    assert page.url.startswith(f"{sandbox.url}/identity/connect/authorize")
    shot("xero-consent")
    page.get_by_role("button", name="Allow access").click()

    # back on the hub: which organisation does the connection book into?
    expect(page.get_by_role("heading", level=1)).to_have_text("Which organisation does Xero books book into?")
    expect(page.locator("#organisation-form label")).to_have_text(["Demo Company (Global)", "Harbour Trading Ltd"])
    shot("organisation-picker")
    page.get_by_label("Harbour Trading Ltd").check()
    page.get_by_role("button", name="Use this organisation").click()

    expect(page.locator(".messages")).to_contain_text("Connected: connected to Harbour Trading Ltd")
    expect(page.locator(".status")).to_have_text("Connected")
    expect(page.locator("dl.facts")).to_contain_text("Harbour Trading Ltd")
    shot("xero-connected")
    connection = Connection.objects.get(name="Xero books")
    harbour = next(t["tenantId"] for t in sandbox.tenants if t["tenantName"] == "Harbour Trading Ltd")
    assert connection.status == "connected" and connection.get_credentials()["tenant_id"] == harbour
