"""Netvisor's MAC authentication as the sandbox enforces it, over real HTTP, with headers signed by the test."""
from __future__ import annotations

import datetime as dt

import requests
from defusedxml import ElementTree

from .conftest import KEYS, NOW, raw_get, signed


def statuses(response: requests.Response) -> list[str]:
    root = ElementTree.fromstring(response.content)
    return [s.text for s in root.find("ResponseStatus").findall("Status")]


def test_a_call_signed_as_the_documentation_says_is_answered_ok(sandbox):
    response = raw_get(f"{sandbox.url}/accountlist.nv")
    assert response.status_code == 200
    assert statuses(response) == ["OK"]
    assert b"<Number>1701</Number>" in response.content


def test_a_bad_mac_is_refused_with_authentication_failed_and_http_401(sandbox):
    url = f"{sandbox.url}/accountlist.nv"
    headers = signed(url)
    headers["X-Netvisor-Authentication-MAC"] = "0" * 64
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 401
    assert statuses(response) == ["FAILED", "AUTHENTICATION_FAILED :: Integration keys are not valid. Please check "
                                            "the keys specific to the user and partner."]


def test_without_http_status_codes_a_refusal_is_a_200_with_failed_in_the_envelope(sandbox):
    url = f"{sandbox.url}/accountlist.nv"
    headers = signed(url, customer_key="wrong-key")
    headers["X-Netvisor-Authentication-UseHTTPResponseStatusCodes"] = "0"
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 200
    assert statuses(response)[0] == "FAILED"
    assert statuses(response)[1].startswith("AUTHENTICATION_FAILED :: ")


def test_a_wrong_partner_key_is_refused(sandbox):
    response = raw_get(f"{sandbox.url}/customerlist.nv", partner_key="not-the-partner-key")
    assert response.status_code == 401
    assert "Integration keys are not valid" in statuses(response)[1]


def test_an_unknown_partner_is_refused_in_the_interface_language(sandbox):
    response = raw_get(f"{sandbox.url}/customerlist.nv", partner_id="SOMEONE", language="FI")
    assert statuses(response)[1] == "AUTHENTICATION_FAILED :: Integraatiokumppania ei löydy, katso dokumentaatio"


def test_a_timestamp_older_than_the_window_is_refused(sandbox):
    response = raw_get(f"{sandbox.url}/customerlist.nv", when=NOW - dt.timedelta(minutes=6))
    assert response.status_code == 401
    assert statuses(response)[1] == "AUTHENTICATION_FAILED :: Timestamp is too old or in the future"


def test_a_timestamp_inside_the_window_is_accepted(sandbox):
    assert statuses(raw_get(f"{sandbox.url}/customerlist.nv", when=NOW - dt.timedelta(minutes=4))) == ["OK"]


def test_a_reused_transaction_id_is_refused_as_request_not_unique(sandbox):
    url = f"{sandbox.url}/customerlist.nv"
    assert statuses(raw_get(url, transaction="tx-1")) == ["OK"]
    again = raw_get(url, transaction="tx-1")
    assert statuses(again)[1] == ("REQUEST_NOT_UNIQUE :: A request with the same transaction id has already been "
                                  "received")


def test_a_refused_mac_does_not_use_up_the_transaction_id(sandbox):
    url = f"{sandbox.url}/customerlist.nv"
    assert statuses(raw_get(url, transaction="tx-2", customer_key="wrong"))[0] == "FAILED"
    assert statuses(raw_get(url, transaction="tx-2")) == ["OK"]


def test_another_organisation_than_the_keys_belong_to_is_refused(sandbox):
    response = raw_get(f"{sandbox.url}/customerlist.nv", organisation_id="7654321-0")
    assert statuses(response)[1] == ("AUTHENTICATION_FAILED :: Organisation 7654321-0 not found or the user has no "
                                     "rights to it")


def test_the_mac_covers_the_query_string(sandbox):
    signed_url = f"{sandbox.url}/salesinvoicelist.nv?InvoiceNumber=1001"
    response = requests.get(f"{sandbox.url}/salesinvoicelist.nv?InvoiceNumber=1002", headers=signed(signed_url),
                            timeout=5)
    assert statuses(response)[1].startswith("AUTHENTICATION_FAILED :: Integration keys")


def test_missing_headers_are_named_in_the_refusal(sandbox):
    response = requests.get(f"{sandbox.url}/customerlist.nv", timeout=5)
    assert statuses(response)[1].startswith("AUTHENTICATION_FAILED :: ")
    assert "X-Netvisor-Authentication-MAC" in statuses(response)[1]


def test_resource_names_are_matched_without_regard_to_case(sandbox):
    for name in ("SalesInvoiceList.nv", "salesinvoicelist.nv", "SALESINVOICELIST.NV"):
        response = raw_get(f"{sandbox.url}/{name}")
        assert statuses(response) == ["OK"], name
        assert b"<InvoiceNumber>1001</InvoiceNumber>" in response.content


def test_an_unknown_resource_is_not_found(sandbox):
    assert raw_get(f"{sandbox.url}/nosuchthing.nv").status_code == 404


def test_the_sandbox_logs_requests_without_their_keys(sandbox):
    raw_get(f"{sandbox.url}/customerlist.nv")
    entries = sandbox.admin("GET", "requests")["requests"]
    assert entries[-1]["resource"] == "customerlist"
    assert KEYS["customer_key"] not in str(entries)
