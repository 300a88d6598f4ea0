"""The Xero sandbox's accounting API, spoken to over real HTTP on loopback (and once through Django)."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
from decimal import Decimal

import pytest
import requests

from sandboxes.xero import DEMO_COMPANY, HARBOUR_TRADING, build_sandbox, start_sandbox
from sandboxes.xero.limits import SandboxClock
from tests.support.clock import SANDBOX_DAY

pytestmark = pytest.mark.clock


class Xero:
    """A thin client: a sandbox, a token for both organisations, and calls as one organisation."""

    def __init__(self, running, tenant: str = DEMO_COMPANY):
        self.running, self.tenant = running, tenant
        self.token = running.connect()["access_token"]

    def headers(self, tenant: str | None = None, **extra) -> dict:
        return {"Authorization": f"Bearer {self.token}", "xero-tenant-id": tenant or self.tenant,
                "Accept": "application/json", **extra}

    def call(self, method: str, path: str, *, tenant: str | None = None, headers: dict | None = None, **kwargs):
        return requests.request(method, f"{self.running.api_url}/{path}", timeout=10,
                                headers=self.headers(tenant, **(headers or {})), **kwargs)

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def put(self, path: str, body, **kwargs):
        return self.call("PUT", path, json=body, **kwargs)

    def post(self, path: str, body, **kwargs):
        return self.call("POST", path, json=body, **kwargs)

    def invoices(self, **params) -> list[dict]:
        return self.get("Invoices", params=params).json()["Invoices"]

    def contact(self, name: str, tenant: str | None = None) -> dict:
        found = self.get("Contacts", tenant=tenant, params={"where": f'Name=="{name}"', "includeArchived": "true"})
        return found.json()["Contacts"][0]


def ms_date(value: str) -> dt.datetime:
    millis = int(re.fullmatch(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/", value).group(1))
    return dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)


def sale(contact_id: str, *lines: dict, status: str = "AUTHORISED", **fields) -> dict:
    return {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Date": "2026-11-20", "DueDate": "2026-12-20",
            "Status": status, "LineItems": list(lines), **fields}


def line(amount: str, account: str = "200", tax: str = "OUTPUT2", quantity: str = "1", **fields) -> dict:
    return {"Description": "Work", "Quantity": float(quantity), "UnitAmount": float(amount), "AccountCode": account,
            "TaxType": tax, **fields}


@pytest.fixture
def xero():
    """A fresh demo sandbox (limits off: these tests are about the API, not the budget) and a client."""
    with start_sandbox(seed="demo", today=SANDBOX_DAY, limits=False) as running:
        yield Xero(running)


@pytest.fixture(scope="module")
def demo():
    """A demo sandbox shared by read-only tests."""
    with start_sandbox(seed="demo", today=SANDBOX_DAY, limits=False) as running:
        yield Xero(running)


# ---- authentication and organisations --------------------------------------------------------


def test_a_call_without_a_valid_token_is_refused_with_xeros_401_problem_and_a_foreign_tenant_with_403(demo):
    missing = requests.get(f"{demo.running.api_url}/Invoices", headers={"xero-tenant-id": DEMO_COMPANY}, timeout=5)
    assert missing.status_code == 401
    assert missing.json()["Title"] == "Unauthorized" and missing.json()["Detail"] == "AuthenticationUnsuccessful"
    wrong = requests.get(f"{demo.running.api_url}/Invoices", timeout=5,
                         headers={"Authorization": "Bearer not-a-token", "xero-tenant-id": DEMO_COMPANY})
    assert wrong.status_code == 401
    stranger = demo.get("Invoices", tenant="3f0b6c8e-0000-4000-8000-000000000000")
    assert stranger.status_code == 403 and stranger.json()["Title"] == "Forbidden"


def test_an_expired_access_token_is_refused_with_token_expired(xero):
    assert xero.get("Organisation").status_code == 200
    xero.running.identity.expire_access_tokens()
    refused = xero.get("Organisation")
    assert refused.status_code == 401 and refused.json()["Detail"].startswith("TokenExpired")


def test_each_organisation_sees_only_its_own_data_and_a_token_reaches_only_the_consented_ones(xero):
    created = xero.put("Contacts", {"Contacts": [{"Name": "Only In Demo Ltd"}]}).json()["Contacts"][0]
    harbour_names = {c["Name"] for c in xero.get("Contacts", tenant=HARBOUR_TRADING).json()["Contacts"]}
    assert "Only In Demo Ltd" not in harbour_names and "Anchor Marine Supplies" in harbour_names
    assert xero.get(f"Contacts/{created['ContactID']}", tenant=HARBOUR_TRADING).status_code == 404
    assert xero.get("Organisation", tenant=HARBOUR_TRADING).json()["Organisations"][0]["Name"] == "Harbour Trading Ltd"
    xero.running.identity.reset()  # forget the first consent: the new user connected Harbour only
    harbour_only = xero.running.connect([HARBOUR_TRADING])["access_token"]
    headers = {"Authorization": f"Bearer {harbour_only}"}
    assert requests.get(f"{xero.running.api_url}/Organisation", timeout=5,
                        headers={**headers, "xero-tenant-id": DEMO_COMPANY}).status_code == 403
    assert requests.get(f"{xero.running.api_url}/Organisation", timeout=5,
                        headers={**headers, "xero-tenant-id": HARBOUR_TRADING}).status_code == 200


# ---- reading: envelope, paging, where, order, If-Modified-Since ------------------------------


def test_answers_come_in_xeros_envelope_with_its_dates_and_exact_money(demo):
    answer = demo.get("Invoices/INV-0002")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    body = answer.json(parse_float=Decimal)
    assert body["Status"] == "OK" and re.fullmatch(r"/Date\(\d+\)/", body["DateTimeUTC"])
    invoice = body["Invoices"][0]
    assert invoice["DateString"] == f"{SANDBOX_DAY - dt.timedelta(days=20):%Y-%m-%d}T00:00:00"
    assert re.fullmatch(r"/Date\(\d+\+0000\)/", invoice["Date"]) and ms_date(invoice["Date"]).date() == \
        SANDBOX_DAY - dt.timedelta(days=20)
    assert '"Total": 1656.00' in answer.text  # written as Xero does, never 1656.0
    assert invoice["AmountPaid"] == Decimal("828.00") and invoice["AmountDue"] == Decimal("828.00")
    assert invoice["Contact"]["Name"] == "Bramble & Finch LLP" and len(invoice["Payments"]) == 1
    for key, value in answer.headers.items():
        assert not key.startswith("X-MinLimit")  # limits off: no budget headers to keep in step with


def test_lists_are_paged_by_100_unless_page_size_says_otherwise(xero):
    many = [{"Name": f"Bulk Customer {n:03d}"} for n in range(105)]
    assert xero.put("Contacts", {"Contacts": many}).status_code == 200
    first = xero.get("Contacts", params={"page": 1}).json()
    active = 19 + 105  # the demo's 19 active contacts and the new ones; the archived one is left out
    assert len(first["Contacts"]) == 100
    assert first["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 2, "itemCount": active}
    assert len(xero.get("Contacts", params={"page": 2}).json()["Contacts"]) == active - 100
    small = xero.get("Invoices", params={"page": 2, "pageSize": 4}).json()
    assert [i["InvoiceNumber"] for i in small["Invoices"]] == ["INV-0005", "INV-0006", "LOS-88231", "MT-2026-11"]
    assert small["pagination"] == {"page": 2, "pageSize": 4, "pageCount": 3, "itemCount": 9}


def test_where_filters_with_xeros_syntax_and_order_sorts(demo):
    by_name = demo.invoices(where='Contact.Name.StartsWith("bramble") AND Status=="AUTHORISED"')
    assert [i["InvoiceNumber"] for i in by_name] == ["INV-0002"]
    contact = demo.contact("Castlegate Hotels Ltd")
    by_guid = demo.invoices(where=f'Contact.ContactID==Guid("{contact["ContactID"]}")')
    assert [i["InvoiceNumber"] for i in by_guid] == ["INV-0003"]
    since = SANDBOX_DAY - dt.timedelta(days=6)
    recent = demo.invoices(where=f'Type=="ACCREC" && Date>=DateTime({since:%Y,%m,%d})', order="Total DESC")
    assert [i["InvoiceNumber"] for i in recent] == ["INV-0004", "INV-0003", "INV-0005"]
    bills_or_drafts = demo.invoices(where='(Type=="ACCPAY" OR Status=="DRAFT") AND AmountDue>100')
    assert {i["InvoiceNumber"] for i in bills_or_drafts} == {"INV-0004", "INV-0005", "LOS-88231", "MT-2026-11"}
    accounts = demo.get("Accounts", params={"where": 'Status=="ARCHIVED"'}).json()["Accounts"]
    assert [a["Code"] for a in accounts] == ["425"]
    with_vat = demo.get("Contacts", params={"where": 'TaxNumber!=null && Name.Contains("ltd")'}).json()["Contacts"]
    assert with_vat and all(c["TaxNumber"] and "ltd" in c["Name"].lower() for c in with_vat)


def test_a_where_xero_would_not_parse_is_a_400_query_parse_exception_saying_why(demo):
    unknown = demo.get("Invoices", params={"where": 'Colour=="red"'})
    assert unknown.status_code == 400
    assert unknown.json() == {"ErrorNumber": 16, "Type": "QueryParseException",
                              "Message": "No property or field 'Colour' exists in type 'Invoice' (at index 0)"}
    guid_as_text = demo.get("Invoices", params={"where": 'InvoiceID=="3f0b6c8e-0000-4000-8000-000000000000"'})
    assert guid_as_text.status_code == 400 and "'Guid' and 'String'" in guid_as_text.json()["Message"]
    dangling = demo.get("Contacts", params={"where": 'Name=="x" AND'})
    assert dangling.status_code == 400 and dangling.json()["Message"].startswith("Expression expected")


def test_if_modified_since_returns_only_what_changed_after_it(xero):
    latest = xero.invoices(order="UpdatedDateUTC DESC")[0]
    mark = ms_date(latest["UpdatedDateUTC"])
    draft = xero.invoices(where='Status=="DRAFT" AND Type=="ACCREC"')[0]
    assert xero.post(f"Invoices/{draft['InvoiceID']}", {"Invoices": [{"Reference": "Changed"}]}).status_code == 200
    customer = xero.contact("Foxglove Florists")
    created = xero.put("Invoices", {"Invoices": [sale(customer["ContactID"], line("40.00"))]}).json()["Invoices"][0]
    changed = xero.get("Invoices", headers={"If-Modified-Since": mark.isoformat()}).json()["Invoices"]
    assert {i["InvoiceID"] for i in changed} == {draft["InvoiceID"], created["InvoiceID"]}
    assert all(ms_date(i["UpdatedDateUTC"]) > mark for i in changed)


# ---- writing: validation, batches, idempotency ------------------------------------------------


def test_a_single_bad_invoice_is_a_400_validation_exception_in_xeros_words_and_nothing_is_saved(xero):
    customer = xero.contact("Foxglove Florists")
    before = len(xero.invoices())
    bad = sale(customer["ContactID"], line("10.00", account="999"), line("5.00", tax="NOPE"))
    answer = xero.put("Invoices", {"Invoices": [bad]})
    assert answer.status_code == 400
    body = answer.json()
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (10, "ValidationException",
                                                                    "A validation exception occurred")
    messages = [e["Message"] for e in body["Elements"][0]["ValidationErrors"]]
    assert messages == ["Account code '999' is not a valid code for this document.",
                        "The TaxType code 'NOPE' does not exist or cannot be used for this type of transaction."]
    assert body["Elements"][0]["InvoiceID"] == "00000000-0000-0000-0000-000000000000"
    assert len(xero.invoices()) == before


@pytest.mark.parametrize("change, message", [
    ({"LineItems": [line("10.00", tax="INPUT2")]},
     "The TaxType code 'INPUT2' does not exist or cannot be used for this type of transaction."),
    ({"LineItems": [line("10.00", tax="OUTPUT")]},
     "The TaxType code 'OUTPUT' does not exist or cannot be used for this type of transaction."),
    ({"LineItems": [line("10.00", account="425")]}, "Account code '425' is not a valid code for this document."),
    ({"LineItems": []}, "One or more line items must be specified"),
    ({"DueDate": None}, "The document DueDate field must be specified."),
    ({"Date": None}, "The Date field must be specified."),
    ({"CurrencyCode": "JPY"}, "Organisation is not subscribed to currency JPY"),
    ({"Total": 11.99}, "The document total does not equal the sum of the lines."),
    ({"Contact": {}}, "A Contact must be specified for this type of transaction"),
    ({"Contact": {"Name": "Thistle Catering Ltd"}},
     "The contact with the specified contact details has been archived. The archived contact cannot have new "
     "invoices created against it."),
])
def test_xeros_validation_rules_refuse_what_xero_refuses(demo, change, message):
    customer = demo.contact("Foxglove Florists")
    invoice = {**sale(customer["ContactID"], line("10.00")), **change}
    invoice = {k: v for k, v in invoice.items() if v is not None}
    answer = demo.put("Invoices", {"Invoices": [invoice]}, params={"summarizeErrors": "false"})
    assert answer.status_code == 200
    element = answer.json()["Invoices"][0]
    assert element["StatusAttributeString"] == "ERROR"
    assert message in [e["Message"] for e in element["ValidationErrors"]]


def test_a_batch_with_summarize_errors_false_saves_the_good_ones_and_reports_each_bad_one(xero):
    customer, archived = xero.contact("Foxglove Florists"), xero.contact("Thistle Catering Ltd")
    batch = {"Invoices": [sale(customer["ContactID"], line("100.00"), Reference="good"),
                          sale(archived["ContactID"], line("50.00"), Reference="bad")]}
    answer = xero.put("Invoices", batch, params={"summarizeErrors": "false"})
    assert answer.status_code == 200
    good, bad = answer.json()["Invoices"]
    assert good["StatusAttributeString"] == "OK" and good["InvoiceNumber"] == "INV-0007" and good["Total"] == 120.0
    assert bad["StatusAttributeString"] == "ERROR" and bad["HasErrors"] is True
    assert "archived" in bad["ValidationErrors"][0]["Message"]
    assert [i["Reference"] for i in xero.invoices(where='Reference=="good" OR Reference=="bad"')] == ["good"]
    refused = xero.put("Invoices", batch)  # the default, summarizeErrors=true: all or nothing
    assert refused.status_code == 400 and len(refused.json()["Elements"]) == 1
    assert len(xero.invoices(where='Reference=="good"')) == 1
    unreadable = {"Invoices": [batch["Invoices"][0], dict(batch["Invoices"][0], Status="APPROVED")]}
    garbled = xero.put("Invoices", unreadable, params={"summarizeErrors": "false"})
    assert garbled.status_code == 400 and garbled.json()["Type"] == "PostDataInvalidException"
    assert len(xero.invoices(where='Reference=="good"')) == 1  # a body Xero cannot read saves nothing


def test_a_repeated_idempotency_key_replays_the_first_answer_without_creating_twice(xero):
    customer = xero.contact("Foxglove Florists")
    body = {"Invoices": [sale(customer["ContactID"], line("75.00"), Reference="once")]}
    first = xero.put("Invoices", body, headers={"Idempotency-Key": "hub-ref-42-v1"})
    again = xero.put("Invoices", body, headers={"Idempotency-Key": "hub-ref-42-v1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert len(xero.invoices(where='Reference=="once"')) == 1
    elsewhere = xero.put("Contacts", {"Contacts": [{"Name": "Other"}]}, headers={"Idempotency-Key": "hub-ref-42-v1"})
    assert elsewhere.status_code == 400  # the same key for another request
    too_long = xero.put("Invoices", body, headers={"Idempotency-Key": "k" * 129})
    assert too_long.status_code == 400 and len(xero.invoices(where='Reference=="once"')) == 1
    other_org = xero.put("Contacts", {"Contacts": [{"Name": "Keyed In Harbour"}]}, tenant=HARBOUR_TRADING,
                         headers={"Idempotency-Key": "hub-ref-42-v1"})
    assert other_org.status_code == 200  # keys belong to one organisation


def test_an_answer_lost_after_the_work_is_recovered_by_retrying_with_the_same_key(xero):
    customer = xero.contact("Foxglove Florists")
    body = {"Invoices": [sale(customer["ContactID"], line("60.00"), Reference="lost answer")]}
    xero.running.admin("POST", "faults", {"kind": "drop_after", "count": 1, "method": "PUT",
                                         "path_contains": "/Invoices"})
    with pytest.raises(requests.ConnectionError):
        xero.put("Invoices", body, headers={"Idempotency-Key": "lost-1"})
    assert len(xero.invoices(where='Reference=="lost answer"')) == 1  # Xero did the work
    retry = xero.put("Invoices", body, headers={"Idempotency-Key": "lost-1"})
    assert retry.status_code == 200 and retry.json()["Invoices"][0]["Reference"] == "lost answer"
    assert len(xero.invoices(where='Reference=="lost answer"')) == 1
    log = xero.running.admin("GET", "requests")["requests"]
    assert [e.get("fault") for e in log if e.get("idempotency_key") == "lost-1"] == ["drop_after", None]


def test_tax_is_computed_and_rounded_per_line_as_xero_does(xero):
    customer = xero.contact("Foxglove Florists")
    pennies = sale(customer["ContactID"], *[line("0.10", tax="RROUTPUT") for _ in range(3)])
    invoice = xero.put("Invoices", {"Invoices": [pennies]}).json(parse_float=Decimal)["Invoices"][0]
    # 0.10 at 5 % is 0.005, rounded half-up to 0.01 on every line: 0.03, where 0.30 at 5 % would be 0.02.
    assert [li["TaxAmount"] for li in invoice["LineItems"]] == [Decimal("0.01")] * 3
    assert (invoice["SubTotal"], invoice["TotalTax"], invoice["Total"]) == (Decimal("0.30"), Decimal("0.03"),
                                                                             Decimal("0.33"))
    inclusive = sale(customer["ContactID"], line("10.00"), line("3.00", quantity="3", DiscountRate=10),
                     LineAmountTypes="Inclusive")
    invoice = xero.put("Invoices", {"Invoices": [inclusive]}).json(parse_float=Decimal)["Invoices"][0]
    assert [(li["LineAmount"], li["TaxAmount"]) for li in invoice["LineItems"]] == [
        (Decimal("10.00"), Decimal("1.67")), (Decimal("8.10"), Decimal("1.35"))]
    assert (invoice["SubTotal"], invoice["TotalTax"], invoice["Total"]) == (Decimal("15.08"), Decimal("3.02"),
                                                                             Decimal("18.10"))
    given_tax = sale(customer["ContactID"], line("0.13", TaxAmount=0.02), line("0.13"))
    invoice = xero.put("Invoices", {"Invoices": [given_tax]}).json(parse_float=Decimal)["Invoices"][0]
    assert [li["TaxAmount"] for li in invoice["LineItems"]] == [Decimal("0.02"), Decimal("0.03")]
    assert invoice["Total"] == Decimal("0.31")


def test_sales_invoice_numbers_are_unique_but_bill_numbers_are_not(xero):
    customer, supplier = xero.contact("Foxglove Florists"), xero.contact("Northgate Couriers Ltd")
    taken = xero.put("Invoices", {"Invoices": [sale(customer["ContactID"], line("1.00"), InvoiceNumber="INV-0001")]})
    assert taken.status_code == 400
    assert taken.json()["Elements"][0]["ValidationErrors"] == [{"Message": "Invoice # must be unique."}]
    bill = {"Type": "ACCPAY", "Contact": {"ContactID": supplier["ContactID"]}, "InvoiceNumber": "NC-1001",
            "Date": "2026-11-10", "DueDate": "2026-12-10", "Status": "AUTHORISED",
            "LineItems": [line("12.00", account="429", tax="INPUT2")]}
    assert xero.put("Invoices", {"Invoices": [bill]}).status_code == 200
    assert xero.put("Invoices", {"Invoices": [bill]}).status_code == 200
    assert len(xero.invoices(InvoiceNumbers="NC-1001")) == 2


def test_a_payment_that_covers_the_total_makes_the_invoice_paid_and_locks_it(xero):
    invoice = xero.get("Invoices/INV-0003").json()["Invoices"][0]
    payment = {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2026-11-21",
               "Amount": 100.00}
    assert xero.put("Payments", {"Payments": [payment]}).status_code == 200
    part_paid = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (part_paid["Status"], part_paid["AmountPaid"], part_paid["AmountDue"]) == ("AUTHORISED", 100.0, 500.0)
    edit = xero.post(f"Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Reference": "too late"}]})
    assert edit.status_code == 400
    assert edit.json()["Elements"][0]["ValidationErrors"] == [{"Message": "Invoice not of valid status for "
                                                                          "modification"}]
    too_much = xero.put("Payments", {"Payments": [dict(payment, Amount=500.01)]})
    assert too_much.status_code == 400
    assert xero.put("Payments", {"Payments": [dict(payment, Amount=500.00)]}).status_code == 200
    paid = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert (paid["Status"], paid["AmountDue"], len(paid["Payments"])) == ("PAID", 0.0, 2)
    assert ms_date(paid["FullyPaidOnDate"]).date() == dt.date(2026, 11, 21)
    void = xero.post(f"Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]})
    assert void.status_code == 400
    draft = xero.invoices(where='Status=="DRAFT" AND Type=="ACCREC"')[0]
    on_draft = xero.put("Payments", {"Payments": [dict(payment, Invoice={"InvoiceID": draft["InvoiceID"]})]})
    assert on_draft.status_code == 400


def test_a_draft_is_updated_in_place_by_id_or_number_and_a_voided_invoice_stays_voided(xero):
    draft = xero.get("Invoices/INV-0004").json()["Invoices"][0]
    update = {"InvoiceNumber": "INV-0004", "Type": "ACCREC", "LineItems": [line("700.00")], "Status": "AUTHORISED"}
    answer = xero.post("Invoices", {"Invoices": [update]})
    assert answer.status_code == 200
    updated = answer.json()["Invoices"][0]
    assert updated["InvoiceID"] == draft["InvoiceID"] and updated["Status"] == "AUTHORISED"
    assert updated["Total"] == 840.0 and len(xero.invoices(InvoiceNumbers="INV-0004")) == 1
    assert xero.post(f"Invoices/{draft['InvoiceID']}", {"Invoices": [{"Status": "VOIDED"}]}).status_code == 200
    again = xero.post(f"Invoices/{draft['InvoiceID']}", {"Invoices": [{"Status": "AUTHORISED"}]})
    assert again.status_code == 400


def test_a_line_with_only_a_description_adds_nothing_and_stays_so_when_the_status_changes(xero):
    customer = xero.contact("Northwind Studios Ltd")["ContactID"]
    body = sale(customer, {"Description": "ERP sales order SO-0042"}, line("100.00"), status="DRAFT")
    created = xero.put("Invoices", {"Invoices": [body]}).json()["Invoices"][0]
    assert created["Total"] == 120.0
    text = created["LineItems"][0]
    assert text["LineAmount"] == 0 and "AccountCode" not in text and "Quantity" not in text
    approved = xero.post(f"Invoices/{created['InvoiceID']}", {"Invoices": [{"Status": "AUTHORISED"}]})
    assert approved.status_code == 200  # no account needed on a line without an amount, even once approved
    after = approved.json()["Invoices"][0]["LineItems"][0]
    assert after["Description"] == "ERP sales order SO-0042" and "Quantity" not in after and "UnitAmount" not in after


def test_attachments_are_uploaded_raw_listed_and_downloaded_and_flag_the_invoice(xero):
    invoice = xero.get("Invoices/INV-0003").json()["Invoices"][0]
    assert invoice["HasAttachments"] is False
    pdf = b"%PDF-1.4\n% a tiny file\n%%EOF\n"
    uploaded = xero.call("PUT", f"Invoices/{invoice['InvoiceID']}/Attachments/INV-0003 scan.pdf", data=pdf,
                         headers={"Content-Type": "application/pdf"})
    assert uploaded.status_code == 200
    meta = uploaded.json()["Attachments"][0]
    assert (meta["FileName"], meta["MimeType"], meta["ContentLength"]) == ("INV-0003 scan.pdf", "application/pdf",
                                                                         len(pdf))
    assert meta["Url"].endswith(f"/Invoices/{invoice['InvoiceID']}/Attachments/INV-0003%20scan.pdf")
    again = xero.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert again["HasAttachments"] is True and again["Attachments"][0]["AttachmentID"] == meta["AttachmentID"]
    listed = xero.get(f"Invoices/{invoice['InvoiceID']}/Attachments").json()["Attachments"]
    assert [a["FileName"] for a in listed] == ["INV-0003 scan.pdf"]
    for key in (meta["AttachmentID"], "INV-0003 scan.pdf"):
        download = xero.get(f"Invoices/{invoice['InvoiceID']}/Attachments/{key}")
        assert download.status_code == 200 and download.content == pdf
        assert download.headers["Content-Type"] == "application/pdf"
    empty = xero.call("PUT", f"Invoices/{invoice['InvoiceID']}/Attachments/empty.pdf", data=b"")
    assert empty.status_code == 400
    note = xero.get("CreditNotes").json()["CreditNotes"][0]
    assert xero.call("PUT", f"CreditNotes/{note['CreditNoteID']}/Attachments/note.png", data=b"\x89PNG",
                     headers={"Content-Type": "application/octet-stream"}).json()["Attachments"][0]["MimeType"] == \
        "image/png"


def test_contacts_and_items_are_created_matched_and_refused_by_xeros_rules(xero):
    duplicate = xero.put("Contacts", {"Contacts": [{"Name": "Foxglove Florists"}]})
    assert duplicate.status_code == 400 and "must be unique across all active contacts" in \
        duplicate.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    taken = xero.put("Contacts", {"Contacts": [{"Name": "New Co", "AccountNumber": "C001"}]})
    assert taken.status_code == 400
    created = xero.put("Contacts", {"Contacts": [{"Name": "New Co", "ContactNumber": "HUB-7",
                                                  "TaxNumber": "GB 999 9999 73"}]}).json()["Contacts"][0]
    renamed = xero.post("Contacts", {"Contacts": [{"ContactNumber": "HUB-7", "Name": "New Co Ltd"}]})
    assert renamed.json()["Contacts"][0]["ContactID"] == created["ContactID"]
    assert xero.get("Contacts/HUB-7").json()["Contacts"][0]["Name"] == "New Co Ltd"
    archived = xero.post(f"Contacts/{created['ContactID']}", {"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    assert archived.json()["Contacts"][0]["ContactStatus"] == "ARCHIVED"
    assert created["ContactID"] not in {c["ContactID"] for c in xero.get("Contacts").json()["Contacts"]}
    item = xero.post("Items", {"Items": [{"Code": "NEW-1", "Name": "New thing",
                                          "SalesDetails": {"UnitPrice": 9.99, "AccountCode": "200"}}]})
    assert item.status_code == 200 and item.json()["Items"][0]["IsSold"] is True
    assert xero.put("Items", {"Items": [{"Code": "new-1"}]}).status_code == 400
    customer = xero.contact("Foxglove Florists")
    by_item = xero.put("Invoices", {"Invoices": [sale(customer["ContactID"], {"ItemCode": "NEW-1", "Quantity": 2})]})
    assert by_item.json()["Invoices"][0]["LineItems"][0]["LineAmount"] == 19.98


# ---- the rate limits -------------------------------------------------------------------------


def test_the_61st_call_in_a_sandbox_minute_is_refused_with_429_and_retry_after_and_does_nothing():
    real = [1000.0]
    clock = SandboxClock(60, real=lambda: real[0])  # one sandbox minute lasts one real second
    sandbox = build_sandbox(seed="demo", today=SANDBOX_DAY, clock=clock)
    with start_sandbox(sandbox=sandbox) as running:
        xero = Xero(running)
        for n in range(60):
            answer = xero.get("Organisation")
            assert answer.status_code == 200, n
        assert answer.headers["X-MinLimit-Remaining"] == "0" and answer.headers["X-DayLimit-Remaining"] == "4940"
        refused = xero.put("Contacts", {"Contacts": [{"Name": "Refused Ltd"}]})
        assert refused.status_code == 429
        assert refused.headers["X-Rate-Limit-Problem"] == "minute"
        assert float(refused.headers["Retry-After"]) == pytest.approx(1.0)
        assert xero.get("Organisation", tenant=HARBOUR_TRADING).status_code == 200  # the other organisation's budget
        real[0] += float(refused.headers["Retry-After"])
        assert xero.get("Contacts", params={"where": 'Name=="Refused Ltd"'}).json()["Contacts"] == []
        stats = running.admin("GET", "stats")
        assert stats[DEMO_COMPANY]["peak_minute"] == 60 and stats[DEMO_COMPANY]["refused"] == 1


# ---- admin, reset, and the Django mount ---------------------------------------------------------


def test_reset_brings_back_the_seed_and_admin_needs_the_client_secret(xero):
    xero.put("Contacts", {"Contacts": [{"Name": "Temporary Ltd"}]})
    assert requests.post(f"{xero.running.url}/_sandbox/reset", timeout=5).status_code == 401
    xero.running.admin("POST", "reset")
    assert xero.get("Contacts", params={"where": 'Name=="Temporary Ltd"'}).json()["Contacts"] == []
    assert xero.get("Organisation").status_code == 200  # tokens survive a data reset


def test_the_seed_is_the_same_after_a_restart_and_none_gives_empty_organisations():
    first, second = build_sandbox(today=SANDBOX_DAY), build_sandbox(today=SANDBOX_DAY)
    for tenant in (DEMO_COMPANY, HARBOUR_TRADING):
        a, b = first.state.org(tenant), second.state.org(tenant)
        assert list(a.documents["Invoices"]) == list(b.documents["Invoices"]) and list(a.contacts) == list(b.contacts)
        assert len(a.contacts) == 20 and len(a.items) == 10
    empty = build_sandbox(seed=None).state.org(DEMO_COMPANY)
    assert not empty.contacts and not empty.documents["Invoices"] and len(empty.accounts) > 20
    assert "DELETED" in {t["Status"] for t in empty.tax_rates.values()}


@pytest.mark.urls("tests.sandboxes.urls")
def test_the_mounted_django_view_serves_identity_and_api_under_its_prefix(client, settings):
    import sandboxes.urls

    settings.HUB_XERO_CLIENT_ID, settings.HUB_XERO_CLIENT_SECRET = "mounted-client", "mounted-secret"
    sandboxes.urls._xero = None
    try:
        base = "/mounted/xero"
        assert client.get(f"{base}/")["Content-Type"].startswith("application/json")
        basic = base64.b64encode(b"mounted-client:mounted-secret").decode()
        token = client.post(f"{base}/connect/token", "grant_type=client_credentials",
                            content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=f"Basic {basic}")
        assert token.status_code == 200
        bearer = f"Bearer {token.json()['access_token']}"
        organisation = client.get(f"{base}/api.xro/2.0/Organisation", HTTP_AUTHORIZATION=bearer)
        assert organisation.status_code == 200
        assert organisation.json()["Organisations"][0]["Name"] == "Demo Company (Global)"
        invoice = client.get(f"{base}/api.xro/2.0/Invoices/INV-0003", HTTP_AUTHORIZATION=bearer,
                             HTTP_XERO_TENANT_ID=DEMO_COMPANY).json()["Invoices"][0]
        uploaded = client.put(f"{base}/api.xro/2.0/Invoices/{invoice['InvoiceID']}/Attachments/a.pdf", b"%PDF-",
                              content_type="application/pdf", HTTP_AUTHORIZATION=bearer,
                              HTTP_XERO_TENANT_ID=DEMO_COMPANY)
        assert json.loads(uploaded.content)["Attachments"][0]["Url"].startswith(f"http://testserver{base}/api.xro/2.0/")
    finally:
        sandboxes.urls._xero = None


def test_a_custom_tax_rate_can_be_created_and_then_used_on_the_side_it_applies_to(xero):
    body = {"TaxRates": [{"Name": "10% (VAT on Income, FR)", "ReportTaxType": "OUTPUT",
                          "TaxComponents": [{"Name": "VAT", "Rate": 10}]}]}
    created = xero.put("TaxRates", body)
    assert created.status_code == 200, created.text
    (rate,) = created.json()["TaxRates"]
    assert rate["TaxType"].startswith("TAX") and rate["EffectiveRate"] == 10.0 and rate["CanApplyToRevenue"] is True
    assert xero.put("TaxRates", body).status_code == 400  # the same name twice
    customer = xero.contact("Foxglove Florists")
    invoice = xero.put("Invoices", {"Invoices": [sale(customer["ContactID"], line("100.00", tax=rate["TaxType"]))]})
    assert invoice.status_code == 200 and invoice.json()["Invoices"][0]["TotalTax"] == 10.0
    bill = dict(sale(customer["ContactID"], line("100.00", account="429", tax=rate["TaxType"])), Type="ACCPAY",
                InvoiceNumber="B-1")
    assert xero.put("Invoices", {"Invoices": [bill]}).status_code == 400  # an income rate on a bill


def test_the_sandbox_command_serves_xero_alone_until_it_is_stopped(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    manage = str(Path(settings.BASE_DIR) / "manage.py")
    process = subprocess.Popen([sys.executable, manage, "sandbox", "xero", "--port", "0", "--client-id", "cmd-client",
                                "--client-secret", "cmd-secret", "--seed", "demo", "--speed", "10"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"})
    try:
        first = ""
        while "Xero sandbox on" not in first:
            first = process.stdout.readline()
            assert first, "the command ended before serving"
        url = first.split("Xero sandbox on ", 1)[1].strip().rstrip("/")
        token = requests.post(f"{url}/connect/token", data={"grant_type": "client_credentials"},
                              auth=("cmd-client", "cmd-secret"), timeout=10)
        assert token.status_code == 200, token.text
        answer = requests.get(f"{url}/api.xro/2.0/Organisation", timeout=10,
                              headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert answer.status_code == 200 and answer.json()["Organisations"][0]["Name"]
        assert "X-MinLimit-Remaining" in answer.headers
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=20)
    assert "Xero sandbox stopped." in rest
