"""The tenant and flow pages around a setup: continue one or start another, a flow's settings, the first run
of an activation, error texts in plain words, and the site's icon."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.urls import reverse

from integration_hub.connectors.errors import PermanentError
from integration_hub.connectors.files import check_readable
from integration_hub.connectors.types import Attachment
from integration_hub.pdfs import make_pdf
from mappings.models import Flow
from mappings.services import vat_mapping_set
from syncs import catalogue
from syncs.models import SyncError, SyncRun, Trigger
from syncs.services import execute_run, run_request
from tests.support.books import add, invoice, make_books, make_flow

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

# A PDF whose first object is damaged: pypdf's own message about it quotes the bytes as b'...'.
DAMAGED_PDF = make_pdf(["Invoice F-1"]).replace(b"1 0 obj\n<<", b"1 0 obj\n><", 1)


@pytest.fixture
def books(request):
    return make_books(f"setup-{request.node.name[:30]}")


@pytest.fixture
def flow(tenant_a, books, request):
    return make_flow(tenant_a, name=f"setup-{request.node.name[:30]}")


def synced(flow) -> SyncRun:
    run, created = run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False)
    assert created
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def unfinished_setup(tenant, name="Half done", step="accounts") -> Flow:
    return Flow.objects.create(tenant=tenant, name=name, wizard_step=step)


# --- continue a setup, or start a new one ---------------------------------------------------------
def test_continue_resumes_the_unfinished_setup_and_start_new_creates_another_flow(client, owner_a, tenant_a):
    half_done = unfinished_setup(tenant_a)
    client.force_login(owner_a)
    start = reverse("wizard_start", args=[tenant_a.slug])

    resumed = client.get(start)
    assert resumed["Location"] == reverse("wizard_step", args=[tenant_a.slug, half_done.pk, "accounts"])
    assert Flow.objects.filter(tenant=tenant_a).count() == 1

    fresh = client.get(start + "?new=1")
    new_flow = Flow.objects.filter(tenant=tenant_a).exclude(pk=half_done.pk).get()
    assert fresh["Location"] == reverse("wizard_step", args=[tenant_a.slug, new_flow.pk, "source"])
    assert Flow.objects.get(pk=half_done.pk).wizard_step == "accounts"


def test_a_paused_flow_that_has_run_is_not_resumed_as_a_setup(client, owner_a, tenant_a, flow, books):
    add(books[0], invoice("i1"))
    synced(flow)  # never enabled, but it has run: not a setup any more
    client.force_login(owner_a)

    response = client.get(reverse("wizard_start", args=[tenant_a.slug]))

    new_flow = Flow.objects.filter(tenant=tenant_a).exclude(pk=flow.pk).get()
    assert response["Location"] == reverse("wizard_step", args=[tenant_a.slug, new_flow.pk, "source"])


def test_the_tenant_page_offers_both_actions_and_a_setup_row_links_back_instead_of_sync_now(
        client, owner_a, tenant_a, flow, books):
    add(books[0], invoice("i1"))
    synced(flow)
    half_done = unfinished_setup(tenant_a, step="journals")
    client.force_login(owner_a)

    page = client.get(reverse("tenant_home", args=[tenant_a.slug])).content.decode()

    setup_url = reverse("wizard_step", args=[tenant_a.slug, half_done.pk, "journals"])
    assert f'href="{setup_url}"' in page
    assert "Continue the setup of “Half done”" in page
    assert f'href="{reverse("wizard_start", args=[tenant_a.slug])}?new=1"' in page and "Start a new setup" in page
    assert "Continue or start a setup" not in page
    assert reverse("flow_sync_now", args=[tenant_a.slug, flow.pk]) in page
    assert reverse("flow_sync_now", args=[tenant_a.slug, half_done.pk]) not in page


# --- the flow page ------------------------------------------------------------------------------
def test_the_flow_page_links_to_its_settings_shows_vat_as_a_table_and_never_says_cursor(
        client, owner_a, tenant_a, flow, books):
    vat_mapping_set(flow=flow, kind="purchase", source_tax_id="rc20", source_rate=D("20.000"),
                    source_label="Reverse charge EU", target_vat_code_id="A20RC", target_vat_code_label="Deductible RC",
                    due_vat_code_id="D20RC", due_vat_code_label="Due RC 20 %")
    add(books[0], invoice("i1"))
    synced(flow)
    client.force_login(owner_a)

    page = client.get(reverse("flow_detail", args=[tenant_a.slug, flow.pk])).content.decode()

    assert reverse("wizard_step", args=[tenant_a.slug, flow.pk, "source"]) in page
    assert reverse("wizard_step", args=[tenant_a.slug, flow.pk, "sale_vat"]) in page
    assert "Cursor" not in page and "Changes read up to" in page
    table = page[page.index('id="vat-mappings"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 1 + 5  # the header and the five mapped rates
    assert "<td>Reverse charge EU</td>" in table and "<td>Due RC 20 %</td>" in table and "<td>20 %</td>" in table
    assert "→" not in table


def test_a_flow_still_in_setup_links_back_to_its_step_and_offers_no_sync_now(client, owner_a, tenant_a):
    half_done = unfinished_setup(tenant_a, step="discounts")
    client.force_login(owner_a)

    page = client.get(reverse("flow_detail", args=[tenant_a.slug, half_done.pk])).content.decode()

    assert reverse("wizard_step", args=[tenant_a.slug, half_done.pk, "discounts"]) in page
    assert "Continue its setup" in page
    assert reverse("flow_sync_now", args=[tenant_a.slug, half_done.pk]) not in page


# --- the run started by Activate ----------------------------------------------------------------------
def test_the_run_activate_starts_is_labelled_as_the_first_run_of_the_activation(client, owner_a, tenant_a, flow):
    client.force_login(owner_a)

    response = client.post(reverse("flow_activate", args=[tenant_a.slug, flow.pk]))

    run = SyncRun.objects.get(flow=flow)
    assert run.trigger == Trigger.ACTIVATION
    assert response["Location"] == reverse("run_detail", args=[tenant_a.slug, run.pk])
    for url in (response["Location"], reverse("flow_detail", args=[tenant_a.slug, flow.pk])):
        page = client.get(url).content.decode()
        assert "First run (activation)" in page and "Manual (sync now)" not in page


# --- error texts --------------------------------------------------------------------------------
@pytest.mark.parametrize("content, shown", [
    (DAMAGED_PDF, "1 0 obj"),
    (b"this scan was saved as text, it is not a PDF", "“this scan was saved as"),
    (b"\x00\x01\x02\x03\xff\xfe", "bytes 00 01 02 03 FF FE"),
])
def test_an_unreadable_pdf_is_described_in_readable_characters_never_as_a_byte_string(content, shown):
    with pytest.raises(PermanentError) as caught:
        check_readable(Attachment(filename="scan.pdf", content_type="application/pdf", content=content),
                       provider="memory")
    message = str(caught.value)
    assert "b'" not in message and 'b"' not in message and "\\x" not in message and "'scan.pdf'" not in message
    assert "“scan.pdf” is not a valid PDF" in message and shown in message


def test_the_pdf_error_of_a_run_reads_as_words_on_the_run_page(client, owner_a, tenant_a, flow, books):
    source, _ = books
    add(source, invoice("i1", number="F-DAMAGED", date=dt.date(2026, 3, 15)))
    try:
        check_readable(Attachment(filename="F-DAMAGED.pdf", content_type="application/pdf", content=DAMAGED_PDF),
                       provider="memory")
    except PermanentError as exc:  # what a real connector raises for this file
        source.attachments["i1"] = exc
    run = synced(flow)
    client.force_login(owner_a)

    error = SyncError.objects.get(flow=flow)
    page = client.get(reverse("run_detail", args=[tenant_a.slug, run.pk])).content.decode()

    assert error.code == catalogue.PDF and "F-DAMAGED" in error.message
    assert "b'" not in error.message and "b&#x27;" not in page and "\\n" not in page
    assert "1 0 obj" in page


# --- the icon -----------------------------------------------------------------------------------------
def test_favicon_ico_answers_with_an_image_and_every_page_links_an_icon(client, owner_a, tenant_a):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/")
    assert b"".join(response)[:4] == b"\x00\x00\x01\x00"  # an ICO header

    client.force_login(owner_a)
    for url in (reverse("tenant_home", args=[tenant_a.slug]), reverse("admin:index")):
        page = client.get(url).content.decode()
        assert 'rel="icon"' in page and "favicon.svg" in page, url
