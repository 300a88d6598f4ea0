"""The provider registry: register, look up by key, list what settings enable."""
from __future__ import annotations

import pytest
from django.test import override_settings

from integration_hub.connectors import registry
from integration_hub.connectors.base import AuthKind, ProviderDescriptor, Role

DEMO = ProviderDescriptor(key="demo-only", name="Demo only", roles=frozenset({Role.SOURCE}),
                          auth_kinds=(AuthKind.API_KEY,), connector_path="x.y.Z")


def test_a_registered_provider_is_found_by_its_key():
    registry.register(DEMO)
    try:
        assert registry.get("demo-only") is DEMO
    finally:
        registry.unregister("demo-only")


def test_an_unknown_key_raises_not_registered():
    with pytest.raises(registry.NotRegistered):
        registry.get("no-such-provider")


def test_two_providers_cannot_share_a_key():
    registry.register(DEMO)
    try:
        clone = ProviderDescriptor(key="demo-only", name="Other", roles=frozenset({Role.TARGET}),
                                   auth_kinds=(AuthKind.API_KEY,), connector_path="a.b.C")
        with pytest.raises(ValueError):
            registry.register(clone)
    finally:
        registry.unregister("demo-only")


def test_enabled_providers_come_from_settings_and_filter_by_role():
    with override_settings(HUB_PROVIDERS=["integration_hub.connectors.tryton.provider.PROVIDER"]):
        keys = [d.key for d in registry.enabled()]
        assert keys == ["tryton"]
        assert [d.key for d in registry.enabled(Role.TARGET)] == ["tryton"]
    with override_settings(HUB_PROVIDERS=[]):
        assert registry.enabled() == []


def test_the_tryton_descriptor_declares_what_the_connection_form_needs():
    tryton = registry.get("tryton")
    assert tryton.supports("source") and tryton.supports("target")
    assert tryton.secret_names(AuthKind.CREDENTIALS) == {"password"}
    assert [f.name for f in tryton.fields_for("credentials")] == ["url", "database", "username", "password"]
