"""What every provider declares (its descriptor) and the operations a connector offers."""
from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import import_module
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from decimal import Decimal

    from integration_hub.connectors.http import CallLog, HubSession
    from integration_hub.connectors.types import (
        Account,
        Attachment,
        EntryResult,
        Invoice,
        JournalEntry,
        Journal,
        Partner,
        TargetStatus,
        Payment,
        Scope,
        TaxRate,
        VatCode,
    )


PARTNER_MATCH_RULES = ("auxiliary_account", "vat_number", "registration_number", "name")


def hub_setting(name: str, default):
    """A Django setting when the connector runs inside the hub, the default elsewhere (scripts, benches)."""
    try:
        from django.conf import settings

        return getattr(settings, name, default) if settings.configured else default
    except Exception:  # noqa: BLE001 - Django is optional for connectors
        return default


class Role(StrEnum):
    SOURCE = "source"
    TARGET = "target"


class AuthKind(StrEnum):
    API_KEY = "api_key"
    CREDENTIALS = "credentials"
    OAUTH2 = "oauth2"


@dataclass(frozen=True)
class CredentialField:
    """One value a user types to connect a provider."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    kind: str = "text"  # text | url | password | integer
    help_text: str = ""
    initial: str = ""


@dataclass(frozen=True)
class ProviderDescriptor:
    key: str
    name: str
    roles: frozenset[Role]
    auth_kinds: tuple[AuthKind, ...]
    connector_path: str
    credential_fields: Mapping[AuthKind, tuple[CredentialField, ...]] = field(default_factory=dict)
    features: frozenset[str] = frozenset()
    description: str = ""

    def fields_for(self, auth_kind: AuthKind | str) -> tuple[CredentialField, ...]:
        return tuple(self.credential_fields.get(AuthKind(auth_kind), ()))

    def secret_names(self, auth_kind: AuthKind | str) -> set[str]:
        return {f.name for f in self.fields_for(auth_kind) if f.secret}

    def supports(self, role: Role | str) -> bool:
        return Role(role) in self.roles

    def connector_class(self) -> type["Connector"]:
        module_path, _, name = self.connector_path.rpartition(".")
        return getattr(import_module(module_path), name)

    def connector(
        self,
        credentials: Mapping[str, Any],
        *,
        auth_kind: AuthKind | str = AuthKind.CREDENTIALS,
        call_log: "CallLog | None" = None,
        session: "HubSession | None" = None,
        on_credentials_changed: Callable[[dict], None] | None = None,
        token_store=None,
    ) -> "Connector":
        return self.connector_class()(
            dict(credentials),
            auth_kind=AuthKind(auth_kind),
            call_log=call_log,
            session=session,
            on_credentials_changed=on_credentials_changed,
            token_store=token_store,
        )


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    needs_reauth: bool = False
    organisation_id: str = ""
    organisation_name: str = ""


class Connector(abc.ABC):
    """A live link to one account of one provider. Only clients speak HTTP; this wraps them."""

    descriptor: ProviderDescriptor

    def __init__(
        self,
        credentials: dict,
        *,
        auth_kind: AuthKind = AuthKind.CREDENTIALS,
        call_log: "CallLog | None" = None,
        session: "HubSession | None" = None,
        on_credentials_changed: Callable[[dict], None] | None = None,
        token_store=None,
    ) -> None:
        self.credentials = credentials
        self.auth_kind = auth_kind
        self.call_log = call_log
        self.session = session
        self.on_credentials_changed = on_credentials_changed
        self.token_store = token_store  # where OAuth tokens live (the hub: the connection row, locked)

    @classmethod
    def record_url(cls, credentials: Mapping[str, Any], kind: str, record_id: str) -> str | None:
        """A link a person can open to see a record in the tool itself (kind: invoice | entry | partner)."""
        return None

    def secret_values(self) -> set[str]:
        """Credential values that must never be stored or shown: the HTTP layer redacts them from
        whatever a server answers (a server may echo the request)."""
        from integration_hub.connectors.excerpt import secret_values

        return secret_values(self.credentials, self.descriptor.secret_names(self.auth_kind))

    @abc.abstractmethod
    def check(self) -> CheckResult:
        """Prove the credentials work; never raises for a refused login, reports it."""

    def close(self) -> None:  # pragma: no cover - trivial default
        pass


class SourceConnector(Connector):
    """An invoicing or expense tool the hub reads documents from."""

    @abc.abstractmethod
    def list_invoices(
        self, *, since: dt.datetime | None, scope: "Scope", page_size: int = 100
    ) -> Iterator["Invoice"]:
        """Documents changed at or after `since`, oldest change first, streamed page by page."""

    @abc.abstractmethod
    def get_invoice(self, invoice_id: str) -> "Invoice | None":
        """One document by its id in the source, or None when it no longer exists."""

    def get_invoices(self, invoice_ids: Sequence[str]) -> list["Invoice"]:
        """Several documents by id (those that no longer exist are left out)."""
        found = (self.get_invoice(i) for i in invoice_ids)
        return [invoice for invoice in found if invoice is not None]

    def existing_invoice_ids(self, invoice_ids: Sequence[str]) -> set[str]:
        """Which of these documents the source still has (cancelled ones included): the hub asks about the
        documents it booked, to notice those deleted since."""
        return {invoice.id for invoice in self.get_invoices(list(invoice_ids))}

    def count_invoices(self, *, since: dt.datetime | None, scope: "Scope") -> int | None:
        """How many documents list_invoices would yield, when the source can tell cheaply."""
        return None

    def invoice_payments(self, invoice_ids: Sequence[str]) -> dict[str, list["Payment"]]:
        """What was paid on these documents, by document id (those with no payment left out), in one go.
        Empty: the source does not tell payments."""
        return {}

    @abc.abstractmethod
    def get_attachment(self, invoice: "Invoice") -> "Attachment | None":
        """The document's file (PDF), or None when the source has none."""

    @abc.abstractmethod
    def list_tax_rates(self) -> list["TaxRate"]: ...

    def list_source_journals(self) -> list["Journal"]:
        """The invoicing tool's own journals, when it has any (empty: it has none to map)."""
        return []

    def list_dimension_values(self) -> list[tuple[str, str, str]]:
        """(dimension, value id, label) of the cost centres, projects or analytic accounts documents may
        carry, for the mapping step (empty: the tool has none)."""
        return []

    @abc.abstractmethod
    def list_partners(self) -> Iterator["Partner"]: ...

    @abc.abstractmethod
    def get_partner(self, partner_id: str) -> "Partner | None": ...


