"""Remote answers are data, not messages: what may be kept of them, and which values never.

A server's answer ends up in pages, in `Connection.status_message`, in run messages and in the error
desk, in front of viewers and support staff. Whatever it says, we keep at most a short, single-line,
plain-text excerpt (no markup, no control or direction-changing characters), and any credential of
the connection is replaced by "[redacted]" first — a server that echoes the request would otherwise
hand back the password it was sent.
"""
from __future__ import annotations

import html
import json
import re
import unicodedata
from typing import Iterable, Mapping
from urllib.parse import quote, quote_plus

LIMIT = 200
REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4  # shorter values would blank ordinary words of every message
# Credential keys that are secret whatever the provider declares (tokens are stored, not typed).
SECRET_KEYS = frozenset({"password", "api_key", "access_token", "refresh_token", "id_token", "client_secret"})

_HIDDEN_BLOCKS = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENTS = re.compile(r"<!--.*?-->", re.DOTALL)
_TAGS = re.compile(r"</?[A-Za-z!][^<>]*>")


def secret_values(credentials: Mapping[str, object], secret_names: Iterable[str] = ()) -> set[str]:
    """The values of a credential set that must never be stored or shown."""
    names = SECRET_KEYS | set(secret_names)
    return {str(value) for key, value in credentials.items() if key in names and value not in (None, "")}


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced, also in the forms an echo would carry it (JSON, URL, HTML)."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
                 quote(secret, safe=""), quote_plus(secret), html.escape(secret), " ".join(secret.split())}
        for form in sorted(forms, key=len, reverse=True):
            if form:
                text = text.replace(form, REDACTED)
    return text


def plain(text: str) -> str:
    """One line of plain text: markup, control and format characters removed, spaces collapsed."""
    text = _COMMENTS.sub(" ", _HIDDEN_BLOCKS.sub(" ", text))
    text = html.unescape(_TAGS.sub(" ", text))
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    return " ".join(text.split())


def excerpt(text: object, *, secrets: Iterable[str] = (), limit: int = LIMIT) -> str:
    """A short, sanitised excerpt of a remote answer, secrets redacted before it is cut."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    secrets = list(secrets)
    cleaned = redact(plain(redact(str(text), secrets)), secrets)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned
