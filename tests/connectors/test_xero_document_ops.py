"""The Xero side of a document flow against the Xero sandbox, every request checked against Xero's description:
items, contacts, quotes, sales orders and invoices, purchase orders and bills."""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from integration_hub.connectors.base import AuthKind
from integration_hub.connectors.oauth import MemoryTokenStore
from integration_hub.connectors.types import Partner
from integration_hub.connectors.xero.connector import XeroConnector
from integration_hub.connectors.xero.documents import OutDocument, OutItem, OutLine, XeroDocuments
from tests.support.xero import checked_sandbox, each_test_checked

D = Decimal
SPEED = 600.0  # a sandbox minute lasts a tenth of a second
DAY = dt.date(2026, 11, 20)
CUSTOMER, SUPPLIER = "Northwind Studios Ltd", "Larkspur Office Supplies Ltd"
SAVERS = {"quote": "save_quotes", "sales_order": "save_sales_invoices", "purchase_order": "save_purchase_orders",
         "bill": "save_bills"}
ENDPOINT = {"quote": ("Quotes", "QuoteID"), "sales_order": ("Invoices", "InvoiceID"),
            "invoice": ("Invoices", "InvoiceID"),
            "purchase_order": ("PurchaseOrders", "PurchaseOrderID"), "bill": ("Invoices", "InvoiceID")}
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def shared_sandbox():
    with checked_sandbox(speed=SPEED) as running:
        yield running


@pytest.fixture
def sandbox(shared_sandbox):
    yield from each_test_checked(shared_sandbox)  # every request and answer as Xero's description says


@pytest.fixture(autouse=True)
def xero_settings(settings, shared_sandbox):
    running = shared_sandbox
    settings.HUB_XERO_LOGIN_URL = settings.HUB_XERO_IDENTITY_URL = settings.HUB_XERO_API_URL = running.url
    settings.HUB_XERO_CLOCK_SPEED = SPEED
    settings.HUB_BUDGET_BACKEND = "memory"


@pytest.fixture
def xero(sandbox) -> XeroDocuments:
    demo = next(t["tenantId"] for t in sandbox.tenants if t["tenantName"] == "Demo Company (Global)")
    token = sandbox.connect([demo])
    credentials = {"access_token": token["access_token"], "refresh_token": token["refresh_token"],
                   "expires_at": dt.datetime.now().timestamp() + 1500, "tenant_id": demo}
    connector = XeroConnector(credentials, auth_kind=AuthKind.OAUTH2, token_store=MemoryTokenStore(credentials))
    yield XeroDocuments(connector)
    connector.close()


def contact(xero: XeroDocuments, name: str) -> str:
    return xero.connector.find_partners(name=name)[0].id


def document(xero: XeroDocuments, kind: str, *, account: str = "", quantity="2", unit="10.00", tax="4.00",
             version="v1", existing_id="", reference="") -> OutDocument:
    purchase = kind in ("purchase_order", "bill")
    serial = next(_numbers)
    line = OutLine("Steel bracket", D(quantity), D(unit), account or ("429" if purchase else "200"),
                   "INPUT2" if purchase else "OUTPUT2", tax_amount=None if tax is None else D(tax))
    return OutDocument(reference=reference or f"{kind}-{serial}", kind=kind,
                       contact_id=contact(xero, SUPPLIER if purchase else CUSTOMER), date=DAY,
                       due_date=DAY + dt.timedelta(days=30), currency="GBP", lines=[line],
                       source_number=f"ERP-{serial}", existing_id=existing_id, version=version,
                       supplier_number=f"SUP-{serial}" if kind == "bill" else "")


def save(xero: XeroDocuments, kind: str, docs, status=None):
    method = getattr(xero, SAVERS.get(kind, "save_sales_invoices"))
    if kind in ("sales_order", "invoice"):
        return method(docs, status or ("DRAFT" if kind == "sales_order" else "AUTHORISED"))
    return method(docs) if status is None else method(docs, status)


def read(xero: XeroDocuments, kind: str, xero_id: str) -> dict:
    endpoint, _ = ENDPOINT[kind]
    return xero.client.get(f"{endpoint}/{xero_id}")[endpoint][0]


