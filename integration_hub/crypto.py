"""Encryption at rest for connection credentials.

Keys come from the ``HUB_ENCRYPTION_KEYS`` setting: a list of Fernet keys, the first one
encrypts, all of them decrypt. Rotating means putting a new key first, keeping the old ones
until ``manage.py rotate_credentials`` has re-encrypted every row, then removing them.
"""
from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV_VARIABLE = "HUB_ENCRYPTION_KEYS"


class EncryptionKeyError(ValueError):
    """A configured key is not a usable Fernet key."""


class UndecryptableSecret(Exception):
    """The stored value cannot be decrypted with any configured key."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def derive_development_key(secret_key: str) -> str:
    """A stable key derived from SECRET_KEY, for DEBUG installs that set no key of their own."""
    digest = hashlib.sha256(b"integration-hub-credentials:" + secret_key.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def build_multifernet(keys: list[str] | tuple[str, ...]) -> MultiFernet:
    """Validate every key and return the MultiFernet; the error names the variable and the entry."""
    cleaned = [k.strip() for k in keys if k and k.strip()]
    if not cleaned:
        raise EncryptionKeyError(
            f"{ENV_VARIABLE} is empty: set it to one or more Fernet keys separated by commas "
            "(generate one with `python -m integration_hub.crypto`)."
        )
    fernets = []
    for position, key in enumerate(cleaned, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError) as exc:
            raise EncryptionKeyError(
                f"{ENV_VARIABLE}: key #{position} is not a valid Fernet key (it must be 32 url-safe "
                "base64-encoded bytes, 44 characters). Generate one with "
                "`python -m integration_hub.crypto`."
            ) from exc
    return MultiFernet(fernets)


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return build_multifernet(keys)


def _configured() -> MultiFernet:
    from django.conf import settings

    return _multifernet(tuple(settings.HUB_ENCRYPTION_KEYS))


def encrypt_json(value: dict) -> str:
    payload = json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _configured().encrypt(payload).decode("ascii")


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        payload = _configured().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError, ValueError) as exc:
        raise UndecryptableSecret("the stored credentials cannot be decrypted with the configured keys") from exc
    return json.loads(payload)


def rotate_token(token: str) -> str:
    """Re-encrypt a token with the primary key (raises UndecryptableSecret when no key fits)."""
    try:
        return _configured().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError, ValueError) as exc:
        raise UndecryptableSecret("the stored credentials cannot be decrypted with the configured keys") from exc


def mask_secret(value: str | None) -> str:
    """What a form or the admin may show of a secret: never the whole thing."""
    if not value:
        return ""
    value = str(value)
    if len(value) >= 12:
        return "\u2022" * 8 + value[-4:]
    return "\u2022" * 8


if __name__ == "__main__":  # `python -m integration_hub.crypto` prints a new key, no settings needed
    print(generate_key())
