"""The onboarding wizard in headless Chromium, against the live Tryton: a customer onboards alone."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from mappings.models import Flow
from syncs.models import RunStatus, SyncRun
from tests.support.tryton import connector

pytestmark = [pytest.mark.browser, pytest.mark.tryton, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", f"pw-{user.username}")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Alpha SAS")


def fill_connection(page, peer, database: str, password: str | None = None) -> None:
    if page.locator("#provider-select").input_value() != "tryton":
        page.select_option("#provider-select", "tryton")  # the form reloads with Tryton's fields
    page.fill("#id_cred_url", peer.url)
    page.fill("#id_cred_database", database)
    page.fill("#id_cred_username", peer.admin_user)
    page.fill("#id_cred_password", password or peer.admin_password)


def save(page) -> None:
    page.get_by_role("button", name="Save and continue").click()


def test_an_owner_completes_the_wizard_activates_and_the_first_run_books_the_entries(
        page, live_server, owner_a, tryton_peer, tryton_invoicing_db, tryton_accounting_db):
    shot = page.shots
    log_in(page, live_server, owner_a)
    shot("tenant-home")
    page.get_by_role("link", name="Set one up").click()

    expect(page.locator("h2")).to_have_text("Connect your invoicing tool")
    fill_connection(page, tryton_peer, tryton_invoicing_db[0])
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status")).to_contain_text("Connected: signed in to")
    shot("1-invoicing-tool")
    save(page)

    expect(page.locator("h2")).to_have_text("Connect your accounting tool")
    fill_connection(page, tryton_peer, tryton_accounting_db)
    shot("2-accounting-tool")
    save(page)

    expect(page.locator("h2")).to_have_text("Sales VAT rates → VAT codes")
    expect(page.locator(".tag").first).to_have_text("suggested")
    shot("3-sales-vat")
    save(page)
    expect(page.locator("h2")).to_have_text("Purchase VAT rates → VAT codes")
    shot("4-purchase-vat")
    save(page)
    expect(page.locator("h2")).to_have_text("Rounding VAT")
    shot("5-rounding-vat")
    save(page)
    expect(page.locator("h2")).to_have_text("Journals")
    shot("6-journals")
    save(page)
    expect(page.locator("h2")).to_have_text("Accounts")
    expect(page.locator("#id_customer_collective_account")).to_have_value("4111")
    shot("7-accounts")
    save(page)
    expect(page.locator("h2")).to_have_text("Discounts")
    shot("8-discounts")
    save(page)

    expect(page.locator("h2")).to_have_text("Configuration")
    page.fill("#id_start_date", "2026-01-01")
    page.check("input[name=label_option][value=partner_and_number]")
    expect(page.locator(".example[data-option=partner_and_number] code").first).to_have_text("Dupont SARL - F2026-0042")
    shot("9-configuration")
    save(page)

    expect(page.locator("h2")).to_have_text("Review")
    expect(page.locator("table.entry").first).to_be_visible()
    expect(page.locator(".problems")).to_have_count(0)
    shot("10-review")
    # the progress indicator lets the owner go back to any step, and comes back here
    page.get_by_role("link", name="7. Accounts").click()
    expect(page.locator("h2")).to_have_text("Accounts")
    page.get_by_role("button", name="10. Review").click()  # on a step, it keeps what was typed as a draft
    page.get_by_role("button", name="Activate").click()

    expect(page.locator("h1")).to_contain_text("Run")
    expect(page.locator("#run-status")).to_have_text("Succeeded", timeout=120_000)
    shot("11-first-run")
    flow = Flow.objects.get(tenant=owner_a.memberships.get().tenant)
    assert flow.enabled
    run = SyncRun.objects.get(flow=flow)
    _, seeded = tryton_invoicing_db
    assert run.status == RunStatus.SUCCEEDED and run.synced_count == len(seeded["invoices"])
    books = connector(tryton_peer, tryton_accounting_db)
    moves = books.client.search_read("account.move", [("description", "like", "%[hub:%")], ["description", "state"])
    books.close()
    assert len(moves) == len(seeded["invoices"]) and {m["state"] for m in moves} == {"posted"}


def test_a_failed_connection_and_a_missing_mapping_are_explained_and_fixable(
        page, live_server, owner_a, tryton_peer, tryton_invoicing_db, tryton_accounting_db):
    shot = page.shots
    log_in(page, live_server, owner_a)
    page.get_by_role("link", name="Set one up").click()
    fill_connection(page, tryton_peer, tryton_invoicing_db[0])
    save(page)

    fill_connection(page, tryton_peer, tryton_accounting_db, password="wrong-password")
    save(page)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The connection failed: Tryton refused the user name or password")
    expect(page.locator("#id_cred_database")).to_have_value(tryton_accounting_db)  # what was typed is kept
    shot("failed-connection")
    page.fill("#id_cred_password", tryton_peer.admin_password)
    save(page)

    for _ in range(4):  # sales VAT, purchase VAT, rounding VAT, journals: accept the suggestions
        save(page)
    expect(page.locator("h2")).to_have_text("Accounts")
    page.select_option("#id_default_sales_account", "")
    save(page)  # refused on the step itself
    expect(page.locator("h2")).to_have_text("Accounts")
    expect(page.locator(".has-error .error")).to_have_text("Choose an account: entries cannot be booked without it.")
    shot("missing-mapping")
    page.select_option("#id_default_sales_account", "7071")
    save(page)
    save(page)  # discounts
    expect(page.locator("h2")).to_have_text("Configuration")
    page.goto(page.url.replace("/configuration/", "/review/"))  # by URL, step 9 never saved: Activate waits
    expect(page.locator(".problems li")).to_contain_text(["The configuration (step 9"])
    expect(page.get_by_role("button", name="Activate")).to_be_disabled()
    page.get_by_role("link", name="9. Configuration").click()
    save(page)
    expect(page.locator(".problems")).to_have_count(0)
    expect(page.get_by_role("button", name="Activate")).to_be_enabled()
    shot("fixed")
