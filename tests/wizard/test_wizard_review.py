"""The wizard's review: the most recent invoices as the first run would handle them, nothing written anywhere."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest
import time_machine
from django.urls import reverse

from integration_hub.connectors.files import AttachmentUnreadable
from syncs.models import PartnerLink, SyncDocument, SyncRun
from tests.support.books import NOW, PDF, add, invoice, line, make_books, make_flow

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

FIRST_DAY = dt.date(2026, 6, 1)


def twenty_invoices(source, *, broken: str = "i19") -> None:
    """i01 … i20 five days apart (i20 the newest), listed oldest first; `broken` has a line without tax."""
    for k in range(1, 21):
        iid = f"i{k:02d}"
        lines = [line(), line("Unknown tax", rate=None)] if iid == broken else None
        add(source, invoice(iid, date=FIRST_DAY + dt.timedelta(days=5 * (k - 1)), lines=lines,
                            updated=dt.datetime(2026, 10, 1, 8, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=k)))


def review_page(client, flow) -> str:
    flow.wizard_step = "review"
    flow.save(update_fields=["wizard_step"])
    response = client.get(reverse("wizard_step", args=[flow.tenant.slug, flow.pk, "review"]))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, element_id: str) -> str:
    found = re.search(rf'<div class="previews" id="{element_id}">(.*?)</div>', html, re.S)
    return found.group(1) if found else ""


def test_the_review_shows_the_newest_invoices_after_the_start_date_and_the_one_that_would_fail(
        client, owner_a, tenant_a):
    source, target = make_books("review-newest")
    twenty_invoices(source)
    flow = make_flow(tenant_a, name="review-newest", start_date=FIRST_DAY + dt.timedelta(days=5 * 17 - 2))  # i18 on
    client.force_login(owner_a)

    html = review_page(client, flow)

    failing, syncing = section(html, "would-fail"), section(html, "would-sync")
    assert "F-i19" in failing and "ERROR_SYNC_INVOICE_LINE_VALIDATION" in failing
    assert "Invoice line without tax" in failing  # the catalogue's title, with its resolution
    assert "F-i20" in syncing and "F-i18" in syncing and "F-i19" not in syncing
    assert syncing.index("F-i20") < syncing.index("F-i18")  # newest first
    assert html.index('id="would-fail"') < html.index('id="would-sync"')
    assert "4111" in syncing and "44571" in syncing  # the entries themselves
    counts = re.sub(r"<[^>]+>", "", re.search(r'id="review-counts">(.*?)</p>', html, re.S).group(1))
    assert counts.startswith("2 would sync · 1 would fail · 7 skipped")  # the 10 newest: i11 … i20
    assert not re.search(r"F-i(0\d|1[0-7])\b", html)  # skipped ones are counted, not listed
    assert 'id="nothing-to-book"' not in html
    assert not SyncDocument.objects.exists() and not PartnerLink.objects.exists() and not SyncRun.objects.exists()
    assert target.entries == {} and target.partners == {} and target.write_calls == 0


def test_the_review_can_preview_more_invoices_on_request(client, owner_a, tenant_a):
    source, _ = make_books("review-count")
    twenty_invoices(source)
    flow = make_flow(tenant_a, name="review-count", start_date=FIRST_DAY + dt.timedelta(days=5 * 17 - 2))
    client.force_login(owner_a)
    review_page(client, flow)

    html = client.get(reverse("wizard_step", args=[tenant_a.slug, flow.pk, "review"]) + "?count=15").content.decode()

    counts = re.sub(r"<[^>]+>", "", re.search(r'id="review-counts">(.*?)</p>', html, re.S).group(1))
    assert counts.startswith("2 would sync · 1 would fail · 12 skipped")


def test_a_start_date_in_the_future_says_the_first_run_will_book_nothing(client, owner_a, tenant_a):
    source, target = make_books("review-future")
    twenty_invoices(source)
    with time_machine.travel(NOW, tick=False):
        flow = make_flow(tenant_a, name="review-future", start_date=NOW.date() + dt.timedelta(days=30))
        client.force_login(owner_a)

        html = review_page(client, flow)

    note = re.search(r'id="nothing-to-book">(.*?)</p>', html, re.S)
    assert note is not None
    text = re.sub(r"<[^>]+>", "", note.group(1))
    assert text == ("No invoice on or after 1 December 2026 yet: the first run will book nothing; "
                    "choose an earlier start date on step 9.")
    assert reverse("wizard_step", args=[tenant_a.slug, flow.pk, "configuration"]) in note.group(1)
    assert 'id="would-sync"' not in html and 'id="would-fail"' not in html
    assert target.write_calls == 0


def test_invoices_edited_after_a_future_start_date_but_dated_before_it_leave_nothing_to_book(
        client, owner_a, tenant_a):
    source, _ = make_books("review-edited")
    twenty_invoices(source, broken="")
    for iid, inv in list(source.invoices.items()):  # all edited after the start date: listed, all too old
        source.invoices[iid] = replace(inv, updated_at=dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc))
    flow = make_flow(tenant_a, name="review-edited", start_date=dt.date(2027, 1, 1))
    client.force_login(owner_a)

    html = review_page(client, flow)

    counts = re.sub(r"<[^>]+>", "", re.search(r'id="review-counts">(.*?)</p>', html, re.S).group(1))
    assert counts.startswith("0 would sync · 0 would fail · 10 skipped")
    assert 'id="nothing-to-book"' in html and "1 January 2027" in html


def test_the_review_of_a_streamed_source_listed_out_of_date_order_keeps_the_newest(client, owner_a, tenant_a):
    source, _ = make_books("review-stream")
    days = [(k * 7919) % 1500 for k in range(1500)]  # every day of 1500 once, in a scrambled order
    updated = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    source.generator = lambda: (invoice(f"s{day:04d}", date=dt.date(2026, 1, 1) + dt.timedelta(days=day),
                                        updated=updated) for day in days)
    source.attachments = {f"s{day:04d}": PDF for day in days}
    flow = make_flow(tenant_a, name="review-stream", start_date=dt.date(2026, 1, 1))
    client.force_login(owner_a)

    html = review_page(client, flow)

    shown = re.findall(r"F-s(\d{4})", section(html, "would-sync"))
    assert list(dict.fromkeys(shown)) == [f"{day:04d}" for day in range(1499, 1489, -1)]


def test_an_invoice_whose_file_cannot_be_read_is_shown_as_would_fail(client, owner_a, tenant_a):
    source, target = make_books("review-pdf")
    twenty_invoices(source, broken="")
    source.attachments["i20"] = AttachmentUnreadable("the file “i20.pdf” is not a valid PDF: it has no page",
                                                     provider="memory")
    flow = make_flow(tenant_a, name="review-pdf", start_date=FIRST_DAY + dt.timedelta(days=5 * 17 - 2))
    client.force_login(owner_a)

    html = review_page(client, flow)

    failing = section(html, "would-fail")
    assert "F-i20" in failing and "ERROR_SYNC_INVOICE_PDF" in failing and "it has no page" in failing
    assert "F-i20" not in section(html, "would-sync") and "F-i19" in section(html, "would-sync")
    assert target.write_calls == 0 and not SyncDocument.objects.exists()
