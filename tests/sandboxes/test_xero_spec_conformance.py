"""The Xero sandbox against Xero's own OpenAPI description: every request and answer of a broad scenario,
driven through plain HTTP, is validated by ``SpecChecked`` and none may break the description."""
from __future__ import annotations

import json
import uuid

import pytest
import requests

from sandboxes.xero.app import start_sandbox
from tests.support.clock import SANDBOX_DAY
from tests.support.xero_spec import ACCOUNTING_SPEC, IDENTITY_SPEC, SpecChecked, load_spec

DAY = SANDBOX_DAY.isoformat()
DUE = SANDBOX_DAY.replace(day=28).isoformat()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ROOMY = {"per_minute": 100_000, "per_day": 1_000_000, "concurrent": 50}  # the scenario is not about limits


@pytest.fixture(scope="session")
def xero_specs():
    """Both descriptions, parsed once for the whole session (load_spec caches them)."""
    return load_spec(ACCOUNTING_SPEC), load_spec(IDENTITY_SPEC)


class Xero:
    """Plain HTTP to the sandbox as a client of Xero would speak it."""

    def __init__(self, running, checker: SpecChecked, token: str | None = None, tenant: str | None = None):
        self.running, self.checker = running, checker
        self.http = requests.Session()
        self.token = token or running.connect()["access_token"]
        self.tenant = tenant or running.tenants[0]["tenantId"]

    def headers(self, **extra) -> dict:
        base = {"Authorization": f"Bearer {self.token}", "xero-tenant-id": self.tenant, "Accept": "application/json"}
        return {**base, **{k.replace("_", "-"): v for k, v in extra.items()}}

    def call(self, method: str, path: str, *, params=None, body=None, raw: bytes | None = None,
             content_type: str | None = None, expect: int | None = 200, **headers) -> requests.Response:
        sent = self.headers(**headers)
        data = None
        if body is not None:
            data, sent["Content-Type"] = json.dumps(body), "application/json"
        elif raw is not None:
            data, sent["Content-Type"] = raw, content_type or "application/octet-stream"
        answer = self.http.request(method, f"{self.running.api_url}{path}", params=params, data=data,
                                   headers=sent, timeout=10)
        if expect is not None:
            assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text[:400]}"
        return answer

    def get(self, path: str, **kw) -> dict:
        return self.call("GET", path, **kw).json()


@pytest.fixture(scope="module")
def served(xero_specs):
    holder: dict = {}

    def wrap(app):
        holder["checker"] = SpecChecked(app)
        return holder["checker"]

    with start_sandbox(seed="demo", wrap=wrap, today=SANDBOX_DAY, **ROOMY) as running:
        yield running, holder["checker"]


@pytest.fixture
def xero(served) -> Xero:
    running, checker = served
    checker.clear()
    client = Xero(running, checker)
    yield client
    assert checker.violations == [], checker.report()


def first(answer: dict, plural: str) -> dict:
    assert answer[plural], answer
    return answer[plural][0]


def a_customer(xero: Xero) -> dict:
    return first(xero.get("/Contacts", params={"where": 'ContactStatus=="ACTIVE"'}), "Contacts")


def an_invoice(customer: dict, **fields) -> dict:
    invoice = {"Type": "ACCREC", "Contact": {"ContactID": customer["ContactID"]}, "Date": DAY, "DueDate": DUE,
               "Reference": f"HUB-{uuid.uuid4().hex[:8]}", "Status": "AUTHORISED",
               "LineItems": [{"Description": "Consulting", "Quantity": 2, "UnitAmount": 125.5,
                              "AccountCode": "200", "TaxType": "OUTPUT2"}]}
    invoice.update(fields)
    return invoice


