from __future__ import annotations

from django import forms
from django.core.validators import URLValidator

from integration_hub import crypto
from integration_hub.connectors import registry
from integration_hub.connectors.base import AuthKind, ProviderDescriptor
from tenants.models import Connection, ConnectionRole


class ProviderChoiceForm(forms.Form):
    role = forms.ChoiceField(choices=ConnectionRole.choices)
    provider = forms.ChoiceField(choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [(d.key, d.name) for d in registry.enabled()]

    def clean(self):
        data = super().clean()
        provider, role = data.get("provider"), data.get("role")
        if provider and role and not registry.get(provider).supports(role):
            self.add_error("provider", f"{registry.get(provider).name} cannot be used as a {role}.")
        return data


def _field_for(spec, *, current: str | None) -> forms.Field:
    if spec.secret:
        # never a hint of the stored value (not even its last characters): only that there is one
        placeholder = "Stored — leave empty to keep it" if current else ""
        return forms.CharField(
            label=spec.label,
            required=spec.required and not current,
            help_text=spec.help_text,
            widget=forms.PasswordInput(attrs={"placeholder": placeholder, "autocomplete": "new-password"}),
        )
    if spec.kind == "url":
        # http(s) only: the outbound policy refuses anything else at call time; say so while typing.
        return forms.URLField(label=spec.label, required=spec.required, help_text=spec.help_text, assume_scheme="https",
                              validators=[URLValidator(schemes=["http", "https"])])
    if spec.kind == "integer":
        return forms.IntegerField(label=spec.label, required=spec.required, help_text=spec.help_text)
    return forms.CharField(label=spec.label, required=spec.required, help_text=spec.help_text, max_length=500)


class ConnectionForm(forms.Form):
    """Name plus the credential fields the provider declares for the chosen way of signing in."""

    name = forms.CharField(max_length=120)

    def __init__(self, *args, descriptor: ProviderDescriptor, auth_kind: str, instance: Connection | None = None, tenant=None, **kwargs):
        self.descriptor, self.auth_kind, self.instance, self.tenant = descriptor, AuthKind(auth_kind), instance, tenant
        current: dict = {}
        initial = kwargs.pop("initial", {}) or {}
        if instance is not None:
            try:
                current = instance.get_credentials()
            except crypto.UndecryptableSecret:
                current = {}
            initial.setdefault("name", instance.name)
        super().__init__(*args, initial=initial, **kwargs)
        self.credential_names = []
        for spec in descriptor.fields_for(self.auth_kind):
            field = _field_for(spec, current=current.get(spec.name))
            if not spec.secret:
                field.initial = current.get(spec.name, spec.initial)
            self.fields[f"cred_{spec.name}"] = field
            self.credential_names.append(spec.name)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if self.tenant is not None:
            clash = Connection.objects.filter(tenant=self.tenant, name=name)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise forms.ValidationError("This tenant already has a connection with that name.")
        return name

    def credentials(self) -> dict:
        return {name: self.cleaned_data.get(f"cred_{name}", "") for name in self.credential_names}
