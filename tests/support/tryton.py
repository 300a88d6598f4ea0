"""Live Tryton for the tests: one server per test session, databases cloned from a cached template."""
from __future__ import annotations

import itertools
import os
import uuid

import pytest

_counter = itertools.count(1)


def unique_db(label: str) -> str:
    return f"hub_tryton_t{os.getpid()}_{label}_{next(_counter)}_{uuid.uuid4().hex[:4]}"


def credentials(peer, database: str, **overrides) -> dict:
    values = {"url": peer.url, "database": database, "username": peer.admin_user, "password": peer.admin_password}
    values.update(overrides)
    return values


def connector(peer, database: str, **overrides):
    from integration_hub.connectors.tryton.connector import TrytonConnector

    return TrytonConnector(credentials(peer, database, **overrides))


def start_peer(workdir):
    try:
        from integration_hub.peers.tryton import TrytonPeer
    except ImportError as exc:  # pragma: no cover - the test extras install trytond
        pytest.fail(f"Tryton is not installed: {exc}. Run `make test`, which installs the test extras.")
    return TrytonPeer.start(workdir, backend=os.environ.get("HUB_TRYTON_BACKEND", "auto"))
