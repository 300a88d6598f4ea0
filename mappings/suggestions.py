"""Sensible defaults offered to people mapping a flow (pure functions over unified types)."""
from __future__ import annotations

from decimal import Decimal

from integration_hub.connectors.text import normalise_name
from integration_hub.connectors.types import Account, Journal, TaxRate, VatCode
from mappings.models import NO_VAT, NO_VAT_LABEL

# The French usual accounts for each role; a closed or grouping account gives way to its first postable child.
USUAL_ACCOUNTS = {
    "default_sales_account": ("707", "706"),
    "default_purchase_account": ("607", "606", "604"),
    "customer_collective_account": ("411",),
    "supplier_collective_account": ("401",),
    "credit_rounding_account": ("758",),
    "debit_rounding_account": ("658",),
    "sales_discount_account": ("709",),
    "purchase_discount_account": ("609",),
}
ACCOUNT_CLASSES = {  # which classes the lists of each step show
    "default_sales_account": ("7",), "default_purchase_account": ("6",),
    "customer_collective_account": ("4",), "supplier_collective_account": ("4",),
    "credit_rounding_account": ("7", "6", "4"), "debit_rounding_account": ("6", "7", "4"),
    "sales_discount_account": ("6", "7"), "purchase_discount_account": ("6", "7"),
}

# Payments (lettering): where the money goes, and the exchange differences at payment (flow settings, optional).
PAYMENT_ACCOUNTS = {"bank_account": ("512",), "exchange_gain_account": ("766",), "exchange_loss_account": ("666",),
                    # what a payment brings in penalty interest and collection fees (issue 17): the French chart's
                    # 763 / 7588, a Finnish chart's 9160 (late-payment interest) / 3990 (other sales income)
                    "interest_account": ("763", "9160"), "collection_fees_account": ("7588", "3990")}
PAYMENT_ACCOUNT_CLASSES = {"bank_account": ("5",), "exchange_gain_account": ("7",), "exchange_loss_account": ("6",),
                           "interest_account": ("7", "9"), "collection_fees_account": ("7", "3")}


# Charts not numbered by class (Xero's codes are the organisation's own): the usual accounts by their names.
USUAL_ACCOUNT_NAMES = {
    "default_sales_account": ("sales",),
    "default_purchase_account": ("purchases", "cost of goods sold", "general expenses"),
    "credit_rounding_account": ("rounding",),
    "debit_rounding_account": ("rounding",),
    "sales_discount_account": ("discount",),
    "purchase_discount_account": ("discount",),
}


def suggest_account(role: str, accounts: list[Account], *, numbered: bool = True) -> Account | None:
    """The usual account for a role: by number in a chart numbered by class (the French plan), else by name."""
    usable = sorted((a for a in accounts if a.usable), key=lambda a: a.number)
    if not numbered:
        for words in USUAL_ACCOUNT_NAMES.get(role, ()):
            hits = [a for a in usable if words in normalise_name(a.name)]
            if hits:
                return hits[0]
        return None
    by_number = {a.number: a for a in usable}
    for prefix in {**USUAL_ACCOUNTS, **PAYMENT_ACCOUNTS}.get(role, ()):
        if prefix in by_number:
            return by_number[prefix]
        children = [a for a in usable if a.number.startswith(prefix)]
        if children:
            return children[0]
    return None


def accounts_for(role: str, accounts: list[Account], *, numbered: bool = True) -> list[Account]:
    """The accounts a role may use: by class in a chart numbered by class, every usable one otherwise."""
    if not numbered:
        return sorted((a for a in accounts if a.usable), key=lambda a: a.number)
    classes = {**ACCOUNT_CLASSES, **PAYMENT_ACCOUNT_CLASSES}.get(role, ("4", "6", "7"))
    return sorted((a for a in accounts if a.usable and a.account_class in classes), key=lambda a: a.number)


def _words(text: str) -> set[str]:
    return set(normalise_name(text).split())


NO_VAT_CODE = VatCode(id=NO_VAT, code=NO_VAT_LABEL, name=NO_VAT_LABEL, rate=Decimal(0), kind="both")


def suggest_vat_code(rate: TaxRate, codes: list[VatCode], kind: str) -> VatCode | None:
    """A VAT code of the same kind and rate; among several, the one whose name shares most words.

    A reverse charge is offered only the deductible half of a reverse-charge pair (never a 0 % code), and an
    ordinary rate never half of a pair."""
    wanted_role = "deductible" if rate.reverse_charge else ""
    same = [c for c in codes if c.rate is not None and Decimal(c.rate) == Decimal(rate.rate)
            and c.kind in (kind, "both") and c.reverse_charge == wanted_role]
    if not same:
        # A 0 % rate the accounting tool has no code for (French charts have no 0 % purchase code): nothing to
        # report, its lines are booked without VAT.
        if not rate.reverse_charge and rate.rate is not None and Decimal(rate.rate) == 0:
            return NO_VAT_CODE
        return None
    wanted = _words(rate.name)
    return max(same, key=lambda c: (len(wanted & _words(f"{c.code} {c.name}")), -len(c.code)))


def suggest_journal(kind: str, journals: list[Journal]) -> Journal | None:
    matching = [j for j in journals if j.kind == kind]
    return matching[0] if matching else None


STANDARD_RATE = Decimal(20)


def suggest_rounding_vat_code(codes: list[VatCode], kind: str) -> VatCode | None:
    """Rounding lines carry the standard rate's code (20 % in France) when there is one."""
    standard = [c for c in codes if c.kind in (kind, "both") and c.rate is not None and Decimal(c.rate) == STANDARD_RATE]
    if standard:
        return min(standard, key=lambda c: (len(c.code), c.code))
    return None


def suggest_dimension(label: str, targets: list[tuple[str, str, str]]) -> str:
    """The id of the analytic account (id, label, axis) named like ``label``, or "": the same name first, then
    the same name behind a code ("PAR Siège Paris" for "Siège Paris", either way round)."""
    wanted = normalise_name(label)
    if not wanted:
        return ""
    names = [(target_id, normalise_name(target_label)) for target_id, target_label, _axis in targets]
    for target_id, name in names:
        if name == wanted:
            return target_id
    for target_id, name in names:
        if name and (name.endswith(" " + wanted) or wanted.endswith(" " + name)):
            return target_id
    return ""


def reverse_charge_pair(deductible: VatCode, codes: list[VatCode]) -> VatCode | None:
    """The due half that goes with a deductible reverse-charge code."""
    return next((c for c in codes if c.id == deductible.pair and c.reverse_charge == "due"), None)


def suggest_payment_journal(journals: list[Journal]) -> Journal | None:
    """The journal payments are booked on: the accounting tool's first cash or bank journal."""
    matching = [j for j in journals if j.kind in ("cash", "bank")]
    return matching[0] if matching else None
