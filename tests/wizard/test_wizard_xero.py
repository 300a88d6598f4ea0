"""The wizard and the OAuth connect with Xero as the accounting tool, through Django's test client, against the Xero
sandbox over real HTTP: steps Xero has no use for are skipped, its chart is offered by name, the review says what each
entry becomes in Xero, and a grant for several organisations asks which one the connection books into."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from mappings.models import Flow
from mappings.services import flow_problems, vat_mapping_set
from sandboxes.xero.app import start_sandbox
from syncs.models import SyncDocument
from tenants.models import Connection
from tenants.services import connection_create
from tests.support.books import add, customer, invoice, line, make_books

pytestmark = [pytest.mark.django_db]

DEMO, HARBOUR = "Demo Company (Global)", "Harbour Trading Ltd"


@pytest.fixture
def sandbox(settings):
    """A fresh sandbox per test: Xero's /connections remembers every organisation the user ever connected."""
    with start_sandbox(seed="demo", limits=False) as running:
        settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = running.url
        settings.HUB_XERO_CLOCK_SPEED = 600.0  # the hub's own budget never makes a test wait
        settings.HUB_BUDGET_BACKEND = "memory"
        yield running


@pytest.fixture
def logged_in(client, owner_a):
    client.force_login(owner_a)
    return client


def organisation_id(sandbox, name: str) -> str:
    return next(t["tenantId"] for t in sandbox.tenants if t["tenantName"] == name)


def xero_flow(tenant, sandbox, name: str, **overrides) -> Flow:
    """A memory invoicing tool booking into the Demo Company organisation; VAT mapped to Xero's tax types."""
    make_books(name)
    source = connection_create(tenant=tenant, name=f"{name} invoicing", provider="memory", role="source",
                               auth_kind="api_key", credentials={"store": f"{name}-source", "api_key": "memory-key"})
    token = sandbox.connect([organisation_id(sandbox, DEMO)])
    target = connection_create(tenant=tenant, name=f"{name} Xero", provider="xero", role="target", auth_kind="oauth2",
                               credentials={"access_token": token["access_token"],
                                            "refresh_token": token["refresh_token"],
                                            "expires_at": dt.datetime.now().timestamp() + 1500,
                                            "tenant_id": organisation_id(sandbox, DEMO)})
    values = dict(tenant=tenant, name=name, source=source, target=target, start_date=dt.date(2026, 1, 1),
                  sales_rounding_vat_code_id="OUTPUT2", purchase_rounding_vat_code_id="INPUT2")
    values.update(overrides)
    flow = Flow.objects.create(**values)
    for kind, tax, rate, code in (("sale", "t20", "20", "OUTPUT2"), ("sale", "t0", "0", "ZERORATEDOUTPUT"),
                                  ("purchase", "p20", "20", "INPUT2")):
        vat_mapping_set(flow=flow, kind=kind, source_tax_id=tax, source_rate=Decimal(rate), target_vat_code_id=code)
    return flow


def url(flow: Flow, step: str) -> str:
    return reverse("wizard_step", args=[flow.tenant.slug, flow.pk, step])


