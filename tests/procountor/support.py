"""Shared by the Procountor tests: a pinned clock, invoice bodies, and a sandbox plus a client on it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from integration_hub.connectors.procountor import ProcountorClient
from sandboxes.procountor import SandboxClock, start_sandbox

CLIENT_ID, SECRET, API_KEY = "test-client", "test-secret-1f2e", "test-api-key-9a8b"
START = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.timezone.utc)


def pinned_clock() -> SandboxClock:
    return SandboxClock(start=START)


def serve(**options):
    """A running sandbox on a free loopback port with the test credentials and a pinned clock."""
    options.setdefault("clock", pinned_clock())
    options.setdefault("seed", "demo")
    options.setdefault("rate_limit", None)
    return start_sandbox(client_id=CLIENT_ID, client_secret=SECRET, api_key=API_KEY, **options)


def client_for(running, *, api_key: str = API_KEY, base_url: str | None = None, **options) -> ProcountorClient:
    options.setdefault("sleep", lambda seconds: None)
    return ProcountorClient(base_url=base_url or running.url, client_id=CLIENT_ID, client_secret=SECRET,
                            api_key=api_key, clock=running.clock.time, **options)


def sales_invoice(reference: str = "ORDER-1", *, day: str = "2026-11-20", rows=None, **extra) -> dict:
    return {"type": "SALES_INVOICE", "date": day,
            "counterParty": {"identifier": "2345678-9",
                             "counterPartyAddress": {"name": "Kaupparaitti Oy", "street": "Aleksanterinkatu 15",
                                                     "zip": "00100", "city": "Helsinki", "country": "FINLAND"}},
            "paymentInfo": {"paymentMethod": "BANK_TRANSFER", "currency": "EUR", "dueDate": "2026-12-04"},
            "extraInfo": {"accountingByRow": False, "unitPricesIncludeVat": False},
            "invoiceChannel": "EMAIL", "orderReference": reference,
            "invoiceRows": rows or [{"product": "Konsultointi", "quantity": Decimal("3"), "unit": "HOUR",
                                     "unitPrice": Decimal("95.50"), "vatPercent": Decimal("25.5"), "vatStatus": 1}],
            **extra}


def purchase_invoice(number: str = "SUP-1", **extra) -> dict:
    body = sales_invoice(**extra)
    body.update({"type": "PURCHASE_INVOICE", "originalInvoiceNumber": number})
    body.pop("orderReference")
    body.pop("invoiceChannel")
    return body
