"""Exchange rates for invoices in a foreign currency. The hub never invents one; it takes, in this order:

1. the document's own: the company-currency amounts the source booked (Tryton's move), or the rate it states
   (Factorial's expense `exchange_rate` and reimbursable amount);
2. the accounting tool's rate table on the booking date (Tryton: the currency's rate in force that day);
3. the operator's rate source (`HUB_EXCHANGE_RATES_URL`, the ECB's daily reference rates format), cached in
   the hub (`ExchangeRate`): the latest rate on or before the booking date, at most
   `HUB_EXCHANGE_RATES_MAX_AGE_DAYS` old (the ECB publishes none on weekends and holidays).
With none of them the builder reports ERROR_SYNC_INVOICE_EXCHANGE_RATE_NOT_FOUND naming currency and date.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import requests
from defusedxml import ElementTree
from django.conf import settings

from integration_hub.connectors.types import Invoice
from syncs.models import ExchangeRate

logger = logging.getLogger(__name__)
PRECISION = Decimal("0.000000000001")  # the 12 decimals the hub stores
OPERATOR_SOURCE = "operator rate source"
TARGET_SOURCE = "accounting tool's rate table"
DOCUMENT_SOURCE = "invoicing tool (its own entry)"


@dataclass(frozen=True)
class Rate:
    value: Decimal  # units of the company's currency per unit of the invoice's
    day: dt.date
    source: str


def booked_by_source(invoice: Invoice) -> bool:
    """Did the source book every line and tax in the company's currency itself?"""
    return bool(invoice.lines) and all(line.company_amount is not None for line in invoice.lines) and \
        all(tax.company_amount is not None for tax in invoice.taxes)


class RateResolver:
    """Completes foreign invoices with a rate, for one run (answers are remembered for the run)."""

    def __init__(self, target, base: str) -> None:
        self.target, self.base = target, base
        self._memo: dict[tuple[str, dt.date], Rate | None] = {}
        self._fetched = False

    def complete(self, invoice: Invoice, day: dt.date | None) -> None:
        """Set the invoice's rate, its day and source when it needs one and a source has it; else leave it."""
        currency = (invoice.currency or "").upper()
        if not currency or currency == self.base or not isinstance(day, dt.date):
            return
        if booked_by_source(invoice):
            invoice.exchange_rate_source = invoice.exchange_rate_source or DOCUMENT_SOURCE
            invoice.extra.setdefault("exchange_rate_date", day.isoformat())
            return
        if invoice.exchange_rate:
            invoice.exchange_rate_source = invoice.exchange_rate_source or "invoicing tool"
            invoice.extra.setdefault("exchange_rate_date", day.isoformat())
            return
        key = (currency, day)
        if key not in self._memo:
            self._memo[key] = self._from_target(currency, day) or self._from_operator(currency, day)
        found = self._memo[key]
        if found is not None:
            invoice.exchange_rate = found.value
            invoice.exchange_rate_source = found.source
            invoice.extra["exchange_rate_date"] = found.day.isoformat()

    def _from_target(self, currency: str, day: dt.date) -> Rate | None:
        try:
            ask = self.target.exchange_rate
        except AttributeError:
            return None
        value = ask(currency, self.base, day)  # a temporary failure stops the run: the same rate next time
        return Rate(Decimal(value).quantize(PRECISION), day, TARGET_SOURCE) if value else None

    def _from_operator(self, currency: str, day: dt.date) -> Rate | None:
        url = settings.HUB_EXCHANGE_RATES_URL
        if not url:
            return None
        found = cached_rate(currency, self.base, day)
        if found is None and not self._fetched:
            self._fetched = True  # once per run, whatever it gives
            try:
                store_rates(fetch_reference_rates(url))
            except (requests.RequestException, ValueError) as exc:
                logger.warning("the exchange rate source could not be read: %s", type(exc).__name__)
                return None
            found = cached_rate(currency, self.base, day)
        return found


def cached_rate(currency: str, base: str, day: dt.date) -> Rate | None:
    """The operator source's rate for `currency` in `base` on `day` or the latest day before it (within the
    allowed age), from the hub's cache. Reference rates are per euro; other bases are crossed through it."""
    oldest = day - dt.timedelta(days=settings.HUB_EXCHANGE_RATES_MAX_AGE_DAYS)
    wanted = {currency, base} - {"EUR"}
    rows = ExchangeRate.objects.filter(source=OPERATOR_SOURCE, base="EUR", currency__in=wanted,
                                       day__lte=day, day__gte=oldest).order_by("-day")
    by_day: dict[dt.date, dict[str, Decimal]] = {}
    for row in rows:
        by_day.setdefault(row.day, {})[row.currency] = row.rate
    for when in sorted(by_day, reverse=True):
        per_euro = {"EUR": Decimal(1), **by_day[when]}
        if currency in per_euro and base in per_euro:
            return Rate((per_euro[base] / per_euro[currency]).quantize(PRECISION), when, OPERATOR_SOURCE)
    return None


def fetch_reference_rates(url: str) -> list[tuple[dt.date, str, Decimal]]:
    """(day, currency, units per euro) from an ECB-format XML document (read with a hardened parser)."""
    response = requests.get(url, timeout=20, allow_redirects=False)
    response.raise_for_status()
    return parse_reference_rates(response.content)


def parse_reference_rates(content: bytes) -> list[tuple[dt.date, str, Decimal]]:
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise ValueError("the rate source did not answer with XML") from exc
    rates = []
    for day_node in root.iter():
        when = day_node.attrib.get("time")
        if not when:
            continue
        try:
            day = dt.date.fromisoformat(when)
        except ValueError:
            continue
        for node in day_node:
            currency, rate = node.attrib.get("currency", ""), node.attrib.get("rate", "")
            try:
                value = Decimal(rate)
            except InvalidOperation:
                continue
            if len(currency) == 3 and currency.isalpha() and value.is_finite() and value > 0:
                rates.append((day, currency.upper(), value))
    if not rates:
        raise ValueError("the rate source's answer holds no rates")
    return rates


def store_rates(rates: list[tuple[dt.date, str, Decimal]]) -> int:
    rows = [ExchangeRate(base="EUR", currency=currency, day=day, rate=value.quantize(PRECISION),
                         source=OPERATOR_SOURCE) for day, currency, value in rates]
    ExchangeRate.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)