class TargetConnector(Connector):
    """An accounting tool the hub writes journal entries to."""

    @abc.abstractmethod
    def list_vat_codes(self) -> list["VatCode"]: ...

    @abc.abstractmethod
    def list_journals(self) -> list["Journal"]: ...

    @abc.abstractmethod
    def list_accounts(self) -> list["Account"]: ...

    def list_dimensions(self) -> list[tuple[str, str, str]]:
        """(id, label, axis label) of the analytic accounts entry lines may carry (empty: none)."""
        return []

    @abc.abstractmethod
    def find_partners(
        self,
        *,
        auxiliary_account: str | None = None,
        vat_number: str | None = None,
        registration_number: str | None = None,
        name: str | None = None,
    ) -> list["Partner"]: ...

    @abc.abstractmethod
    def get_partner(self, partner_id: str) -> "Partner | None": ...

    @abc.abstractmethod
    def create_partner(self, partner: "Partner", *, kind: str) -> "Partner": ...

    def match_partners(self, partners: Sequence["Partner"]) -> dict[str, tuple["Partner", str]]:
        """For each source partner id: the target partner it matches and the rule that matched.

        Rules in order: auxiliary account, VAT number, registration number, name.
        """
        found: dict[str, tuple[Partner, str]] = {}
        for partner in partners:
            for rule in PARTNER_MATCH_RULES:
                value = getattr(partner, rule)
                if not value:
                    continue
                hits = self.find_partners(**{rule: value})
                if hits:
                    found[partner.id] = (hits[0], rule)
                    break
        return found

    def create_partners(self, partners: Sequence[tuple["Partner", str]]) -> list["Partner | Exception"]:
        """Create several (partner, kind) at once; each result is the created partner or the error."""
        results: list = []
        for partner, kind in partners:
            try:
                results.append(self.create_partner(partner, kind=kind))
            except Exception as exc:  # noqa: BLE001 - reported per partner by the caller
                from integration_hub.connectors.errors import ConnectorError

                if not isinstance(exc, ConnectorError) or exc.retryable:
                    raise
                results.append(exc)
        return results

    def existing_partner_ids(self, partner_ids: Sequence[str]) -> set[str]:
        """Which of these target partner ids still exist."""
        return {pid for pid in partner_ids if self.get_partner(pid) is not None}

    @abc.abstractmethod
    def create_entries(self, entries: Sequence["JournalEntry"], *, post: bool) -> list["EntryResult"]: ...

    @abc.abstractmethod
    def update_entry(self, entry_id: str, entry: "JournalEntry", *, post: bool) -> "EntryResult":
        """Replace the content of a draft entry; a posted one is refused with PermanentError."""

    @abc.abstractmethod
    def attach_document(self, entry_id: str, attachment: "Attachment") -> str: ...

    def attach_documents(self, items: Sequence[tuple[str, "Attachment"]]) -> None:
        """Attach several files (entry id, file) at once; targets that can do it in one call override this."""
        for entry_id, attachment in items:
            self.attach_document(entry_id, attachment)

    def post_entries(self, entry_ids: Sequence[str]) -> list["EntryResult"]:
        """Post drafts the hub made (found after an interruption), in one call where the target can. A draft the
        target refuses to post comes back with its error (and is deleted: no half-done entry stays behind).
        NotImplementedError: the engine rewrites and posts each draft with update_entry instead."""
        raise NotImplementedError

    @abc.abstractmethod
    def find_entries_by_reference(self, references: Sequence[str]) -> dict[str, "EntryResult"]:
        """Entries already in the target for these hub references (with their draft/posted state)."""

    def find_entry_by_reference(self, reference: str) -> "EntryResult | None":
        return self.find_entries_by_reference([reference]).get(reference)

    def delete_entry(self, entry_id: str) -> None:
        """Remove a draft entry (its invoice was cancelled in the source). A posted entry is refused with
        PermanentError; an entry that no longer exists raises NotFound."""
        from integration_hub.connectors.errors import PermanentError

        raise PermanentError(f"{self.descriptor.name} cannot delete entries through the hub")

    def reverse_entry(self, entry_id: str, *, date: "dt.date", reference: str) -> "EntryResult":
        """Book (posted) the entry that cancels the posted entry `entry_id`: the same accounts, third parties
        and VAT, debits and credits swapped, tagged with `reference`. Dated `date`, or the original's date
        when that is later. Exactly once: an entry already tagged with `reference` is returned instead."""
        from integration_hub.connectors.errors import PermanentError

        raise PermanentError(f"{self.descriptor.name} cannot book reversals through the hub")

    def book_payment(self, entry: "JournalEntry", *, reconcile_with_entry_id: str, account_number: str,
                     partner_id: str, post: bool, earlier_entry_ids: Sequence[str] = ()) -> "EntryResult":
        """Book a payment entry and letter it, exactly once: an entry already tagged with `entry.reference` is
        taken instead of booking another. Then, when the open lines on `account_number` for `partner_id` of the
        invoice's entry, of the payments booked before (`earlier_entry_ids`) and of this one balance, they are
        reconciled (an overpayment's excess line may stay open). Refused with PermanentError before anything is
        booked when the invoice's entry has no such line. The result says whether the invoice is reconciled."""
        from integration_hub.connectors.errors import PermanentError

        raise PermanentError(f"{self.descriptor.name} cannot book payments through the hub")

    def entry_statuses(self, entry_ids: Sequence[str]) -> dict[str, "TargetStatus"]:
        """Where each submitted document stands in the target now (targets with the "status_monitoring" feature):
        accepted, rejected with the target's reason, paid... An id the target no longer knows comes back MISSING.
        As few calls as the target allows (a list call for many ids rather than one call each)."""
        raise NotImplementedError(f"{self.descriptor.name} does not report the status of what it received")

    def third_party_amount(self, entry_id: str, *, account_number: str, partner_id: str) -> "Decimal":
        """What the entry booked on `account_number` for `partner_id`, in the company's currency (debit
        positive): the company value of a foreign-currency invoice, which its payments settle."""
        from integration_hub.connectors.errors import PermanentError

        raise PermanentError(f"{self.descriptor.name} cannot tell the amounts of an entry")
