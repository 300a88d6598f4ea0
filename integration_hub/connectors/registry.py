"""Which providers exist: register them, look one up by key, list those enabled in settings."""
from __future__ import annotations

from importlib import import_module
from typing import Iterable

from integration_hub.connectors.base import ProviderDescriptor, Role


class NotRegistered(LookupError):
    """No provider is registered under that key."""


_registry: dict[str, ProviderDescriptor] = {}


def register(descriptor: ProviderDescriptor) -> ProviderDescriptor:
    existing = _registry.get(descriptor.key)
    if existing is not None and existing is not descriptor:
        raise ValueError(f"a provider is already registered under {descriptor.key!r}")
    _registry[descriptor.key] = descriptor
    return descriptor


def unregister(key: str) -> None:
    _registry.pop(key, None)


def _load(dotted_path: str) -> ProviderDescriptor:
    module_path, _, attribute = dotted_path.rpartition(".")
    descriptor = getattr(import_module(module_path), attribute)
    if not isinstance(descriptor, ProviderDescriptor):
        raise TypeError(f"{dotted_path} is not a ProviderDescriptor")
    return register(descriptor)


def load_enabled(paths: Iterable[str]) -> list[ProviderDescriptor]:
    return [_load(path) for path in paths]


def _enabled_paths() -> list[str]:
    from django.conf import settings  # settings are the only place the list lives

    return list(getattr(settings, "HUB_PROVIDERS", []))


def enabled(role: Role | str | None = None) -> list[ProviderDescriptor]:
    """Providers enabled by the HUB_PROVIDERS setting, optionally only those that can play `role`."""
    descriptors = load_enabled(_enabled_paths())
    if role is not None:
        descriptors = [d for d in descriptors if Role(role) in d.roles]
    return sorted(descriptors, key=lambda d: d.name.lower())


def get(key: str) -> ProviderDescriptor:
    if key not in _registry:
        load_enabled(_enabled_paths())
    try:
        return _registry[key]
    except KeyError:
        raise NotRegistered(f"no provider registered under {key!r}") from None


def all_registered() -> list[ProviderDescriptor]:
    return list(_registry.values())
