"""The Tryton connector against a live Tryton server (never mocked)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from integration_hub.connectors.errors import PermanentError
from integration_hub.connectors.types import Attachment, EntryLine, JournalEntry, Partner, Scope
from tests.support.tryton import connector

pytestmark = pytest.mark.tryton
DAY = dt.date(2026, 3, 16)


@pytest.fixture
def books(tryton_peer, tryton_accounting_db):
    c = connector(tryton_peer, tryton_accounting_db)
    yield c
    c.close()


@pytest.fixture
def source(tryton_peer, tryton_invoicing_db):
    c = connector(tryton_peer, tryton_invoicing_db[0])
    yield c
    c.close()


def sale_entry(books, reference: str, *, party: str, amount: str = "100.00", account: str = "7071",
               day: dt.date = DAY) -> JournalEntry:
    vat = next(v for v in books.list_vat_codes() if v.kind == "sale" and v.rate == D(20))
    journal = next(j for j in books.list_journals() if j.kind == "sale")
    base = D(amount)
    tax = (base * D("0.2")).quantize(D("0.01"))
    return JournalEntry(reference=reference, journal_id=journal.id, date=day, label=f"{reference} label", kind="sale",
                        lines=[EntryLine("4111", debit=base + tax, label="Client", partner_id=party),
                               EntryLine(account, credit=base, label="Sale", vat_code_id=vat.id, vat_role="base"),
                               EntryLine(vat.account_number, credit=tax, label="VAT", vat_code_id=vat.id, vat_role="tax")])


def test_check_signs_in_and_names_the_company(books):
    result = books.check()
    assert result.ok and result.organisation_name == "Cabinet Cible SAS"
    assert result.organisation_id.endswith("/1") or "/" in result.organisation_id


def test_a_wrong_password_is_reported_not_raised(tryton_peer, tryton_accounting_db):
    result = connector(tryton_peer, tryton_accounting_db, password="wrong").check()
    assert not result.ok and "refused" in result.message


def test_an_unknown_database_is_reported(tryton_peer):
    result = connector(tryton_peer, "hub_tryton_no_such_db").check()
    assert not result.ok and "not found" in result.message


def test_the_chart_of_accounts_comes_with_its_closed_and_postable_state(books):
    accounts = {a.number: a for a in books.list_accounts()}
    assert len(accounts) > 1000
    assert accounts["4111"].usable and accounts["4111"].requires_party
    assert not accounts["411"].usable  # a closed grouping account in the French chart
    assert accounts["7071"].account_class == "7"


@pytest.mark.clock
def test_vat_codes_are_the_parent_taxes_with_the_rate_and_accounts_in_force(books):
    codes = books.list_vat_codes()
    by_name = {c.code: c for c in codes}
    normal = by_name["T.V.A. Vente de biens Taux Normal"]  # a parent whose dated children say 19.6 % then 20 %
    assert (normal.rate, normal.kind, normal.account_number) == (D(20), "sale", "44571")
    assert by_name["T.V.A. Achat de services Taux Normal"].account_number == "44566"
    assert by_name["T.V.A. Vente de biens 5,5%"].rate == D("5.5")


def test_journals_carry_their_kind(books):
    kinds = {j.code: j.kind for j in books.list_journals()}
    assert kinds["REV"] == "sale" and kinds["EXP"] == "purchase"


def test_a_created_party_is_found_by_each_identifier(books):
    created = books.create_partner(Partner("x", "Ferronnerie Probe SARL", vat_number="FR40303265045",
                                           registration_number="30326504500012", auxiliary_account="CFERPRO",
                                           email="compta@ferro.example"), kind="customer")
    assert created.registration_number == "303265045"  # the company (SIREN) of the establishment (SIRET)
    found = books.get_partner(created.id)
    assert (found.receivable_account, found.payable_account) == ("4111", "4011")  # Tryton's defaults
    for criteria in ({"auxiliary_account": "CFERPRO"}, {"vat_number": "FR 40 303265045"},
                     {"registration_number": "303265045"}, {"name": "ferronnerie probe"}):
        assert [p.id for p in books.find_partners(**criteria)] == [created.id], criteria
    assert books.find_partners(name="Ferronnerie Other") == []
    matched = books.match_partners([Partner("s1", "Whatever", vat_number="FR40303265045")])
    assert matched["s1"][0].id == created.id and matched["s1"][1] == "vat_number"
    assert books.existing_partner_ids([created.id, "987654"]) == {created.id}


def test_a_batch_of_entries_is_created_and_posted_in_a_few_calls(books):
    party = books.create_partner(Partner("x", "Batch Client SAS"), kind="customer").id
    books.list_accounts()  # reference data, fetched once per connector
    entries = [sale_entry(books, f"batch-{n}", party=party) for n in range(20)]
    before = len(books.call_log)
    results = books.create_entries(entries, post=True)
    assert all(r.ok and r.state == "posted" for r in results)
    assert len(books.call_log) - before <= 3  # periods + create + post
    numbers = books.entry_numbers([r.entry_id for r in results])
    assert len(set(numbers.values())) == 20 and all(numbers.values())
    found = books.find_entries_by_reference(["batch-3", "batch-19", "never-sent"])
    assert set(found) == {"batch-3", "batch-19"}
    assert found["batch-3"].entry_id == results[3].entry_id and found["batch-3"].state == "posted"


def test_one_refused_entry_does_not_stop_the_rest_of_its_batch(books):
    party = books.create_partner(Partner("x", "Mixed Batch SA"), kind="customer").id
    good = sale_entry(books, "mix-good", party=party)
    closed = sale_entry(books, "mix-closed", party=party, account="707")  # 707 is a closed parent account
    late = sale_entry(books, "mix-late", party=party, day=dt.date(2031, 1, 5))  # no fiscal year
    results = books.create_entries([good, closed, late], post=True)
    assert results[0].ok
    assert isinstance(results[1].error, PermanentError) and results[1].error.provider_message
    assert "no open period" in str(results[2].error)
    assert set(books.find_entries_by_reference(["mix-good", "mix-closed", "mix-late"])) == {"mix-good"}


def test_tryton_s_own_refusal_reaches_the_caller_with_tryton_s_words(books):
    entry = sale_entry(books, "no-party", party="1")
    entry.lines[0].partner_id = ""  # 4111 requires a party in Tryton
    result = books.create_entries([entry], post=True)[0]
    assert isinstance(result.error, PermanentError) and not result.ok
    assert "party" in result.error.provider_message.lower()
    unknown = sale_entry(books, "unknown-account", party="1", account="7099999")
    assert "unknown account(s) 7099999" in str(books.create_entries([unknown], post=True)[0].error)


def test_an_unbalanced_entry_is_refused_before_any_call(books):
    entry = sale_entry(books, "unbalanced", party="1")
    entry.lines[0].debit += D("0.01")
    before = len(books.call_log)
    result = books.create_entries([entry], post=True)[0]
    assert not result.ok and "debits" in str(result.error)
    assert len(books.call_log) == before


def test_drafts_stay_drafts_and_can_be_updated_but_posted_entries_cannot(books):
    party = books.create_partner(Partner("x", "Draft Client"), kind="customer").id
    draft = books.create_entries([sale_entry(books, "draft-1", party=party)], post=False)[0]
    assert draft.ok and draft.state == "draft"
    updated = books.update_entry(draft.entry_id, sale_entry(books, "draft-1", party=party, amount="250.00"), post=True)
    assert updated.state == "posted"
    rows = books.client.read("account.move", [int(draft.entry_id)], ["state", "lines"])
    assert rows[0]["state"] == "posted" and len(rows[0]["lines"]) == 3
    with pytest.raises(PermanentError, match="posted"):
        books.update_entry(draft.entry_id, sale_entry(books, "draft-1", party=party), post=True)


def test_the_attachment_is_stored_on_the_move(books):
    party = books.create_partner(Partner("x", "Attach Client"), kind="customer").id
    entry = sale_entry(books, "with-pdf", party=party)
    entry.attachment = Attachment("F-1.pdf", "application/pdf", b"%PDF-1.4 hello")
    result = books.create_entries([entry], post=True)[0]
    stored = books.client.search_read("ir.attachment", [("resource", "=", f"account.move,{result.entry_id}")],
                                      ["name", "data"])
    assert stored == [{"id": stored[0]["id"], "name": "F-1.pdf", "data": b"%PDF-1.4 hello"}]


def test_vat_bases_and_amounts_reach_tryton_tax_lines(books):
    party = books.create_partner(Partner("x", "Tax Client"), kind="customer").id
    result = books.create_entries([sale_entry(books, "tax-lines", party=party)], post=True)[0]
    lines = books.client.search_read("account.move.line", [("move", "=", int(result.entry_id))], ["tax_lines"])
    tax_line_ids = [t for line in lines for t in line["tax_lines"]]
    tax_lines = books.client.read("account.tax.line", tax_line_ids, ["type", "amount", "tax.rate"])
    assert sorted((t["type"], t["amount"]) for t in tax_lines) == [("base", D("100.00")), ("tax", D("20.00"))]
    assert {t["tax."]["rate"] for t in tax_lines} == {D("0.20")}  # booked on the child tax in force, not the parent


def test_an_expired_session_is_renewed_transparently(books):
    books.check()
    books.client._auth_header = "Session " + "bm9ib2R5OjE6bm9wZQ=="  # a session Tryton does not know
    assert len(books.list_journals()) > 3
    operations = [c.operation for c in books.call_log.records]
    assert operations.count("common.db.login") == 2


@pytest.mark.clock
def test_invoices_come_out_of_the_invoicing_company_with_lines_taxes_and_parties(source, tryton_invoicing_db):
    _, seeded = tryton_invoicing_db
    invoices = list(source.list_invoices(since=None, scope=Scope.ALL, page_size=7))
    assert len(invoices) == len(seeded["invoices"]) == source.count_invoices(since=None, scope=Scope.ALL)
    by_number = {i.number: i for i in invoices}
    for expected in seeded["invoices"]:
        invoice = by_number[expected["number"]]
        assert invoice.total_amount == abs(D(expected["total_amount"]))
        assert invoice.is_credit_note == expected["credit_note"]
        assert sum((l.untaxed_amount for l in invoice.lines), D(0)) == invoice.untaxed_amount
        assert sum((l.tax_amount for l in invoice.lines), D(0)) == invoice.tax_amount
        assert invoice.partner is not None and invoice.partner.name == expected["party_name"]
        assert all(l.tax_rate is not None and l.tax_code for l in invoice.lines)
    assert any(i.is_credit_note for i in invoices) and any(i.kind == "purchase" for i in invoices)


@pytest.mark.clock
def test_the_scope_and_the_cursor_filter_the_invoices(source):
    sales = list(source.list_invoices(since=None, scope=Scope.SALES))
    assert sales and all(i.kind == "sale" for i in sales)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert list(source.list_invoices(since=later, scope=Scope.ALL)) == []


def test_a_customer_invoice_comes_with_tryton_s_own_invoice_document(source):
    invoice = next(source.list_invoices(since=None, scope=Scope.SALES))
    attachment = source.get_attachment(invoice)
    assert attachment is not None and attachment.content[:2] == b"PK"
    assert attachment.filename.startswith(invoice.number.replace("/", "-"))


def test_source_tax_rates_are_the_taxes_invoice_lines_use(source):
    rates = {(t.kind, t.rate) for t in source.list_tax_rates()}
    assert ("sale", D(20)) in rates and ("purchase", D(20)) in rates and ("sale", D("5.5")) in rates


@pytest.mark.clock
def test_names_match_whatever_their_accents_case_and_punctuation_on_either_side(books):
    stored = {name: books.create_partner(Partner(name, name), kind="customer").id
              for name in ("Luc Lefèvre", "ÉTS Dupont", "Müller GmbH", "Societe Generale Boissons")}
    asked = [Partner("a", "LUC LEFEVRE"), Partner("b", "Ets. Dupont"), Partner("c", "muller gmbh"),
             Partner("d", "Société Générale Boissons")]
    matched = books.match_partners(asked)
    assert {key: (found.id, rule) for key, (found, rule) in matched.items()} == {
        "a": (stored["Luc Lefèvre"], "name"), "b": (stored["ÉTS Dupont"], "name"),
        "c": (stored["Müller GmbH"], "name"), "d": (stored["Societe Generale Boissons"], "name")}