class FormValues(HTMLParser):
    """What a browser would submit for one form of a page (no button pressed): inputs, checked boxes, selections."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.select, self.options = form_id, False, None, []
        self.values: dict[str, list[str]] = {}

    def _add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        mine = attrs.get("form") == self.form_id or (self.inside and "form" not in attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif tag == "input" and mine and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in attrs:
                    self._add(attrs["name"], attrs.get("value", "on"))
            elif kind not in ("submit", "button"):
                self._add(attrs["name"], attrs.get("value") or "")
        elif tag == "select" and mine:
            self.select, self.options = attrs["name"], []
        elif tag == "option" and self.select:
            self.options.append((attrs.get("value", ""), "selected" in attrs))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select:
            chosen = [value for value, selected in self.options if selected] or [v for v, _ in self.options[:1]]
            for value in chosen:
                self._add(self.select, value)
            self.select = None


def form_values(html: str, form_id: str = "step-form") -> dict[str, list[str]]:
    parser = FormValues(form_id)
    parser.feed(html)
    return parser.values


def progress_labels(html: str) -> list[str]:
    bar = re.search(r'<ol class="wizard-steps".*?</ol>', html, re.S).group(0)
    return [re.sub(r"<[^>]+>", "", inner).strip() for inner in re.findall(r"<li[^>]*>(.*?)</li>", bar, re.S)]


def options(html: str, name: str) -> list[str]:
    block = re.search(rf'<select name="{re.escape(name)}".*?</select>', html, re.S).group(0)
    return [text.strip() for text in re.findall(r"<option[^>]*>([^<]*)</option>", block)]


def section(html: str, element_id: str) -> str:
    found = re.search(rf'<div class="previews" id="{element_id}">(.*)</div>', html, re.S)
    return found.group(1) if found else ""


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- the steps -------------------------------------------------------------------------------------
def test_a_flow_into_xero_skips_the_journals_step(logged_in, tenant_a, sandbox):
    flow = xero_flow(tenant_a, sandbox, "xero-skip", wizard_step="rounding_vat",
                     sales_rounding_vat_code_id="", purchase_rounding_vat_code_id="")
    page = logged_in.get(url(flow, "rounding_vat")).content.decode()
    data = form_values(page)
    assert data["sales_rounding_vat_code_id"] == ["OUTPUT2"]  # Xero's 20 % tax types, suggested
    assert data["purchase_rounding_vat_code_id"] == ["INPUT2"]

    saved = logged_in.post(url(flow, "rounding_vat"), data)

    assert saved.status_code == 302 and saved["Location"] == url(flow, "accounts")
    flow.refresh_from_db()
    assert flow.wizard_step == "accounts" and flow.sales_rounding_vat_code_id == "OUTPUT2"
    accounts = logged_in.get(url(flow, "accounts")).content.decode()
    assert progress_labels(accounts) == ["1. Invoicing tool", "2. Accounting tool", "3. Sales VAT", "4. Purchase VAT",
                                         "5. Rounding VAT", "6. Accounts", "7. Discounts", "8. Configuration",
                                         "9. Review"]
    assert "Step 6 of 9 — Accounts" in accounts
    journals = logged_in.get(url(flow, "journals"))
    assert journals.status_code == 302 and journals["Location"] == url(flow, "accounts")


def test_a_flow_into_a_tool_that_books_entries_keeps_its_journals_step(logged_in, tenant_a, sandbox):
    flow = xero_flow(tenant_a, sandbox, "xero-contrast", wizard_step="journals")
    memory_target = connection_create(tenant=tenant_a, name="Entries", provider="memory", role="target",
                                      auth_kind="api_key", credentials={"store": "xero-contrast-target",
                                                                        "api_key": "memory-key"})
    Flow.objects.filter(pk=flow.pk).update(target=memory_target)

    page = logged_in.get(url(flow, "journals"))

    assert page.status_code == 200 and "6. Journals" in progress_labels(page.content.decode())


def test_the_accounts_step_for_xero_offers_its_chart_by_name_and_asks_for_no_collective_account(
        logged_in, tenant_a, sandbox):
    flow = xero_flow(tenant_a, sandbox, "xero-accounts", wizard_step="accounts")
    page = logged_in.get(url(flow, "accounts")).content.decode()

    assert 'name="customer_collective_account"' not in page and 'name="supplier_collective_account"' not in page
    assert 'id="documents-note"' in page and "no collective account is asked for" in page
    offered = options(page, "default_sales_account")
    assert "200 Sales" in offered and "460 Rounding Differences" in offered
    assert not [o for o in offered if o.startswith(("425 ", "090 ", "610 ", "800 "))]  # archived, bank, system
    data = form_values(page)
    assert data["default_sales_account"] == ["200"] and data["default_purchase_account"] == ["310"]
    assert data["credit_rounding_account"] == ["460"] and data["debit_rounding_account"] == ["460"]
    assert 'data-suggested="default_sales_account"' in page

    saved = logged_in.post(url(flow, "accounts"), data)
    assert saved["Location"] == url(flow, "discounts")
    discounts_page = logged_in.get(url(flow, "discounts")).content.decode()
    discounts = logged_in.post(url(flow, "discounts"), form_values(discounts_page))
    assert discounts["Location"] == url(flow, "configuration")
    configuration = logged_in.get(url(flow, "configuration")).content.decode()
    reviewed = logged_in.post(url(flow, "configuration"), form_values(configuration, "configuration-form"))
    assert reviewed["Location"] == url(flow, "review")

    flow.refresh_from_db()
    assert (flow.default_sales_account, flow.default_purchase_account) == ("200", "310")
    assert (flow.credit_rounding_account, flow.debit_rounding_account) == ("460", "460")
    assert flow.customer_collective_account == "" and flow.sales_journal_id == ""
    assert flow_problems(flow) == []
    review = logged_in.get(url(flow, "review")).content.decode()
    assert "Before this flow can be activated" not in review and 'class="problems"' not in review
    assert "disabled" not in re.search(r'<button[^>]*id="activate"[^>]*>', review).group(0)


def test_the_review_of_a_xero_flow_says_what_each_entry_becomes_in_xero(logged_in, tenant_a, sandbox):
    flow = xero_flow(tenant_a, sandbox, "xero-review", wizard_step="review", default_sales_account="200",
                     default_purchase_account="310", credit_rounding_account="460", debit_rounding_account="460")
    source, _ = make_books("xero-review")
    known = customer("c2", "Northwind Studios Ltd", vat_number="GB100200031")  # already a contact in Xero
    add(source, invoice("i1", number="F-2026-001", lines=[line("Consulting", "100.00", account="200")]),
        invoice("i2", number="F-2026-002", lines=[line("Training", "250.00", account="200")], partner=known,
                date=dt.date(2026, 3, 20)))

    html = logged_in.get(url(flow, "review")).content.decode()

    previews = dict(re.findall(r"<h4>(F-2026-00\d).*?</h4>(.*?)</article>", section(html, "would-sync"), re.S))
    notes = {number: [text_of(n).strip() for n in re.findall(r"<li>(.*?)</li>", body, re.S)]
             for number, body in previews.items()}
    assert notes["F-2026-001"] == [
        "booked in Xero as a sales invoice (ACCREC), awaiting payment (AUTHORISED), total 120.00 EUR",
        "its contact is not in Xero yet: the run creates it first"]
    assert notes["F-2026-002"] == [
        "booked in Xero as a sales invoice (ACCREC), awaiting payment (AUTHORISED), total 300.00 EUR"]
    assert not SyncDocument.objects.exists()
    api_calls = [entry for entry in sandbox.state.request_log if entry["path"].startswith("/api.xro/")]
    assert api_calls and {entry["method"] for entry in api_calls} == {"GET"}  # a preview sends nothing to Xero


# --- connecting ------------------------------------------------------------------------------------
def consent(client, sandbox, start: str, organisations: list[str]) -> dict[str, str]:
    """Follow the hub to the sandbox's consent page and allow these organisations: the callback's query."""
    started = client.get(start)
    assert started.status_code == 302
    authorize = urlsplit(started["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}" == sandbox.url
    assert authorize.path == "/identity/connect/authorize"
    params = {key: values[-1] for key, values in parse_qs(authorize.query).items()}
    page = requests.get(started["Location"], timeout=10)
    assert page.status_code == 200 and "wants to access your Xero data" in page.text
    answer = requests.post(f"{sandbox.url}/identity/connect/authorize", allow_redirects=False, timeout=10,
                           data={**params, "decision": "allow", "tenant_choice": "1",
                                 **{f"tenant_{organisation_id(sandbox, name)}": "on" for name in organisations}})
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    assert back.path == reverse("oauth_callback")
    return {key: values[-1] for key, values in parse_qs(back.query).items()}


def oauth_connection(tenant) -> Connection:
    return connection_create(tenant=tenant, name="Xero books", provider="xero", role="target", auth_kind="oauth2",
                             credentials={})


def test_a_grant_for_two_organisations_asks_which_one_the_connection_books_into(
        logged_in, tenant_a, owner_b, sandbox):
    connection = oauth_connection(tenant_a)
    query = consent(logged_in, sandbox, reverse("oauth_start", args=[tenant_a.slug, connection.pk]), [DEMO, HARBOUR])

    back = logged_in.get(reverse("oauth_callback"), {"code": query["code"], "state": query["state"]})

    picker = reverse("oauth_organisation", args=[tenant_a.slug, connection.pk])
    assert back.status_code == 302 and back["Location"] == picker
    page = logged_in.get(picker).content.decode()
    assert DEMO in page and HARBOUR in page
    stored = Connection.objects.get(pk=connection.pk).get_credentials()
    assert stored["access_token"] and stored["refresh_token"] and "tenant_id" not in stored

    refused = logged_in.post(picker, {"organisation": "00000000-0000-0000-0000-000000000000"})
    assert refused.status_code == 400 and "Choose one of the organisations listed." in refused.content.decode()
    assert "tenant_id" not in Connection.objects.get(pk=connection.pk).get_credentials()

    logged_in.logout()
    logged_in.force_login(owner_b)
    assert logged_in.get(picker).status_code == 404
    assert logged_in.get(reverse("oauth_organisation", args=["beta", connection.pk])).status_code == 404
    assert "tenant_id" not in Connection.objects.get(pk=connection.pk).get_credentials()


def test_choosing_an_organisation_after_consent_connects_to_it(logged_in, tenant_a, sandbox):
    connection = oauth_connection(tenant_a)
    query = consent(logged_in, sandbox, reverse("oauth_start", args=[tenant_a.slug, connection.pk]), [DEMO, HARBOUR])
    picker = logged_in.get(reverse("oauth_callback"), {"code": query["code"], "state": query["state"]})["Location"]

    chosen = logged_in.post(picker, {"organisation": organisation_id(sandbox, HARBOUR)}, follow=True)

    assert chosen.redirect_chain[-1][0] == reverse("connection_detail", args=[tenant_a.slug, connection.pk])
    assert "Connected: connected to Harbour Trading Ltd" in chosen.content.decode()
    connection.refresh_from_db()
    assert connection.get_credentials()["tenant_id"] == organisation_id(sandbox, HARBOUR)
    assert connection.status == "connected" and "connected to Harbour Trading Ltd" in connection.status_message
    assert connection.external_org_id == organisation_id(sandbox, HARBOUR)
    assert logged_in.get(picker).status_code == 404  # chosen once; another choice means connecting again


def test_a_grant_for_one_organisation_connects_without_asking(logged_in, tenant_a, sandbox):
    connection = oauth_connection(tenant_a)
    query = consent(logged_in, sandbox, reverse("oauth_start", args=[tenant_a.slug, connection.pk]), [HARBOUR])

    back = logged_in.get(reverse("oauth_callback"), {"code": query["code"], "state": query["state"]}, follow=True)

    assert back.redirect_chain == [(reverse("connection_detail", args=[tenant_a.slug, connection.pk]), 302)]
    assert "Connected: connected to Harbour Trading Ltd" in back.content.decode()
    connection.refresh_from_db()
    assert connection.status == "connected"
    assert connection.get_credentials()["tenant_id"] == organisation_id(sandbox, HARBOUR)


def test_connecting_xero_from_the_wizard_comes_back_to_the_wizard_once_the_organisation_is_chosen(
        logged_in, tenant_a, sandbox):
    flow = xero_flow(tenant_a, sandbox, "xero-wizard", wizard_step="target")
    Flow.objects.filter(pk=flow.pk).update(target=None)
    asked = logged_in.post(url(flow, "target"), {"provider": "xero", "auth_kind": "oauth2", "mode": "new",
                                                 "name": "Xero (accounting)", "action": "oauth"})
    connection = Connection.objects.get(tenant=tenant_a, name="Xero (accounting)")
    assert connection.provider == "xero" and connection.auth_kind == "oauth2"
    assert asked["Location"].startswith(reverse("oauth_start", args=[tenant_a.slug, connection.pk]))

    query = consent(logged_in, sandbox, asked["Location"], [DEMO, HARBOUR])
    picker = logged_in.get(reverse("oauth_callback"), {"code": query["code"], "state": query["state"]})["Location"]
    back = logged_in.post(picker, {"organisation": organisation_id(sandbox, DEMO)}, follow=True)

    assert back.redirect_chain[-1][0] == url(flow, "target") + "?mode=change"
    assert "Connected: connected to Demo Company (Global)" in back.content.decode()
    saved = logged_in.post(url(flow, "target"), {"provider": "xero", "auth_kind": "oauth2", "mode": "change",
                                                 "name": "Xero (accounting)", "action": "save"})
    assert saved["Location"] == url(flow, "sale_vat")
    flow.refresh_from_db()
    assert flow.target == connection and not flow.books_entries
    vat = logged_in.get(url(flow, "sale_vat")).content.decode()  # Xero's tax types, from the chosen organisation
    assert form_values(vat)["tax_t20"] == ["OUTPUT2"]
