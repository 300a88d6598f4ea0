"""A new customer walks the whole wizard in headless Chromium against the live Tryton, mistakes included: a fresh
setup started from the tenant page next to an abandoned one, a wrong password, a reused connection, an emptied
account, typing kept across the progress bar and Back, a review with entries and counts, Activate disabled until
step 9 is saved, and the first run. No page may log a console error or throw on the way."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from mappings.models import Flow
from syncs.models import RunStatus, SyncRun, Trigger
from tenants.models import Connection

pytestmark = [pytest.mark.browser, pytest.mark.tryton, pytest.mark.django_db(transaction=True)]

START_DATE = "2026-01-01"  # before every seeded invoice (2026-01-05 … 2026-10-30): the review never depends on today
REVIEW_COUNT = 10  # the review's default number of recent invoices


class ConsoleWatch:
    """Every console message of type error and every uncaught page error, with the page it came from."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"[page error on {page.url}] {error}"))

    def _console(self, message) -> None:
        if message.type == "error":
            where = message.location.get("url") or "?"
            self.problems.append(f"[console error at {where}] {message.text}")


def step_item(page, label: str):
    """The progress bar's entry for one step, e.g. "7. Accounts"."""
    return page.locator("ol.wizard-steps li", has_text=label)


def save(page) -> None:
    page.locator(".wizard-card").get_by_role("button", name="Save and continue").click()


def expect_step(page, title: str) -> None:
    expect(page.locator("h2")).to_have_text(title)


def fill_tryton(page, peer, database: str, password: str) -> None:
    if page.locator("#provider-select").input_value() != "tryton":
        page.select_option("#provider-select", "tryton")  # the form reloads with Tryton's fields
        expect(page.locator("#id_cred_url")).to_be_visible()
    page.fill("#id_cred_url", peer.url)
    page.fill("#id_cred_database", database)
    page.fill("#id_cred_username", peer.admin_user)
    page.fill("#id_cred_password", password)


