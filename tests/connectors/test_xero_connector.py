"""The Xero connector against the Xero sandbox, over real HTTP: connecting, lists, contacts, documents."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests

from integration_hub.connectors.base import AuthKind
from integration_hub.connectors.errors import NeedsReauthorization, PermanentError
from integration_hub.connectors.oauth import MemoryTokenStore
from integration_hub.connectors.types import Attachment, EntryLine, JournalEntry, Partner
from integration_hub.connectors.xero.connector import XeroConnector
from tests.support.xero import checked_sandbox, each_test_checked

D = Decimal
SPEED = 600.0  # a sandbox minute lasts a tenth of a second


@pytest.fixture(scope="module")
def shared_sandbox():
    """The sandbox behind Xero's own OpenAPI description: every request the hub sends and every answer is checked."""
    with checked_sandbox(speed=SPEED) as running:
        yield running


@pytest.fixture
def sandbox(shared_sandbox):
    yield from each_test_checked(shared_sandbox)  # the hub spoke Xero's API as Xero describes it


@pytest.fixture(autouse=True)
def xero_settings(settings, shared_sandbox):
    running = shared_sandbox
    settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = running.url
    settings.HUB_XERO_CLOCK_SPEED = SPEED
    settings.HUB_BUDGET_BACKEND = "memory"


def tenant_named(sandbox, name: str) -> str:
    return next(t["tenantId"] for t in sandbox.tenants if t["tenantName"] == name)


def connect(sandbox, names=("Demo Company (Global)",), *, changes=None, chosen=True) -> XeroConnector:
    """A grant for these organisations; `chosen`: the first is the one the connection books into (as after the
    hub's picker). Xero lists every organisation a user ever connected to the app, so a fresh grant may reach
    more than it just consented to."""
    token = sandbox.connect([tenant_named(sandbox, n) for n in names])
    credentials = {"access_token": token["access_token"], "refresh_token": token["refresh_token"],
                   "expires_at": dt.datetime.now().timestamp() + 1500}
    if chosen:
        credentials["tenant_id"] = tenant_named(sandbox, names[0])
    store = MemoryTokenStore(credentials, on_change=changes)
    return XeroConnector(credentials, auth_kind=AuthKind.OAUTH2, token_store=store)


def entry(reference: str, *, contact: str, account="200", amount="100.00", vat="20.00", tax_type="OUTPUT2",
          number="", credit_note=False, attachment=None) -> JournalEntry:
    amount, vat = D(amount), D(vat)
    side = (lambda x: {"debit": x}) if credit_note else (lambda x: {"credit": x})
    other = (lambda x: {"credit": x}) if credit_note else (lambda x: {"debit": x})
    lines = [EntryLine("accounts receivable", partner_id=contact, **other(amount + vat)),
             EntryLine(account, label="Consulting", vat_code_id=tax_type, vat_role="base", **side(amount))]
    if vat:
        lines.append(EntryLine(f"VAT {tax_type}", vat_code_id=tax_type, vat_role="tax", **side(vat)))
    return JournalEntry(reference=reference, journal_id="", date=dt.date(2026, 11, 20), label="x", lines=lines,
                        currency="GBP", source_number=number or f"F-{reference}", kind="sale",
                        due_date=dt.date(2026, 12, 20), document_currency="GBP", version="v1",
                        attachment=attachment)


def documents_with_reference(connector: XeroConnector, reference: str) -> list[dict]:
    rows = connector.client.get("Invoices", where=f'Reference.EndsWith("[hub {reference}]")').get("Invoices") or []
    rows += connector.client.get("CreditNotes", where=f'Reference.EndsWith("[hub {reference}]")').get("CreditNotes") or []
    return rows


def test_a_grant_for_one_organisation_is_checked_and_that_organisation_remembered(sandbox):
    changes = []
    only = "Harbour Trading Ltd"
    token = sandbox.connect([tenant_named(sandbox, only)])
    for other in sandbox.tenants:  # the user's other connections to the app, if an earlier test made some
        if other["tenantName"] != only:
            connections = requests.get(f"{sandbox.url}/connections", timeout=5,
                                       headers={"Authorization": f"Bearer {token['access_token']}"}).json()
            for row in connections:
                if row["tenantId"] == other["tenantId"]:
                    requests.delete(f"{sandbox.url}/connections/{row['id']}", timeout=5,
                                    headers={"Authorization": f"Bearer {token['access_token']}"})
    credentials = {"access_token": token["access_token"], "refresh_token": token["refresh_token"],
                   "expires_at": dt.datetime.now().timestamp() + 1500}
    connector = XeroConnector(credentials, auth_kind=AuthKind.OAUTH2,
                              token_store=MemoryTokenStore(credentials, on_change=changes.append))
    result = connector.check()
    assert result.ok, result.message
    assert result.organisation_name == only
    assert result.organisation_id == tenant_named(sandbox, only)
    assert changes and changes[-1]["tenant_id"] == result.organisation_id


