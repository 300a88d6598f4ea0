"""Payments (lettering) with Tryton, for TrytonConnector.

Source side: what an invoicing company says was paid on its invoices. Tryton keeps the payments of an
invoice as its `payment_lines` (the lines of the payment moves on the invoice's receivable or payable
account); an invoice paid by reconciling other lines directly has none, then the lines reconciled with it
(`reconciliation_lines`) are its payments. A line gives the date, the amount in the company's currency
(debit/credit) and, for a foreign invoice, in the invoice's (`amount_second_currency`). The line's id is the
payment's id. When Tryton's pay wizard took more than was due ("overpayment"), the excess is an open line of
the same move beside the payment line; it counts with that payment, so the hub books the money received.

Target side: the payment move the hub books in an accounting company, tagged with the hub's reference like
invoice moves, then reconciled (`account.move.reconciliation`) with the invoice's third-party line once the
payments cover it (see integration_hub/connectors/lettering.py).
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Sequence

from integration_hub.connectors.errors import NotFound, PermanentError
from integration_hub.connectors.lettering import lines_to_reconcile
from integration_hub.connectors.tryton.provider import PROVIDER
from integration_hub.connectors.types import CENT, EntryResult, JournalEntry, Payment

if TYPE_CHECKING:  # pragma: no cover
    from integration_hub.connectors.tryton.connector import TrytonConnector

INVOICE_FIELDS = ["type", "state", "currency.code", "total_amount", "payment_lines", "reconciliation_lines"]
PAYMENT_LINE_FIELDS = ["move", "account", "party", "date", "debit", "credit", "amount_second_currency",
                       "second_currency.code", "description", "move.description", "move.number", "invoice_payment",
                       "reconciliation"]
LETTERING_FIELDS = ["move", "date", "debit", "credit", "reconciliation"]


# --- source: what was paid -------------------------------------------------------------------------
def invoice_payments(connector: "TrytonConnector", invoice_ids: Sequence[str]) -> dict[str, list[Payment]]:
    ids = [int(i) for i in invoice_ids if str(i).isdigit()]
    if not ids:
        return {}
    company_currency = (connector.company().get("currency.") or {}).get("code", "")
    rows = connector.client.read("account.invoice", ids, INVOICE_FIELDS)
    paid_by = {row["id"]: _payment_line_ids(row) for row in rows}
    line_ids = sorted({line for lines in paid_by.values() for line in lines})
    if not line_ids:
        return {}
    # Every line of the payment moves: a payment's own line, and what Tryton left open beside it (an overpayment).
    lines = connector.client.search_read("account.move.line", [("move", "where", [("lines", "in", line_ids)])],
                                         PAYMENT_LINE_FIELDS, order=[("id", "ASC")])
    by_move: dict[int, list[dict]] = {}
    for line in lines:
        by_move.setdefault(line["move"], []).append(line)
    by_id = {line["id"]: line for line in lines}
    taken: set[int] = set(line_ids)
    found: dict[str, list[Payment]] = {}
    for row in rows:
        payments = []
        for line_id in paid_by[row["id"]]:
            if line_id in by_id:
                excess = _excess_beside(by_id[line_id], by_move, taken)
                payments.append(payment_from_lines([by_id[line_id], *excess], row, company_currency))
        payments = [p for p in payments if p is not None]
        if payments:
            found[str(row["id"])] = sorted(payments, key=lambda p: (p.date, int(p.id)))
    return found


def _payment_line_ids(row: dict) -> list[int]:
    if row.get("payment_lines"):
        return list(row["payment_lines"])
    return list(row.get("reconciliation_lines") or []) if row.get("state") == "paid" else []


def _excess_beside(line: dict, by_move: dict[int, list[dict]], taken: set[int]) -> list[dict]:
    """Open lines of the same move, account and third party that pay no invoice: what the payment brought beyond
    the invoice (Tryton's "overpayment"). Each is counted with one payment only."""
    excess = [other for other in by_move.get(line["move"], []) if other["id"] not in taken
              and other["account"] == line["account"] and other.get("party") == line.get("party")
              and not other.get("invoice_payment") and not other.get("reconciliation")]
    taken.update(other["id"] for other in excess)
    return excess


def payment_from_lines(lines: list[dict], invoice: dict, company_currency: str) -> Payment | None:
    """A payment line (and the excess beside it) as a Payment with positive amounts when it settles the invoice
    (None: a line that moves nothing in the invoice's currency, such as an exchange difference Tryton booked at
    reconciliation)."""
    line = lines[0]
    # A customer invoice is settled by credits, a supplier invoice by debits; a credit note the other way.
    settles_by_credit = (invoice.get("type") == "out") == (Decimal(invoice.get("total_amount") or 0) >= 0)
    sign = 1 if settles_by_credit else -1
    company = sum((Decimal(l["credit"]) - Decimal(l["debit"]) for l in lines), Decimal(0)) * sign
    currency = (invoice.get("currency.") or {}).get("code", "")
    if currency and currency != company_currency:
        if any(l.get("amount_second_currency") is None or (l.get("second_currency.") or {}).get("code") != currency
               for l in lines):
            return None
        amount = -sum((Decimal(l["amount_second_currency"]) for l in lines), Decimal(0)) * sign
    else:
        amount = company
    if not amount:
        return None
    move = line.get("move.") or {}
    label = line.get("description") or move.get("description") or move.get("number") or ""
    return Payment(id=str(line["id"]), date=line["date"], amount=amount.quantize(CENT),
                   company_amount=company.quantize(CENT), label=str(label)[:200])


# --- target: booking and lettering -----------------------------------------------------------------
def third_party_amount(connector: "TrytonConnector", entry_id: str, *, account_number: str, partner_id: str) -> Decimal:
    account_id = _account_id(connector, account_number)
    lines = _party_lines(connector, [int(entry_id)], account_id, int(partner_id))
    if not lines:
        raise NotFound(f"Tryton move {entry_id} has no line on {account_number} for this third party",
                       provider=PROVIDER.key)
    return sum((Decimal(line["debit"]) - Decimal(line["credit"]) for line in lines), Decimal(0))


def book_payment(connector: "TrytonConnector", entry: JournalEntry, *, reconcile_with_entry_id: str,
                 account_number: str, partner_id: str, post: bool, earlier_entry_ids: Sequence[str] = ()) -> EntryResult:
    account_id = _account_id(connector, account_number)
    party = int(partner_id)
    invoice_move = int(reconcile_with_entry_id)
    earlier = [int(i) for i in earlier_entry_ids]
    before = _party_lines(connector, [invoice_move, *earlier], account_id, party)
    invoice_lines = [line for line in before if line["move"] == invoice_move]
    if not invoice_lines:
        raise PermanentError(f"Tryton move {invoice_move} has no line on {account_number} for this third party",
                             provider=PROVIDER.key,
                             provider_message="The invoice's entry was changed or removed in accounting.")
    result = _booked(connector, entry, post)
    new_lines = _party_lines(connector, [int(result.entry_id)], account_id, party)
    _letter(connector, invoice_lines, [line for line in before if line["move"] != invoice_move], new_lines)
    after = _party_lines(connector, [invoice_move], account_id, party)
    result.reconciled = all(line.get("reconciliation") for line in after)
    return result


def _account_id(connector: "TrytonConnector", account_number: str) -> int:
    found = connector._account_ids({account_number}).get(account_number)
    if found is None:
        raise PermanentError(f"unknown account {account_number}", provider=PROVIDER.key)
    return found


def _party_lines(connector: "TrytonConnector", move_ids: list[int], account_id: int, party: int) -> list[dict]:
    return connector.client.search_read(
        "account.move.line", [("move", "in", move_ids), ("account", "=", account_id), ("party", "=", party)],
        LETTERING_FIELDS, order=[("id", "ASC")])


def _booked(connector: "TrytonConnector", entry: JournalEntry, post: bool) -> EntryResult:
    """The payment move: the one already tagged with the entry's reference, else a new one (posted if asked)."""
    result = connector.find_entry_by_reference(entry.reference)
    if result is None:
        (move_id,) = connector.client.create("account.move", [connector._values(entry)])
        result = EntryResult(reference=entry.reference, entry_id=str(move_id), state="draft")
    if post and result.state == "draft":
        connector._post([(0, int(result.entry_id))], [result])
        if result.error is not None:
            raise result.error
    return result


def _letter(connector: "TrytonConnector", invoice: list[dict], earlier: list[dict], new: list[dict]) -> None:
    def still_open(lines):
        return [(line["id"], Decimal(line["debit"]) - Decimal(line["credit"])) for line in lines
                if not line.get("reconciliation")]

    keys = lines_to_reconcile(still_open(invoice), still_open(earlier), still_open(new))
    if not keys:
        return
    _reconcile(connector, sorted(keys))


def _reconcile(connector: "TrytonConnector", line_ids: list[int]) -> None:
    """Reconcile balanced lines the way a user does: Tryton's *Reconcile Lines* wizard on them (its API refuses a
    reconciliation written directly)."""
    wizard = "wizard.account.move.reconcile_lines"
    context = {"active_model": "account.move.line", "active_id": line_ids[0], "active_ids": line_ids}
    client = connector.client
    session, start, _end = client.call(f"{wizard}.create", context=context, write=True)
    try:
        outcome = client.call(f"{wizard}.execute", session, {}, start, context=context, write=True)
    finally:
        client.call(f"{wizard}.delete", session, context=context, write=True)
    if isinstance(outcome, dict) and outcome.get("view"):  # it asks for a write-off: the lines do not balance
        raise PermanentError("Tryton would reconcile the payment only with a write-off", provider=PROVIDER.key,
                             provider_message="The payment and the invoice differ in the invoice's currency.")