# ----- reads ------------------------------------------------------------------------------------------------
def test_settings_resources_read_as_xero_describes_them(xero):
    organisation = first(xero.get("/Organisation"), "Organisations")
    assert organisation["BaseCurrency"] == "GBP"
    accounts = xero.get("/Accounts")["Accounts"]
    xero.get("/Accounts", params={"where": 'Type=="REVENUE" AND Status=="ACTIVE"', "order": "Code DESC"})
    xero.get(f"/Accounts/{accounts[0]['AccountID']}")
    xero.get("/Accounts", If_Modified_Since="2020-01-01T00:00:00")
    rates = xero.get("/TaxRates")["TaxRates"]
    xero.get("/TaxRates", params={"where": 'Status=="ACTIVE"'})
    xero.get(f"/TaxRates/{rates[0]['TaxType']}")
    xero.get("/Currencies")
    categories = xero.get("/TrackingCategories", params={"includeArchived": "true"})["TrackingCategories"]
    xero.get(f"/TrackingCategories/{categories[0]['TrackingCategoryID']}")
    items = xero.get("/Items")["Items"]
    xero.get(f"/Items/{items[0]['ItemID']}", params={"unitdp": 4})
    assert {"GET /api.xro/2.0/Organisation", "GET /api.xro/2.0/TaxRates/{TaxType}"} <= set(xero.checker.checked)


def test_contacts_are_listed_found_created_and_updated_as_described(xero):
    listed = xero.get("/Contacts", params={"page": 1})
    assert listed["pagination"]["page"] == 1
    xero.get("/Contacts", params={"includeArchived": "true", "summaryOnly": "true"})
    xero.get("/Contacts", params={"searchTerm": listed["Contacts"][0]["Name"][:4]})
    xero.get("/Contacts", params={"IDs": ",".join(c["ContactID"] for c in listed["Contacts"][:2])})
    xero.get(f"/Contacts/{listed['Contacts'][0]['ContactID']}")
    created = first(xero.call("PUT", "/Contacts", body={"Contacts": [{
        "Name": f"Spec Ltd {uuid.uuid4().hex[:6]}", "TaxNumber": "GB123456789",
        "AccountNumber": f"SPEC-{uuid.uuid4().hex[:6]}", "EmailAddress": "spec@example.com"}]}).json(), "Contacts")
    xero.call("POST", "/Contacts", body={"Contacts": [{"ContactID": created["ContactID"], "Phones": []}]})
    xero.call("POST", f"/Contacts/{created['ContactID']}",
              body={"Contacts": [{"Name": created["Name"] + " (renamed)"}]})
    batch = xero.call("PUT", "/Contacts", params={"summarizeErrors": "false"},
                      body={"Contacts": [{"Name": f"Fresh {uuid.uuid4().hex[:6]}"},
                                         {"Name": created["Name"] + " (renamed)"}]}).json()
    assert [c["StatusAttributeString"] for c in batch["Contacts"]] == ["OK", "ERROR"]
    refused = xero.call("PUT", "/Contacts", body={"Contacts": [{"Name": created["Name"] + " (renamed)"}]},
                        expect=400).json()
    assert refused["Type"] == "ValidationException"


def test_items_are_created_and_updated_as_described(xero):
    code = f"SPEC-{uuid.uuid4().hex[:6]}"
    item = first(xero.call("PUT", "/Items", body={"Items": [{
        "Code": code, "Name": "Spec widget", "SalesDetails": {"UnitPrice": 12.5, "AccountCode": "200",
                                                               "TaxType": "OUTPUT2"}}]}).json(), "Items")
    xero.call("POST", "/Items", body={"Items": [{"Code": code, "Description": "Now described"}]})
    xero.call("POST", f"/Items/{item['ItemID']}", body={"Items": [{"Code": code, "Name": "Spec widget II"}]})
    xero.get("/Items", params={"where": f'Code=="{code}"'})
    xero.call("PUT", "/Items", body={"Items": [{"Code": f"X-{uuid.uuid4().hex[:6]}",
                                                "SalesDetails": {"AccountCode": "999"}}]}, expect=400)


