"""One malformed document never stops a flow: it becomes a catalogued error on that document, the rest syncs."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from integration_hub.connectors.types import Partner, unreadable_invoice
from syncs import catalogue
from syncs.models import DocumentStatus, RunStatus, SyncDocument, SyncError
from tests.support.books import add, invoice, line

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def broken_batch():
    """Good invoices around every kind of malformed one seen in the field."""
    huge = invoice("huge", number="F-HUGE", lines=[line("Widget", "14400000000000000.00")])
    nan = invoice("nan", number="F-NAN", lines=[line("Widget", "100.00")])
    nan.lines[0].untaxed_amount = D("NaN")
    nan.total_amount = D("NaN")
    undated = invoice("undated", number="F-NODATE")
    undated.issue_date = None
    nameless = invoice("nameless", number="F-NAMELESS", partner=Partner(id="c9", name="   "))
    infinite = invoice("inf", number="F-INF")
    infinite.tax_amount = D("Infinity")
    unreadable = unreadable_invoice("garbled", reason="KeyError: 'lines'", number="F-GARBLED")
    odd_line = invoice("odd", number="F-ODD")
    odd_line.lines[0].description = {"not": "text"}
    goods = [invoice(f"g{i}", number=f"F-OK-{i}") for i in range(4)]
    return goods, {
        "F-HUGE": catalogue.AMOUNT_OUT_OF_RANGE, "F-NAN": catalogue.AMOUNT_OUT_OF_RANGE,
        "F-NODATE": catalogue.DATE_VALIDATION, "F-NAMELESS": catalogue.PARTNER_VALIDATION,
        "F-INF": catalogue.AMOUNT_OUT_OF_RANGE, "F-GARBLED": catalogue.UNREADABLE,
    }, [goods[0], huge, goods[1], nan, undated, nameless, goods[2], infinite, unreadable, goods[3], odd_line]


def test_malformed_invoices_become_catalogued_errors_and_the_good_ones_still_sync(flow, books, sync):
    source, target = books
    goods, expected, everything = broken_batch()
    add(source, *everything)

    run = sync(flow)

    assert run.status == RunStatus.PARTIAL
    synced = set(SyncDocument.objects.filter(flow=flow, status=DocumentStatus.SYNCED).values_list("source_number", flat=True))
    assert {g.number for g in goods} <= synced
    errors = {e.document.source_number: e for e in SyncError.objects.filter(flow=flow).select_related("document")}
    for number, code in expected.items():
        assert errors[number].code == code, (number, errors[number].code, errors[number].message)
        assert number in errors[number].message
    assert "F-HUGE" in errors and "not a usable amount" in errors["F-HUGE"].message
    assert not SyncDocument.objects.filter(flow=flow, status=DocumentStatus.PENDING).exists()
    assert len(target.entries) == len(synced)


def test_the_next_runs_go_on_and_book_nothing_twice(flow, books, sync):
    source, target = books
    goods, expected, everything = broken_batch()
    add(source, *everything)
    first = sync(flow)
    booked = len(target.entries)

    add(source, invoice("late", number="F-LATE", updated=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)))
    second = sync(flow)

    assert second.status == RunStatus.PARTIAL, second.message
    assert "Traceback" not in second.message and "Error:" not in second.message
    assert len(target.entries) == booked + 1
    assert SyncDocument.objects.get(flow=flow, source_number="F-LATE").status == DocumentStatus.SYNCED
    assert SyncError.objects.filter(flow=flow, status="open").count() >= len(expected)
    assert first.error_count >= len(expected)


def test_a_fixed_document_syncs_at_the_next_run(flow, books, sync):
    source, target = books
    undated = invoice("undated", number="F-NODATE")
    undated.issue_date = None
    add(source, undated)
    assert sync(flow).status == RunStatus.PARTIAL
    assert SyncError.objects.get(flow=flow).code == catalogue.DATE_VALIDATION

    add(source, invoice("undated", number="F-NODATE", updated=dt.datetime.now(dt.timezone.utc)))
    assert sync(flow).status == RunStatus.SUCCEEDED
    assert SyncDocument.objects.get(flow=flow, source_number="F-NODATE").status == DocumentStatus.SYNCED
    assert SyncError.objects.get(flow=flow).status == "resolved"


def test_an_unforeseen_failure_on_one_invoice_names_it_and_the_run_goes_on(flow, books, sync):
    source, target = books
    odd = invoice("odd", number="F-ODD")
    odd.lines[0].description = {"not": "text"}  # a label the builder cannot make text of
    add(source, invoice("fine", number="F-FINE"), odd)

    run = sync(flow)

    assert run.status == RunStatus.PARTIAL
    error = SyncError.objects.get(flow=flow)
    assert error.code == catalogue.UNEXPECTED, error.message
    assert "F-ODD" in error.message and "AttributeError" in error.message
    assert SyncDocument.objects.get(flow=flow, source_number="F-FINE").status == DocumentStatus.SYNCED


# --- change detection looks only at what changes the entry ---------------------------------------------

def test_a_new_address_or_e_mail_of_the_third_party_does_not_touch_a_posted_entry(flow, books, sync):
    from integration_hub.connectors.types import Address

    source, target = books
    add(source, invoice("i1", number="F-1", partner=Partner(id="c1", name="Dupont SARL", email="old@dupont.example")))
    assert sync(flow).synced_count == 1
    entry_before = dict(vars(next(iter(target.entries.values()))))

    moved = invoice("i1", number="F-1", updated=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1),
                    partner=Partner(id="c1", name="Dupont SARL", email="new@dupont.example", vat_number="FR00123",
                                    address=Address(street="1 rue Neuve", city="Lyon", country_code="FR")))
    add(source, moved)
    second = sync(flow)

    assert second.status == RunStatus.SUCCEEDED and second.synced_count == 0
    assert not SyncError.objects.filter(flow=flow).exists()
    assert dict(vars(next(iter(target.entries.values())))) == entry_before


def test_tax_rows_in_another_order_are_the_same_document(flow, books, sync):
    from integration_hub.connectors.types import InvoiceTax

    source, _ = books
    two_rates = invoice("i2", number="F-2", lines=[line("A", "100.00"), line("B", "50.00", rate="10", tax="t10")])
    two_rates.taxes = [InvoiceTax("t20", D("20"), D("100.00"), D("20.00")), InvoiceTax("t10", D("10"), D("50.00"), D("5.00"))]
    add(source, two_rates)
    assert sync(flow).synced_count == 1

    shuffled = invoice("i2", number="F-2", lines=[line("A", "100.00"), line("B", "50.00", rate="10", tax="t10")],
                       updated=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1))
    shuffled.taxes = list(reversed(two_rates.taxes))
    add(source, shuffled)
    second = sync(flow)
    assert second.synced_count == 0 and not SyncError.objects.filter(flow=flow).exists()


def test_a_fingerprint_stored_by_an_older_hub_still_matches_and_is_upgraded(flow, books, sync):
    from syncs.fingerprint import FORMAT, legacy_fingerprint

    source, target = books
    inv = invoice("i3", number="F-3")
    add(source, inv)
    sync(flow)
    doc = SyncDocument.objects.get(flow=flow, source_number="F-3")
    SyncDocument.objects.filter(pk=doc.pk).update(source_version=legacy_fingerprint(inv))
    add(source, invoice("i3", number="F-3", updated=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)))

    again = sync(flow)

    assert again.synced_count == 0 and not SyncError.objects.filter(flow=flow).exists()
    doc.refresh_from_db()
    assert doc.source_version.startswith(FORMAT + ":")
    assert len(target.entries) == 1


def test_a_fingerprint_fits_the_column_that_stores_it(flow, books, sync):
    from syncs.fingerprint import invoice_fingerprint

    limit = SyncDocument._meta.get_field("source_version").max_length
    assert len(invoice_fingerprint(invoice("i9"))) <= limit
    assert all(SyncDocument._meta.get_field(f).max_length == limit for f in ("seen_version", "pending_version"))


def test_the_fingerprint_ignores_the_order_of_everything_a_source_returns():
    import random

    from integration_hub.connectors.types import InvoiceTax
    from syncs.fingerprint import invoice_fingerprint

    def make(order_seed: int):
        lines = [line("A", "100.00"), line("B", "50.00", rate="10", tax="t10"), line("C", "20.00", rate="0", tax="t0")]
        taxes = [InvoiceTax("t20", D("20"), D("100.00"), D("20.00")), InvoiceTax("t10", D("10"), D("50.00"), D("5.00")),
                 InvoiceTax("t0", D("0"), D("20.00"), D("0.00"))]
        rng = random.Random(order_seed)
        rng.shuffle(lines), rng.shuffle(taxes)
        made = invoice("i1", number="F-1", lines=lines)
        made.taxes = taxes
        return made

    prints = {invoice_fingerprint(make(seed)) for seed in range(12)}
    assert len(prints) == 1
    changed = make(0)
    changed.lines[0].untaxed_amount += D("0.01")
    assert invoice_fingerprint(changed) not in prints


# --- the same number twice from one third party ------------------------------------------------------

def test_the_same_supplier_number_twice_waits_for_a_person_who_confirms_it_and_it_books(
        client, flow, books, sync, owner_a):
    source, target = books
    supplier = Partner(id="s1", name="Fournitures Martin SAS")
    add(source, invoice("a", number="FA-77", kind="purchase", partner=supplier,
                        lines=[line("Paper", "100.00", tax="p20", account="6071")]))
    sync(flow)
    add(source, invoice("b", number="FA-77", kind="purchase", partner=Partner(id="s1", name="FOURNITURES MARTIN"),
                        lines=[line("Paper", "100.00", tax="p20", account="6071")]))
    second = sync(flow)

    assert second.status == RunStatus.PARTIAL and target.entry_count() == 1
    error = SyncError.objects.get(flow=flow, document__source_id="b")
    assert error.code == catalogue.DUPLICATE_NUMBER and "FA-77" in error.message
    sync(flow)  # a later run does not book it by itself
    assert target.entry_count() == 1 and SyncError.objects.get(pk=error.pk).status == "open"

    client.force_login(owner_a)
    response = client.post("/admin/syncs/syncerror/", {"action": "confirm_not_duplicate",
                                                        "_selected_action": [error.pk]})
    assert response.status_code == 302
    error.refresh_from_db()
    assert error.status == "resolved" and "not a duplicate" in error.resolution_note
    from syncs.models import SyncRun
    from syncs.services import execute_run

    queued = SyncRun.objects.get(flow=flow, status="queued")  # what the worker picks up
    execute_run(queued.pk)
    assert target.entry_count() == 2
    assert SyncDocument.objects.get(flow=flow, source_id="b").status == DocumentStatus.SYNCED


def test_two_copies_in_one_batch_book_once_and_flag_the_second(flow, books, sync):
    source, target = books
    add(source, invoice("a", number="F-9", partner=Partner(id="c1", name="Dupont SARL")),
        invoice("b", number="F-9", partner=Partner(id="c1", name="Dupont SARL")))
    sync(flow)
    assert target.entry_count() == 1
    assert SyncError.objects.get(flow=flow).code == catalogue.DUPLICATE_NUMBER
