"""Every page works under the Content-Security-Policy, in headless Chromium; a violation fails the test.

The `page` fixture (tests/conftest.py) records every violation the browser reports and fails the test at
teardown; the first test proves that it does.
"""
from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from syncs.models import SyncDocument, SyncError, SyncRun, Trigger
from syncs.services import run_request
from syncs.wizard import STEP_KEYS
from tenants.models import Role
from tenants.services import membership_set
from tests.support.books import add, invoice, line

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
INJECTED = ('<script>document.title = "injected script ran";</script>'
            '<p id="injected" style="color: red" onclick="document.title = \'handler ran\'">injected</p>')


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    expect(page.locator(".who")).to_have_text(username)


def test_the_browser_check_catches_a_script_injected_into_a_page(page, live_server):
    def inject(route):
        response = route.fetch()
        assert "script-src 'self'" in response.headers["content-security-policy"]
        body = response.text().replace("</main>", INJECTED + "</main>")
        route.fulfill(response=response, body=body)

    page.route(re.compile(r".*/accounts/login/$"), inject)
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("#injected")
    page.wait_for_timeout(300)

    assert page.title() != "injected script ran" and page.title() != "handler ran"  # the policy blocked both
    found = "\n".join(page.csp_violations)
    assert "script-src" in found and "style-src" in found, found
    assert "inline" in found
    page.csp_violations.clear()  # caught on purpose: the fixture would fail this test otherwise


@pytest.fixture
def walker(make_user, tenant_a, tenant_b):
    """A superuser who is also owner of both tenants: sees every tenant page and every admin page."""
    user = make_user("walker", superuser=True)
    membership_set(tenant=tenant_a, user=user, role=Role.OWNER)
    membership_set(tenant=tenant_b, user=user, role=Role.OWNER)
    return user


def visit(page, url: str, expected=(200,)) -> None:
    response = page.goto(url)
    assert response is not None and response.status in expected, f"{url} answered {response and response.status}"
    if response.status == 200:
        assert "script-src 'self'" in (response.headers.get("content-security-policy") or ""), url


def test_every_tenant_page_and_the_wizard_work_under_the_policy(page, live_server, walker, tenant_a, flow, books,
                                                                 sync):
    source, _ = books
    add(source, invoice("i1", number="F-CSP-1"), invoice("i2", number="F-CSP-2", lines=[line(rate=None)]))
    finished = sync(flow)
    document = SyncDocument.objects.filter(flow=flow).first()
    base, slug = live_server.url, tenant_a.slug
    log_in(page, live_server, "walker", "pw-walker")

    pages = [reverse("home"), reverse("tenant_list"), reverse("tenant_home", args=[slug]),
             reverse("tenant_dashboard", args=[slug]), reverse("flow_detail", args=[slug, flow.pk]),
             reverse("run_detail", args=[slug, finished.pk]), reverse("document_detail", args=[slug, document.pk]),
             reverse("connection_new", args=[slug]), reverse("connection_detail", args=[slug, flow.target_id]),
             reverse("connection_edit", args=[slug, flow.target_id]), reverse("master_data_new", args=[slug])]
    for url in pages:
        visit(page, base + url)
    expect(page.locator("body")).not_to_contain_text("Server Error")

    # the dashboard's chart is drawn
    visit(page, base + reverse("tenant_dashboard", args=[slug]))
    expect(page.locator("svg.chart rect.bar")).to_have_count(30)

    # every step of the wizard, on the flow
    for step in STEP_KEYS:
        visit(page, base + reverse("wizard_step", args=[slug, flow.pk, step]))
    page.goto(base + reverse("wizard_start", args=[slug]) + "?new=1")
    expect(page.locator("h2")).to_have_text("Connect your invoicing tool")
    current = page.locator("#provider-select").input_value()
    other = next(v for v in page.locator("#provider-select option").evaluate_all("os => os.map(o => o.value)")
                 if v != current)
    page.select_option("#provider-select", other)  # static/hub/hub.js submits the form
    expect(page).to_have_url(re.compile(rf"provider={other}"))

    # the tenant switcher (static/hub/hub.js) moves to the other tenant
    page.goto(base + reverse("tenant_home", args=[slug]))
    page.select_option("#tenant-switch", "beta")
    expect(page).to_have_url(re.compile(r"/t/beta/"))

    # a running run follows its progress live (static/hub/run-progress.js fetches it)
    queued, _ = run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False)
    with page.expect_response(re.compile(rf"/runs/{queued.pk}/progress/")) as progress:
        page.goto(base + reverse("run_detail", args=[slug, queued.pk]))
    assert progress.value.ok


def admin_pages() -> list[str]:
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{info}_changelist"))
        urls.append(reverse(f"{info}_add"))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"{info}_change", args=[first.pk]))
        for extra in ("import", "export"):
            try:
                urls.append(reverse(f"{info}_{extra}"))
            except NoReverseMatch:
                pass
    return urls


def test_every_admin_page_works_under_the_policy(page, live_server, walker, flow, books, sync):
    source, _ = books
    add(source, invoice("i1", number="F-CSP-3", lines=[line(rate=None)]))
    sync(flow)
    base = live_server.url
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "walker")
    page.fill("#id_password", "pw-walker")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    for url in admin_pages():
        visit(page, base + url, expected=(200, 403))  # 403: the admin offers no add form for that model
    error = SyncError.objects.first()
    visit(page, base + reverse("admin:syncs_syncerror_change", args=[error.pk]))
    expect(page.locator("body")).to_contain_text("ERROR_SYNC_INVOICE_LINE_VALIDATION")

    # the export page's "Select all" box works without its inline handler (static/hub/admin-export.js)
    visit(page, base + reverse("admin:mappings_vatmapping_export"))
    page.select_option("#id_format", "0")
    fields = page.locator('.selectable-field-export-row input[type="checkbox"]')
    expect(fields.first).to_be_checked()
    page.uncheck("#select-all-toggle")
    assert not any(fields.evaluate_all("boxes => boxes.map(b => b.checked)"))
    page.check("#select-all-toggle")
    assert all(fields.evaluate_all("boxes => boxes.map(b => b.checked)"))

    # a running run follows its progress live in the admin too (static/hub/run-progress.js)
    queued, _ = run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False)
    with page.expect_response(re.compile(rf"/admin/syncs/syncrun/{queued.pk}/progress/")) as progress:
        page.goto(base + reverse("admin:syncs_syncrun_change", args=[queued.pk]))
    assert progress.value.ok
    assert SyncRun.objects.filter(pk=queued.pk).exists()


def test_the_locked_out_page_works_under_the_policy(page, live_server, walker):
    for attempt in range(5):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "walker")
        page.fill("#id_password", f"wrong-{attempt}")
        page.click("button[type=submit]")
    expect(page.locator("#locked-out")).to_contain_text("This account is locked temporarily")
    page.shots("locked-out")
    page.get_by_role("link", name="Back to the log-in page").click()
    expect(page.locator("#id_username")).to_be_visible()