def test_invoices_with_batches_errors_updates_filters_and_idempotency_follow_the_description(xero):
    customer = a_customer(xero)
    single = first(xero.call("PUT", "/Invoices", body={"Invoices": [an_invoice(customer)]}).json(), "Invoices")
    assert single["Status"] == "AUTHORISED"
    batch = xero.call("PUT", "/Invoices", params={"summarizeErrors": "false", "unitdp": 4}, body={"Invoices": [
        an_invoice(customer, Status="DRAFT"),
        an_invoice(customer, LineItems=[{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "NOPE",
                                         "TaxType": "OUTPUT2"}]),
        an_invoice(customer, Type="ACCPAY", InvoiceNumber="SUP-1", LineItems=[
            {"Description": "Paper", "Quantity": 3, "UnitAmount": 0.1, "AccountCode": "429", "TaxType": "INPUT2"}]),
    ]}).json()["Invoices"]
    assert [i["StatusAttributeString"] for i in batch] == ["OK", "ERROR", "OK"]
    assert batch[1]["ValidationErrors"]
    draft = batch[0]
    error = xero.call("PUT", "/Invoices", body={"Invoices": [an_invoice(customer, TaxType=None, LineItems=[
        {"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200", "TaxType": "BOGUS"}])]},
        expect=400).json()
    assert error["Elements"][0]["ValidationErrors"]

    xero.call("POST", f"/Invoices/{draft['InvoiceID']}", body={"Invoices": [{"Reference": "changed"}]})
    xero.call("POST", "/Invoices", params={"summarizeErrors": "false"},
              body={"Invoices": [{"InvoiceID": draft["InvoiceID"], "Status": "AUTHORISED"}, an_invoice(customer)]})
    key = f"hub-{uuid.uuid4()}"
    once = xero.call("PUT", "/Invoices", body={"Invoices": [an_invoice(customer)]}, Idempotency_Key=key).json()
    again = xero.call("PUT", "/Invoices", body={"Invoices": [an_invoice(customer)]}, Idempotency_Key=key).json()
    assert once["Invoices"][0]["InvoiceID"] == again["Invoices"][0]["InvoiceID"]

    listed = xero.get("/Invoices", params={"page": 1, "pageSize": 5, "order": "Date DESC",
                                           "where": 'Type=="ACCREC" AND Status!="DELETED"'})
    assert listed["pagination"]["pageSize"] == 5
    xero.get("/Invoices", params={"Statuses": "DRAFT,AUTHORISED", "ContactIDs": customer["ContactID"]})
    xero.get("/Invoices", params={"IDs": single["InvoiceID"], "summaryOnly": "true"})
    xero.get("/Invoices", params={"InvoiceNumbers": single["InvoiceNumber"]})
    xero.get("/Invoices", params={"where": f'Contact.ContactID==Guid("{customer["ContactID"]}") AND '
                                           f'Date>=DateTime({SANDBOX_DAY.year},{SANDBOX_DAY.month},01)'})
    xero.get("/Invoices", If_Modified_Since="2020-01-01T00:00:00")
    xero.get(f"/Invoices/{single['InvoiceID']}")
    xero.get(f"/Invoices/{single['InvoiceNumber']}")  # by number: quirk 7


def test_payments_and_attachments_follow_the_description(xero):
    customer = a_customer(xero)
    invoice = first(xero.call("PUT", "/Invoices", body={"Invoices": [an_invoice(customer)]}).json(), "Invoices")
    payment = first(xero.call("PUT", "/Payments", body={"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": DAY,
        "Amount": 50, "Reference": "part"}]}).json(), "Payments")
    xero.get("/Payments", params={"where": 'Status=="AUTHORISED"'})
    xero.get(f"/Payments/{payment['PaymentID']}")

    stored = first(xero.call("PUT", f"/Invoices/{invoice['InvoiceID']}/Attachments/invoice.pdf", raw=PDF,
                             content_type="application/pdf").json(), "Attachments")
    xero.call("POST", f"/Invoices/{invoice['InvoiceID']}/Attachments/notes.txt", raw=b"hello",
              content_type="text/plain")
    listed = xero.get(f"/Invoices/{invoice['InvoiceID']}/Attachments")["Attachments"]
    assert {a["FileName"] for a in listed} == {"invoice.pdf", "notes.txt"}
    by_id = xero.call("GET", f"/Invoices/{invoice['InvoiceID']}/Attachments/{stored['AttachmentID']}",
                      contentType="application/pdf")
    by_name = xero.call("GET", f"/Invoices/{invoice['InvoiceID']}/Attachments/invoice.pdf",
                        contentType="application/pdf")
    assert by_id.content == by_name.content == PDF
    assert first(xero.get(f"/Invoices/{invoice['InvoiceID']}"), "Invoices")["HasAttachments"] is True


