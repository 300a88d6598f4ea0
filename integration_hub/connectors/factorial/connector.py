"""Factorial as an invoicing/expenses source, and as the target of the accounting side's master data."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Iterator, Sequence

from integration_hub.connectors.base import AuthKind, CheckResult, SourceConnector, hub_setting
from integration_hub.connectors.errors import AuthenticationError, ConnectorError, NotFound, PermanentError
from integration_hub.connectors.factorial import mapper
from integration_hub.connectors.factorial.client import FactorialClient, error_text
from integration_hub.connectors.factorial.provider import PROVIDER
from integration_hub.connectors.files import check_readable, guess_content_type
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.oauth import MemoryTokenStore, OAuthClient, OAuthTokens
from integration_hub.connectors.types import (
    Account,
    Attachment,
    Invoice,
    Partner,
    Payment,
    Scope,
    TaxRate,
    describe_failure,
    unreadable_invoice,
)

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2026-10-01"
DEFAULT_BASE_URL = "https://api.factorialhr.com"
EXPENSE_LOOKBACK = dt.timedelta(days=62)  # expenses have no updated_from: re-read a window around the cursor


class FactorialConnector(SourceConnector):
    descriptor = PROVIDER

    def __init__(self, credentials: dict, **kwargs) -> None:
        super().__init__(credentials, **kwargs)
        self.api_version = credentials.get("api_version") or hub_setting("HUB_FACTORIAL_API_VERSION", DEFAULT_API_VERSION)
        http = self.session or HubSession.from_settings(provider=PROVIDER.key, call_log=self.call_log, error_text=error_text)
        http.error_text = error_text
        http.secrets.update(self.secret_values())
        if self.call_log is None:
            self.call_log = http.call_log
        self.tokens = None
        reauthenticate = None
        if self.auth_kind == AuthKind.OAUTH2:
            store = self.token_store or MemoryTokenStore(credentials, on_change=self.on_credentials_changed)
            self.tokens = OAuthTokens(store, self.oauth_client())
            reauthenticate = self._reauthenticate
        self._last_token = ""
        self.client = FactorialClient(base_url=self.base_url(), api_version=self.api_version, http=http,
                                      auth_headers=self._auth_headers, reauthenticate=reauthenticate)
        self._company: dict | None = None
        self._cache: dict[str, object] = {}

    # --- authentication ------------------------------------------------------------------------
    @staticmethod
    def base_url() -> str:
        """Factorial's address is the hub's setting (HUB_FACTORIAL_BASE_URL), never a tenant's: the API key,
        the tokens and the hub's OAuth client secret go only where the operator said."""
        return (hub_setting("HUB_FACTORIAL_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/")

    @classmethod
    def oauth_client(cls) -> OAuthClient:
        """The hub's OAuth2 application at Factorial, all from settings (the authorisation and token
        endpoints are Factorial's /oauth/authorize and /oauth/token under HUB_FACTORIAL_BASE_URL)."""
        base = cls.base_url()
        return OAuthClient(
            client_id=hub_setting("HUB_FACTORIAL_CLIENT_ID", "sandbox-client"),
            client_secret=hub_setting("HUB_FACTORIAL_CLIENT_SECRET", "sandbox-secret"),
            authorize_url=f"{base}/oauth/authorize", token_url=f"{base}/oauth/token", provider=PROVIDER.key,
            scope=hub_setting("HUB_FACTORIAL_SCOPE", ""))

    def _auth_headers(self) -> dict[str, str]:
        if self.tokens is not None:
            self._last_token = self.tokens.access_token()
            self.client.http.secrets.add(self._last_token)
            return {"Authorization": f"Bearer {self._last_token}"}
        return {"x-api-key": self.credentials.get("api_key", "")}

    def _reauthenticate(self) -> dict[str, str]:
        self._last_token = self.tokens.access_token(rejected=self._last_token)
        self.client.http.secrets.add(self._last_token)
        return {"Authorization": f"Bearer {self._last_token}"}

    def close(self) -> None:
        self.client.http.close()

    def check(self) -> CheckResult:
        try:
            company = self.company()
        except AuthenticationError as exc:
            return CheckResult(ok=False, message=str(exc), needs_reauth=self.tokens is not None)
        except ConnectorError as exc:
            return CheckResult(ok=False, message=str(exc))
        name = company.get("legal_name") or company.get("name") or ""
        return CheckResult(ok=True, message=f"connected to {name} (Factorial company {company.get('company_id')}, "
                                            f"API {self.api_version})",
                           organisation_id=str(company.get("company_id") or ""), organisation_name=name)

    @classmethod
    def record_url(cls, credentials, kind: str, record_id: str) -> str | None:
        return None  # Factorial's web app has no stable public URL per record

    # --- reference data ------------------------------------------------------------------------
    def company(self) -> dict:
        if self._company is None:
            rows = (self.client.get("api_public/credentials") or {}).get("data") or []
            if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
                raise PermanentError("Factorial did not say which company these credentials belong to",
                                     provider=PROVIDER.key)
            self._company = rows[0]
        return self._company

    def _cached(self, key: str, fetch):
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def legal_entity(self) -> dict:
        def fetch():
            rows = list(self.client.all("companies/legal_entities"))
            if not rows:
                raise PermanentError("The Factorial company has no legal entity", provider=PROVIDER.key)
            return rows[0]
        return self._cached("legal_entity", fetch)

    def _tax_type_names(self) -> dict[str, str]:
        return self._cached("tax_types", lambda: {str(t["id"]): t.get("name") or "" for t in
                                                   self.client.all("finance/tax_types")})

    def _tax_rate_rows(self) -> list[dict]:
        return self._cached("tax_rates", lambda: list(self.client.all("finance/tax_rates")))

    def _rate_ids(self) -> dict:
        return {mapper.rate_key(row.get("tax_type_id"), mapper.percent(float(row.get("rate") or 0) * 100)): str(row["id"])
                for row in self._tax_rate_rows()}

    def list_tax_rates(self) -> list[TaxRate]:
        names = self._tax_type_names()
        return [mapper.tax_rate(row, names) for row in self._tax_rate_rows()]

    def list_source_journals(self):
        return []

    def _contacts(self) -> dict[str, Partner]:
        def fetch():
            contacts = {}
            for contact_type in ("vendor", "client"):
                for row in self.client.all("finance/contacts", contact_type=contact_type):
                    contacts[str(row["id"])] = mapper.contact_partner(row)
            return contacts
        return self._cached("contacts", fetch)

    def list_partners(self) -> Iterator[Partner]:
        yield from self._contacts().values()

    def get_partner(self, partner_id: str) -> Partner | None:
        return self._contacts().get(str(partner_id))

    def _ledger_accounts(self) -> dict[str, Account]:
        return self._cached("accounts", lambda: {str(r["id"]): mapper.account_from_factorial(r) for r in
                                                 self.client.all("finance/accounts")})

    # --- cost centres and projects ------------------------------------------------------------------
    def _dimension_rows(self) -> list[tuple[str, str, str]]:
        """(dimension, id, name) of every cost centre and project. A company whose key may not read projects
        (or whose plan has none) simply has no projects to map."""
        def fetch():
            rows = [("cost_center", str(r["id"]), r.get("name") or str(r["id"]))
                    for r in self.client.all("finance/cost_centers")]
            try:
                rows += [("project", str(r["id"]), r.get("name") or str(r["id"]))
                         for r in self.client.all("project_management/projects")]
            except ConnectorError as exc:  # a refusal (no access to projects), not a temporary error
                if exc.retryable:
                    raise
                logger.info("Factorial projects could not be listed: %s", exc)
            return rows
        return self._cached("dimensions", fetch)

    def list_dimension_values(self) -> list[tuple[str, str, str]]:
        return list(self._dimension_rows())

    def _dimension_labels_for(self, row: dict) -> dict[tuple[str, str], str]:
        """Names of cost centres and projects, fetched only once a record names one."""
        if not (row.get("cost_center_ids") or row.get("cost_center_id") or row.get("project_id")):
            return {}
        return {(dimension, value_id): name for dimension, value_id, name in self._dimension_rows()}

    # --- documents -----------------------------------------------------------------------------
    def _map_document(self, row: dict) -> Invoice | None:
        if row.get("status") == "processing" or row.get("duplicate_financial_document_id"):
            return None  # Factorial is still reading the file, or it is a duplicate upload it detected
        try:
            return self._map_document_row(row)
        except Exception as exc:  # noqa: BLE001 - one document never stops the listing
            logger.warning("Factorial document %s could not be mapped", row.get("id"), exc_info=True)
            return unreadable_invoice(f"{mapper.FD_PREFIX}{row.get('id')}", reason=describe_failure(exc),
                                      number=str(row.get("document_number") or row.get("number") or ""))

    def _map_document_row(self, row: dict) -> Invoice:
        entity = self.legal_entity()
        return self._paid_as_mapped(row, mapper.financial_document(
            row, company_tax_id=(entity.get("tin") or "").replace(" ", "").upper(),
            company_country=(entity.get("country") or "fr").upper(), contacts=self._contacts(),
            rate_ids=self._rate_ids(), dimension_labels=self._dimension_labels_for(row)))

    def _map_expense(self, row: dict) -> Invoice | None:
        if row.get("status") not in mapper.POSTABLE_EXPENSE_STATUSES:
            return None
        try:
            return self._paid_as_mapped(row, mapper.expense(row, accounts=self._ledger_accounts(),
                                                            rate_ids=self._rate_ids(),
                                                            dimension_labels=self._dimension_labels_for(row)))
        except Exception as exc:  # noqa: BLE001 - one expense never stops the listing
            logger.warning("Factorial expense %s could not be mapped", row.get("id"), exc_info=True)
            return unreadable_invoice(f"{mapper.EXPENSE_PREFIX}{row.get('id')}", reason=describe_failure(exc),
                                      number=str(row.get("document_number") or f"EXP-{row.get('id')}"))

    def list_invoices(self, *, since: dt.datetime | None, scope: Scope, page_size: int = 100) -> Iterator[Invoice]:
        scope = Scope(scope)
        params = {"updated_from": since.astimezone(dt.timezone.utc).isoformat()} if since else {}
        for row in self.client.all("finance/financial_documents", **params):
            invoice = self._map_document(row)
            if invoice is not None and scope.includes(invoice.kind):
                yield invoice
        if not scope.includes("purchase"):
            return
        start = (since - EXPENSE_LOOKBACK).date() if since else dt.date(2000, 1, 1)
        end = dt.date.today() + dt.timedelta(days=2)
        for row in self.client.all("expenses/expenses", **{"from": start.isoformat(), "to": end.isoformat(),
                                                          "include_attachments": "true"}):
            invoice = self._map_expense(row)
            if invoice is not None:
                yield invoice

    def get_invoices(self, invoice_ids: Sequence[str]) -> list[Invoice]:
        found = []
        documents = [i[len(mapper.FD_PREFIX):] for i in invoice_ids if i.startswith(mapper.FD_PREFIX)]
        expenses = [i[len(mapper.EXPENSE_PREFIX):] for i in invoice_ids if i.startswith(mapper.EXPENSE_PREFIX)]
        for start in range(0, len(documents), 50):
            for row in self.client.all("finance/financial_documents", **{"ids[]": documents[start:start + 50]}):
                invoice = self._map_document(row)
                if invoice is not None:
                    found.append(invoice)
        for expense_id in expenses:
            try:
                payload = self.client.get(f"expenses/expenses/{expense_id}", include_attachments="true")
            except NotFound:
                continue
            row = payload.get("data", payload) if isinstance(payload, dict) else payload
            invoice = self._map_expense(row)
            if invoice is not None:
                found.append(invoice)
        return found

    def existing_invoice_ids(self, invoice_ids: Sequence[str]) -> set[str]:
        """The documents and expenses Factorial still lists, whatever their status."""
        found: set[str] = set()
        for prefix, resource in ((mapper.FD_PREFIX, "finance/financial_documents"),
                                 (mapper.EXPENSE_PREFIX, "expenses/expenses")):
            ids = [i[len(prefix):] for i in invoice_ids if i.startswith(prefix)]
            for start in range(0, len(ids), 50):
                rows = self.client.all(resource, **{"ids[]": ids[start:start + 50]})
                found |= {f"{prefix}{row['id']}" for row in rows if isinstance(row, dict) and "id" in row}
        return found

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        found = self.get_invoices([invoice_id])
        return found[0] if found else None

    # --- payments: a paid document or expense, as read with it ----------------------------------------
    def _paid_as_mapped(self, row: dict, invoice: Invoice) -> Invoice:
        invoice.payments = mapper.payments(row, invoice)
        self._cache.setdefault("payments", {})[invoice.id] = invoice.payments
        return invoice

    def invoice_payments(self, invoice_ids: Sequence[str]) -> dict[str, list[Payment]]:
        """From the documents this connector read (the run's listing); those it did not are read again."""
        known = self._cache.setdefault("payments", {})
        missing = [i for i in invoice_ids if i not in known]
        if missing:
            self.get_invoices(missing)
        return {i: list(known[i]) for i in invoice_ids if known.get(i)}

    def get_attachment(self, invoice: Invoice) -> Attachment | None:
        url = invoice.extra.get("file_url")
        if not url:
            return None
        content, declared = self.client.download(url)
        name = invoice.extra.get("file_name") or f"{invoice.number}.pdf"
        return check_readable(Attachment(filename=name, content_type=guess_content_type(name, content, declared),
                                         content=content), provider=PROVIDER.key)

    # --- master data pushed from the accounting side ------------------------------------------------
    def list_ledger_accounts(self) -> list[dict]:
        return list(self.client.all("finance/accounts"))

    def list_contacts(self) -> list[dict]:
        rows = []
        for contact_type in ("vendor", "client"):
            rows.extend(self.client.all("finance/contacts", contact_type=contact_type))
        return rows

    def save_ledger_account(self, account: Account, *, existing: dict | None, currency: str) -> dict:
        values = mapper.ledger_account_values(account, legal_entity_id=str(self.legal_entity()["id"]), currency=currency)
        if existing is None:
            return self.client.create("finance/accounts", values)
        return self.client.update("finance/accounts", str(existing["id"]), values)

    def save_contact(self, partner: Partner, *, existing: dict | None) -> dict:
        values = mapper.contact_values(partner)
        if existing is None:
            return self.client.create("finance/contacts", values)
        values.pop("external_id", None)  # Factorial does not take it on update
        return self.client.update("finance/contacts", str(existing["id"]), values)

    def subscribe_webhook(self, *, subscription_type: str, target_url: str, challenge: str, name: str = "") -> dict:
        return self.client.create("api_public/webhook_subscriptions", {
            "subscription_type": subscription_type, "target_url": target_url, "challenge": challenge,
            "company_id": str(self.company().get("company_id")), "name": name or f"Integration hub: {subscription_type}",
            "enabled": True, "api_version": self.api_version})

    def webhook_subscriptions(self) -> list[dict]:
        return list(self.client.all("api_public/webhook_subscriptions"))
