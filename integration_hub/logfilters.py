"""A logging filter that blanks anything shaped like a credential before a record is written."""
from __future__ import annotations

import logging
import re

_PATTERNS = [
    # key=value or "key": "value" for secret-looking keys
    re.compile(
        r"""(?P<key>["']?(?:password|passwd|secret|api[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret|token|session)["']?\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"'\s,;}&]+)""",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<key>Authorization:?\s*[\"']?(?:Bearer|Basic|Session)\s+)(?P<quote>)(?P<value>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('key')}{m.group('quote')}[redacted]", text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
