"""Netvisor as an accounting target: entries booked as sales/purchase invoices or vouchers, payments against them.

- The journal an entry is mapped to says what it becomes (mapper.py): ``invoice:sales``, ``invoice:purchase`` or
  ``voucher:<voucher class>``. Each entry is its own call (Netvisor takes one document per message): one refused
  entry is that entry's ``EntryResult.error`` in Netvisor's words, the others are booked.
- Netvisor has no idempotency key. Every document carries the hub's tag ``[hub <reference>]`` (sales invoice:
  private comment; purchase invoice: comment; voucher: description; payment: payer name), and a write whose answer
  was lost is looked up by that tag before anything is sent again (``find_entries_by_reference``).
- Statuses come from Netvisor's lists (one call per kind for any number of ids).
- Every call goes through the client, under the organisation's call budget (NETVISOR_LIMITS).
See docs/connector-netvisor.md.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from decimal import Decimal
from typing import Callable, Sequence

from integration_hub.connectors import finnish
from integration_hub.connectors.base import CheckResult, TargetConnector, hub_setting
from integration_hub.connectors.budget import Limits, budget_for
from integration_hub.connectors.errors import (AuthenticationError, ConnectorError, NotFound, PermanentError,
                                               RetryableError)
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.types import (ZERO, Account, Attachment, EntryResult, Journal, JournalEntry,
                                              Partner, TargetState, TargetStatus, UnbalancedEntry, VatCode)

from . import mapper
from . import xml as nvxml
from .client import NetvisorClient, error_text, utcnow
from .provider import PROVIDER

logger = logging.getLogger(__name__)

API_URL = "https://integration.netvisor.fi"
# The sandbox's defaults (sandboxes/netvisor): the operator's real partner id and key come from settings.
DEFAULT_PARTNER_ID = "hub-partner"
DEFAULT_PARTNER_KEY = "hub-partner-key"
DEFAULT_SENDER = "Integration Hub"
# Netvisor asks integrations to send one message at a time per customer; it publishes no per-minute number, so
# the per-minute and per-day ceilings are the hub's own, kept well below what a company's API use looks like.
NETVISOR_LIMITS = Limits(concurrent=1, per_minute=120, per_day=20000)


def call_limits() -> Limits:
    """NETVISOR_LIMITS, with the ceilings an operator may set (HUB_NETVISOR_CALLS_PER_MINUTE, _PER_DAY)."""
    return dataclasses.replace(
        NETVISOR_LIMITS,
        per_minute=int(hub_setting("HUB_NETVISOR_CALLS_PER_MINUTE", NETVISOR_LIMITS.per_minute)),
        per_day=int(hub_setting("HUB_NETVISOR_CALLS_PER_DAY", NETVISOR_LIMITS.per_day)))
# Vouchers whose tag is looked up without a known date: booking dates this far around today (one ledger call).
LOOKUP_DAYS_BACK = 400
LOOKUP_DAYS_AHEAD = 60
# Invoices whose tag is looked up without a known date: the most recent ones, read one by one.
LOOKUP_RECENT = 50
VENDOR_PREFIX = "vendor:"
WIDE_START, WIDE_END = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


def _permanent(message: str, provider_message: str = "", **details) -> PermanentError:
    return PermanentError(message, provider=PROVIDER.key, provider_message=provider_message, details=details)


def vendor_id(name: str, business_id: str = "") -> str:
    """A vendor as the hub names it: Netvisor matches (or creates) the vendor of a purchase invoice from its name
    and business id, so a vendor needs no call of its own."""
    return f"{VENDOR_PREFIX}{business_id}:{name}"


def vendor_of(partner_id: str) -> tuple[str, str]:
    """(name, business id) of a vendor id."""
    business_id, _, name = partner_id[len(VENDOR_PREFIX):].partition(":")
    return name, business_id


class NetvisorConnector(TargetConnector):
    descriptor = PROVIDER
    # syncs/monitoring.py asks this many statuses at once: one list call answers for every invoice above a key
    status_batch = 1000
    # The clock the client signs with; the tests point it at the sandbox's clock.
    clock: Callable[[], dt.datetime] = staticmethod(utcnow)

    def __init__(self, credentials: dict, **kwargs) -> None:
        super().__init__(credentials, **kwargs)
        self._client: NetvisorClient | None = None
        self._cache: dict[str, object] = {}
        self._customers: list[dict] | None = None
        # What this connector sent, by hub reference: where to look when an answer was lost.
        self._sent: dict[str, dict] = {}
        self._tags: dict[tuple[str, int], str] = {}  # (kind, key) -> hub reference read from Netvisor
        self.budget_wait_hook = None

    # ---- the client -------------------------------------------------------------------------------------
    @property
    def client(self) -> NetvisorClient:
        if self._client is None:
            organisation = str(self.credentials.get("organisation_id") or "").strip()
            http = self.session or HubSession.from_settings(provider=PROVIDER.key, call_log=self.call_log,
                                                            error_text=error_text, read_timeout=120.0)
            http.error_text = error_text
            http.secrets.update(self.secret_values())
            http.budget = budget_for(PROVIDER.key, organisation or "?", call_limits())
            if self.budget_wait_hook is not None:
                http.budget.on_wait = lambda *args, **kwargs: self.budget_wait_hook()
            self._client = NetvisorClient(
                base_url=(hub_setting("HUB_NETVISOR_API_URL", "") or API_URL).rstrip("/"),
                sender=hub_setting("HUB_NETVISOR_SENDER", DEFAULT_SENDER),
                customer_id=str(self.credentials.get("customer_id") or ""),
                customer_key=str(self.credentials.get("customer_key") or ""),
                partner_id=hub_setting("HUB_NETVISOR_PARTNER_ID", DEFAULT_PARTNER_ID),
                partner_key=hub_setting("HUB_NETVISOR_PARTNER_KEY", DEFAULT_PARTNER_KEY),
                organisation_id=organisation, language=hub_setting("HUB_NETVISOR_LANGUAGE", "EN"),
                clock=lambda: self.clock(), http=http)
            self._client.http.secrets.add(hub_setting("HUB_NETVISOR_PARTNER_KEY", DEFAULT_PARTNER_KEY))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _cached(self, key: str, fetch):
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    # ---- check and reference data -----------------------------------------------------------------------
    def check(self) -> CheckResult:
        organisation = str(self.credentials.get("organisation_id") or "")
        try:
            organisation = finnish.validate_business_id(organisation)
        except finnish.FinnishRuleError as exc:
            return CheckResult(ok=False, message=f"The company's business id is not valid: {exc}")
        try:
            chart = self._chart()
            product = self._product()
        except AuthenticationError as exc:
            return CheckResult(ok=False, message=f"Netvisor refused the credentials: {exc.provider_message or exc}")
        except ConnectorError as exc:
            return CheckResult(ok=False, message=str(exc))
        accounts = sum(1 for a in chart["accounts"] if a["number"])
        return CheckResult(ok=True, message=f"connected to Netvisor company {organisation} ({accounts} accounts; "
                                            f"invoice lines refer to product {product})",
                           organisation_id=organisation, organisation_name=organisation)

    def _chart(self) -> dict:
        return self._cached("chart", self.client.accounts)

    def _product(self) -> str:
        def pick() -> str:
            wanted = str(self.credentials.get("product_code") or "").strip()
            products = self.client.products()
            if wanted:
                if not any(p["code"] == wanted for p in products):
                    raise _permanent(f"Netvisor has no product {wanted}: set the connection's product code to one "
                                     "of its products")
                return wanted
            if not products:
                raise _permanent("Netvisor has no product for invoice lines: add one in Netvisor")
            return products[0]["code"]
        return self._cached("product", pick)

    def list_accounts(self) -> list[Account]:
        return [Account(id=a["number"], number=a["number"], name=a["name"], active=a["active"],
                        postable=(a["type"] or "account").lower() == "account")
                for a in self._chart()["accounts"] if a["number"]]

    def list_vat_codes(self) -> list[VatCode]:
        defaults = self._chart()["default_accounts"]
        return mapper.vat_codes(sales_vat_account=defaults.get("SalesVATDebt", ""),
                                purchase_vat_account=defaults.get("PurchaseVATReceivable", ""))

    def list_journals(self) -> list[Journal]:
        return mapper.journals()

    def _dimension_items(self) -> dict[str, tuple[str, str]]:
        def fetch():
            return {str(item["key"]): (dimension["name"], item["name"])
                    for dimension in self.client.dimensions() for item in dimension["items"]
                    if not dimension["hidden"] and not item["hidden"]}
        return self._cached("dimensions", fetch)

    def list_dimensions(self) -> list[tuple[str, str, str]]:
        return [(key, item, dimension) for key, (dimension, item) in self._dimension_items().items()]

    def _vat_index(self) -> dict[str, VatCode]:
        return self._cached("vat", lambda: {code.id: code for code in self.list_vat_codes()})

    # ---- partners ---------------------------------------------------------------------------------------
    def _customer_rows(self) -> list[dict]:
        if self._customers is None:
            self._customers = self.client.customers()
        return self._customers

    @staticmethod
    def _partner(row: dict) -> Partner:
        business_id = row.get("business_id") or ""
        try:
            vat = finnish.business_id_to_vat(business_id) if business_id else ""
        except finnish.FinnishRuleError:
            vat = ""
        return Partner(id=str(row["key"]), name=row["name"], registration_number=business_id, vat_number=vat,
                       auxiliary_account=row.get("code") or "", email=row.get("email") or "")

    @staticmethod
    def _business_id(value: str) -> str:
        """A business id or Finnish VAT number in business id form ("" when it is neither)."""
        value = (value or "").strip()
        try:
            return finnish.vat_to_business_id(value) if value.upper().startswith("FI") \
                else finnish.validate_business_id(value)
        except finnish.FinnishRuleError:
            return ""

    def find_partners(self, *, auxiliary_account=None, vat_number=None, registration_number=None, name=None):
        rows = self._customer_rows()
        if auxiliary_account:
            hits = [r for r in rows if r["code"] and r["code"] == auxiliary_account]
        elif vat_number or registration_number:
            wanted = self._business_id(vat_number or registration_number or "")
            hits = [r for r in rows if wanted and self._business_id(r["business_id"]) == wanted]
        elif name:
            hits = [r for r in rows if r["name"].casefold().strip() == name.casefold().strip()]
        else:
            hits = []
        return [self._partner(r) for r in hits]

    def get_partner(self, partner_id: str) -> Partner | None:
        if partner_id.startswith(VENDOR_PREFIX):
            name, business_id = vendor_of(partner_id)
            return Partner(id=partner_id, name=name, registration_number=business_id)
        if not partner_id.isdigit():
            return None
        try:
            return self._partner(self.client.customer(int(partner_id)))
        except NotFound:
            return None

    def existing_partner_ids(self, partner_ids: Sequence[str]) -> set[str]:
        known = {str(r["key"]) for r in self._customer_rows()}
        return {p for p in partner_ids if p in known or p.startswith(VENDOR_PREFIX)}

    def create_partner(self, partner: Partner, *, kind: str) -> Partner:
        business_id = ""
        for value in (partner.registration_number, partner.vat_number):
            if value and (value.upper().startswith("FI") or value[:1].isdigit()):
                try:
                    business_id = (finnish.vat_to_business_id(value) if value.upper().startswith("FI")
                                   else finnish.validate_business_id(value))
                except finnish.FinnishRuleError as exc:
                    raise _permanent(f"The business id of {partner.name} is not valid: {exc}") from None
                break
        if kind in ("supplier", "purchase"):  # the engine says "supplier"; "purchase" is accepted too
            return Partner(id=vendor_id(partner.name, business_id), name=partner.name,
                           registration_number=business_id, vat_number=partner.vat_number)
        address = partner.address
        data = nvxml.CustomerData(name=partner.name, code=partner.auxiliary_account, business_id=business_id,
                                  street=address.street if address else "", city=address.city if address else "",
                                  post_number=address.postal_code if address else "",
                                  country=(address.country_code if address else "") or "FI", email=partner.email)
        key = self.client.add_customer(data)
        if key is None:
            raise _permanent(f"Netvisor did not say which customer it created for {partner.name}")
        row = {"key": key, "name": partner.name, "code": partner.auxiliary_account, "business_id": business_id,
               "email": partner.email}
        self._customer_rows().append(row)
        return self._partner(row)

    def _vendor(self, partner_id: str) -> tuple[str, str]:
        if partner_id.startswith(VENDOR_PREFIX):
            return vendor_of(partner_id)
        partner = self.get_partner(partner_id)
        if partner is None:
            raise _permanent(f"the supplier {partner_id} is not in Netvisor any more")
        return partner.name, partner.registration_number

    # ---- entries ----------------------------------------------------------------------------------------
    def create_entries(self, entries: Sequence[JournalEntry], *, post: bool) -> list[EntryResult]:
        results = []
        for entry in entries:
            try:
                results.append(self._create(entry, post=post))
            except PermanentError as exc:
                results.append(EntryResult(reference=entry.reference, error=exc))
        return results

    def _document(self, entry: JournalEntry, *, post: bool):
        """(kind, document) of an entry, or PermanentError saying why it cannot be sent."""
        try:
            entry.check_balanced()
            codes, items = self._vat_index(), self._dimension_items()
            if entry.journal_id == mapper.SALES_INVOICE:
                return "salesinvoice", mapper.sales_invoice(entry, codes=codes, items=items, product=self._product(),
                                                            post=post)
            if entry.journal_id == mapper.PURCHASE_INVOICE:
                name, business_id = self._vendor(mapper.partner_line(entry).partner_id)
                return "purchaseinvoice", mapper.purchase_invoice(entry, codes=codes, items=items, vendor_name=name,
                                                                  vendor_business_id=business_id)
            return "voucher", mapper.voucher(entry, codes=codes, items=items,
                                             voucher_class_name=mapper.voucher_class(entry.journal_id))
        except (mapper.EntryNotMappable, UnbalancedEntry) as exc:
            raise _permanent(f"The entry cannot be sent to Netvisor: {exc}") from None

    def _create(self, entry: JournalEntry, *, post: bool) -> EntryResult:
        kind, document = self._document(entry, post=post)
        if self._sent.get(entry.reference, {}).get("uncertain"):
            # An earlier attempt's answer was lost: it may have been booked; never book it twice.
            found = self.find_entries_by_reference([entry.reference]).get(entry.reference)
            if found is not None:
                return found
        self._sent[entry.reference] = {"kind": kind, "date": entry.date, "uncertain": True}
        try:
            if kind == "salesinvoice":
                key = self.client.add_sales_invoice(document)
            elif kind == "purchaseinvoice":
                key = self.client.add_purchase_invoice(document)
            else:
                key = self.client.add_voucher(document)
        except PermanentError as exc:
            self._sent[entry.reference]["uncertain"] = False
            if exc.details.get("code") == "DUPLICATE_DATA":  # booked before (by an answer the hub lost)?
                found = self.find_entries_by_reference([entry.reference]).get(entry.reference)
                if found is not None:
                    return found
            raise _permanent(f"Netvisor refused the entry {entry.source_number or entry.reference}",
                             exc.provider_message, code=exc.details.get("code", "")) from exc
        self._sent[entry.reference]["uncertain"] = False
        if key is None:
            raise RetryableError("Netvisor booked the entry without saying its key", provider=PROVIDER.key)
        self._tags[(kind, key)] = entry.reference
        number = getattr(document, "number", "") or ""
        state = "draft" if kind == "salesinvoice" and not post else "posted"
        return EntryResult(reference=entry.reference, entry_id=mapper.entry_id(kind, key), state=state,
                           number=str(number or key))

    def update_entry(self, entry_id: str, entry: JournalEntry, *, post: bool) -> EntryResult:
        raise _permanent("Netvisor's API does not change an invoice or voucher it has received; correct it in "
                         "Netvisor (or credit it there) by hand", reason="locked")

    def attach_document(self, entry_id: str, attachment: Attachment) -> str:
        raise _permanent("The hub does not send files to Netvisor yet: attach the invoice's PDF in Netvisor")

    # ---- finding what was booked ------------------------------------------------------------------------
    def find_entries_by_reference(self, references: Sequence[str]) -> dict[str, EntryResult]:
        wanted = set(r for r in references if r)
        found: dict[str, EntryResult] = {}
        known = {r: self._sent[r] for r in wanted if r in self._sent}
        # Vouchers (and payments' vouchers): one ledger call over the dates concerned.
        dates = [v["date"] for v in known.values() if v["kind"] == "voucher"]
        unknown = wanted - set(known)
        if dates or unknown:
            today = self.clock().date()
            start = min(dates) if dates and not unknown else min(dates + [today - dt.timedelta(LOOKUP_DAYS_BACK)])
            end = max(dates) if dates and not unknown else max(dates + [today + dt.timedelta(LOOKUP_DAYS_AHEAD)])
            for voucher in self.client.ledger(start, end):
                reference = mapper.reference_in(voucher["description"])
                if reference in wanted and voucher["status"] == "valid" and reference not in found:
                    found[reference] = EntryResult(reference=reference, entry_id=mapper.entry_id(
                        "voucher", voucher["key"]), number=str(voucher["number"] or voucher["key"]))
        for kind in ("salesinvoice", "purchaseinvoice"):
            left = wanted - set(found)
            mine = [v["date"] for r, v in known.items() if r in left and v["kind"] == kind]
            if not (mine or (left - set(known))):
                continue
            found.update(self._find_invoices(kind, left, mine, scan_recent=bool(left - set(known))))
        return found

    def _find_invoices(self, kind: str, wanted: set[str], dates: list[dt.date], *, scan_recent: bool):
        rows: dict[int, dict] = {}
        listing = self.client.sales_invoices if kind == "salesinvoice" else self.client.purchase_invoices
        for day in sorted(set(dates)):
            rows.update((r["key"], r) for r in listing(start=day, end=day))
        if scan_recent:
            rows.update((r["key"], r) for r in sorted(listing(), key=lambda r: r["key"])[-LOOKUP_RECENT:])
        found: dict[str, EntryResult] = {}
        for key in sorted(rows, reverse=True):
            if (kind, key) not in self._tags:
                if kind == "salesinvoice":
                    detail = self.client.sales_invoice(key)
                    self._tags[(kind, key)] = mapper.reference_in(detail.get("private_comment"))
                else:
                    detail = self.client.purchase_invoice(key)
                    self._tags[(kind, key)] = mapper.reference_in(detail.get("comment"))
            reference = self._tags[(kind, key)]
            row = rows[key]
            # an invoice Netvisor could not deliver is the one the retry replaces: never taken again
            refused = kind == "salesinvoice" and mapper.sales_state(row) is TargetState.REJECTED
            if reference in wanted and reference not in found and not refused:
                state = "draft" if row.get("status") == "unsent" else "posted"
                found[reference] = EntryResult(reference=reference, entry_id=mapper.entry_id(kind, key), state=state,
                                               number=str(row.get("number") or key))
        return found

    # ---- statuses ---------------------------------------------------------------------------------------
    def entry_statuses(self, entry_ids: Sequence[str]) -> dict[str, TargetStatus]:
        by_kind: dict[str, dict[int, str]] = {}
        statuses: dict[str, TargetStatus] = {}
        for entry_id in entry_ids:
            try:
                kind, key = mapper.split_entry_id(entry_id)
            except mapper.EntryNotMappable:
                statuses[entry_id] = TargetStatus(entry_id, TargetState.MISSING, reason="not an id of Netvisor's")
                continue
            by_kind.setdefault(kind, {})[key] = entry_id
        sales = by_kind.get("salesinvoice", {})
        if sales:
            rows = {r["key"]: r for r in self.client.sales_invoices(above_key=min(sales) - 1)}
            for key, entry_id in sales.items():
                row = rows.get(key)
                if row is None:
                    statuses[entry_id] = TargetStatus(entry_id, TargetState.MISSING)
                    continue
                label = row["status"] + (f" ({row['substatus']})" if row["substatus"] else "")
                amount, open_amount = row["amount"] or ZERO, row["open_amount"]
                statuses[entry_id] = TargetStatus(
                    entry_id, mapper.sales_state(row), label=label, reason=row.get("delivery_error") or "",
                    paid_amount=None if open_amount is None else amount - open_amount, open_amount=open_amount)
        purchases = by_kind.get("purchaseinvoice", {})
        if purchases:
            rows = {r["key"]: r for r in self.client.purchase_invoices()}
            for key, entry_id in purchases.items():
                row = rows.get(key)
                statuses[entry_id] = TargetStatus(entry_id, TargetState.MISSING) if row is None else TargetStatus(
                    entry_id, mapper.purchase_state(row), label="paid" if mapper.purchase_state(row)
                    is TargetState.PAID else "open", paid_amount=row["paid"], open_amount=row["open_amount"])
        vouchers = {**by_kind.get("voucher", {}), **by_kind.get("payment", {})}
        if vouchers:
            keys = {k: v for k, v in vouchers.items()}
            if by_kind.get("payment"):
                payments = {p["key"]: p for p in self.client.sales_payments()}
                for key, entry_id in by_kind["payment"].items():
                    keys.pop(key, None)
                    statuses[entry_id] = TargetStatus(entry_id, TargetState.ACCEPTED if key in payments
                                                      else TargetState.MISSING,
                                                      label=payments[key]["bank_status"] if key in payments else "")
            if keys:
                rows = {v["key"]: v for v in self.client.ledger(WIDE_START, WIDE_END, keys=sorted(keys))}
                for key, entry_id in keys.items():
                    row = rows.get(key)
                    if row is None:
                        statuses[entry_id] = TargetStatus(entry_id, TargetState.MISSING)
                    else:
                        statuses[entry_id] = TargetStatus(entry_id, TargetState.ACCEPTED if row["status"] == "valid"
                                                          else TargetState.CANCELLED, label=row["status"])
        return statuses

    # ---- payments ---------------------------------------------------------------------------------------
    def third_party_amount(self, entry_id: str, *, account_number: str, partner_id: str) -> Decimal:
        kind, key = self._split(entry_id)
        if kind == "salesinvoice":
            return self.client.sales_invoice(key)["amount"] or ZERO
        if kind == "purchaseinvoice":
            return -(self.client.purchase_invoice(key)["amount"] or ZERO)
        rows = self.client.ledger(WIDE_START, WIDE_END, keys=[key])
        return sum((line["amount"] or ZERO for row in rows for line in row["lines"]
                    if line["account"] == account_number), ZERO)

    @staticmethod
    def _split(entry_id: str) -> tuple[str, int]:
        try:
            return mapper.split_entry_id(entry_id)
        except mapper.EntryNotMappable as exc:
            raise _permanent(str(exc)) from None

    def book_payment(self, entry: JournalEntry, *, reconcile_with_entry_id: str, account_number: str,
                     partner_id: str, post: bool, earlier_entry_ids: Sequence[str] = ()) -> EntryResult:
        try:
            entry.check_balanced()
        except UnbalancedEntry as exc:
            raise _permanent(f"The payment cannot be sent to Netvisor: {exc}") from None
        kind, key = self._split(reconcile_with_entry_id)
        if kind == "salesinvoice":
            return self._book_sales_payment(entry, key, account_number)
        return self._book_payment_voucher(entry, kind, key, account_number)

    @staticmethod
    def _payment_parts(entry: JournalEntry, account_number: str):
        """(bank account, capital, [(account, amount, label)] of interest and fees) of a payment received."""
        bank = [line for line in entry.lines if line.debit]
        if len(bank) != 1:
            raise _permanent("A payment received has exactly one bank (debit) line; this one has "
                             f"{len(bank)}")
        capital = sum((line.credit for line in entry.lines if line.account_number == account_number), ZERO)
        others = [(line.account_number, line.credit, line.label) for line in entry.lines
                  if line.credit and line.account_number != account_number]
        return bank[0].account_number, capital, others

    def _book_sales_payment(self, entry: JournalEntry, invoice_key: int, account_number: str) -> EntryResult:
        try:
            invoice = self.client.sales_invoice(invoice_key)
        except NotFound:
            raise _permanent(f"The sales invoice {invoice_key} is not in Netvisor any more") from None
        bank, capital, others = self._payment_parts(entry, account_number)
        if not capital and not others:
            raise _permanent("The payment entry has nothing to book against the invoice")
        tag = mapper.tag(entry.reference)
        # Exactly once: what carries this payment's tag is taken, not booked again.
        payment = next((p for p in self.client.sales_payments() if tag in p["name"]), None) if capital else None
        voucher = self.client.find_voucher(entry.date, mapper.tagged(entry.label, entry.reference)) \
            if others else None
        if capital and payment is None:
            try:
                payment_key = self.client.add_sales_payment(nvxml.SalesPaymentData(
                    amount=capital, date=entry.date, target=invoice["number"], target_type="invoicenumber",
                    source_name=mapper.tagged(invoice["customer_name"] or entry.label, entry.reference, 250),
                    currency=entry.currency or "EUR", bank_account=bank))
            except PermanentError as exc:
                raise _permanent(f"Netvisor refused the payment of invoice {invoice['number']}",
                                 exc.provider_message) from exc
            payment = {"key": payment_key}
        if others and voucher is None:
            lines = [nvxml.VoucherLineData(amount=sum((a for _, a, _ in others), ZERO), account=bank,
                                           description=entry.label[:255])]
            lines += [nvxml.VoucherLineData(amount=-amount, account=account, description=(label or entry.label)[:255])
                      for account, amount, label in others]
            try:
                voucher_key = self.client.add_voucher(nvxml.VoucherData(
                    date=entry.date, voucher_class=mapper.PAYMENT_VOUCHER_CLASS, lines=lines, mode="gross",
                    description=mapper.tagged(entry.label, entry.reference)))
            except PermanentError as exc:
                raise _permanent(f"Netvisor refused the interest and fees of invoice {invoice['number']}",
                                 exc.provider_message) from exc
            voucher = {"key": voucher_key}
        parts = ([f"payment:{payment['key']}"] if payment else []) + ([f"voucher:{voucher['key']}"] if voucher else [])
        entry_id = ";".join(parts) if payment else parts[0]
        rows = self.client.sales_invoices(number=invoice["number"])
        row = next((r for r in rows if r["key"] == invoice_key), None)
        reconciled = row is not None and row["open_amount"] is not None and row["open_amount"] <= 0
        return EntryResult(reference=entry.reference, entry_id=entry_id, number=invoice["number"],
                           reconciled=reconciled)

    def _book_payment_voucher(self, entry: JournalEntry, kind: str, key: int, account_number: str) -> EntryResult:
        """A purchase invoice's (or a voucher's) payment: a payment voucher with the entry's lines. Netvisor's API
        has no purchase invoice payment, so the invoice itself is not marked paid (reconciled stays False)."""
        try:
            if kind == "purchaseinvoice":
                self.client.purchase_invoice(key)
        except NotFound:
            raise _permanent(f"The purchase invoice {key} is not in Netvisor any more") from None
        description = mapper.tagged(entry.label, entry.reference)
        found = self.client.find_voucher(entry.date, description)
        if found is None:
            lines = [nvxml.VoucherLineData(amount=line.amount, account=line.account_number,
                                           description=(line.label or entry.label)[:255])
                     for line in entry.lines if line.amount]
            try:
                voucher_key = self.client.add_voucher(nvxml.VoucherData(
                    date=entry.date, voucher_class=mapper.PAYMENT_VOUCHER_CLASS, lines=lines, mode="gross",
                    description=description))
            except PermanentError as exc:
                raise _permanent("Netvisor refused the payment voucher", exc.provider_message) from exc
        else:
            voucher_key = found["key"]
        return EntryResult(reference=entry.reference, entry_id=mapper.entry_id("voucher", voucher_key),
                           reconciled=False)