def test_a_new_customer_walks_every_step_of_the_wizard_including_mistakes_without_a_console_error(
        page, live_server, owner_a, tenant_a, tryton_peer, tryton_invoicing_db, tryton_accounting_db):
    console = ConsoleWatch(page)
    shot = page.shots
    invoicing_db, seeded = tryton_invoicing_db
    abandoned = Flow.objects.create(tenant=tenant_a, name="First try", wizard_step="journals")

    # --- log in like the demo's owner; the tenant page offers to continue the old setup or start a new one
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", owner_a.username)
    page.fill("#id_password", f"pw-{owner_a.username}")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Alpha SAS")
    expect(page.get_by_role("link", name="Continue the setup of “First try”")).to_be_visible()
    shot("tenant-home")
    page.get_by_role("link", name="Start a new setup").click()
    expect(page.locator("h1")).to_have_text("Set up “Invoices sync 2”")
    flow = Flow.objects.exclude(pk=abandoned.pk).get(tenant=tenant_a)
    assert Flow.objects.get(pk=abandoned.pk).wizard_step == "journals"  # the old setup is left as it was

    # --- step 1: a wrong password first, explained; the stored secret is never hinted at
    expect_step(page, "Connect your invoicing tool")
    expect(page.locator("#back")).to_have_count(0)
    fill_tryton(page, tryton_peer, invoicing_db, "wrong-password-9876")
    save(page)
    expect(page.get_by_role("alert")).to_contain_text("The connection failed")
    expect_step(page, "Connect your invoicing tool")
    expect(page.locator("#id_cred_database")).to_have_value(invoicing_db)
    password = page.locator("#id_cred_password")
    expect(password).to_have_value("")
    assert "9876" not in (password.get_attribute("placeholder") or "")
    shot("1-wrong-password")
    password.fill(tryton_peer.admin_password)
    save(page)

    # --- step 2: test the connection, then save it
    expect_step(page, "Connect your accounting tool")
    fill_tryton(page, tryton_peer, tryton_accounting_db, tryton_peer.admin_password)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status")).to_contain_text("Connected: signed in to")
    shot("2-accounting-tool")
    save(page)

    # --- step 3: a suggestion is pre-filled; Back shows step 2's connection by name, used as it is
    expect_step(page, "Sales VAT rates → VAT codes")
    expect(page.locator("table.mapping .tag", has_text="suggested").first).to_be_visible()
    first_rate = page.locator("table.mapping select").first
    assert first_rate.input_value() != ""
    shot("3-sales-vat")
    page.locator("#back").click()
    expect_step(page, "Connect your accounting tool")
    accounting = Connection.objects.get(pk=Flow.objects.get(pk=flow.pk).target_id)
    expect(page.locator("#current-connection strong").first).to_have_text(accounting.name)
    expect(page.locator("#connection-form")).to_have_count(0)  # no form that could rename the shared connection
    page.get_by_role("button", name="Use this connection").click()
    expect_step(page, "Sales VAT rates → VAT codes")
    assert Connection.objects.get(pk=accounting.pk).name == accounting.name
    assert Connection.objects.filter(tenant=tenant_a).count() == 2
    save(page)

    # --- steps 4 to 6: accept the suggestions
    expect_step(page, "Purchase VAT rates → VAT codes")
    save(page)
    expect_step(page, "Rounding VAT")
    shot("5-rounding-vat")
    save(page)
    expect_step(page, "Journals")
    save(page)

    # --- step 7: an emptied required account is refused and the step is not marked done
    expect_step(page, "Accounts")
    expect(page.locator("#id_customer_collective_account")).to_have_value("4111")
    expect(page.locator("#id_default_sales_account")).not_to_have_value("")
    page.select_option("#id_default_sales_account", "")
    save(page)
    expect_step(page, "Accounts")
    expect(page.locator(".has-error .error")).to_have_text("Choose an account: entries cannot be booked without it.")
    expect(step_item(page, "7. Accounts")).not_to_have_class(re.compile(r"\bdone\b"))
    expect(step_item(page, "8. Discounts").locator("button, a")).to_have_count(0)  # not reachable yet
    assert Flow.objects.get(pk=flow.pk).default_sales_account == ""
    shot("7-empty-account-refused")
    page.select_option("#id_default_sales_account", "7071")
    save(page)

    # --- step 8: discounts (optional)
    expect_step(page, "Discounts")
    expect(step_item(page, "7. Accounts")).to_have_class(re.compile(r"\bdone\b"))
    save(page)

    # --- step 9: what is typed survives the progress bar and Back
    expect_step(page, "Configuration")
    page.fill("#id_start_date", START_DATE)
    page.check("input[name=label_option][value=partner_and_number]")
    shot("9-typed")
    step_item(page, "6. Journals").get_by_role("button").click()
    expect_step(page, "Journals")
    step_item(page, "9. Configuration").get_by_role("button").click()
    expect_step(page, "Configuration")
    expect(page.locator("#draft-notice")).to_be_visible()
    expect(page.locator("#id_start_date")).to_have_value(START_DATE)
    expect(page.locator("input[name=label_option][value=partner_and_number]")).to_be_checked()
    page.locator("#back").click()
    expect_step(page, "Discounts")

    # --- step 10 before step 9 is saved: Activate is visibly disabled, the problem links back to step 9
    page.goto(live_server.url + reverse("wizard_step", args=[tenant_a.slug, flow.pk, "review"]))  # by URL
    expect_step(page, "Review")
    expect(page.locator(".problems li")).to_contain_text(["The configuration (step 9"])
    disabled = page.locator("#activate")
    expect(disabled).to_be_disabled()
    assert disabled.evaluate("button => getComputedStyle(button).cursor") != "pointer"  # it looks disabled too
    shot("10-activate-disabled")
    page.locator(".problems li").get_by_role("link", name="Fix it").click()
    expect_step(page, "Configuration")
    expect(page.locator("#id_start_date")).to_have_value(START_DATE)  # still the draft
    expect(page.locator("input[name=label_option][value=partner_and_number]")).to_be_checked()
    save(page)

    # --- step 10: the entries the first run would book, with counts; Activate enabled
    expect_step(page, "Review")
    expect(page.locator(".problems")).to_have_count(0)
    expected = min(REVIEW_COUNT, len(seeded["invoices"]))
    expect(page.locator("#would-sync article")).to_have_count(expected)
    newest = page.locator("#would-sync article").first
    expect(newest.locator("table.entry")).to_be_visible()
    number = newest.locator("h4").inner_text().split(" · ")[0]
    for label in newest.locator("table.entry tbody td:nth-child(2)").all_inner_texts():
        assert label.endswith(f" - {number}")  # the label typed on step 9: third party + invoice number
    expect(page.locator("#review-counts")).to_contain_text(f"{expected} would sync · 0 would fail · 0 skipped")
    expect(page.locator("#nothing-to-book")).to_have_count(0)
    expect(page.locator("#would-fail")).to_have_count(0)
    activate = page.locator("#activate")
    expect(activate).to_be_enabled()
    shot("10-review")
    saved = Flow.objects.get(pk=flow.pk)
    assert saved.start_date.isoformat() == START_DATE and saved.label_option == "partner_and_number"
    activate.click()

    # --- the first run's page
    expect(page.locator("h1")).to_contain_text("Run")
    expect(page.locator("#run-status")).to_have_text("Succeeded", timeout=120_000)
    expect(page.locator("main, body").first).to_contain_text("First run (activation)")
    shot("11-first-run")
    run = SyncRun.objects.get(flow=flow)
    assert run.trigger == Trigger.ACTIVATION and run.status == RunStatus.SUCCEEDED
    assert run.synced_count == len(seeded["invoices"])
    assert Flow.objects.get(pk=flow.pk).enabled and not Flow.objects.get(pk=abandoned.pk).enabled

    assert console.problems == [], "The walk logged errors:\n" + "\n".join(console.problems)
