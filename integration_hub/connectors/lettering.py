"""Lettering: which open third-party lines a payment settles, whatever the accounting tool.

The connectors that book payments (Tryton, memory) ask this one rule, so they reconcile alike. Each line
is (key, amount): its amount in the company's currency, debit positive; only lines not reconciled yet.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Hashable, Sequence

Line = tuple[Hashable, Decimal]


def lines_to_reconcile(invoice: Sequence[Line], earlier: Sequence[Line], new: Sequence[Line]) -> list[Hashable]:
    """The keys to reconcile together, or [] while the payments do not cover the invoice yet.

    invoice: the invoice's open third-party lines; earlier: the open third-party lines of the payments
    already booked for it; new: those of the payment just booked. All of them when they balance (the
    invoice is paid); else all but one line of the new payment when that balances (an overpayment: its
    excess line stays open, a credit of the third party)."""
    if not invoice:
        return []
    lines = [*invoice, *earlier, *new]
    total = sum((amount for _, amount in lines), Decimal(0))
    if total == 0:
        return [key for key, _ in lines]
    for left_out, amount in new:
        if total - amount == 0:
            return [key for key, _ in lines if key != left_out]
    return []
