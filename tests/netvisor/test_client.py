"""The hub's Netvisor client: error classes, one signature per attempt, writes never repeated blindly, secrets."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
import requests

from integration_hub.connectors.errors import AuthenticationError, PermanentError, RetryableError
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.netvisor import SalesInvoiceData, SalesInvoiceLine
from integration_hub.connectors.netvisor.client import NetvisorClient
from sandboxes.netvisor import start_sandbox

from .conftest import KEYS, make_client


def an_invoice(number: str) -> SalesInvoiceData:
    return SalesInvoiceData(date=dt.date(2025, 6, 10), amount=D("119.23"), customer="ASIAKAS1", number=number,
                            lines=[SalesInvoiceLine(product="KONSULTOINTI", name="Konsultointi", unit_price=D("95"),
                                                    vat_percent=D("25.5"), vat_code="KOMY")])


def transaction_ids(sandbox, resource: str) -> list[str]:
    return [e.get("transaction_id", "") for e in sandbox.admin("GET", "requests")["requests"]
            if e.get("resource") == resource]


def test_a_wrong_customer_key_raises_authentication_error_with_netvisors_text(sandbox, clock):
    client = make_client(sandbox.url, clock, customer_key="not-the-key")
    with pytest.raises(AuthenticationError) as refused:
        client.customers()
    assert refused.value.status == 401
    assert refused.value.provider_message.startswith("Integration keys are not valid")


def test_a_clock_far_off_raises_authentication_error(sandbox, clock):
    client = make_client(sandbox.url, clock)
    client.clock = lambda: clock.now() - dt.timedelta(hours=1)
    with pytest.raises(AuthenticationError, match="Timestamp is too old"):
        client.customers()


def test_a_refused_document_raises_permanent_error(client):
    with pytest.raises(PermanentError) as refused:
        client.add_sales_invoice(an_invoice("1001"))
    assert not refused.value.retryable
    assert refused.value.details["code"] == "DUPLICATE_DATA"


def test_maintenance_that_outlasts_the_retries_raises_a_retryable_error(sandbox, client):
    sandbox.admin("POST", "faults", {"kind": "maintenance", "count": 10})
    with pytest.raises(RetryableError) as refused:
        client.customers()
    assert refused.value.status == 503
    assert "SYSTEM_MAINTANANCE :: Netvisor is under maintenance" in refused.value.provider_message


def test_maintenance_on_a_write_raises_a_retryable_error_at_once(sandbox, client):
    sandbox.admin("POST", "faults", {"kind": "maintenance", "count": 10})
    with pytest.raises(RetryableError):
        client.add_sales_invoice(an_invoice("3000"))
    assert len(client.http.call_log) == 1


def test_a_read_that_meets_a_server_error_is_tried_again_with_a_fresh_signature(sandbox, client):
    sandbox.admin("POST", "faults", {"kind": "500", "path_contains": "customerlist"})
    assert len(client.customers()) == 3
    statuses = [e["status"] for e in sandbox.admin("GET", "requests")["requests"]
                if e.get("resource") == "customerlist"]
    assert statuses == [500, 200]
    # The first attempt never reached authentication; the one that did carried its own transaction id.
    assert [r["attempt"] for r in client.http.call_log.as_list()] == [1, 2]


def test_each_attempt_carries_its_own_transaction_id(sandbox, client):
    sandbox.admin("POST", "faults", {"kind": "500_after", "path_contains": "customerlist"})
    assert len(client.customers()) == 3
    ids = transaction_ids(sandbox, "customerlist")
    assert len(ids) == 2 and len(set(ids)) == 2


def test_a_write_that_meets_a_server_error_is_not_repeated(sandbox, client):
    sandbox.admin("POST", "faults", {"kind": "500_after", "path_contains": "salesinvoice.nv"})
    with pytest.raises(RetryableError) as failed:
        client.add_sales_invoice(an_invoice("3001"))
    assert "TECHNICAL_ERROR" in failed.value.provider_message
    assert len(transaction_ids(sandbox, "salesinvoice")) == 1


def test_a_write_whose_answer_is_lost_is_not_repeated_and_the_hub_can_find_out_it_landed(sandbox, client):
    sandbox.admin("POST", "faults", {"kind": "drop_after", "path_contains": "salesinvoice.nv"})
    with pytest.raises(RetryableError, match="may have reached the server"):
        client.add_sales_invoice(an_invoice("3002"))
    assert len(transaction_ids(sandbox, "salesinvoice")) == 1
    assert client.find_sales_invoice("3002")["amount"] == D("119.23")
    assert client.find_sales_invoice("3003") is None


def test_a_write_that_times_out_is_not_repeated(sandbox, clock):
    http = HubSession(provider="netvisor", sleep=lambda s: None, read_timeout=0.3)
    client = NetvisorClient(base_url=sandbox.url, clock=clock.now, http=http, **KEYS)
    sandbox.admin("POST", "faults", {"kind": "timeout", "path_contains": "salesinvoice.nv", "delay": 2})
    with pytest.raises(RetryableError) as failed:
        client.add_sales_invoice(an_invoice("3004"))
    assert failed.value.details["maybe_still_running"] is True
    assert len(client.http.call_log) == 1


def test_the_keys_never_reach_errors_or_the_call_log(sandbox, clock):
    client = make_client(sandbox.url, clock)
    sandbox.admin("POST", "faults", {"kind": "500"})
    client.customers()
    with pytest.raises(PermanentError) as refused:
        client.add_sales_invoice(an_invoice("1001"))
    shown = str(refused.value) + repr(client.http.call_log.as_list())
    assert KEYS["customer_key"] not in shown and KEYS["partner_key"] not in shown
    assert {KEYS["customer_key"], KEYS["partner_key"]} <= client.http.secrets


def test_the_sign_hook_of_hub_session_is_called_before_every_attempt(sandbox, client):
    url = f"{sandbox.url}/customerlist.nv"
    calls = []

    def sign():
        calls.append(len(calls) + 1)
        return client.auth_headers(url)

    sandbox.admin("POST", "faults", {"kind": "503", "count": 2})
    http = HubSession(provider="netvisor", sleep=lambda s: None)
    response = http.request("GET", url, sign=sign)
    assert response.status_code == 200 and calls == [1, 2, 3]
    assert b"<Status>OK</Status>" in response.content


def test_the_client_reaches_the_sandbox_mounted_under_a_prefix(clock):
    """Mounted as sandboxes/urls.py mounts sandboxes: the prefix moves to SCRIPT_NAME and the MAC still holds."""
    from sandboxes.netvisor import build_sandbox
    from sandboxes.xero.app import make_sandbox_server

    sandbox = build_sandbox(seed="demo", clock=clock, **KEYS)

    def mounted(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/sandbox/netvisor/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not here"]
        environ = dict(environ, SCRIPT_NAME="/sandbox/netvisor", PATH_INFO=path[len("/sandbox/netvisor"):])
        return sandbox(environ, start_response)

    from sandboxes.netvisor.app import RunningSandbox

    running = RunningSandbox(sandbox, make_sandbox_server(mounted))
    try:
        client = make_client(f"{running.url}/sandbox/netvisor", clock)
        assert [row["number"] for row in client.sales_invoices()][:2] == ["1001", "1002"]
        assert client.add_sales_invoice(an_invoice("3005"))
        assert "/sandbox/netvisor/getsalesinvoice.nv?netvisorkey=" in requests.get(
            f"{running.url}/sandbox/netvisor/salesinvoicelist.nv", headers=make_client(
                f"{running.url}/sandbox/netvisor", clock).auth_headers(
                    f"{running.url}/sandbox/netvisor/salesinvoicelist.nv"), timeout=5).text
    finally:
        running.stop()


def test_entity_expansion_in_a_request_is_refused_not_expanded(sandbox, client):
    url = client.url("customer.nv", {"method": "add"})
    body = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<Root><Customer><CustomerBaseInformation><Name>&b;</Name></CustomerBaseInformation></Customer></Root>")
    response = requests.post(url, data=body, headers=client.auth_headers(url), timeout=5)
    assert response.status_code == 400 and b"INVALID_DATA" in response.content
    assert len(client.customers()) == 3


def test_the_admin_api_needs_the_partner_key_and_reset_restores_the_seed(sandbox, client):
    assert requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5).status_code == 401
    client.add_sales_invoice(an_invoice("3006"))
    assert sandbox.admin("POST", "reset")["counts"]["sales_invoices"] == 4
    assert client.find_sales_invoice("3006") is None


def test_the_sandbox_serves_on_a_free_port_and_stops(clock):
    with start_sandbox(clock=clock, **KEYS) as running:
        assert requests.get(f"{running.url}/", timeout=5).json()["sandbox"] == "netvisor"
        assert running.state.summary()["counts"]["sales_invoices"] == 0
