"""Checks and writes on flows and their mappings."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from mappings.models import Flow, FlowKind, JournalMode, VatMapping


@dataclass(frozen=True)
class Problem:
    step: str  # the wizard step that fixes it
    message: str


class FlowNotReady(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


KIND_WORDS = {"sale": "sales", "purchase": "purchase"}


def flow_problems(flow: Flow) -> list[Problem]:
    """Everything that must be set before the flow may run, each naming the step that sets it."""
    problems: list[Problem] = []
    if flow.kind == FlowKind.MASTER_DATA:
        if not flow.source_id:
            problems.append(Problem("source", "No accounting tool is chosen to read the ledger accounts and contacts from."))
        if not flow.target_id:
            problems.append(Problem("target", "No Factorial connection is chosen to push them to."))
        if not [c for c in flow.account_classes if c.isdigit()]:
            problems.append(Problem("configuration", "No account class is chosen."))
        return problems
    if flow.kind == FlowKind.DOCUMENTS:
        if not flow.source_id:
            problems.append(Problem("source", "No ERP is connected."))
        if not flow.target_id:
            problems.append(Problem("target", "No accounting tool is connected."))
        if not flow.object_types:
            problems.append(Problem("configuration", "No object type is switched on."))
        if "sale" in flow.kinds and not flow.default_sales_account:
            problems.append(Problem("accounts", "The sales account (lines of quotes, orders and invoices) is not set."))
        if "purchase" in flow.kinds and not flow.default_purchase_account:
            problems.append(Problem("accounts", "The purchase account (lines of purchase orders and bills) is not set."))
        return problems
    if not flow.source_id:
        problems.append(Problem("source", "No invoicing tool is connected."))
    if not flow.target_id:
        problems.append(Problem("target", "No accounting tool is connected."))
    if flow.start_date is None:
        problems.append(Problem("configuration", "The synchronisation start date is not set."))
    books_entries = flow.books_entries
    mapped_kinds = set(VatMapping.objects.filter(flow=flow).values_list("kind", flat=True)) if flow.pk else set()
    for kind in flow.kinds:
        word = KIND_WORDS[kind]
        if kind not in mapped_kinds:
            problems.append(Problem(f"{kind}_vat", f"No {word} VAT rate is mapped to a VAT code."))
        if not getattr(flow, f"{kind if kind == 'purchase' else 'sales'}_rounding_vat_code_id"):
            problems.append(Problem("rounding_vat", f"The VAT code for {word} rounding is not set."))
        if flow.journal_mode == JournalMode.BY_KIND and books_entries:
            if not getattr(flow, f"{'sales' if kind == 'sale' else 'purchase'}_journal_id"):
                problems.append(Problem("journals", f"The {word} journal is not set."))
        if not getattr(flow, f"default_{'sales' if kind == 'sale' else 'purchase'}_account"):
            problems.append(Problem("accounts", f"The default {word} account is not set."))
        collective = "customer_collective_account" if kind == "sale" else "supplier_collective_account"
        if books_entries and not getattr(flow, collective):
            who = "customer" if kind == "sale" else "supplier"
            problems.append(Problem("accounts", f"The {who} collective account is not set."))
        if flow.separate_discounts and not getattr(flow, f"{'sales' if kind == 'sale' else 'purchase'}_discount_account"):
            problems.append(Problem("discounts", f"Discounts go to their own account but the {word} discount account is not set."))
    if books_entries and flow.journal_mode == JournalMode.BY_SOURCE_JOURNAL and flow.pk and not flow.journal_mappings.exists():
        problems.append(Problem("journals", "No journal of the invoicing tool is mapped to an accounting journal."))
    if not flow.credit_rounding_account:
        problems.append(Problem("accounts", "The credit rounding account is not set."))
    if not flow.debit_rounding_account:
        problems.append(Problem("accounts", "The debit rounding account is not set."))
    if flow.sync_payments and not (flow.payment_journal_id and flow.bank_account):
        problems.append(Problem("configuration", "Payments are booked, but their journal or bank account is not set."))
    return problems


def flow_check_ready(flow: Flow) -> None:
    problems = flow_problems(flow)
    if problems:
        raise FlowNotReady(problems)


@transaction.atomic
def vat_mapping_set(*, flow: Flow, kind: str, source_tax_id: str, source_rate, source_label: str = "",
                    target_vat_code_id: str, target_vat_code_label: str = "", due_vat_code_id: str = "",
                    due_vat_code_label: str = "") -> VatMapping:
    """Map one tax of the source; with a due VAT code the mapping is a reverse charge (deductible + due)."""
    mapping, _ = VatMapping.objects.update_or_create(
        flow=flow, kind=kind, source_tax_id=source_tax_id,
        defaults={"source_rate": source_rate, "source_label": source_label,
                  "target_vat_code_id": target_vat_code_id, "target_vat_code_label": target_vat_code_label,
                  "reverse_charge": bool(due_vat_code_id), "due_vat_code_id": due_vat_code_id,
                  "due_vat_code_label": due_vat_code_label},
    )
    return mapping