def test_credit_notes_quotes_and_purchase_orders_follow_the_description(xero):
    customer = a_customer(xero)
    credit = first(xero.call("PUT", "/CreditNotes", body={"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": customer["ContactID"]}, "Date": DAY, "Status": "DRAFT",
        "LineItems": [{"Description": "Refund", "Quantity": 1, "UnitAmount": 20, "AccountCode": "200",
                       "TaxType": "OUTPUT2"}]}]}).json(), "CreditNotes")
    xero.call("POST", f"/CreditNotes/{credit['CreditNoteID']}", body={"CreditNotes": [{"Reference": "r"}]})
    xero.get("/CreditNotes", params={"page": 1, "where": 'Type=="ACCRECCREDIT"'})
    xero.get(f"/CreditNotes/{credit['CreditNoteID']}")
    xero.call("PUT", f"/CreditNotes/{credit['CreditNoteID']}/Attachments/credit.pdf", raw=PDF,
              content_type="application/pdf")
    xero.get(f"/CreditNotes/{credit['CreditNoteID']}/Attachments")

    quote = first(xero.call("PUT", "/Quotes", body={"Quotes": [{
        "Contact": {"ContactID": customer["ContactID"]}, "Date": DAY, "ExpiryDate": DUE, "Title": "Offer",
        "LineItems": [{"Description": "Offer", "Quantity": 1, "UnitAmount": 99, "AccountCode": "200",
                       "TaxType": "OUTPUT2"}]}]}).json(), "Quotes")
    xero.call("POST", f"/Quotes/{quote['QuoteID']}", body={"Quotes": [{
        "Contact": {"ContactID": customer["ContactID"]}, "Date": DAY, "Summary": "changed"}]})
    xero.get("/Quotes", params={"Status": "DRAFT"})
    xero.get(f"/Quotes/{quote['QuoteID']}")

    supplier = first(xero.get("/Contacts", params={"where": "IsSupplier==true"}), "Contacts")
    order = first(xero.call("PUT", "/PurchaseOrders", body={"PurchaseOrders": [{
        "Contact": {"ContactID": supplier["ContactID"]}, "Date": DAY, "DeliveryDate": DUE,
        "LineItems": [{"Description": "Stock", "Quantity": 5, "UnitAmount": 3, "AccountCode": "310",
                       "TaxType": "INPUT2"}]}]}).json(), "PurchaseOrders")
    xero.call("POST", f"/PurchaseOrders/{order['PurchaseOrderID']}", body={"PurchaseOrders": [{
        "Status": "SUBMITTED"}]})
    xero.get("/PurchaseOrders", params={"page": 1})
    xero.get(f"/PurchaseOrders/{order['PurchaseOrderID']}")
    xero.get(f"/PurchaseOrders/{order['PurchaseOrderNumber']}")


def test_errors_keep_to_the_description_where_it_speaks_and_are_left_alone_where_it_does_not(served):
    running, checker = served
    checker.clear()
    xero = Xero(running, checker)
    xero.call("GET", "/Invoices", expect=401, Authorization="Bearer not-a-token")
    xero.call("GET", "/Invoices", expect=403, xero_tenant_id=str(uuid.uuid4()))
    xero.call("GET", f"/Invoices/{uuid.uuid4()}", expect=404)
    xero.call("PUT", "/Invoices", body={"Invoices": "not a list"}, expect=400)
    requests.get(f"{running.api_url}/Invoices", headers={"xero-tenant-id": xero.tenant}, timeout=10)
    assert checker.violations == [], checker.report()
    assert {status for _, _, status in checker.undocumented} >= {401, 403, 404}
    # the two malformed requests (a body off-schema, no token at all) were refused, as they should be
    assert {(v.method, v.status) for v in checker.refused} == {("PUT", 400), ("GET", 401)}


