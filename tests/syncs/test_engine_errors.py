"""Every catalogued error, produced by a realistic invoice, lands on that document while the run goes on."""
from __future__ import annotations

import pytest

from integration_hub.connectors.errors import PermanentError
from syncs import catalogue
from syncs.models import DocumentStatus, ErrorStatus, SyncDocument, SyncError
from tests.support.books import PDF, add, customer, invoice, line

pytestmark = pytest.mark.django_db


def error_of(flow, source_id):
    doc = SyncDocument.objects.get(flow=flow, source_id=source_id)
    return doc, SyncError.objects.filter(document=doc, status=ErrorStatus.OPEN).first()


def scenario(code, books):
    source, target = books
    if code == catalogue.ACCOUNT_NUMBER_NOT_FOUND:
        del target.accounts["7071"]  # the default sales account is gone too
        return invoice(lines=[line(account="7999")])
    if code == catalogue.ACCOUNT_NUMBER_NOT_ACTIVE:
        target.accounts["7071"].active = False  # default closed, and the line's own account is closed
        return invoice(lines=[line(account="7072")])
    if code == catalogue.AMOUNT_VALIDATION:
        return invoice(total="150.00")
    if code == catalogue.CONTACT_NOT_FOUND:
        inv = invoice(partner=None)
        inv.partner_id = "ghost-contact"
        return inv
    if code == catalogue.LINE_VALIDATION:
        return invoice(lines=[line(), line(description="Shipping", amount="10.00", rate=None)])
    if code == catalogue.MAPPING_TAX_RATE_NOT_FOUND:
        return invoice(lines=[line(rate="5.5", tax="t55")])
    if code == catalogue.PARTNER_VALIDATION:
        return invoice(partner=None)
    if code == catalogue.PDF:
        source.attachments["i1"] = PermanentError("the file server answered 410 Gone")
        return invoice()
    raise AssertionError(code)


SIMPLE_CODES = [catalogue.ACCOUNT_NUMBER_NOT_FOUND, catalogue.ACCOUNT_NUMBER_NOT_ACTIVE, catalogue.AMOUNT_VALIDATION,
                catalogue.CONTACT_NOT_FOUND, catalogue.LINE_VALIDATION, catalogue.MAPPING_TAX_RATE_NOT_FOUND,
                catalogue.PARTNER_VALIDATION, catalogue.PDF]


@pytest.mark.parametrize("code", SIMPLE_CODES)
def test_a_faulty_invoice_gets_its_catalogued_error_and_the_run_goes_on(code, flow, books, sync):
    source, target = books
    bad = scenario(code, books)
    good = invoice("i2", partner=customer("c2", "Bernard SA"), lines=[line(account="7061")])
    add(source, good)
    source.invoices[bad.id] = bad
    source.attachments.setdefault(bad.id, PDF)
    run = sync(flow)
    doc, error = error_of(flow, bad.id)
    assert doc.status == DocumentStatus.ERROR
    assert error is not None and error.code == code
    assert error.message
    assert catalogue.get(code).description and catalogue.get(code).resolution
    assert SyncDocument.objects.get(flow=flow, source_id="i2").status == DocumentStatus.SYNCED
    assert run.status == "partial" and run.error_count == 1 and run.synced_count == 1
    assert target.entry_count() == 1


def test_a_linked_third_party_deleted_in_accounting_is_partner_not_found(flow, books, sync):
    source, target = books
    add(source, invoice("i1"))
    sync(flow)
    partner_id = next(iter(target.partners))
    del target.partners[partner_id]
    add(source, invoice("i2", number="F-2"))
    sync(flow)
    doc, error = error_of(flow, "i2")
    assert error.code == catalogue.PARTNER_NOT_FOUND
    assert partner_id in error.message


def test_an_invoice_without_journal_is_journal_not_linked_when_journals_are_mapped(flow, books, sync):
    from mappings.models import JournalMapping

    flow.journal_mode = "by_source_journal"
    flow.save()
    JournalMapping.objects.create(flow=flow, source_journal="SALES", target_journal_id="J1")
    source, target = books
    add(source, invoice("i1", journal_ref=""), invoice("i2", journal_ref="OTHER"), invoice("i3", journal_ref="SALES"))
    sync(flow)
    assert error_of(flow, "i1")[1].code == catalogue.JOURNAL_NOT_LINKED
    assert error_of(flow, "i2")[1].code == catalogue.MAPPING_JOURNAL_NOT_FOUND
    assert SyncDocument.objects.get(flow=flow, source_id="i3").status == DocumentStatus.SYNCED
    assert next(iter(target.entries.values())).entry.journal_id == "J1"


def test_a_missing_journal_mapping_is_mapping_journal_not_found(flow, books, sync):
    flow.purchase_journal_id = ""
    flow.save()
    source, _ = books
    add(source, invoice("p1", kind="purchase", lines=[line(rate="20", tax="p20", account="6071")]))
    sync(flow)
    assert error_of(flow, "p1")[1].code == catalogue.MAPPING_JOURNAL_NOT_FOUND


def test_an_entry_the_accounting_tool_refuses_is_reported_with_its_own_message(flow, books, sync):
    source, target = books
    target.reject = lambda entry: "Period 2026-03 is closed" if entry.reference.endswith("-i1") else None
    add(source, invoice("i1"), invoice("i2"))
    sync(flow)
    error = error_of(flow, "i1")[1]
    assert error.code == catalogue.TARGET_REJECTED
    assert error.provider_message == "Period 2026-03 is closed"
    assert SyncDocument.objects.get(flow=flow, source_id="i2").status == DocumentStatus.SYNCED


def test_the_catalogue_has_the_eleven_codes_of_the_specification_each_explained():
    assert len(catalogue.SEED_CODES) == 11
    for code in catalogue.SEED_CODES:
        entry = catalogue.get(code)
        assert entry.code.startswith("ERROR_SYNC_INVOICE_")
        assert len(entry.description) > 40 and len(entry.resolution) > 40