def test_a_grant_for_several_organisations_asks_which_one(sandbox):
    connector = connect(sandbox, names=("Demo Company (Global)", "Harbour Trading Ltd"), chosen=False)
    result = connector.check()
    assert not result.ok and "Choose the Xero organisation" in result.message
    assert sorted(name for _, name in connector.organisations()) == ["Demo Company (Global)", "Harbour Trading Ltd"]


def test_a_custom_connection_books_into_its_one_organisation(sandbox):
    credentials = {"client_id": sandbox.identity.client_id, "client_secret": sandbox.identity.client_secret}
    connector = XeroConnector(credentials, auth_kind=AuthKind.CREDENTIALS)
    result = connector.check()
    assert result.ok, result.message
    assert connector.store.load()["access_token"]  # the token fetched is kept for the next calls


def test_a_refresh_token_is_rotated_and_the_new_one_kept(sandbox):
    changes = []
    connector = connect(sandbox, changes=changes.append)
    connector.store.credentials["expires_at"] = 0  # expired: the next call refreshes
    old_refresh = connector.store.credentials["refresh_token"]
    assert connector.check().ok
    refreshed = [c for c in changes if c.get("refresh_token") != old_refresh]
    assert refreshed and refreshed[0]["access_token"]


def test_a_refused_refresh_asks_for_reauthorisation(sandbox):
    connector = connect(sandbox)
    connector.store.credentials.update(expires_at=0, refresh_token="not-a-token")
    result = connector.check()
    assert not result.ok and result.needs_reauth
    with pytest.raises(NeedsReauthorization):
        connector.tokens.access_token()


def test_lists_come_from_the_organisation(sandbox):
    connector = connect(sandbox)
    accounts = {a.number: a for a in connector.list_accounts()}
    assert accounts["200"].usable and not accounts["425"].usable  # 425 is archived
    assert not accounts["090"].usable  # a bank account takes no invoice line
    codes = {c.id: c for c in connector.list_vat_codes()}
    assert codes["OUTPUT2"].rate == D("20") and codes["OUTPUT2"].kind == "sale"
    assert codes["INPUT2"].kind == "purchase" and "OUTPUT" not in codes  # deleted rates are left out
    assert connector.list_journals() == []
    assert ("Region", "North") in {(axis, label) for _, label, axis in connector.list_dimensions()}
    assert "EUR" in connector.list_currencies()


def test_contacts_are_matched_by_the_hubs_rules_and_created_in_one_call(sandbox):
    connector = connect(sandbox)
    by_vat = connector.find_partners(vat_number="GB100200031")
    assert [p.name for p in by_vat] == ["Northwind Studios Ltd"]
    assert connector.find_partners(name="thistle catering ltd") == []  # archived contacts are not matched
    before = len(connector.client.get("Contacts").get("Contacts") or [])
    created = connector.create_partners([(Partner(id="s1", name="Brand New Customer Ltd", vat_number="GB 999 1"), "customer"),
                                         (Partner(id="s2", name="Brand New Supplier Ltd"), "supplier")])
    assert all(not isinstance(c, Exception) for c in created)
    assert connector.existing_partner_ids([c.id for c in created]) == {c.id for c in created}
    fresh = connect(sandbox)
    assert [p.name for p in fresh.find_partners(vat_number="GB9991")] == ["Brand New Customer Ltd"]
    assert len(fresh.list_contacts()) >= before + 2 - 1  # the archived one is not listed


def test_a_batch_books_the_good_documents_and_gives_each_refusal_in_xeros_words(sandbox):
    connector = connect(sandbox)
    contact = connector.find_partners(name="Northwind Studios Ltd")[0].id
    pdf = Attachment("f-a1.pdf", "application/pdf", b"%PDF-1.4 test")
    entries = [entry("t1-a1", contact=contact, attachment=pdf),
               entry("t1-a2", contact=contact, credit_note=True),
               entry("t1-a3", contact=contact, account="999"),
               entry("t1-a4", contact=contact, tax_type="INPUT2")]
    results = connector.create_entries(entries, post=True)
    assert [r.ok for r in results] == [True, True, False, False]
    assert results[0].state == "posted" and results[1].entry_id.startswith("CN:")
    assert results[2].error.details["reason"] == "account" and "999" in results[2].error.provider_message
    assert results[3].error.details["reason"] == "tax"
    found = connector.find_entries_by_reference(["t1-a1", "t1-a2", "t1-a3"])
    assert set(found) == {"t1-a1", "t1-a2"}
    assert found["t1-a1"].attachment_count == 1 and found["t1-a2"].attachment_count == 0
    (invoice,) = documents_with_reference(connector, "t1-a1")
    assert D(str(invoice["Total"])) == D("120.00") and invoice["Status"] == "AUTHORISED"