def tagged(xero: XeroDocuments, kind: str, reference: str) -> list[dict]:
    """Every document of the organisation carrying this hub reference (read here without the hub's lookup)."""
    endpoint, _ = ENDPOINT[kind]
    field = "InvoiceNumber" if kind == "bill" else "Reference"
    return [row for row in xero.client.all(endpoint, endpoint)
            if str(row.get(field) or "").endswith(f"[hub {reference}]")]


@pytest.mark.parametrize("kind", ["quote", "sales_order", "purchase_order", "bill"])
def test_a_batch_of_each_kind_is_created_with_xeros_numbers_and_one_refusal_in_xeros_words(xero, kind):
    docs = [document(xero, kind), document(xero, kind, account="999"), document(xero, kind)]
    results = save(xero, kind, docs)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error.details["reason"] == "account" and "999" in results[1].error.provider_message
    prefix = {"quote": "QU-", "sales_order": "INV-", "purchase_order": "PO-"}.get(kind)
    for result, doc in ((results[0], docs[0]), (results[2], docs[2])):
        assert result.action == "created" and result.xero_id
        if prefix:
            assert result.number.startswith(prefix)
        else:  # a bill's number is the supplier's, without the hub's tag
            assert result.number == doc.supplier_number
        row = read(xero, kind, result.xero_id)
        first, second = row["LineItems"]
        assert first["Description"] == f"ERP {kind.replace('_', ' ').replace('bill', 'supplier invoice')} " \
                                       f"{doc.source_number}"
        assert D(str(first["LineAmount"])) == 0 and not first.get("AccountCode")  # the ERP's number: text only
        assert D(str(row["Total"])) == D("24.00") and D(str(second["TaxAmount"])) == D("4.00")
    assert len({r.number for r in results if r.ok}) == 2


@pytest.mark.parametrize("kind", ["quote", "sales_order", "purchase_order", "bill"])
def test_the_same_batch_sent_again_books_nothing_twice(xero, kind):
    docs = [document(xero, kind) for _ in range(3)]
    first = save(xero, kind, docs)
    again = save(xero, kind, docs)  # same documents, same versions: the same Idempotency-Key
    assert [r.xero_id for r in first] == [r.xero_id for r in again] and all(r.ok for r in again)
    assert [len(tagged(xero, kind, d.reference)) for d in docs] == [1, 1, 1]
    known = [OutDocument(**{**d.__dict__, "existing_id": r.xero_id}) for d, r in zip(docs, first)]
    third = save(xero, kind, known)  # as the hub sends them once it knows their ids: nothing to write
    assert [r.action for r in third] == ["unchanged"] * 3 and [r.number for r in third] == [r.number for r in first]


@pytest.mark.parametrize("kind", ["quote", "sales_order", "purchase_order", "bill"])
def test_a_draft_is_updated_in_place(xero, kind):
    (created,) = save(xero, kind, [document(xero, kind)], status="DRAFT")
    changed = document(xero, kind, quantity="5", tax="10.00", version="v2", existing_id=created.xero_id)
    changed.reference, changed.source_number = created.reference, f"ERP-{created.reference}"
    (updated,) = save(xero, kind, [changed], status="DRAFT")
    assert updated.ok and updated.action == "updated"
    assert updated.xero_id == created.xero_id
    assert updated.number == (changed.supplier_number if kind == "bill" else created.number)  # a bill's is the ERP's
    row = read(xero, kind, created.xero_id)
    assert D(str(row["Total"])) == D("60.00") and row["LineItems"][0]["Description"].endswith(changed.source_number)
    assert len(tagged(xero, kind, created.reference)) == 1


def _move(xero: XeroDocuments, kind: str, xero_id: str, *statuses: str) -> None:
    endpoint, id_field = ENDPOINT[kind]
    for status in statuses:
        xero.client.write("POST", f"{endpoint}/{xero_id}", {endpoint: [{id_field: xero_id, "Status": status}]},
                          idempotency_key=f"test-move-{xero_id}-{status}")


@pytest.mark.parametrize("kind, statuses", [("quote", ("SENT", "ACCEPTED")),
                                            ("purchase_order", ("AUTHORISED", "BILLED")),
                                            ("bill", ("AUTHORISED",)), ("sales_order", ("AUTHORISED",))])
