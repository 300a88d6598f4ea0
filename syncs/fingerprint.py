"""A stable fingerprint of what, in an invoice, changes its entry, and only that.

- The third party counts by what the entry carries (its id, its name in the labels, its own
  accounts), not by its address, e-mail or identifiers: a new e-mail is no reason to flag a
  posted entry or rewrite a draft.
- Lines and the tax summary are compared as sets: the order in which a source returns them
  (Tryton gives none for tax rows) never makes a document look changed.

Fingerprints carry their format (``v2:...``). A stored fingerprint of the first format (no
prefix) is compared with the first format's formula, so an upgrade of the hub does not make
every synced document look changed; the engine then stores the new one.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from decimal import Decimal

from integration_hub.connectors.types import Invoice, Partner

FORMAT = "v2"
# extra: links that change, facts not booked; payments and cancellation are followed on their own.
IGNORED = {"updated_at", "version", "raw_state", "extra", "payments", "cancelled", "exchange_rate_source"}
# Fields added after v2 count only when set, so an upgrade leaves every stored fingerprint valid.
COUNTED_WHEN_SET = {"more_taxes", "company_amount", "dimensions", "reverse_charge", "company_total"}
PARTNER_FIELDS = ("id", "name", "auxiliary_account", "receivable_account", "payable_account")
LEGACY_ABSENT = {"accounting_date"}  # fields added after the first format


def _plain(value, *, legacy: bool = False):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Partner) and not legacy:
        return {name: _plain(getattr(value, name)) for name in PARTNER_FIELDS}
    if dataclasses.is_dataclass(value):
        plain = {f.name: _plain(getattr(value, f.name), legacy=legacy) for f in dataclasses.fields(value)
                 if f.name not in IGNORED and not (legacy and f.name in LEGACY_ABSENT)
                 and not (f.name in COUNTED_WHEN_SET and getattr(value, f.name) in (None, False, [], {}, ()))}
        if plain.get("dimensions"):  # a line counts by the ids it is charged to: a renamed cost centre changes nothing
            plain["dimensions"] = {name: pair[0] for name, pair in plain["dimensions"].items()}
        if isinstance(value, Invoice) and not legacy:  # collections compared as sets: sources give no order
            for name in ("taxes", "lines"):
                plain[name] = sorted(plain.get(name) or [], key=lambda row: json.dumps(row, sort_keys=True))
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain(v, legacy=legacy) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, legacy=legacy) for k, v in value.items()}
    return value


def _digest(payload) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def invoice_fingerprint(invoice: Invoice) -> str:
    """``v2:`` and 61 hex digits of SHA-256 (244 bits): it fits the 64 characters the hub stores."""
    return f"{FORMAT}:{_digest(_plain(invoice))[:61]}"


def legacy_fingerprint(invoice: Invoice) -> str:
    """The first format: every field, the tax rows in the order the source gave them."""
    return _digest(_plain(invoice, legacy=True))


def same_version(stored: str, invoice: Invoice, current: str) -> bool:
    """Does the stored fingerprint describe the same document as ``current`` (of ``invoice``)?"""
    if not stored:
        return False
    if stored == current:
        return True
    if ":" not in stored:  # the first format
        return stored == legacy_fingerprint(invoice)
    return False


__all__ = ["FORMAT", "invoice_fingerprint", "legacy_fingerprint", "same_version"]