def test_sending_the_same_batch_again_after_a_lost_answer_books_nothing_twice(sandbox):
    connector = connect(sandbox)
    contact = connector.find_partners(name="Bramble & Finch LLP")[0].id
    batch = [entry(f"t2-{i}", contact=contact) for i in range(3)]
    first = connector.create_entries(batch, post=False)
    again = connector.create_entries(batch, post=False)  # same documents, same versions: the same key
    assert [r.entry_id for r in first] == [r.entry_id for r in again]
    for i in range(3):
        assert len(documents_with_reference(connector, f"t2-{i}")) == 1


def test_a_draft_is_updated_in_place_and_posted_later(sandbox):
    connector = connect(sandbox)
    contact = connector.find_partners(name="Castlegate Hotels Ltd")[0].id
    (created,) = connector.create_entries([entry("t3-1", contact=contact)], post=False)
    assert created.state == "draft"
    changed = entry("t3-1", contact=contact, amount="200.00", vat="40.00")
    changed.version = "v2"
    updated = connector.update_entry(created.entry_id, changed, post=False)
    assert updated.entry_id == created.entry_id
    (posted,) = connector.post_entries([created.entry_id])
    assert posted.state == "posted"
    (row,) = documents_with_reference(connector, "t3-1")
    assert D(str(row["Total"])) == D("240.00") and row["Status"] == "AUTHORISED"


def test_an_authorised_document_with_a_payment_is_reported_never_changed(sandbox):
    connector = connect(sandbox)
    contact = connector.find_partners(name="Dunmore Engineering Ltd")[0].id
    (created,) = connector.create_entries([entry("t4-1", contact=contact)], post=True)
    connector.client.write("PUT", "Payments", {"Payments": [{
        "Invoice": {"InvoiceID": created.entry_id}, "Account": {"Code": "090"}, "Date": "2026-11-25",
        "Amount": D("50.00")}]}, idempotency_key="pay-t4-1")
    with pytest.raises(PermanentError) as refused:
        connector.update_entry(created.entry_id, entry("t4-1", contact=contact, amount="90.00", vat="18.00"),
                               post=True)
    assert refused.value.details["reason"] == "locked" and "payment" in str(refused.value)
    (row,) = documents_with_reference(connector, "t4-1")
    assert D(str(row["Total"])) == D("120.00")


def test_the_preview_says_what_xero_will_hold(sandbox):
    connector = connect(sandbox)
    lines = [EntryLine("accounts receivable", debit=D("1.19"), partner_id="c"),
             *[EntryLine("200", credit=D("0.33"), vat_code_id="OUTPUT2", vat_role="base") for _ in range(3)],
             EntryLine("VAT OUTPUT2", credit=D("0.20"), vat_code_id="OUTPUT2", vat_role="tax")]
    notes = connector.describe_entry(JournalEntry("p", "", dt.date(2026, 11, 1), "x", lines, kind="sale",
                                                  document_currency="GBP"), post=False)
    assert notes[0].startswith("booked in Xero as a sales invoice (ACCREC), draft, total 1.19 GBP")
    assert "Xero would compute 0.21" in notes[1]


def test_a_contact_another_worker_created_meanwhile_is_used_not_refused(sandbox):
    mine, theirs = connect(sandbox), connect(sandbox)
    mine.list_contacts()  # read before the other worker creates it
    (made,) = theirs.create_partners([(Partner(id="r1", name="Race Condition Ltd"), "customer")])
    (found,) = mine.create_partners([(Partner(id="r1", name="Race Condition Ltd"), "customer")])
    assert not isinstance(found, Exception) and found.id == made.id


def test_a_bill_is_found_again_by_the_tag_in_its_number_since_xero_keeps_no_reference_on_bills(sandbox):
    connector = connect(sandbox)
    supplier = connector.find_partners(name="Larkspur Office Supplies Ltd")[0].id
    bill = entry("t5-1", contact=supplier, account="429", tax_type="INPUT2", number="LOS-778", credit_note=True)
    bill.kind = "purchase"  # a purchase whose payable is credited: a bill
    (created,) = connector.create_entries([bill], post=True)
    assert created.ok, created.error
    row = connector.client.get(f"Invoices/{created.entry_id}")["Invoices"][0]
    assert row["Type"] == "ACCPAY" and row["InvoiceNumber"] == "LOS-778 [hub t5-1]" and not row.get("Reference")
    found = connector.find_entries_by_reference(["t5-1"])
    assert found["t5-1"].entry_id == created.entry_id and found["t5-1"].state == "posted"