def test_a_document_xero_no_longer_lets_change_is_refused_as_locked_and_left_as_it_was(xero, kind, statuses):
    original = document(xero, kind)
    (created,) = save(xero, kind, [original], status="DRAFT")
    _move(xero, kind, created.xero_id, *statuses)
    before = read(xero, kind, created.xero_id)
    changed = document(xero, kind, quantity="7", version="v2", existing_id=created.xero_id,
                       reference=created.reference)
    (refused,) = save(xero, kind, [changed], status="DRAFT")
    assert not refused.ok and refused.error.details["reason"] == "locked"
    assert statuses[-1] in str(refused.error) and created.number in str(refused.error)
    assert read(xero, kind, created.xero_id)["UpdatedDateUTC"] == before["UpdatedDateUTC"]
    unchanged = OutDocument(**{**original.__dict__, "existing_id": created.xero_id, "version": "v1"})
    (again,) = save(xero, kind, [unchanged], status="DRAFT")  # what Xero already has: nothing to report
    assert again.ok and again.action == "unchanged" and again.status == statuses[-1]
    assert len(tagged(xero, kind, created.reference)) == 1


def test_a_deleted_document_is_reported_not_written_again(xero):
    (created,) = save(xero, "quote", [document(xero, "quote")])
    _move(xero, "quote", created.xero_id, "DELETED")
    (refused,) = save(xero, "quote", [document(xero, "quote", version="v2", existing_id=created.xero_id,
                                               reference=created.reference)])
    assert refused.error.details["reason"] == "deleted"
    assert xero.find_by_reference("quote", [created.reference]) == {}
    (unknown,) = xero.save_quotes([document(xero, "quote", existing_id="not-a-xero-id")])
    assert unknown.error.details["reason"] == "deleted" and "no longer exists" in str(unknown.error)


def test_the_sales_orders_draft_becomes_the_authorised_invoice_in_place(xero):
    order = document(xero, "sales_order")
    (draft,) = xero.save_sales_invoices([order], "DRAFT")
    assert draft.status == "DRAFT" and draft.number.startswith("INV-")
    invoice = document(xero, "invoice", quantity="3", tax="6.00", existing_id=draft.xero_id)
    invoice.number_text = f"ERP sales order {order.source_number}, invoice {invoice.source_number}"
    (authorised,) = xero.save_sales_invoices([invoice], "AUTHORISED")
    assert authorised.ok and authorised.action == "updated" and authorised.status == "AUTHORISED"
    assert (authorised.xero_id, authorised.number) == (draft.xero_id, draft.number)
    row = read(xero, "invoice", draft.xero_id)
    assert row["Status"] == "AUTHORISED" and D(str(row["AmountDue"])) == D("36.00")
    assert row["LineItems"][0]["Description"] == invoice.number_text
    assert row["Reference"].endswith(f"[hub {invoice.reference}]")
    (again,) = xero.save_sales_invoices([invoice], "AUTHORISED")  # the same invoice again: already there
    assert again.action == "unchanged"
    (order_again,) = xero.save_sales_invoices([OutDocument(**{**order.__dict__, "existing_id": draft.xero_id,
                                                              "version": "v2"})], "DRAFT")
    assert order_again.error.details["reason"] == "locked"  # the order changed after its invoice: reported


def test_fine_unit_prices_keep_the_erps_totals(xero):
    quote_doc = document(xero, "quote", quantity="3", unit="3.3333", tax=None)
    invoice_doc = document(xero, "sales_order", quantity="3", unit="3.3333", tax=None)
    (quote_result,) = xero.save_quotes([quote_doc])
    (invoice_result,) = xero.save_sales_invoices([invoice_doc], "DRAFT")
    assert D(str(read(xero, "quote", quote_result.xero_id)["SubTotal"])) == D("10.00")  # 3 x 3.3333, not 3 x 3.33
    invoice = xero.client.get(f"Invoices/{invoice_result.xero_id}", unitdp=4)["Invoices"][0]
    assert D(str(invoice["SubTotal"])) == D("10.00") and D(str(invoice["LineItems"][1]["UnitAmount"])) == D("3.3333")
    (again,) = xero.save_quotes([OutDocument(**{**quote_doc.__dict__, "existing_id": quote_result.xero_id})])
    assert again.action == "unchanged"


