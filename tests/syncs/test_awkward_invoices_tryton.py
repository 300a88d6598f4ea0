"""Invoices that are not ordinary, booked by the hub exactly as Tryton books them itself.

A source Tryton company posts each awkward invoice (reverse charge, a foreign currency, two taxes on one
line); the hub syncs it into another Tryton company; the hub's move must equal the move Tryton itself made
for the invoice: every account to the cent, the foreign amounts, and the VAT-return (tax) lines.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal as D

import pytest

from integration_hub.connectors.types import TaxRate, VatCode
from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow, VatMapping
from mappings.suggestions import suggest_vat_code
from syncs import catalogue
from syncs.models import RunStatus, SyncDocument, SyncError
from tenants.services import connection_create
from tests.support.clock import SANDBOX_DAY
from tests.support.tryton import connector, credentials, unique_db

pytestmark = pytest.mark.tryton
INVOICE_DAY = (SANDBOX_DAY - dt.timedelta(days=10)).isoformat()
CASES = ["reverse_charge_services", "reverse_charge_goods_credit_note", "usd_sale", "usd_saas_reverse_charge",
         "two_taxes_on_one_line"]


@pytest.fixture(scope="module")
def awkward_source(tryton_peer):
    name = tryton_peer.create_database(unique_db("awk"), company_name="Négoce Atypique SARL")
    invoices = tryton_peer.run_setup(name, "add_awkward_invoices", day=INVOICE_DAY)
    yield name, invoices
    tryton_peer.drop_database(name)


@pytest.fixture
def awkward_flow(tenant_a, tryton_peer, awkward_source, tryton_accounting_db):
    source_db, invoices = awkward_source
    source = connection_create(tenant=tenant_a, name="Tryton négoce", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(tryton_peer, source_db))
    target = connection_create(tenant=tenant_a, name="Tryton comptable", provider="tryton", role="target",
                               auth_kind="credentials", credentials=credentials(tryton_peer, tryton_accounting_db))
    flow = Flow.objects.create(tenant=tenant_a, name="Awkward", source=source, target=target,
                               start_date=dt.date(2026, 1, 1))
    src, tgt = connector(tryton_peer, source_db), connector(tryton_peer, tryton_accounting_db)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    src.close(), tgt.close()
    # the collective accounts the invoicing company's invoices use (the suggestion would be 411/401)
    flow.customer_collective_account, flow.supplier_collective_account = "4111", "4011"
    flow.save()
    return flow, invoices


def run_flow(flow):
    from syncs.services import execute_run, run_request

    run, _ = run_request(flow=flow, enqueue=False)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def summary(lines: list[dict]) -> dict:
    """A move seen per account (net amount, foreign amount, third party) and per VAT-return line."""
    accounts: dict = defaultdict(lambda: [D(0), D(0), set(), False])
    taxes: dict = defaultdict(D)
    for line in lines:
        slot = accounts[line["account"]]
        slot[0] += D(line["debit"]) - D(line["credit"])
        slot[1] += D(line["amount_second_currency"] or 0)
        slot[2].add(line["second_currency"])
        slot[3] = slot[3] or line["party"]
        for tax, kind, amount in line["tax_lines"]:
            taxes[(line["account"], tax, kind)] += D(amount)
    return {"accounts": {k: tuple(v[:2]) + (sorted(c or "" for c in v[2]), v[3]) for k, v in accounts.items()},
            "tax_lines": {k: v for k, v in taxes.items() if v}}


@pytest.mark.clock
@pytest.mark.django_db
def test_the_hub_books_each_awkward_invoice_exactly_as_tryton_itself_does(awkward_flow, tryton_peer,
                                                                          tryton_accounting_db):
    flow, invoices = awkward_flow
    run = run_flow(flow)
    assert run.status == RunStatus.SUCCEEDED, (run.message, list(SyncError.objects.values_list("code", "message")))
    docs = {d.source_number: d for d in SyncDocument.objects.filter(flow=flow)}
    entry_ids = {case: docs[invoices[case]["number"]].target_entry_id for case in CASES}
    hub = tryton_peer.run_setup(tryton_accounting_db, "move_lines", move_ids=[int(i) for i in entry_ids.values()])
    for case in CASES:
        ours, theirs = summary(hub[entry_ids[case]]), summary(invoices[case]["move"])
        assert ours == theirs, case

    # Reverse charge: the supplier's invoice shows no VAT; the buyer books 20 % of 500 deductible and due.
    rc = {line["account"]: (D(line["debit"]), D(line["credit"])) for line in hub[entry_ids["reverse_charge_services"]]}
    assert D(invoices["reverse_charge_services"]["tax_amount"]) == 0
    assert (rc["6061"], rc["44566"], rc["4452"]) == ((D("500.00"), 0), (D("100.00"), 0), (0, D("100.00")))

    # Foreign currency: the receivable keeps the USD total; its EUR value is the one Tryton booked.
    usd = invoices["usd_sale"]
    assert docs[usd["number"]].currency == "USD"
    receivable = next(line for line in hub[entry_ids["usd_sale"]] if line["account"] == "4111")
    own = next(line for line in usd["move"] if line["account"] == "4111")
    assert (receivable["second_currency"], D(receivable["amount_second_currency"])) == ("USD", D(usd["total_amount"]))
    assert D(receivable["debit"]) == D(own["debit"]) != D(usd["total_amount"])

    # Two taxes on one line: the line is the base of both in the VAT return.
    two = summary(hub[entry_ids["two_taxes_on_one_line"]])["tax_lines"]
    bases = {tax for (account, tax, kind) in two if kind == "base" and account == "7071"}
    assert len(bases) == 2, two


@pytest.mark.django_db
def test_a_reverse_charge_mapped_to_a_single_code_is_an_error_and_never_a_silent_zero(awkward_flow):
    flow, invoices = awkward_flow
    mapping = VatMapping.objects.get(flow=flow, kind="purchase", reverse_charge=True,
                                     source_label="T.V.A. Achat Intracommunautaire de services Taux Normal")
    mapping.reverse_charge, mapping.due_vat_code_id = False, ""  # what the old automatic mapping did
    mapping.save()
    run = run_flow(flow)
    assert run.status == RunStatus.PARTIAL
    error = SyncError.objects.get(flow=flow, document__source_number=invoices["reverse_charge_services"]["number"])
    assert error.code == catalogue.REVERSE_CHARGE_NOT_MAPPED
    assert "reverse charge" in error.message and "due VAT code" in error.message


def test_a_reverse_charge_tax_is_never_suggested_a_zero_rate_code():
    codes = [VatCode("0", "ACH-0", "Exonéré", D("0"), "purchase", "44566"),
             VatCode("d", "UE (1)", "Intracom déductible", D("20"), "purchase", "44566", reverse_charge="deductible",
                     pair="u"),
             VatCode("u", "UE (2)", "Intracom due", D("20"), "purchase", "4452", reverse_charge="due", pair="d"),
             VatCode("20", "ACH-20", "TVA déductible 20 %", D("20"), "purchase", "44566")]
    intra = TaxRate("t", "TVA intracommunautaire services", D("20"), "purchase", reverse_charge=True)
    assert suggest_vat_code(intra, codes, "purchase").id == "d"
    ordinary = TaxRate("o", "TVA déductible 20 %", D("20"), "purchase")
    assert suggest_vat_code(ordinary, codes, "purchase").id == "20"