def test_a_refusal_for_too_many_calls_is_left_to_the_limit_tests(xero_specs):
    holder: dict = {}

    def wrap(app):
        holder["checker"] = SpecChecked(app)
        return holder["checker"]

    with start_sandbox(seed=None, wrap=wrap, per_minute=2) as running:
        checker = holder["checker"]
        xero = Xero(running, checker)
        statuses = [xero.call("GET", "/Organisation", expect=None).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert checker.violations == [] and ("GET", "/api.xro/2.0/Organisation", 429) in checker.undocumented


def test_connections_are_listed_and_deleted_as_the_identity_description_says(xero_specs):
    holder: dict = {}

    def wrap(app):
        holder["checker"] = SpecChecked(app)
        return holder["checker"]

    with start_sandbox(seed=None, wrap=wrap) as running:
        checker = holder["checker"]
        token = running.connect()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        listed = requests.get(f"{running.url}/connections", headers=headers, timeout=10).json()
        event = listed[0]["authEventId"]
        assert requests.get(f"{running.url}/connections", params={"authEventId": event}, headers=headers,
                            timeout=10).json() == listed
        assert requests.delete(f"{running.url}/connections/{listed[0]['id']}", headers=headers,
                               timeout=10).status_code == 204
        assert requests.delete(f"{running.url}/connections/{listed[0]['id']}", headers=headers,
                               timeout=10).status_code == 404
    assert checker.violations == [], checker.report()
    assert checker.checked["GET /Connections"] == 2 and checker.checked["DELETE /Connections/{id}"] == 2


# ----- the checker itself ---------------------------------------------------------------------------------
def corrupting(app, change):
    """A WSGI wrapper that rewrites the sandbox's JSON answers with ``change(body)``."""

    def wrapped(environ, start_response):
        captured = {}

        def keep(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)

        body = b"".join(app(environ, keep))
        if captured["headers"] and any(v.startswith("application/json") for k, v in captured["headers"]
                                       if k.lower() == "content-type"):
            body = json.dumps(change(json.loads(body))).encode()
        headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in captured["headers"]]
        start_response(captured["status"], headers)
        return [body]

    return wrapped


def without_item_codes(body):
    for item in body.get("Items", []):
        item.pop("Code", None)
    return body


def with_text_totals(body):
    for invoice in body.get("Invoices", []):
        invoice["Total"] = "a lot"
    return body


@pytest.mark.parametrize("change, path, words", [
    (without_item_codes, "/Items", "'Code' is a required property"),
    (with_text_totals, "/Invoices", "'a lot' is not of type 'number'"),
])
def test_the_checker_catches_a_deliberately_wrong_answer(xero_specs, change, path, words):
    holder: dict = {}

    def wrap(app):
        holder["checker"] = SpecChecked(corrupting(app, change))
        return holder["checker"]

    with start_sandbox(seed="demo", wrap=wrap, today=SANDBOX_DAY) as running:
        Xero(running, holder["checker"]).get(path)
    violations = holder["checker"].violations
    assert violations and violations[0].kind == "response" and violations[0].status == 200
    assert words in violations[0].message


def test_the_checker_catches_a_malformed_request_the_sandbox_accepted(xero_specs):
    holder: dict = {}

    def wrap(app):
        holder["checker"] = SpecChecked(app)
        return holder["checker"]

    with start_sandbox(seed=None, wrap=wrap) as running:
        token = running.custom_token()  # a custom connection may leave xero-tenant-id out; the description may not
        requests.get(f"{running.api_url}/Organisation", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    [violation] = holder["checker"].violations
    assert violation.kind == "request" and "xero-tenant-id" in violation.message
