"""The demo's own user follows the links of its tenant page and dashboard into the admin, in Chromium."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from syncs.services import execute_run, run_request
from tenants.demo import seed_tenants
from tests.support.books import add, invoice, line, make_books, make_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_demo_user_opens_the_error_desk_run_history_and_mapping_import_from_its_pages(page, live_server):
    logins = seed_tenants(password="demo-password-1")
    assert not logins.tenant.memberships.get(user__username="demo").user.is_staff  # no grant by hand
    source, _ = make_books("demo-links")
    flow = make_flow(logins.tenant, name="demo-links")
    add(source, invoice("i1", number="F-2026-0042", lines=[line("Magazine", "50.00", rate="5.5", tax="t55")]))
    run, _ = run_request(flow=flow, enqueue=False)
    execute_run(run.pk)
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", logins.username)
    page.fill("#id_password", logins.password)
    page.click("button[type=submit], input[type=submit]")
    page.goto(f"{base}/t/{logins.tenant.slug}/")
    page.get_by_role("link", name="Open the error desk").click()
    expect(page.locator("#result_list")).to_contain_text("F-2026-0042")
    expect(page.locator("body")).not_to_contain_text("permission")
    page.shots("error-desk")

    page.go_back()
    page.get_by_role("link", name="Run history").click()
    expect(page.locator("#result_list")).to_contain_text(flow.name)
    page.shots("run-history")

    page.go_back()
    page.get_by_role("link", name="Import VAT mappings").click()
    expect(page.locator("h1")).to_contain_text("Import")
    expect(page.locator("input[type=file]")).to_have_count(1)
    page.shots("mapping-import")

    # the other tenant, where demo is an accountant: the dashboard's links open the desk and the runs too
    page.goto(f"{base}/t/{logins.other_tenant.slug}/dashboard/")
    page.get_by_role("link", name="Open the error desk").click()
    expect(page).to_have_url(f"{base}/admin/syncs/syncerror/?status__exact=open")
    expect(page.locator("#content h1, #content h2").first).to_be_visible()
    page.go_back()
    page.get_by_role("link", name="All runs").click()
    expect(page.locator("#result_list")).to_contain_text(flow.name)
    page.shots("dashboard-runs")
