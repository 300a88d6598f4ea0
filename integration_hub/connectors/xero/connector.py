"""Xero as an accounting target: the hub's entries booked as Xero invoices, bills and credit notes.

- One organisation per connection (`tenant_id` in the credentials), chosen from `/connections` after consent.
- Every write carries an Idempotency-Key derived from what is sent (the hub references and the versions of the
  documents in it): a repeat after a lost answer is answered with the first answer, never booked twice.
- Batches of up to 50 documents with `summarizeErrors=false`: Xero's refusal of one document is that document's
  error, in Xero's words, while the others are booked.
- Every call goes through the organisation's call budget (connectors/budget.py), shared by every worker.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from decimal import Decimal
from typing import Sequence
from urllib.parse import quote

from integration_hub.connectors.base import AuthKind, CheckResult, TargetConnector, hub_setting
from integration_hub.connectors.budget import XERO_LIMITS, Limits, budget_for
from integration_hub.connectors.errors import (
    AuthenticationError,
    ConnectorError,
    NeedsReauthorization,
    NotFound,
    PermanentError,
)
from integration_hub.connectors.http import HubSession
from integration_hub.connectors.oauth import MemoryTokenStore, OAuthClient, OAuthTokens, expiring
from integration_hub.connectors.types import (
    Account,
    Attachment,
    EntryResult,
    Journal,
    JournalEntry,
    Partner,
    VatCode,
)
from integration_hub.connectors.xero import mapper
from integration_hub.connectors.xero.client import XeroClient, error_text, validation_messages
from integration_hub.connectors.xero.provider import PROVIDER

logger = logging.getLogger(__name__)

LOGIN_URL = "https://login.xero.com"
IDENTITY_URL = "https://identity.xero.com"
API_URL = "https://api.xero.com"
DEFAULT_SCOPE = ("offline_access accounting.transactions accounting.contacts accounting.settings "
                 "accounting.attachments")
BATCH = 50  # documents per call: Xero's advice
LOOKUP_BATCH = 10  # references per `where` lookup, two clauses each (the query string stays short)
OPEN_STATES = ("DRAFT", "SUBMITTED")
GONE_STATES = ("DELETED", "VOIDED")
# The third party's side of an entry for a tool that books documents (syncs.entries.DOCUMENT_PARTNER_ACCOUNT).
PARTNER_SIDES = ("accounts receivable", "accounts payable")


def setting_url(name: str, default: str) -> str:
    return (hub_setting(name, "") or default).rstrip("/")


def call_limits() -> Limits:
    """Xero's limits per organisation, for the shared call budget (a sandbox may run its clock faster)."""
    speed = float(hub_setting("HUB_XERO_CLOCK_SPEED", 1) or 1)
    return dataclasses.replace(XERO_LIMITS, minute_seconds=60.0 / speed, day_seconds=86400.0 / speed)


