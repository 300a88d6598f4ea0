"""The Finnish flows end to end (issue 17): a live Finnish Tryton invoicing company -> the hub's engine -> the
Netvisor sandbox and the Procountor sandbox.

The flows are set up as an accountant would from the live lists: each Tryton tax mapped to the target's VAT code of
the same Finnish VAT status and rate, the accounts taken from the target's chart, sales booked as invoices the
target follows, purchases as ledger entries or as purchase invoices, payments on. What the target holds afterwards
is read from the sandbox itself, never from the hub's records: one document per invoice, the source's amounts to
the cent, Finnish VAT codes and statuses, business ids, payments booked and matched, statuses followed over the
sandbox's clock, a refusal after receipt on the error desk and its retry."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal as D

import pytest

from integration_hub.connectors import finnish
from integration_hub.connectors.netvisor.connector import NetvisorConnector
from mappings.autoconfigure import flow_apply_suggestions
from mappings.models import Flow, VatMapping
from mappings.services import vat_mapping_set
from sandboxes.netvisor import Clock, start_sandbox as netvisor_sandbox
from sandboxes.procountor import SandboxClock, start_sandbox as procountor_sandbox
from syncs import catalogue
from syncs.entries import reference_for
from syncs.models import DocumentStatus, ErrorStatus, PaymentStatus, RunStatus, SyncDocument, SyncError, SyncPayment
from syncs.models import SyncRun, Trigger
from syncs.services import execute_run, run_request
from tenants.services import connection_connector, connection_create
from tests.support.tryton import connector, credentials, unique_db

pytestmark = [pytest.mark.tryton, pytest.mark.django_db]

NV_KEYS = dict(sender="hub-fi-e2e", customer_id="FICUST", customer_key="fi-customer-key", partner_id="FIPARTNER",
               partner_key="fi-partner-key", organisation_id="2345678-0")
PC_CLIENT, PC_SECRET, PC_KEY = "fi-e2e-client", "fi-e2e-secret", "fi-e2e-api-key"
NO_ADDRESS = "Osoitteeton Palvelu Oy"  # a customer Tryton knows by name only: nothing to deliver an invoice to
NO_ADDRESS_ID = "7654321-2"
WRITES = ("POST", "PUT")


def target_writes(run) -> list[dict]:
    """The run's calls that could change something in the target (Tryton's JSON-RPC reads are POSTs too)."""
    # (and a new access token asked for is no change either)
    return [c for c in run.call_log if c["method"] in WRITES and "/rpc/" not in c["path"]
            and "/oauth/token" not in c["path"]]

# The Finnish VAT status each of seed_finnish's taxes stands for (the keys of its `tax_keys`).
STATUS_OF_TAX = {
    "sale_25_5": finnish.VatStatus.DOMESTIC_SALES, "sale_14": finnish.VatStatus.DOMESTIC_SALES,
    "sale_13_5": finnish.VatStatus.DOMESTIC_SALES, "sale_10": finnish.VatStatus.DOMESTIC_SALES,
    "sale_0": finnish.VatStatus.ZERO_RATED, "sale_eu_goods": finnish.VatStatus.EU_SALES_GOODS,
    "sale_eu_services": finnish.VatStatus.EU_SALES_SERVICES,
    "sale_construction": finnish.VatStatus.CONSTRUCTION_SALES_REVERSE_CHARGE,
    "sale_export": finnish.VatStatus.EXPORT_OUTSIDE_EU,
    "purchase_25_5": finnish.VatStatus.DOMESTIC_PURCHASES, "purchase_14": finnish.VatStatus.DOMESTIC_PURCHASES,
    "purchase_13_5": finnish.VatStatus.DOMESTIC_PURCHASES, "purchase_10": finnish.VatStatus.DOMESTIC_PURCHASES,
    "purchase_0": finnish.VatStatus.NOT_VAT_LIABLE,
}
# Procountor's VAT status numbers as its "VAT defaults" name them (read from the live list, matched on these words).
PROCOUNTOR_WORDS = {
    finnish.VatStatus.DOMESTIC_SALES: "domestic", finnish.VatStatus.DOMESTIC_PURCHASES: "domestic",
    finnish.VatStatus.ZERO_RATED: "tax-free", finnish.VatStatus.NOT_VAT_LIABLE: "tax-free",
    finnish.VatStatus.EU_SALES_GOODS: "intra-community goods",
    finnish.VatStatus.EU_SALES_SERVICES: "intra-community services",
    finnish.VatStatus.CONSTRUCTION_SALES_REVERSE_CHARGE: "construction", finnish.VatStatus.EXPORT_OUTSIDE_EU: "export",
}


def invoice_days() -> tuple[dt.date, dt.date]:
    """Recent days, all in one calendar year (Procountor keeps only the current fiscal year open)."""
    end = dt.date.today() - dt.timedelta(days=2)
    return max(end - dt.timedelta(days=50), dt.date(end.year, 1, 1)), end


@pytest.fixture(scope="module")
def finnish_company(tryton_peer):
    """A Finnish invoicing company (seed_finnish, small), plus one customer with neither address nor e-mail and
    an invoice to it at 25.5 %: the one a target cannot deliver."""
    start, end = invoice_days()
    name = tryton_peer.create_database(unique_db("fiflow"), company_name="Pohjoisen Laskutus Oy")
    seeded = tryton_peer.run_setup(name, "seed_finnish", seed=1, customers=5, suppliers=3, invoices=9,
                                   supplier_invoices=4, paid=3, start_date=start.isoformat(),
                                   end_date=end.isoformat())
    extra = tryton_peer.run_setup(name, "fi_undeliverable_invoice", name=NO_ADDRESS, business_id=NO_ADDRESS_ID,
                                  amount="400.00", day=end.isoformat())
    yield name, {**seeded, "invoices": [*seeded["invoices"], extra]}, extra
    tryton_peer.drop_database(name)


# --- the targets ------------------------------------------------------------------------------------------------
@pytest.fixture
def netvisor(settings, monkeypatch):
    clock = Clock(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    with netvisor_sandbox(seed="demo", clock=clock, **NV_KEYS) as running:
        settings.HUB_NETVISOR_API_URL = running.url
        settings.HUB_NETVISOR_PARTNER_ID, settings.HUB_NETVISOR_PARTNER_KEY = NV_KEYS["partner_id"], \
            NV_KEYS["partner_key"]
        settings.HUB_NETVISOR_SENDER = NV_KEYS["sender"]
        settings.HUB_BUDGET_BACKEND = "memory"
        settings.HUB_NETVISOR_CALLS_PER_MINUTE = 10_000  # the budget is the test process's, not Netvisor's
        # The hub signs with the sandbox's time, so that moving the sandbox on never makes a timestamp stale.
        monkeypatch.setattr(NetvisorConnector, "clock", staticmethod(clock.now))
        yield running


@pytest.fixture
def procountor(settings):
    start, end = invoice_days()
    clock = SandboxClock(start=dt.datetime.combine(end, dt.time(18, 0), tzinfo=dt.timezone.utc))
    with procountor_sandbox(client_id=PC_CLIENT, client_secret=PC_SECRET, api_key=PC_KEY, seed="demo", clock=clock,
                            rate_limit=None) as running:
        settings.HUB_PROCOUNTOR_API_URL = running.url
        settings.HUB_PROCOUNTOR_CLIENT_ID, settings.HUB_PROCOUNTOR_CLIENT_SECRET = PC_CLIENT, PC_SECRET
        settings.HUB_BUDGET_BACKEND = "memory"
        yield running


def netvisor_connection(tenant):
    return connection_create(tenant=tenant, name="Netvisor", provider="netvisor", role="target",
                             auth_kind="credentials", credentials={k: NV_KEYS[k] for k in (
                                 "customer_id", "customer_key", "organisation_id")})


def procountor_connection(tenant, **extra):
    return connection_create(tenant=tenant, name="Procountor", provider="procountor", role="target",
                             auth_kind="credentials", credentials={"api_key": PC_KEY, **extra})


# --- the flow, set up from the live lists -----------------------------------------------------------------------
ACCOUNTS = {  # target -> (sales, purchases, receivables, payables, bank, interest, fees, rounding)
    "netvisor": ("3000", "4000", "1701", "2871", "1910", "9170", "9170", "8570"),
    "procountor": ("3000", "4000", "1701", "2871", "1910", "9160", "3700", "8500"),
}


def target_code(provider: str, status: finnish.VatStatus, rate: D, codes) -> str:
    if provider == "netvisor":
        wanted = f"{finnish.netvisor_vat_code(status)}:{rate.normalize():f}"
        return next(c.id for c in codes if c.id == wanted)
    word, kind = PROCOUNTOR_WORDS[status], "sale" if status.is_sale else "purchase"
    return next(c.id for c in codes if c.kind == kind and D(c.rate) == rate and word in c.name.lower())


def finnish_flow(tenant, peer, database: str, seeded: dict, target, *, purchases: str, name: str) -> Flow:
    """Sales as invoices the target follows, purchases into `purchases`, payments on: from the live lists."""
    source = connection_create(tenant=tenant, name=f"Tryton {name}", provider="tryton", role="source",
                               auth_kind="credentials", credentials=credentials(peer, database))
    flow = Flow.objects.create(tenant=tenant, name=name, source=source, target=target,
                               start_date=dt.date(invoice_days()[0].year, 1, 1))
    src, tgt = connector(peer, database), connection_connector(connection=target)
    flow_apply_suggestions(flow=flow, source=src, target=tgt)
    flow.refresh_from_db()
    codes, charts = tgt.list_vat_codes(), {a.number for a in tgt.list_accounts() if a.usable}
    journals = {j.id for j in tgt.list_journals()}
    rates = {r.id: r for r in src.list_tax_rates()}
    src.close(), tgt.close()
    VatMapping.objects.filter(flow=flow).delete()
    for key, tax_id in seeded["tax_keys"].items():
        if key not in STATUS_OF_TAX:
            continue  # the reverse-charge purchases: neither target lists a deductible/due pair for them
        rate = rates[str(tax_id)]
        code = target_code(target.provider, STATUS_OF_TAX[key], D(rate.rate), codes)
        vat_mapping_set(flow=flow, kind="sale" if key.startswith("sale") else "purchase", source_tax_id=rate.id,
                        source_rate=rate.rate, source_label=rate.name, target_vat_code_id=code,
                        target_vat_code_label=code)
    sales, purchase, receivable, payable, bank, interest, fees, rounding = ACCOUNTS[target.provider]
    assert {sales, purchase, receivable, payable, bank, interest, fees, rounding} <= charts
    assert {"invoice:sales", purchases} <= journals
    flow.sales_journal_id, flow.sales_journal_label = "invoice:sales", "Sales invoices"
    flow.purchase_journal_id, flow.purchase_journal_label = purchases, purchases
    flow.default_sales_account, flow.default_purchase_account = sales, purchase
    flow.customer_collective_account, flow.supplier_collective_account = receivable, payable
    flow.credit_rounding_account = flow.debit_rounding_account = rounding
    flow.bank_account, flow.interest_account, flow.collection_fees_account = bank, interest, fees
    flow.exchange_gain_account = flow.exchange_loss_account = rounding
    payment_journal = "voucher:Suoritus" if target.provider == "netvisor" else "receipt:JOURNAL"
    flow.payment_journal_id, flow.payment_journal_label = payment_journal, payment_journal
    flow.create_as_draft = False
    flow.save()
    return flow


def run_flow(flow, **kwargs) -> SyncRun:
    run, created = run_request(flow=flow, enqueue=False, **kwargs)
    assert created, run
    execute_run(run.pk)
    run.refresh_from_db()
    flow.refresh_from_db()
    return run


def errors(flow) -> list[tuple]:
    return list(SyncError.objects.filter(flow=flow, status=ErrorStatus.OPEN).values_list(
        "document__source_number", "code", "message"))


def expected_refusals(seeded) -> set[str]:
    """What no Finnish target can take from this company: its reverse-charge purchases (no due/deductible pair)."""
    reverse = {name for name in seeded["taxes"] if "käännetty" in name and "ostot" in name}
    return {i["number"] for i in seeded["invoices"] if set(i.get("taxes", [])) & reverse}


def tag_of(text: str) -> str:
    return text.split("[hub ", 1)[1].split("]", 1)[0] if "[hub " in (text or "") else ""


def netvisor_documents(state) -> dict[str, list]:
    """Every sales invoice, purchase invoice and voucher of the organisation by the hub tag it carries."""
    found: dict[str, list] = {}
    org = state.org
    for kind, rows, text in (("sales", org.sales_invoices.values(), lambda r: r.private_comment),
                             ("purchase", org.purchase_invoices.values(), lambda r: r.comment),
                             ("voucher", org.vouchers.values(), lambda r: r.description)):
        for row in rows:
            if tag_of(text(row)):
                found.setdefault(tag_of(text(row)), []).append((kind, row))
    return found


# --- Netvisor ---------------------------------------------------------------------------------------------------
def assert_a_rerun_sends_nothing(flow) -> None:
    """A run that reads the whole source again (cursor cleared) writes nothing to the target."""
    flow.cursor = None
    flow.save()
    again = run_flow(flow)
    writes = target_writes(again)
    assert not writes and again.synced_count == 0, writes


def test_a_finnish_tryton_company_lands_in_netvisor_once_with_its_vat_codes_payments_and_statuses(
        tenant_a, tryton_peer, finnish_company, netvisor):
    database, seeded, refused = finnish_company
    flow = finnish_flow(tenant_a, tryton_peer, database, seeded, netvisor_connection(tenant_a),
                        purchases="voucher:Ostolasku", name="Tryton to Netvisor")
    flow.sync_payments = False  # first the invoices alone: Netvisor lists them open
    flow.save()
    first = run_flow(flow)
    assert first.status == RunStatus.PARTIAL, (first.message, errors(flow))
    assert {(n, c) for n, c, _ in errors(flow)} == {(n, catalogue.MAPPING_TAX_RATE_NOT_FOUND)
                                                    for n in expected_refusals(seeded)}
    wanted = {reference_for(flow.pk, str(i["id"])): i for i in seeded["invoices"]
              if i["number"] not in expected_refusals(seeded)}
    documents = netvisor_documents(netvisor.state)
    # each invoice once, of the kind the flow's journals say, to the cent
    assert set(documents) == set(wanted), (sorted(set(wanted) - set(documents)), sorted(set(documents) - set(wanted)))
    assert all(len(rows) == 1 for rows in documents.values()), {r: len(v) for r, v in documents.items() if len(v) > 1}
    customers = netvisor.state.org.customers
    for reference, invoice in wanted.items():
        ((kind, row),) = documents[reference]
        total = D(invoice["total_amount"])
        if invoice["type"] == "out":
            assert kind == "sales" and row.amount == total and row.sent, (invoice["number"], kind, row)
            assert finnish.validate_reference(row.reference)  # a Finnish reference number (viitenumero)
            party = next((p for p in seeded["customers"] if p["name"] == invoice["party_name"]), None)
            if party and party.get("business_id"):
                assert customers[row.customer_key].business_id == party["business_id"]
            codes = {line.vat_code for line in row.lines}
            assert codes <= {"KOMY", "KOMY0", "EUMY", "EUPM312", "RAMY", "EUUM"}, codes
            for line in row.lines:
                assert finnish.check_netvisor_vat(line.vat_code, line.vat_percent, on=row.date) is None
        else:
            assert kind == "voucher" and row.voucher_class == "Ostolasku", (invoice["number"], kind)
            assert sum(line.line_sum for line in row.lines) == 0  # a balanced voucher
            payable = [line for line in row.lines if line.account == "2871"]
            assert sum(line.line_sum for line in payable) == -total
            assert {line.vat_code for line in row.lines if line.vat_percent} <= {"KOOS"}
    eu_services = next(i for i in wanted.values() if "ALV 0 % EU-palvelumyynti" in i.get("taxes", []))
    ((_, row),) = documents[reference_for(flow.pk, str(eu_services["id"]))]
    assert {line.vat_code for line in row.lines} == {"EUPM312"}
    # statuses followed: the sales invoices are open in Netvisor
    sales_docs = SyncDocument.objects.filter(flow=flow, status=DocumentStatus.SYNCED,
                                             target_entry_id__startswith="salesinvoice:")
    assert {d.target_status for d in sales_docs} == {"accepted"}
    # then payments: booked once each, matched to their invoice in Netvisor; the paid invoices are paid there
    flow.sync_payments = True
    flow.cursor = None  # read from the start date again: the payments' invoices are not new
    flow.save()
    second = run_flow(flow)
    assert second.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), second.message
    payments = [p for p in netvisor.state.org.payments.values() if tag_of(p.source_name)]
    by_invoice = Counter(p.invoice_number for p in payments)
    paid = [p for p in seeded["payments"] if p["invoice_id"] in {i["id"] for i in wanted.values()}]
    assert len(payments) == len(paid) and set(by_invoice.values()) == {1}, (payments, paid)
    for payment in paid:
        invoice = next(i for i in wanted.values() if i["id"] == payment["invoice_id"])
        ((_, row),) = netvisor_documents(netvisor.state)[reference_for(flow.pk, str(invoice["id"]))]
        assert row.paid == D(payment["amount"]), (invoice["number"], row.paid, payment)
        doc = SyncDocument.objects.get(flow=flow, source_id=str(invoice["id"]))
        assert doc.target_status == ("paid" if payment["full"] else "partly_paid"), (doc.source_number,
                                                                                     doc.target_status)
    assert SyncPayment.objects.filter(flow=flow, status=PaymentStatus.RECONCILED).count() == sum(
        1 for p in paid if p["full"])
    assert_a_rerun_sends_nothing(flow)


def test_an_invoice_netvisor_cannot_deliver_is_on_the_desk_with_its_reason_and_its_retry_sends_it_once(
        tenant_a, tryton_peer, finnish_company, netvisor):
    database, seeded, refused = finnish_company
    flow = finnish_flow(tenant_a, tryton_peer, database, seeded, netvisor_connection(tenant_a),
                        purchases="invoice:purchase", name="Netvisor refusals")
    run_flow(flow)
    doc = SyncDocument.objects.get(flow=flow, source_id=str(refused["id"]))
    first_key = int(doc.target_entry_id.split(":")[1])
    assert doc.target_status == "accepted"  # sent; Netvisor has not tried to deliver it yet
    # purchases went as purchase invoices, vendor by business id
    vendors = {p.vendor_business_id for p in netvisor.state.org.purchase_invoices.values() if tag_of(p.comment)}
    assert vendors and vendors <= {s["business_id"] for s in seeded["suppliers"] if s["business_id"]} | {""}
    netvisor.clock.advance(seconds=11 * 60)  # Netvisor tries to deliver it, and cannot
    run_flow(flow)
    doc.refresh_from_db()
    sent_first = netvisor.state.org.sales_invoices[first_key]
    assert doc.status == DocumentStatus.ERROR and doc.target_entry_id == "", (
        doc.target_status, sent_first, netvisor.state.org.customers[sent_first.customer_key])
    error = SyncError.objects.get(document=doc, status=ErrorStatus.OPEN)
    reason = netvisor.state.org.sales_invoices[first_key].undeliverable
    assert error.code == catalogue.TARGET_REJECTED and reason and reason in error.message
    assert refused["number"] in error.message
    # the accountant gives the customer an e-mail address in Netvisor, then retries the document
    customer = netvisor.state.org.customers[netvisor.state.org.sales_invoices[first_key].customer_key]
    customer.email = "laskutus@osoitteeton.example"
    retry = run_flow(flow, trigger=Trigger.RETRY, document_ids=[doc.pk])
    assert retry.status == RunStatus.SUCCEEDED, (retry.message, errors(flow))
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.SYNCED and doc.target_entry_id != f"salesinvoice:{first_key}"
    again = [r for kind, r in netvisor_documents(netvisor.state)[doc.reference] if kind == "sales"]
    assert len(again) == 2 and {r.key for r in again} == {first_key, int(doc.target_entry_id.split(":")[1])}
    assert SyncError.objects.get(pk=error.pk).status == ErrorStatus.RESOLVED
    netvisor.clock.advance(seconds=11 * 60)  # delivered this time
    last = run_flow(flow)
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.SYNCED and doc.target_status == "accepted", errors(flow)
    assert not target_writes(last)
    assert len([r for kind, r in netvisor_documents(netvisor.state)[doc.reference] if kind == "sales"]) == 2


# --- Procountor -------------------------------------------------------------------------------------------------
def procountor_documents(state) -> dict[str, list]:
    """Invoices (by orderReference) and JOURNAL receipts (by name) carrying a hub reference."""
    found: dict[str, list] = {}
    for invoice in state.invoices.values():
        if "-" in str(invoice.get("orderReference") or "") and invoice["status"] != "INVALIDATED":
            found.setdefault(invoice["orderReference"], []).append(("invoice", invoice))
    for receipt in state.receipts.values():
        if receipt["type"] == "JOURNAL" and receipt.get("name"):
            found.setdefault(receipt["name"], []).append(("journal", receipt))
    return found


def test_a_finnish_tryton_company_lands_in_procountor_once_with_its_vat_statuses_payments_and_statuses(
        tenant_a, tryton_peer, finnish_company, procountor):
    database, seeded, refused = finnish_company
    flow = finnish_flow(tenant_a, tryton_peer, database, seeded, procountor_connection(tenant_a),
                        purchases="receipt:JOURNAL", name="Tryton to Procountor")
    flow.sync_payments = False
    flow.save()
    first = run_flow(flow)
    assert first.status == RunStatus.PARTIAL, (first.message, errors(flow))
    assert {(n, c) for n, c, _ in errors(flow)} == {(n, catalogue.MAPPING_TAX_RATE_NOT_FOUND)
                                                    for n in expected_refusals(seeded)}
    wanted = {reference_for(flow.pk, str(i["id"])): i for i in seeded["invoices"]
              if i["number"] not in expected_refusals(seeded)}
    documents = procountor_documents(procountor.state)
    mine = {ref: rows for ref, rows in documents.items() if ref in wanted}
    assert set(mine) == set(wanted), sorted(set(wanted) - set(mine))
    assert all(len(rows) == 1 for rows in mine.values()), {r: len(v) for r, v in mine.items() if len(v) > 1}
    partners = procountor.state.partners
    for reference, invoice in wanted.items():
        ((kind, row),) = mine[reference]
        total = D(invoice["total_amount"])
        if invoice["type"] == "out":
            assert kind == "invoice" and row["type"] == "SALES_INVOICE", (invoice["number"], kind)
            assert procountor.state.gross(row) == total, (invoice["number"], procountor.state.gross(row), total)
            assert row["status"] == "NOT_SENT"  # sent by the invoicing tool already: Procountor does not send it
            party = next((p for p in seeded["customers"] if p["name"] == invoice["party_name"]), None)
            if party and party.get("business_id"):
                assert partners[row["partnerId"]]["identifier"] == party["business_id"]
            statuses = {r["vatStatus"] for r in row["invoiceRows"]}
            assert statuses <= {1, 2, 3, 4, 5, 7}, statuses
        else:
            assert kind == "journal", (invoice["number"], kind)
            lines = row["transactions"]
            gross = sum((D(t["accountingValue"]) * (1 + D(t.get("vatPercent") or 0) / 100)).quantize(D("0.01"))
                        for t in lines)
            assert abs(gross) <= D("0.05"), (invoice["number"], lines)
            assert sum(D(t["accountingValue"]) for t in lines if t["account"] == "2871") == -total
    # 13.5 % (in force since 2026) went with its percentage, domestic status
    reduced = [i for i in wanted.values() if "ALV 13,5 % myynnit" in i.get("taxes", [])]
    for invoice in reduced:
        ((_, row),) = mine[reference_for(flow.pk, str(invoice["id"]))]
        assert (1, D("13.5")) in {(r["vatStatus"], D(r["vatPercent"])) for r in row["invoiceRows"]}
    sales = SyncDocument.objects.filter(flow=flow, status=DocumentStatus.SYNCED, target_entry_id__startswith="invoice:")
    assert sales.exists() and {d.target_status for d in sales} == {"accepted"}
    # payments: each recorded once on its invoice, which Procountor then shows paid
    flow.sync_payments = True
    flow.cursor = None
    flow.save()
    second = run_flow(flow)
    assert second.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), second.message
    paid = [p for p in seeded["payments"] if p["invoice_id"] in {i["id"] for i in wanted.values()}]
    for payment in paid:
        invoice = next(i for i in wanted.values() if i["id"] == payment["invoice_id"])
        ((_, row),) = [r for r in procountor_documents(procountor.state)[reference_for(flow.pk, str(invoice["id"]))]]
        assert procountor.state.paid_amount(row["id"]) == D(payment["amount"]), invoice["number"]
        assert row["status"] == ("PAID" if payment["full"] else "PARTLY_PAID")
        doc = SyncDocument.objects.get(flow=flow, source_id=str(invoice["id"]))
        assert doc.target_status == ("paid" if payment["full"] else "partly_paid")
    assert SyncPayment.objects.filter(flow=flow, status__in=[PaymentStatus.SYNCED, PaymentStatus.RECONCILED]
                                      ).count() == len(paid)
    assert_a_rerun_sends_nothing(flow)


def test_an_e_invoice_procountor_cannot_deliver_is_on_the_desk_and_its_retry_sends_it_once(
        tenant_a, tryton_peer, finnish_company, procountor):
    database, seeded, refused = finnish_company
    # Every customer is in Procountor with an e-invoicing address, except the one Tryton knows by name only.
    customers = [c for c in seeded["customers"]]
    for number, customer in enumerate(customers):
        partner = procountor.state.create_partner({
            "type": "CUSTOMER", "name": customer["name"], "identifier": customer.get("business_id") or "",
            "address": {"name": customer["name"], "city": customer["city"], "zip": customer["postal_code"],
                        "country": "FINLAND"}})
        # set in Procountor's own screens (its API does not take it when a partner is created)
        procountor.state.partners[partner["id"]]["einvoiceAddress"] = {"operator": "003721291126",
                                                                       "address": f"0037{number:08d}"}
    flow = finnish_flow(tenant_a, tryton_peer, database, seeded,
                        procountor_connection(tenant_a, invoice_channel="ELECTRONIC_INVOICE"),
                        purchases="invoice:purchase", name="Procountor refusals")
    run_flow(flow)
    doc = SyncDocument.objects.get(flow=flow, source_id=str(refused["id"]))
    first_id = doc.target_entry_id
    procountor.clock.advance(601)
    flow.cursor = None
    flow.save()
    run_flow(flow)
    doc.refresh_from_db()
    error = SyncError.objects.get(document=doc, status=ErrorStatus.OPEN)
    refused_row = procountor.state.invoices[int(first_id.split(":")[1])]
    assert error.code == catalogue.TARGET_REJECTED and refused_row["sendingError"]["message"] in error.message
    rejected = SyncDocument.objects.filter(flow=flow, target_status="rejected")
    assert not rejected.exclude(pk=doc.pk).exists()  # the others had an address: delivered
    # the accountant adds the e-invoicing address to the customer in Procountor, then retries
    partner = procountor.state.partners[refused_row["partnerId"]]
    partner["einvoiceAddress"] = {"operator": "003721291126", "address": "003799999999"}
    retry = run_flow(flow, trigger=Trigger.RETRY, document_ids=[doc.pk])
    assert retry.status == RunStatus.SUCCEEDED, (retry.message, errors(flow))
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.SYNCED and doc.target_entry_id not in ("", first_id)
    sent = {f"invoice:{r['id']}": r for kind, r in procountor_documents(procountor.state)[doc.reference]
            if kind == "invoice"}
    assert set(sent) == {first_id, doc.target_entry_id}, sent  # the refused one, and the new one sent once
    assert sent[doc.target_entry_id]["counterParty"]["einvoiceAddress"]["address"] == "003799999999"
    procountor.clock.advance(601)
    flow.cursor = None
    flow.save()
    run_flow(flow)
    doc.refresh_from_db()
    assert doc.target_status == "accepted" and SyncError.objects.get(pk=error.pk).status == ErrorStatus.RESOLVED
