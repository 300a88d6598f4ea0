"""An accountant fixes a mapping and retries the error, in headless Chromium."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from syncs.models import ErrorStatus, SyncError
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import add, invoice, line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PERMS = ("syncs.view_syncerror", "syncs.change_syncerror", "syncs.view_syncrun", "syncs.view_syncdocument",
         "mappings.view_vatmapping", "mappings.add_vatmapping", "mappings.change_vatmapping", "mappings.view_flow")


def test_an_accountant_retries_an_error_after_fixing_its_mapping(page, live_server, make_user, tenant_a, flow, books,
                                                                  sync):
    accountant = make_user("claire", staff=True, perms=PERMS)
    membership_set(tenant=tenant_a, user=accountant, role=Role.OWNER)
    source, target = books
    add(source, invoice("i1", number="F-2026-0107", lines=[line("Magazine", "50.00", rate="5.5", tax="t55")]))
    sync(flow)
    error = SyncError.objects.get(document__source_number="F-2026-0107")
    assert error.code == "ERROR_SYNC_INVOICE_MAPPING_TAX_RATE_NOT_FOUND"
    shot = page.shots

    page.goto(f"{live_server.url}/admin/login/?next=/admin/syncs/syncerror/")
    page.fill("#id_username", "claire")
    page.fill("#id_password", "pw-claire")
    page.click("input[type=submit]")
    row = page.locator("#result_list tbody tr", has_text="F-2026-0107")
    expect(row).to_contain_text("VAT rate not mapped")
    shot("error-desk")
    row.get_by_role("link", name="VAT rate not mapped").click()
    expect(page.locator("body")).to_contain_text("map this rate to a VAT code")
    shot("error-detail")

    # the fix: map 5.5 % to a VAT code, in the admin
    page.goto(f"{live_server.url}/admin/mappings/vatmapping/add/")
    page.select_option("#id_flow", str(flow.pk))
    page.select_option("#id_kind", "sale")
    page.fill("#id_source_tax_id", "t55")
    page.fill("#id_source_rate", "5.5")
    page.fill("#id_target_vat_code_id", "V10")
    shot("mapping-added")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    # retry from the error desk
    page.goto(f"{live_server.url}/admin/syncs/syncerror/")
    page.locator("#result_list tbody tr", has_text="F-2026-0107").locator("input.action-select").check()
    page.select_option("select[name=action]", "retry_now")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("queued")
    shot("retried")
    page.locator(".messagelist a").first.click()
    expect(page.locator("#run-live-status")).to_have_text("Succeeded")
    shot("retry-run")
    page.goto(f"{live_server.url}/admin/syncs/syncerror/?status__exact=resolved")
    expect(page.locator("#result_list tbody tr", has_text="F-2026-0107")).to_be_visible()
    shot("resolved")
    error.refresh_from_db()
    assert error.status == ErrorStatus.RESOLVED
    assert target.entry_count() == 1