def _idempotency_key(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"hub-{digest}"


def _body_key(operation: str, body) -> str:
    return _idempotency_key(operation, json.dumps(body, sort_keys=True, default=str))


def refusal_reason(messages: Sequence[str]) -> str:
    """Which of the hub's catalogued reasons Xero's validation messages point at ("" for none in particular)."""
    text = " ".join(messages).lower()
    if "archived" in text and "contact" in text:
        return "contact_archived"
    if "taxtype" in text or "tax type" in text or "tax rate" in text:
        return "tax"
    if "account code" in text or "accountcode" in text or "account must be" in text:
        return "account"
    if "already been used" in text or "must be unique" in text:
        return "number_taken"
    if "not of valid status" in text or "cannot be edited" in text:
        return "locked"
    return ""


def _state(status: str) -> str:
    return "draft" if status in OPEN_STATES else "posted"


class _CustomConnectionTokens:
    """A custom connection's token (client credentials grant): fetched again when it expires, under the store's
    lock so that workers share one token."""

    def __init__(self, store, client: OAuthClient):
        self.store, self.client = store, client
        self._current: dict | None = None

    def access_token(self, *, rejected: str | None = None) -> str:
        current = self._current or self.store.load()
        if rejected is None and not expiring(current):
            self._current = current
            return current["access_token"]

        def decide(stored: dict) -> dict:
            if not expiring(stored) and stored.get("access_token") != rejected:
                return stored
            return {**stored, **self.client.client_credentials()}

        self._current = self.store.refresh_locked(decide)
        return self._current["access_token"]


class XeroConnector(TargetConnector):
    descriptor = PROVIDER
    # The engine hands over five calls' worth of documents at a time (HUB_SYNC_BATCH_SIZE x 5): invoices and credit
    # notes go to different endpoints and new contacts are created once per batch, so calls stay full (measured by
    # bench/xero_push.py: 288 calls for 2,000 invoices with 50 per batch, 254 with 250).
    batches_per_run_batch = 5

    def __init__(self, credentials: dict, **kwargs) -> None:
        super().__init__(credentials, **kwargs)
        http = self.session or HubSession.from_settings(provider=PROVIDER.key, call_log=self.call_log,
                                                        error_text=error_text)
        http.error_text = error_text
        http.secrets.update(self.secret_values())
        if self.call_log is None:
            self.call_log = http.call_log
        self.http = http
        self.store = self.token_store or MemoryTokenStore(credentials, on_change=self.on_credentials_changed)
        if self.auth_kind == AuthKind.CREDENTIALS:
            self.tokens = _CustomConnectionTokens(self.store, self.custom_client(credentials))
        else:
            self.tokens = OAuthTokens(self.store, self.oauth_client())
        self._last_token = ""
        self.client = XeroClient(api_url=setting_url("HUB_XERO_API_URL", API_URL), http=http,
                                 auth_headers=self._auth_headers, tenant_id=self._tenant,
                                 reauthenticate=self._reauthenticate)
        self._cache: dict[str, object] = {}
        self._contacts: dict[str, Partner] | None = None
        self._budget_for = ""
        self.budget_wait_hook = None  # called while waiting for the budget (a run's heartbeat)

    # --- authentication ------------------------------------------------------------------------
    @classmethod
    def oauth_client(cls) -> OAuthClient:
        """The hub's app at Xero, from settings only: authorisation on login.xero.com, tokens on
        identity.xero.com (a sandbox serves both on one address)."""
        return OAuthClient(
            client_id=hub_setting("HUB_XERO_CLIENT_ID", "sandbox-xero-client"),
            client_secret=hub_setting("HUB_XERO_CLIENT_SECRET", "sandbox-xero-secret"),
            authorize_url=f"{setting_url('HUB_XERO_LOGIN_URL', LOGIN_URL)}/identity/connect/authorize",
            token_url=f"{setting_url('HUB_XERO_IDENTITY_URL', IDENTITY_URL)}/connect/token",
            provider=PROVIDER.key, scope=hub_setting("HUB_XERO_SCOPE", DEFAULT_SCOPE))

    @classmethod
    def custom_client(cls, credentials: dict) -> OAuthClient:
        """A custom connection's own client (typed by the tenant), at the hub's token endpoint only."""
        return OAuthClient(
            client_id=str(credentials.get("client_id") or ""), client_secret=str(credentials.get("client_secret") or ""),
            authorize_url=f"{setting_url('HUB_XERO_LOGIN_URL', LOGIN_URL)}/identity/connect/authorize",
            token_url=f"{setting_url('HUB_XERO_IDENTITY_URL', IDENTITY_URL)}/connect/token",
            provider=PROVIDER.key, scope=hub_setting("HUB_XERO_CUSTOM_SCOPE", ""))

    def _auth_headers(self) -> dict[str, str]:
        self._last_token = self.tokens.access_token()
        self.http.secrets.add(self._last_token)
        return {"Authorization": f"Bearer {self._last_token}"}

    def _reauthenticate(self) -> dict[str, str]:
        self._last_token = self.tokens.access_token(rejected=self._last_token)
        self.http.secrets.add(self._last_token)
        return {"Authorization": f"Bearer {self._last_token}"}

    def close(self) -> None:
        self.http.close()

    # --- the organisation ----------------------------------------------------------------------
    def organisations(self) -> list[tuple[str, str]]:
        """(tenant id, name) of the organisations the grant may use, from Xero's /connections."""
        rows = self.client.connections(f"{setting_url('HUB_XERO_API_URL', API_URL)}/connections")
        return [(str(r.get("tenantId") or ""), str(r.get("tenantName") or "")) for r in rows
                if r.get("tenantId") and (r.get("tenantType") or "ORGANISATION") == "ORGANISATION"]

    def _tenant(self) -> str:
        """The organisation every accounting call names (xero-tenant-id): chosen once, and remembered."""
        tenant = str(self.credentials.get("tenant_id") or "") or self.choose_organisation()
        if self._budget_for != tenant:
            self._attach_budget(tenant)
        return tenant

    def _attach_budget(self, tenant: str) -> None:
        """Every call for this organisation goes through its budget, shared by every worker."""
        self._budget_for = tenant
        self.http.budget = budget_for(PROVIDER.key, tenant, call_limits())
        if self.budget_wait_hook is not None:
            self.http.budget.on_wait = lambda *args, **kwargs: self.budget_wait_hook()

    def choose_organisation(self) -> str:
        """The organisation to book into: the one chosen, or the only one the grant allows (then remembered)."""
        tenant = str(self.credentials.get("tenant_id") or "")
        if tenant:
            return tenant
        found = self.organisations()
        if len(found) != 1:
            raise PermanentError(
                "Choose the Xero organisation this connection books into" if found else
                "This Xero connection gives access to no organisation; connect it again and pick one",
                provider=PROVIDER.key, details={"organisations": found})
        tenant_id, name = found[0]
        self.store.refresh_locked(lambda current: {**current, "tenant_id": tenant_id, "tenant_name": name})
        self.credentials.update(tenant_id=tenant_id, tenant_name=name)
        self._attach_budget(tenant_id)
        return tenant_id

    def check(self) -> CheckResult:
        try:
            tenant = self._tenant()
            rows = self.client.get("Organisation").get("Organisations") or [{}]
        except NeedsReauthorization as exc:
            return CheckResult(ok=False, message=str(exc), needs_reauth=True)
        except AuthenticationError as exc:
            return CheckResult(ok=False, message=str(exc), needs_reauth=self.auth_kind == AuthKind.OAUTH2)
        except ConnectorError as exc:
            return CheckResult(ok=False, message=str(exc))
        org = rows[0] if isinstance(rows[0], dict) else {}
        name = str(org.get("Name") or "")
        return CheckResult(ok=True, message=f"connected to {name} (Xero organisation, base currency "
                                            f"{org.get('BaseCurrency') or '?'})",
                           organisation_id=tenant, organisation_name=name)

    @classmethod
    def record_url(cls, credentials, kind: str, record_id: str) -> str | None:
        if setting_url("HUB_XERO_API_URL", API_URL) != API_URL or not record_id:
            return None  # a sandbox has no Xero web app to open
        if kind == "partner":
            return f"https://go.xero.com/Contacts/View/{quote(record_id)}"
        if record_id.startswith(mapper.CREDIT_NOTE_PREFIX):
            return ("https://go.xero.com/AccountsReceivable/ViewCreditNote.aspx?creditNoteID="
                    f"{quote(record_id[len(mapper.CREDIT_NOTE_PREFIX):])}")
        return f"https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={quote(record_id)}"

    # --- reference data ------------------------------------------------------------------------
    def _cached(self, key: str, fetch):
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def _tax_rows(self) -> list[dict]:
        return self._cached("tax_rates", lambda: self.client.get("TaxRates").get("TaxRates") or [])

    def tax_rates(self) -> dict[str, Decimal | None]:
        return {code.id: code.rate for code in self.list_vat_codes()}

    def list_vat_codes(self) -> list[VatCode]:
        return [code for code in map(mapper.vat_code_from_xero, self._tax_rows()) if code is not None]

    def list_journals(self) -> list[Journal]:
        return []  # Xero books documents: no journal to choose

    def list_accounts(self) -> list[Account]:
        rows = self._cached("accounts", lambda: self.client.get("Accounts").get("Accounts") or [])
        return [account for account in map(mapper.account_from_xero, rows) if account is not None]

    def _tracking(self) -> dict[str, tuple[str, str]]:
        def fetch():
            options: dict[str, tuple[str, str]] = {}
            for category in self.client.get("TrackingCategories").get("TrackingCategories") or []:
                for option in category.get("Options") or []:
                    if option.get("TrackingOptionID"):
                        options[str(option["TrackingOptionID"])] = (str(category.get("Name") or ""),
                                                                    str(option.get("Name") or ""))
            return options
        return self._cached("tracking", fetch)

    def list_dimensions(self) -> list[tuple[str, str, str]]:
        return [(option_id, option, category) for option_id, (category, option) in self._tracking().items()]

    def list_currencies(self) -> list[str]:
        return [str(row.get("Code")) for row in self._cached(
            "currencies", lambda: self.client.get("Currencies").get("Currencies") or []) if row.get("Code")]

    def list_contacts(self) -> list[Partner]:
        return list(self._contact_index().values())

    # --- contacts ------------------------------------------------------------------------------
    def _contact_index(self) -> dict[str, Partner]:
        """Every active contact, read once per connector (pages of 100), then kept up to date."""
        if self._contacts is None:
            self._contacts = {}
            for row in self.client.all("Contacts", "Contacts"):
                if (row.get("ContactStatus") or "ACTIVE") == "ACTIVE":
                    partner = mapper.partner_from_xero(row)
                    self._contacts[partner.id] = partner
        return self._contacts

    def find_partners(self, *, auxiliary_account=None, vat_number=None, registration_number=None, name=None):
        wanted = [("auxiliary_account", auxiliary_account), ("vat_number", vat_number),
                  ("registration_number", registration_number), ("name", name)]
        hits = []
        for partner in self._contact_index().values():
            for attribute, value in wanted:
                if value and mapper.normalised(getattr(partner, attribute)) == mapper.normalised(value):
                    hits.append(partner)
                    break
        return hits

    def get_partner(self, partner_id: str) -> Partner | None:
        if self._contacts is not None and partner_id in self._contacts:
            return self._contacts[partner_id]
        try:
            rows = self.client.get(f"Contacts/{quote(partner_id)}").get("Contacts") or []
        except NotFound:
            return None
        return mapper.partner_from_xero(rows[0]) if rows else None

    def existing_partner_ids(self, partner_ids: Sequence[str]) -> set[str]:
        ids = [p for p in partner_ids if p]
        if self._contacts is not None:
            return {p for p in ids if p in self._contacts}
        found: set[str] = set()
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            rows = self.client.get("Contacts", IDs=",".join(chunk), includeArchived="true").get("Contacts") or []
            found |= {str(r.get("ContactID")) for r in rows}
        return found

    def create_partner(self, partner: Partner, *, kind: str) -> Partner:
        (outcome,) = self.create_partners([(partner, kind)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def create_partners(self, partners: Sequence[tuple[Partner, str]]) -> list[Partner | Exception]:
        index = self._contact_index()
        results: list[Partner | Exception] = []
        for start in range(0, len(partners), BATCH):
            chunk = partners[start:start + BATCH]
            body = {"Contacts": [mapper.contact_payload(p, kind=k) for p, k in chunk]}
            rows = self.client.write("PUT", "Contacts", body, idempotency_key=_body_key("PUT Contacts", body),
                                     summarize_errors=False).get("Contacts") or []
            for position, (partner, _) in enumerate(chunk):
                row = rows[position] if position < len(rows) else {}
                messages = validation_messages(row)
                if row.get("HasValidationErrors") or row.get("StatusAttributeString") == "ERROR" or messages \
                        or not row.get("ContactID"):
                    results.append(PermanentError("Xero refused to create the contact", provider=PROVIDER.key,
                                                  provider_message="; ".join(messages) or "no contact id returned"))
                    continue
                created = mapper.partner_from_xero(row)
                index[created.id] = created
                results.append(created)
        return self._taken_names(partners, results)

    def _taken_names(self, partners: Sequence[tuple[Partner, str]], results: list) -> list:
        """Contact names are unique in Xero: a name refused as taken was created meanwhile by another worker (or
        a person); the contacts are read again and that contact is the one to use."""
        taken = [i for i, r in enumerate(results) if isinstance(r, PermanentError)
                 and ("already assigned" in r.provider_message or "must be unique" in r.provider_message)]
        if not taken:
            return results
        self._contacts = None
        by_name = {mapper.normalised(p.name): p for p in self._contact_index().values()}
        for i in taken:
            found = by_name.get(mapper.normalised(partners[i][0].name))
            if found is not None:
                results[i] = found
        return results

    # --- documents -----------------------------------------------------------------------------
    def _document(self, entry: JournalEntry, status: str) -> mapper.Document:
        return mapper.document_for(entry, status=status, rates=self.tax_rates(), tracking=self._tracking())

    def describe_entry(self, entry: JournalEntry, *, post: bool = True) -> list[str]:
        """What the hub will send for this entry, in words, for previews."""
        new_contact = not any(line.partner_id for line in entry.lines)
        if new_contact:  # a preview (dry run) whose third party is not in Xero yet: the run creates the contact first
            entry = dataclasses.replace(entry, lines=[
                dataclasses.replace(line, partner_id="new-contact") if line.account_number in PARTNER_SIDES else line
                for line in entry.lines])
        try:
            document = self._document(entry, "AUTHORISED" if post else "DRAFT")
        except ValueError as exc:
            return [f"cannot be sent to Xero: {exc}"]
        if new_contact:
            document.notes.append("its contact is not in Xero yet: the run creates it first")
        kind = {"ACCREC": "sales invoice", "ACCPAY": "bill", "ACCRECCREDIT": "sales credit note",
                "ACCPAYCREDIT": "supplier credit note"}[document.type]
        state = "awaiting payment (AUTHORISED)" if post else "draft"
        return [f"booked in Xero as a {kind} ({document.type}), {state}, total {document.total} "
                f"{document.body.get('CurrencyCode')}", *document.notes]

    @staticmethod
    def _split(entry_id: str) -> tuple[str, str, str]:
        """(endpoint, id field, Xero id) of an entry id."""
        if entry_id.startswith(mapper.CREDIT_NOTE_PREFIX):
            return "CreditNotes", "CreditNoteID", entry_id[len(mapper.CREDIT_NOTE_PREFIX):]
        return "Invoices", "InvoiceID", entry_id

    @staticmethod
    def _result(reference: str, endpoint: str, row: dict) -> EntryResult:
        if endpoint == "CreditNotes":
            entry_id = mapper.CREDIT_NOTE_PREFIX + str(row.get("CreditNoteID") or "")
            number = str(row.get("CreditNoteNumber") or "")
        else:
            entry_id, number = str(row.get("InvoiceID") or ""), str(row.get("InvoiceNumber") or "")
        attached = row.get("HasAttachments")
        return EntryResult(reference=reference, entry_id=entry_id, state=_state(str(row.get("Status") or "")),
                           number=number, attachment_count=None if attached is None else int(bool(attached)))

    @staticmethod
    def _refusal(row: dict) -> PermanentError | None:
        messages = validation_messages(row)
        if row.get("StatusAttributeString") == "ERROR" or row.get("HasErrors") or messages:
            return PermanentError("Xero refused the document", provider=PROVIDER.key,
                                  provider_message="; ".join(messages) or "no reason given",
                                  details={"reason": refusal_reason(messages)})
        return None

    def create_entries(self, entries: Sequence[JournalEntry], *, post: bool) -> list[EntryResult]:
        results = [EntryResult(reference=e.reference) for e in entries]
        documents: dict[int, mapper.Document] = {}
        for index, entry in enumerate(entries):
            try:
                documents[index] = self._document(entry, "AUTHORISED" if post else "DRAFT")
            except ValueError as exc:
                results[index].error = PermanentError(f"The entry cannot be sent to Xero: {exc}", provider=PROVIDER.key)
        for endpoint in ("Invoices", "CreditNotes"):
            indexes = [i for i, d in documents.items() if d.endpoint == endpoint]
            for start in range(0, len(indexes), BATCH):
                self._create_batch(endpoint, indexes[start:start + BATCH], entries, documents, results)
        self.attach_documents([(results[i].entry_id, entries[i].attachment) for i in range(len(entries))
                               if results[i].ok and entries[i].attachment is not None])
        return results

    def _create_batch(self, endpoint: str, indexes: list[int], entries, documents, results) -> None:
        body = {endpoint: [documents[i].body for i in indexes]}
        versions = [f"{entries[i].reference}@{entries[i].version}" for i in indexes]
        key = _idempotency_key(f"PUT {endpoint}", *versions, json.dumps(body, sort_keys=True, default=str))
        try:
            rows = self.client.write("PUT", endpoint, body, idempotency_key=key,
                                     summarize_errors=False).get(endpoint) or []
        except PermanentError:
            if len(indexes) == 1:
                raise
            for index in indexes:  # the batch as a whole was refused: one by one, to find whose fault
                try:
                    self._create_batch(endpoint, [index], entries, documents, results)
                except PermanentError as exc:
                    results[index].error = exc
            return
        for position, index in enumerate(indexes):
            row = rows[position] if position < len(rows) else {}
            refusal = self._refusal(row)
            if refusal is not None:
                results[index].error = refusal
                continue
            result = self._result(entries[index].reference, endpoint, row)
            if not result.entry_id or result.entry_id == mapper.CREDIT_NOTE_PREFIX:
                results[index].error = PermanentError("Xero answered without the document's id", provider=PROVIDER.key)
                continue
            result.attachment_count = 0
            results[index] = result

    def _get(self, entry_id: str) -> dict:
        endpoint, _, xero_id = self._split(entry_id)
        rows = self.client.get(f"{endpoint}/{quote(xero_id)}").get(endpoint) or []
        if not rows:
            raise NotFound(f"Xero has no document {xero_id}", provider=PROVIDER.key)
        return rows[0]

    @staticmethod
    def _locked(row: dict) -> str:
        """Why Xero no longer lets this document change ("" when it can)."""
        status = str(row.get("Status") or "")
        paid = row.get("Payments") or row.get("Allocations") or mapper.decimal(row.get("AmountPaid"))
        if paid:
            return f"it has a payment in Xero (status {status}); record the change in Xero by hand"
        if status not in OPEN_STATES:
            return f"it is {status} in Xero and can no longer be changed"
        return ""

    def update_entry(self, entry_id: str, entry: JournalEntry, *, post: bool) -> EntryResult:
        endpoint, id_field, xero_id = self._split(entry_id)
        current = self._get(entry_id)
        locked = self._locked(current)
        if locked:
            number = current.get("InvoiceNumber") or current.get("CreditNoteNumber") or xero_id
            raise PermanentError(f"The Xero document {number} was not changed: {locked}", provider=PROVIDER.key,
                                 details={"reason": "locked"})
        document = self._document(entry, "AUTHORISED" if post else "DRAFT")
        if document.endpoint != endpoint:
            raise PermanentError("The document changed between invoice and credit note; Xero cannot turn one into "
                                 "the other", provider=PROVIDER.key)
        body = {endpoint: [{**document.body, id_field: xero_id}]}
        rows = self.client.write("POST", f"{endpoint}/{quote(xero_id)}", body,
                                 idempotency_key=_idempotency_key(f"POST {endpoint}", entry.reference, entry.version,
                                                                  json.dumps(body, sort_keys=True, default=str)),
                                 summarize_errors=False).get(endpoint) or [{}]
        refusal = self._refusal(rows[0])
        if refusal is not None:
            raise refusal
        return self._result(entry.reference, endpoint, rows[0])

    def _set_status(self, entry_ids: Sequence[str], status: str) -> dict[str, dict]:
        """Change the status of several documents, in one call per endpoint; the answer's row per entry id."""
        answers: dict[str, dict] = {}
        for endpoint in ("Invoices", "CreditNotes"):
            mine = [e for e in entry_ids if self._split(e)[0] == endpoint]
            for start in range(0, len(mine), BATCH):
                chunk = mine[start:start + BATCH]
                id_field = "InvoiceID" if endpoint == "Invoices" else "CreditNoteID"
                body = {endpoint: [{id_field: self._split(e)[2], "Status": status} for e in chunk]}
                rows = self.client.write("POST", endpoint, body, idempotency_key=_body_key(f"POST {endpoint}", body),
                                         summarize_errors=False).get(endpoint) or []
                for position, entry_id in enumerate(chunk):
                    answers[entry_id] = rows[position] if position < len(rows) else {}
        return answers

    def post_entries(self, entry_ids: Sequence[str]) -> list[EntryResult]:
        answers = self._set_status(entry_ids, "AUTHORISED")
        results, refused = [], []
        for entry_id in entry_ids:
            row = answers.get(entry_id, {})
            refusal = self._refusal(row)
            if refusal is not None:
                refused.append(entry_id)
                results.append(EntryResult(reference="", entry_id="", error=refusal))
                continue
            results.append(self._result("", self._split(entry_id)[0], row))
        if refused:  # never leave a half-done document behind: the refused drafts go
            self._set_status(refused, "DELETED")
        return results

    def delete_entry(self, entry_id: str) -> None:
        current = self._get(entry_id)
        status = str(current.get("Status") or "")
        if status in ("DELETED", "VOIDED"):
            return
        if status not in OPEN_STATES:
            raise PermanentError(f"The Xero document is {status}: only drafts are deleted by the hub",
                                 provider=PROVIDER.key)
        refusal = self._refusal(self._set_status([entry_id], "DELETED").get(entry_id, {}))
        if refusal is not None:
            raise refusal

    def find_entries_by_reference(self, references: Sequence[str]) -> dict[str, EntryResult]:
        wanted = [r for r in dict.fromkeys(references) if r and '"' not in r]
        found: dict[str, EntryResult] = {}
        for endpoint in ("Invoices", "CreditNotes"):
            remaining = [r for r in wanted if r not in found]
            for start in range(0, len(remaining), LOOKUP_BATCH):
                chunk = remaining[start:start + LOOKUP_BATCH]
                number = "InvoiceNumber" if endpoint == "Invoices" else "CreditNoteNumber"
                where = " OR ".join(f'{field}.EndsWith("{mapper.reference_tag(r)}")' for r in chunk
                                    for field in ("Reference", number))  # sales: Reference; purchases: number
                for row in self.client.all(endpoint, endpoint, where=where):
                    reference = mapper.reference_of(row)
                    if reference in chunk and reference not in found and row.get("Status") not in GONE_STATES:
                        found[reference] = self._result(reference, endpoint, row)
        return found

    def attach_document(self, entry_id: str, attachment: Attachment) -> str:
        endpoint, _, xero_id = self._split(entry_id)
        name = quote(attachment.filename or "document.pdf", safe="")
        digest = hashlib.sha256(attachment.content).hexdigest()
        payload = self.client.upload(f"{endpoint}/{quote(xero_id)}/Attachments/{name}", attachment.content,
                                     attachment.content_type,
                                     idempotency_key=_idempotency_key("attach", entry_id, attachment.filename, digest))
        rows = payload.get("Attachments") or [{}]
        return str(rows[0].get("AttachmentID") or "")


def organisations_for(credentials: dict, *, token_store=None) -> list[tuple[str, str]]:
    """The organisations a freshly connected grant may use (for the picker after consent)."""
    connector = XeroConnector(dict(credentials), auth_kind=AuthKind.OAUTH2, token_store=token_store)
    try:
        return connector.organisations()
    finally:
        connector.close()
