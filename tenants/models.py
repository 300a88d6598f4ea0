"""Tenants (the companies using the hub), who belongs to them, and their connections."""
from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from integration_hub import crypto

currency_code = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code, e.g. EUR.")
country_code = RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO 3166 code, e.g. FR.")


class Tenant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    country = models.CharField(max_length=2, validators=[country_code], default="FR")
    base_currency = models.CharField(max_length=3, validators=[currency_code], default="EUR")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("support_all_tenants", "Can see every tenant (support staff)")]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ACCOUNTANT = "accountant", "Accountant"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user_and_tenant")]
        ordering = ["tenant__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.get_role_display()})"


class ConnectionRole(models.TextChoices):
    SOURCE = "source", "Source (invoicing / expenses)"
    TARGET = "target", "Target (accounting)"


class AuthKind(models.TextChoices):
    API_KEY = "api_key", "API key"
    CREDENTIALS = "credentials", "User name and password"
    OAUTH2 = "oauth2", "OAuth2"


class ConnectionStatus(models.TextChoices):
    NEW = "new", "Not checked yet"
    CONNECTED = "connected", "Connected"
    NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"
    ERROR = "error", "Error"


class Connection(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="connections")
    name = models.CharField(max_length=120)
    provider = models.CharField(max_length=40, help_text="Key of the provider in the connector registry.")
    role = models.CharField(max_length=10, choices=ConnectionRole.choices)
    auth_kind = models.CharField(max_length=20, choices=AuthKind.choices)
    # Fernet token of the JSON credentials; never read this column directly, use services.
    credentials_ciphertext = models.TextField(blank=True, default="", editable=False)
    status = models.CharField(max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.NEW)
    status_message = models.TextField(blank=True, default="")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    external_org_id = models.CharField(max_length=200, blank=True, default="")
    external_org_name = models.CharField(max_length=200, blank=True, default="")
    # the unguessable part of this connection's webhook address (/hooks/<token>/...)
    webhook_token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="connection_name_unique_per_tenant")]
        ordering = ["tenant__name", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider}, {self.role})"

    # Encryption lives here so no caller can store plaintext by accident.
    def set_credentials(self, values: dict) -> None:
        self.credentials_ciphertext = crypto.encrypt_json(values)

    def get_credentials(self) -> dict:
        """Decrypted credentials; raises crypto.UndecryptableSecret when no configured key fits."""
        return crypto.decrypt_json(self.credentials_ciphertext)

    @property
    def descriptor(self):
        from integration_hub.connectors import registry

        return registry.get(self.provider)
