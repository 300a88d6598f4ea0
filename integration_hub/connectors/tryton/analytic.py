"""Tryton's analytic accounts (modules analytic_account and analytic_invoice) for the hub.

As a source, an invoice line carries one analytic account per axis (an ``analytic.account.entry``
with its root and account); the hub names the axis ``analytic:<root id>`` in ``InvoiceLine.dimensions``.
As a target, a move line carries ``analytic_lines`` (account, debit, credit, date), one per analytic
account, each with the line's whole amount.

A Tryton without these modules simply has no dimensions: every function here answers empty.
"""
from __future__ import annotations

import datetime as dt

from integration_hub.connectors.errors import ConnectorError
from integration_hub.connectors.types import EntryLine

AXIS_PREFIX = "analytic:"
ENTRY_FIELDS = ["origin", "root", "account", "account.name"]


def has_field(client, model: str, field: str) -> bool:
    """Whether the Tryton behind ``client`` knows ``model.field`` (asked once per client)."""
    known = client.__dict__.setdefault("_hub_known_fields", {})
    key = (model, field)
    if key not in known:
        try:
            known[key] = field in (client.call(f"model.{model}.fields_get", [field]) or {})
        except ConnectorError as exc:
            if exc.retryable:
                raise
            known[key] = False  # the model itself is unknown: its module is not activated
    return known[key]


def axis(root_id) -> str:
    return f"{AXIS_PREFIX}{root_id}"


def line_dimensions(client, line_ids: list[int]) -> dict[int, dict[str, tuple[str, str]]]:
    """{invoice line id: {"analytic:<root id>": (account id, account name)}} for the lines that have any."""
    if not line_ids or not has_field(client, "account.invoice.line", "analytic_accounts"):
        return {}
    origins = [f"account.invoice.line,{line_id}" for line_id in line_ids]
    rows = client.search_read("analytic.account.entry", [("origin", "in", origins)], ENTRY_FIELDS)
    found: dict[int, dict[str, tuple[str, str]]] = {}
    for row in rows:
        account = row.get("account")
        origin = row.get("origin") or ""
        if not account or not origin.startswith("account.invoice.line,"):
            continue
        line_id = int(origin.split(",", 1)[1])
        name = (row.get("account.") or {}).get("name") or str(account)
        found.setdefault(line_id, {})[axis(row["root"])] = (str(account), name)
    return found


def _accounts(client, company_id: int, types: list[str]) -> list[dict]:
    if not has_field(client, "account.move.line", "analytic_lines"):
        return []
    return client.search_read("analytic_account.account",
                              [("company", "=", company_id), ("type", "in", types), ("state", "!=", "closed")],
                              ["name", "code", "root", "root.name"], order=[("root", "ASC"), ("name", "ASC")])


def _label(row: dict) -> str:
    return f"{row['code']} {row['name']}" if row.get("code") else row.get("name") or str(row["id"])


def source_values(client, company_id: int) -> list[tuple[str, str, str]]:
    """(axis, account id, label) of every analytic account an invoice line may carry."""
    return [(axis(row["root"]), str(row["id"]), _label(row))
            for row in _accounts(client, company_id, ["normal", "distribution"])]


def target_dimensions(client, company_id: int) -> list[tuple[str, str, str]]:
    """(account id, label, axis name) of every analytic account a move line may be booked on."""
    return [(str(row["id"]), _label(row), (row.get("root.") or {}).get("name") or "")
            for row in _accounts(client, company_id, ["normal"])]


def analytic_lines(line: EntryLine, date: dt.date) -> list:
    """The ``analytic_lines`` value of a move line: the line's amount on each of its analytic accounts."""
    accounts = sorted({int(account_id) for account_id in line.analytic.values() if str(account_id).isdigit()})
    return [["create", [{"account": account_id, "debit": line.debit, "credit": line.credit, "date": date}
                        for account_id in accounts]]]


def attach_dimensions(client, lines: list[dict]) -> None:
    """Set ``dimensions`` on the rows of invoice lines read from Tryton (the mapper passes it on)."""
    found = line_dimensions(client, [line["id"] for line in lines])
    for line in lines:
        if line["id"] in found:
            line["dimensions"] = found[line["id"]]
