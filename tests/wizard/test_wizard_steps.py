"""The wizard's steps through Django's test client, on in-memory books: each step validates what it needs, is marked
done only once saved and valid, keeps what was typed when the owner leaves it unsaved, offers Back; a reused
connection is never silently renamed; Activate stays disabled until every step, step 9 included, is ready."""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from mappings.models import Flow
from tenants.models import Connection
from tests.support.books import make_books, make_flow

pytestmark = [pytest.mark.django_db]


class FormFields(HTMLParser):
    """The values a browser would submit for one form of a page (no button), by the form's id."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.values = form_id, False, []
        self.select, self.options, self.textarea = None, [], None

    def owner(self, attrs) -> bool:
        return attrs.get("form") == self.form_id or (self.inside and "form" not in attrs)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif tag == "input" and self.owner(attrs) and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("radio", "checkbox"):
                if "checked" in attrs:
                    self.values.append((attrs["name"], attrs.get("value", "on")))
            elif kind not in ("submit", "button"):
                self.values.append((attrs["name"], attrs.get("value", "")))
        elif tag == "select" and self.owner(attrs):
            self.select, self.options = attrs["name"], []
        elif tag == "option" and self.select:
            self.options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and self.owner(attrs):
            self.textarea = attrs["name"]
            self.values.append((self.textarea, ""))

    def handle_data(self, data):
        if self.textarea:
            self.values[-1] = (self.textarea, self.values[-1][1] + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select:
            chosen = [value for value, selected in self.options if selected] or [v for v, _ in self.options[:1]]
            self.values.extend((self.select, value) for value in chosen)
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def form_data(html: str, form_id: str = "step-form") -> dict:
    parser = FormFields(form_id)
    parser.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in parser.values:
        data.setdefault(name, []).append(value)
    return data


def progress(html: str) -> dict[str, str]:
    """Each step of the progress bar ("7. Accounts") and its state: done, current or ''."""
    bar = re.search(r'<ol class="wizard-steps".*?</ol>', html, re.S).group(0)
    return {re.sub(r"<[^>]+>", "", inner).strip(): state
            for state, inner in re.findall(r'<li class="([^"]*)"[^>]*>(.*?)</li>', bar, re.S)}


def activate_button(html: str) -> str:
    return re.search(r'<button[^>]*id="activate"[^>]*>', html).group(0)


def url(flow: Flow, step: str) -> str:
    return reverse("wizard_step", args=[flow.tenant.slug, flow.pk, step])


@pytest.fixture
def books(request):
    name = f"steps-{request.node.name[:40]}"
    make_books(name)
    return name


@pytest.fixture
def logged_in(client, owner_a):
    client.force_login(owner_a)
    return client


def test_an_empty_required_account_is_refused_and_the_step_is_not_marked_done(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="accounts", default_sales_account="")
    page = logged_in.get(url(flow, "accounts")).content.decode()
    assert progress(page)["7. Accounts"] == "current" and progress(page)["6. Journals"] == "done"
    # a proposal that was never saved says so; a saved account does not
    assert 'data-suggested="default_sales_account"' in page
    assert 'data-suggested="customer_collective_account"' not in page
    data = form_data(page)
    assert data["default_sales_account"] == ["7071"]  # the suggestion, pre-selected

    data["default_sales_account"] = [""]
    refused = logged_in.post(url(flow, "accounts"), data)
    assert refused.status_code == 200
    assert "Choose an account: entries cannot be booked without it." in refused.content.decode()
    flow.refresh_from_db()
    assert flow.default_sales_account == "" and flow.wizard_step == "accounts"

    data["default_sales_account"] = ["7071"]
    saved = logged_in.post(url(flow, "accounts"), data)
    assert saved["Location"] == url(flow, "discounts")
    flow.refresh_from_db()
    assert flow.default_sales_account == "7071"
    after = logged_in.get(url(flow, "discounts")).content.decode()
    assert progress(after)["7. Accounts"] == "done"
    assert "data-suggested" not in logged_in.get(url(flow, "accounts")).content.decode()


def test_a_step_passed_but_left_incomplete_is_not_shown_as_done(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="review", supplier_collective_account="")
    states = progress(logged_in.get(url(flow, "configuration")).content.decode())
    assert states["7. Accounts"] == "" and states["6. Journals"] == "done" and states["8. Discounts"] == "done"


def test_a_sales_flow_may_not_leave_every_sales_rate_unmapped(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="sale_vat")
    data = {name: "" for name in form_data(logged_in.get(url(flow, "sale_vat")).content.decode())}
    refused = logged_in.post(url(flow, "sale_vat"), data)
    assert refused.status_code == 200 and "Map at least one rate to a VAT code" in refused.content.decode()
    assert flow.vat_mappings.filter(kind="sale").count() == 3  # nothing was deleted


def test_what_is_typed_on_step_9_is_kept_when_leaving_by_the_progress_bar_and_restored(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="review")
    page = logged_in.get(url(flow, "configuration")).content.decode()
    data = form_data(page, "configuration-form")
    assert data["start_date"] == ["2026-01-01"] and data["create_as_draft"] == ["False"]
    data.update(start_date=["2026-03-01"], create_as_draft=["True"], label_option=["partner_and_number"],
                go=["journals"])

    left = logged_in.post(url(flow, "configuration"), data)
    assert left["Location"] == url(flow, "journals")
    flow.refresh_from_db()
    assert flow.start_date == dt.date(2026, 1, 1) and not flow.create_as_draft  # a draft, not saved

    logged_in.get(url(flow, "journals"))
    back = logged_in.get(url(flow, "configuration")).content.decode()
    restored = form_data(back, "configuration-form")
    assert restored["start_date"] == ["2026-03-01"]
    assert restored["create_as_draft"] == ["True"] and restored["label_option"] == ["partner_and_number"]
    assert 'id="draft-notice"' in back

    restored.pop("go", None)
    saved = logged_in.post(url(flow, "configuration"), restored)
    assert saved["Location"] == url(flow, "review")
    flow.refresh_from_db()
    assert flow.start_date == dt.date(2026, 3, 1) and flow.create_as_draft and flow.label_option == "partner_and_number"
    again = logged_in.get(url(flow, "configuration")).content.decode()
    assert 'id="draft-notice"' not in again  # the save used the draft up


def test_a_draft_can_be_discarded(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="review")
    data = form_data(logged_in.get(url(flow, "configuration")).content.decode(), "configuration-form")
    logged_in.post(url(flow, "configuration"), {**data, "start_date": "2026-05-05", "go": "review"})
    logged_in.post(url(flow, "configuration"), {"discard_draft": "1"})
    page = logged_in.get(url(flow, "configuration")).content.decode()
    assert form_data(page, "configuration-form")["start_date"] == ["2026-01-01"] and "draft-notice" not in page


def test_every_step_after_the_first_has_a_back_button_that_keeps_the_typing(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="review")
    first = logged_in.get(url(flow, "source")).content.decode()
    assert 'id="back"' not in first
    discounts = logged_in.get(url(flow, "discounts")).content.decode()
    back = re.search(r'<button[^>]*id="back"[^>]*>', discounts).group(0)
    assert 'name="go"' in back and 'value="accounts"' in back and 'form="step-form"' in back
    review = logged_in.get(url(flow, "review")).content.decode()
    assert re.search(rf'<a class="button secondary" id="back" href="{re.escape(url(flow, "configuration"))}">Back</a>',
                     review)
    # Enter in a field saves the step: the form's first submit button is a save, not a step of the progress bar
    first_button = re.search(r'<button[^>]*form="step-form"[^>]*>', discounts).group(0)
    assert 'value="save"' in first_button

    data = form_data(discounts)
    data.update(separate_discounts=["on"], go=["accounts"])
    assert logged_in.post(url(flow, "discounts"), data)["Location"] == url(flow, "accounts")
    assert form_data(logged_in.get(url(flow, "discounts")).content.decode())["separate_discounts"] == ["on"]


def test_a_reused_connection_is_shown_by_name_with_two_choices_and_using_it_renames_nothing(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="review")
    other = Flow.objects.create(tenant=tenant_a, name="Second flow", source=flow.source, target=flow.target)
    page = logged_in.get(url(flow, "target")).content.decode()
    assert f"<strong>{books} accounting</strong>" in page and "Second flow" in page
    assert "Use this connection" in page and "Change its settings" in page
    assert 'id="connection-form"' not in page and "In-memory books (tests) (accounting)" not in page
    connections = {c.pk: c.name for c in Connection.objects.all()}

    used = logged_in.post(url(flow, "target"), {"use_existing": flow.target_id})
    assert used["Location"] == url(flow, "sale_vat")
    assert {c.pk: c.name for c in Connection.objects.all()} == connections
    other.refresh_from_db()
    assert other.target_id == flow.target_id

    change = logged_in.get(url(flow, "target") + "?mode=change").content.decode()
    assert 'id="connection-form"' in change and f'value="{books} accounting"' in change
    assert "the change applies to every flow using this connection, including Second flow" in change
    new = logged_in.get(url(flow, "target") + "?mode=new").content.decode()
    assert 'value="In-memory books (tests) (accounting)"' in new  # a new connection's default name, only there


def test_a_secret_field_never_hints_at_the_stored_value(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="review")
    page = logged_in.get(url(flow, "source") + "?mode=change").content.decode()
    field = re.search(r'<input[^>]*name="cred_api_key"[^>]*>', page).group(0)
    assert 'placeholder="Stored — leave empty to keep it"' in field
    assert "\u2022" not in page and "memory-key" not in page


def test_a_draft_of_a_connection_never_keeps_the_secret(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="review")
    logged_in.post(url(flow, "source"), {"provider": "memory", "auth_kind": "api_key", "mode": "new",
                                         "name": "Typed name", "cred_store": "typed-store",
                                         "cred_api_key": "typed-secret-value", "go": "target"})
    page = logged_in.get(url(flow, "source")).content.decode()
    assert 'value="Typed name"' in page and 'value="typed-store"' in page
    assert "typed-secret-value" not in page
    assert "typed-secret-value" not in str(dict(logged_in.session))


def test_activate_is_disabled_until_step_9_is_saved_and_the_server_refuses_it(logged_in, tenant_a, books):
    flow = make_flow(tenant_a, name=books, wizard_step="configuration")  # every mapping set, step 9 never saved
    review = logged_in.get(url(flow, "review")).content.decode()
    assert "disabled" in activate_button(review)
    assert "The configuration (step 9: start date, drafts, labels) has not been saved yet." in review
    refused = logged_in.post(reverse("wizard_activate", args=[tenant_a.slug, flow.pk]))
    assert refused["Location"] == url(flow, "review")
    flow.refresh_from_db()
    assert not flow.enabled

    data = form_data(logged_in.get(url(flow, "configuration")).content.decode(), "configuration-form")
    assert logged_in.post(url(flow, "configuration"), data)["Location"] == url(flow, "review")
    ready = logged_in.get(url(flow, "review")).content.decode()
    assert "disabled" not in activate_button(ready)


def test_a_disabled_button_is_styled_as_disabled():
    from django.contrib.staticfiles import finders

    css = open(finders.find("hub.css"), encoding="utf-8").read()
    rule = re.search(r"button:disabled[^{]*\{([^}]*)\}", css).group(1)
    assert "cursor:not-allowed" in rule.replace(" ", "") and "background" in rule
