"""OAuth tokens of a connection, kept encrypted in its row and refreshed under a row lock.

PostgreSQL: SELECT ... FOR UPDATE on the connection makes concurrent refreshers (threads or
worker processes) queue; the first refreshes, the others find a fresh token when they get the
lock. SQLite: transactions start IMMEDIATE (settings), so the write lock serialises them the same way.
"""
from __future__ import annotations

from django.db import transaction

from tenants.models import Connection


class ConnectionTokenStore:
    def __init__(self, connection_id: int):
        self.connection_id = connection_id

    def load(self) -> dict:
        return Connection.objects.get(pk=self.connection_id).get_credentials()

    def refresh_locked(self, decide) -> dict:
        with transaction.atomic():
            connection = Connection.objects.select_for_update().get(pk=self.connection_id)
            current = connection.get_credentials()
            new = decide(current)
            if new != current:
                connection.set_credentials(new)
                connection.save(update_fields=["credentials_ciphertext", "updated_at"])
            return new
