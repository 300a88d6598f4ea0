"""Writes for tenants, memberships and connections."""
from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from integration_hub import crypto
from integration_hub.connectors import registry
from integration_hub.connectors.base import CheckResult
from integration_hub.connectors.errors import ConnectorError, NeedsReauthorization
from integration_hub.connectors.excerpt import redact, secret_values
from integration_hub.connectors.http import HubSession
from tenants.models import Connection, ConnectionStatus, Membership, Role, Tenant

logger = logging.getLogger(__name__)


@transaction.atomic
def tenant_create(*, name: str, slug: str, country: str = "FR", base_currency: str = "EUR", owner=None) -> Tenant:
    tenant = Tenant(name=name, slug=slug, country=country, base_currency=base_currency)
    tenant.full_clean()
    tenant.save()
    if owner is not None:
        membership_set(tenant=tenant, user=owner, role=Role.OWNER)
    return tenant


@transaction.atomic
def membership_set(*, tenant: Tenant, user, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(tenant=tenant, user=user, defaults={"role": role})
    return membership


def _clean_values(values: dict[str, Any]) -> dict[str, str]:
    return {k: ("" if v is None else str(v).strip()) for k, v in values.items()}


@transaction.atomic
def connection_create(
    *,
    tenant: Tenant,
    name: str,
    provider: str,
    role: str,
    auth_kind: str,
    credentials: dict[str, Any],
) -> Connection:
    connection = Connection(tenant=tenant, name=name, provider=provider, role=role, auth_kind=auth_kind)
    connection.set_credentials(_clean_values(credentials))
    connection.full_clean()
    connection.save()
    logger.info("connection %s created for tenant %s (provider %s)", connection.pk, tenant.slug, provider)
    return connection


@transaction.atomic
def connection_update(*, connection: Connection, name: str | None = None, credentials: dict[str, Any] | None = None) -> Connection:
    """Change the name and/or credentials. A blank secret keeps the stored one."""
    if name is not None:
        connection.name = name
    if credentials is not None:
        secrets = connection.descriptor.secret_names(connection.auth_kind)
        try:
            current = connection.get_credentials()
        except crypto.UndecryptableSecret:
            current = {}
        merged = dict(current)
        for key, value in _clean_values(credentials).items():
            if key in secrets and value == "":
                continue  # left blank on the form: keep what is stored
            merged[key] = value
        if merged != current:  # unchanged credentials keep their status (an OAuth connection stays connected)
            connection.set_credentials(merged)
            connection.status = ConnectionStatus.NEW
            connection.status_message = ""
    connection.full_clean()
    connection.save()
    return connection


def connection_read_credentials(*, connection: Connection) -> dict | None:
    """The decrypted credentials, or None after marking the connection as in error."""
    try:
        return connection.get_credentials()
    except crypto.UndecryptableSecret:
        connection_mark(
            connection=connection,
            status=ConnectionStatus.ERROR,
            message="The stored credentials cannot be decrypted with the configured encryption keys "
            f"({crypto.ENV_VARIABLE}). Restore the old key or enter the credentials again.",
        )
        logger.error("connection %s: credentials cannot be decrypted", connection.pk)
        return None


def _without_secrets(connection: Connection, text: str) -> str:
    """`text` with every credential of the connection redacted: the last guard before a message is
    stored and shown to viewers and support (connectors redact too; this holds whatever the source)."""
    try:
        credentials = connection.get_credentials()
        names = connection.descriptor.secret_names(connection.auth_kind)
    except (crypto.UndecryptableSecret, registry.NotRegistered):
        return text
    return redact(text, secret_values(credentials, names))


def connection_mark(*, connection: Connection, status: str, message: str = "", org_id: str | None = None, org_name: str | None = None) -> Connection:
    connection.status = status
    connection.status_message = _without_secrets(connection, message)[:2000]
    connection.last_checked_at = timezone.now()
    fields = ["status", "status_message", "last_checked_at", "updated_at"]
    if org_id is not None:
        connection.external_org_id = org_id
        fields.append("external_org_id")
    if org_name is not None:
        connection.external_org_name = org_name
        fields.append("external_org_name")
    connection.save(update_fields=fields)
    return connection


def masked_credentials(*, connection: Connection) -> list[tuple[str, str]]:
    """(label, shown value) pairs for display: secrets masked, never in full."""
    try:
        values = connection.get_credentials()
    except crypto.UndecryptableSecret:
        return [("Credentials", "cannot be decrypted")]
    try:
        fields = connection.descriptor.fields_for(connection.auth_kind)
    except registry.NotRegistered:
        return [(key, crypto.mask_secret(value)) for key, value in sorted(values.items())]
    shown = []
    for field in fields:
        value = values.get(field.name, "")
        shown.append((field.label, crypto.mask_secret(value) if field.secret else value))
    return shown


class ConnectionUnusable(Exception):
    """The connection cannot be opened: credentials unreadable or provider not enabled."""


def connection_connector(*, connection: Connection, call_log=None, session=None):
    """A connector for this connection: credentials decrypted, OAuth tokens kept in (and refreshed
    through) the connection's own row, renewed credentials saved back."""
    credentials = connection_read_credentials(connection=connection)
    if credentials is None:
        raise ConnectionUnusable(connection.status_message)
    try:
        descriptor = connection.descriptor
    except registry.NotRegistered:
        raise ConnectionUnusable(f"The provider '{connection.provider}' of “{connection.name}” is not enabled on this hub.") from None
    from tenants.tokens import ConnectionTokenStore

    return descriptor.connector(
        credentials, auth_kind=connection.auth_kind, call_log=call_log, session=session,
        # Tokens (OAuth2, or a client-credentials grant such as Xero's custom connections) live in the row, locked.
        token_store=ConnectionTokenStore(connection.pk) if (
            connection.auth_kind == "oauth2" or "organisations" in descriptor.features) else None,
        on_credentials_changed=lambda values: connection_store_credentials(connection=connection, credentials=values))


REFERENCE_LISTS = {"accounts": "list_accounts", "vat_codes": "list_vat_codes", "journals": "list_journals",
                   "tax_rates": "list_tax_rates", "source_journals": "list_source_journals",
                   "dimension_values": "list_dimension_values", "dimensions": "list_dimensions"}


def connection_list(*, connection: Connection, name: str) -> list:
    """One reference list of the tool (a key of REFERENCE_LISTS). Raises ConnectionUnusable or ConnectorError."""
    connector = connection_connector(connection=connection)
    try:
        return getattr(connector, REFERENCE_LISTS[name])()
    finally:
        connector.close()


def connection_check(*, connection: Connection) -> CheckResult:
    """Ask the provider whether the credentials work and record the answer on the connection."""
    # A check answers within seconds: one retry at most, short timeouts.
    session = HubSession.from_settings(provider=connection.provider, max_retries=1, connect_timeout=3, read_timeout=20)
    try:
        connector = connection_connector(connection=connection, session=session)
    except ConnectionUnusable as exc:
        if connection.status != ConnectionStatus.ERROR:
            connection_mark(connection=connection, status=ConnectionStatus.ERROR, message=str(exc))
        return CheckResult(ok=False, message=str(exc))
    try:
        result = connector.check()
    except ConnectorError as exc:  # e.g. a refused token refresh
        result = CheckResult(ok=False, message=str(exc), needs_reauth=isinstance(exc, NeedsReauthorization))
    finally:
        connector.close()
    if result.needs_reauth:
        connection_needs_reauth(connection=connection, message=result.message)
    elif result.ok:
        connection_mark(
            connection=connection,
            status=ConnectionStatus.CONNECTED,
            message=result.message,
            org_id=result.organisation_id,
            org_name=result.organisation_name,
        )
    else:
        connection_mark(connection=connection, status=ConnectionStatus.ERROR, message=result.message)
    return result


def credentials_rotate_all() -> tuple[int, int]:
    """Re-encrypt every connection's credentials with the primary key. Returns (rotated, unreadable)."""
    rotated = unreadable = 0
    for connection in Connection.objects.exclude(credentials_ciphertext="").iterator():
        try:
            token = crypto.rotate_token(connection.credentials_ciphertext)
        except crypto.UndecryptableSecret:
            unreadable += 1
            connection_read_credentials(connection=connection)  # marks it as in error
            continue
        Connection.objects.filter(pk=connection.pk).update(credentials_ciphertext=token)
        rotated += 1
    return rotated, unreadable


def connection_store_credentials(*, connection: Connection, credentials: dict) -> None:
    """Save credentials a connector renewed by itself (e.g. OAuth tokens after a refresh)."""
    connection.set_credentials(credentials)
    Connection.objects.filter(pk=connection.pk).update(credentials_ciphertext=connection.credentials_ciphertext)


def connection_needs_reauth(*, connection: Connection, message: str) -> None:
    """Mark the connection and tell the tenant's owners, once (not at every run)."""
    already = Connection.objects.filter(pk=connection.pk, status=ConnectionStatus.NEEDS_REAUTH).exists()
    connection_mark(connection=connection, status=ConnectionStatus.NEEDS_REAUTH, message=message)
    if not already:
        from tenants.notifications import notify_owners

        notify_owners(
            tenant=connection.tenant,
            subject=f"{connection.name} needs to be connected again",
            body=(f"The hub can no longer use “{connection.name}” ({connection.provider}) for {connection.tenant.name}: "
                  f"{message}\n\nSyncs that use it are paused. An owner must open the connection in the hub and "
                  "connect it again; nothing is lost meanwhile, the syncs catch up afterwards."))
