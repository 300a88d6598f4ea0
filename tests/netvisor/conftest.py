"""Fixtures of the Netvisor tests: a seeded sandbox on a free loopback port with a pinned clock, a client for it."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid

import pytest
import requests

from integration_hub.connectors.http import HubSession
from integration_hub.connectors.netvisor.client import NetvisorClient, error_text
from sandboxes.netvisor import Clock, start_sandbox

NOW = dt.datetime(2025, 6, 16, 9, 30, tzinfo=dt.timezone.utc)
KEYS = dict(sender="hub-tests", customer_id="TESTCUST", customer_key="customer-secret-key",
            partner_id="TESTPARTNER", partner_key="partner-secret-key", organisation_id="2345678-0")


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def sandbox(clock):
    with start_sandbox(seed="demo", clock=clock, **KEYS) as running:
        yield running


def make_client(url: str, clock: Clock, **overrides) -> NetvisorClient:
    keys = {"language": "EN"} | KEYS | overrides
    # No pause between attempts: the tests must not wait on the wall clock.
    http = HubSession(provider="netvisor", sleep=lambda seconds: None, error_text=error_text, read_timeout=5)
    return NetvisorClient(base_url=url, clock=clock.now, http=http, **keys)


@pytest.fixture
def client(sandbox, clock):
    return make_client(sandbox.url, clock)


def signed(url: str, *, when: dt.datetime = NOW, transaction: str | None = None, language: str = "EN",
           **overrides) -> dict[str, str]:
    """Headers computed here, independently of the client, as Netvisor's documentation describes them."""
    keys = KEYS | overrides
    timestamp = when.strftime("%Y-%m-%d %H:%M:%S.000")
    unix = str(int(when.timestamp()))
    transaction = transaction or uuid.uuid4().hex
    message = "&".join([url, keys["sender"], keys["customer_id"], timestamp, language, keys["organisation_id"],
                        transaction, unix, keys["customer_key"], keys["partner_key"]])
    mac = hmac.new(f"{keys['customer_key']}&{keys['partner_key']}".encode("latin-1"), message.encode("latin-1"),
                   hashlib.sha256).hexdigest()
    p = "X-Netvisor-Authentication-"
    return {f"{p}Sender": keys["sender"], f"{p}CustomerId": keys["customer_id"], f"{p}PartnerId": keys["partner_id"],
            f"{p}Timestamp": timestamp, f"{p}TimestampUnix": unix, f"{p}TransactionId": transaction,
            f"{p}MACHashCalculationAlgorithm": "HMACSHA256", f"{p}MAC": mac, f"{p}UseHTTPResponseStatusCodes": "1",
            "X-Netvisor-Interface-Language": language, "X-Netvisor-Organisation-Id": keys["organisation_id"]}


def raw_get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, headers=signed(url, **kwargs), timeout=5)