def test_items_are_created_in_one_call_and_listed(xero, shared_sandbox):
    checker = shared_sandbox.checker
    before = len(xero.list_items())
    results = xero.create_items([
        OutItem("BRKT-01", "Steel bracket", D("12.50"), D("7.2500"), "200", "310", "OUTPUT2", "INPUT2"),
        ("BRKT-02", "Bracket, galvanised", D("14.00"), None, "200", "", "OUTPUT2", ""),
        OutItem("BRKT-03", "Bracket on a closed account", D("1.00"), None, "425"),
        OutItem("paper-a4", "A4 paper, as the ERP calls it"),  # Xero has this code (its case aside): that item
    ])
    assert checker.checked["PUT /api.xro/2.0/Items"] == 1
    assert isinstance(results[0], str) and isinstance(results[1], str)
    assert results[2].details["reason"] == "account"
    items = {item.code: item for item in xero.list_items()}
    assert results[3] == items["PAPER-A4"].id and len(items) == before + 2
    bracket = items["BRKT-01"]
    assert (bracket.id, bracket.sale_price, bracket.purchase_price) == (results[0], D("12.50"), D("7.25"))
    assert (bracket.sales_account, bracket.purchase_account, bracket.purchase_tax_type) == ("200", "310", "INPUT2")
    assert items["BRKT-02"].is_sold and not items["BRKT-02"].is_purchased


def test_documents_name_items_by_code(xero):
    doc = document(xero, "sales_order")
    doc.lines = [OutLine("", D("2"), D("95.00"), item_code="CONSULT-HR")]
    (result,) = xero.save_sales_invoices([doc], "DRAFT")
    line = read(xero, "sales_order", result.xero_id)["LineItems"][1]
    assert (line["ItemCode"], line["AccountCode"], line["TaxType"]) == ("CONSULT-HR", "200", "OUTPUT2")
    unknown = document(xero, "sales_order")
    unknown.lines = [OutLine("Mystery", D("1"), D("1.00"), item_code="NO-SUCH-ITEM")]
    (refused,) = xero.save_sales_invoices([unknown], "DRAFT")
    assert refused.error.details["reason"] == "item"


def test_contacts_are_listed_with_archived_ones_on_request_and_created(xero):
    active = {c.name: c for c in xero.list_contacts()}
    every = {c.name: c for c in xero.list_contacts(include_archived=True)}
    assert "Thistle Catering Ltd" not in active and every["Thistle Catering Ltd"].archived
    assert set(every) > set(active)
    (created,) = xero.create_contacts([(Partner(id="erp-1", name="Fresh Fabrication Ltd"), "customer")])
    assert created.id and "Fresh Fabrication Ltd" in {c.name for c in xero.list_contacts()}
    doc = document(xero, "quote")
    doc.contact_id = ""
    (refused,) = xero.save_quotes([doc])
    assert refused.error.details["reason"] == "contact"


@pytest.mark.parametrize("kind", ["quote", "sales_order", "purchase_order", "bill"])
def test_documents_are_found_again_by_their_hub_reference(xero, kind):
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    docs = [document(xero, kind) for _ in range(2)]
    results = save(xero, kind, docs)
    found = xero.find_by_reference(kind, [d.reference for d in docs] + ["never-sent"], modified_since=started)
    assert set(found) == {d.reference for d in docs}
    assert [(found[d.reference].xero_id, found[d.reference].number) for d in docs] == \
           [(r.xero_id, r.number) for r in results]
    other = "purchase_order" if kind == "quote" else "quote"
    assert xero.find_by_reference(other, [d.reference for d in docs]) == {}


def test_a_batch_whose_answer_was_lost_is_sent_again_and_booked_once(xero, sandbox):
    sandbox.admin("POST", "faults", {"kind": "drop_after", "count": 1, "method": "PUT", "path_contains": "Quotes"})
    docs = [document(xero, "quote") for _ in range(2)]
    results = xero.save_quotes(docs)  # the work was done, the answer lost: the retry carries the same key
    assert all(r.ok and r.number.startswith("QU-") for r in results)
    assert [len(tagged(xero, "quote", d.reference)) for d in docs] == [1, 1]
    assert any(r.get("replayed") for r in sandbox.admin("GET", "requests?limit=20")["requests"])


def test_an_update_never_moves_a_status_backwards(xero):
    (sent,) = xero.save_quotes([document(xero, "quote")], "SENT")
    changed = document(xero, "quote", quantity="4", version="v2", existing_id=sent.xero_id, reference=sent.reference)
    (updated,) = xero.save_quotes([changed], "DRAFT")
    assert updated.action == "updated" and updated.status == "SENT"
    assert D(str(read(xero, "quote", sent.xero_id)["SubTotal"])) == D("40.00")
