"""Fill a flow with the suggested mappings, from live lists (used by the demo and by tests)."""
from __future__ import annotations

from django.db import transaction

from mappings import suggestions
from mappings.models import DimensionMapping, Flow
from mappings.services import vat_mapping_set


@transaction.atomic
def flow_apply_suggestions(*, flow: Flow, source, target) -> list[str]:
    """Set every mapping that has a clear suggestion; return what could not be suggested."""
    missing: list[str] = []
    accounts = target.list_accounts()
    numbered = flow.books_entries  # a chart numbered by class; a tool that books documents names its own codes
    for role in suggestions.USUAL_ACCOUNTS:
        if not numbered and role in ("customer_collective_account", "supplier_collective_account"):
            continue  # the tool posts third parties on its own receivable/payable accounts
        found = suggestions.suggest_account(role, accounts, numbered=numbered)
        if found is None:
            missing.append(role)
        else:
            setattr(flow, role, found.number)
    journals = target.list_journals()
    for kind, field in (("sale", "sales_journal"), ("purchase", "purchase_journal")) if numbered else ():
        journal = suggestions.suggest_journal(kind, journals)
        if journal is None:
            missing.append(field)
            continue
        setattr(flow, f"{field}_id", journal.id)
        setattr(flow, f"{field}_label", f"{journal.code} {journal.name}".strip())
    _suggest_payment_settings(flow, accounts, journals)
    codes = target.list_vat_codes()
    for rate in source.list_tax_rates():
        kinds = ("sale", "purchase") if rate.kind == "both" else (rate.kind,)
        for kind in kinds:
            code = suggestions.suggest_vat_code(rate, codes, kind)
            if code is None:
                missing.append(f"{kind} VAT {rate.rate} % ({rate.name})")
                continue
            due = suggestions.reverse_charge_pair(code, codes) if rate.reverse_charge else None
            if rate.reverse_charge and due is None:
                missing.append(f"{kind} reverse-charge VAT {rate.rate} % ({rate.name})")
                continue
            vat_mapping_set(flow=flow, kind=kind, source_tax_id=rate.id, source_rate=rate.rate, source_label=rate.name,
                            target_vat_code_id=code.id, target_vat_code_label=code.code,
                            due_vat_code_id=due.id if due else "", due_vat_code_label=due.code if due else "")
    for kind, prefix in (("sale", "sales"), ("purchase", "purchase")):
        standard = suggestions.suggest_rounding_vat_code(codes, kind)
        if standard is None:
            missing.append(f"{prefix} rounding VAT code")
            continue
        setattr(flow, f"{prefix}_rounding_vat_code_id", standard.id)
        setattr(flow, f"{prefix}_rounding_vat_code_label", standard.code)
    flow.save()
    dimension_apply_suggestions(flow=flow, source=source, target=target)
    return missing


def dimension_apply_suggestions(*, flow: Flow, source, target) -> int:
    """Map each cost centre, project or analytic account of the source to the target's analytic account of the
    same name, where there is one and the value is not mapped yet; returns how many were mapped. Values left
    unmapped follow the flow's setting (unmapped_dimension)."""
    values = source.list_dimension_values()
    targets = target.list_dimensions() if values else []
    labels = {target_id: label for target_id, label, _axis in targets}
    existing = set(DimensionMapping.objects.filter(flow=flow).values_list("dimension", "source_value_id"))
    count = 0
    for dimension, value_id, label in values:
        target_id = suggestions.suggest_dimension(label, targets)
        if target_id and (dimension, value_id) not in existing:
            DimensionMapping.objects.create(flow=flow, dimension=dimension, source_value_id=value_id,
                                            source_label=label[:200], target_dimension_id=target_id,
                                            target_dimension_label=labels[target_id][:200])
            count += 1
    return count


def _suggest_payment_settings(flow: Flow, accounts, journals) -> None:
    """Where payments would be booked, when the chart has the usual accounts (512, 766, 666) and a cash
    journal; booking them stays off until someone turns it on. Nothing here is reported missing."""
    for role in suggestions.PAYMENT_ACCOUNTS:
        found = suggestions.suggest_account(role, accounts)
        if found is not None and not getattr(flow, role):
            setattr(flow, role, found.number)
    journal = suggestions.suggest_payment_journal(journals)
    if journal is not None and not flow.payment_journal_id:
        flow.payment_journal_id = journal.id
        flow.payment_journal_label = f"{journal.code} {journal.name}".strip()[:200]
