"""Fill a flow with the suggested mappings, from live lists (used by the demo and by tests)."""
from __future__ import annotations

from django.db import transaction

from mappings import suggestions
from mappings.models import Flow
from mappings.services import vat_mapping_set


@transaction.atomic
def flow_apply_suggestions(*, flow: Flow, source, target) -> list[str]:
    """Set every mapping that has a clear suggestion; return what could not be suggested."""
    missing: list[str] = []
    accounts = target.list_accounts()
    for role in suggestions.USUAL_ACCOUNTS:
        found = suggestions.suggest_account(role, accounts)
        if found is None:
            missing.append(role)
        else:
            setattr(flow, role, found.number)
    journals = target.list_journals()
    for kind, field in (("sale", "sales_journal"), ("purchase", "purchase_journal")):
        journal = suggestions.suggest_journal(kind, journals)
        if journal is None:
            missing.append(field)
            continue
        setattr(flow, f"{field}_id", journal.id)
        setattr(flow, f"{field}_label", f"{journal.code} {journal.name}".strip())
    codes = target.list_vat_codes()
    for rate in source.list_tax_rates():
        kinds = ("sale", "purchase") if rate.kind == "both" else (rate.kind,)
        for kind in kinds:
            code = suggestions.suggest_vat_code(rate, codes, kind)
            if code is None:
                missing.append(f"{kind} VAT {rate.rate} % ({rate.name})")
                continue
            vat_mapping_set(flow=flow, kind=kind, source_tax_id=rate.id, source_rate=rate.rate, source_label=rate.name,
                            target_vat_code_id=code.id, target_vat_code_label=code.code)
    for kind, prefix in (("sale", "sales"), ("purchase", "purchase")):
        standard = suggestions.suggest_rounding_vat_code(codes, kind)
        if standard is None:
            missing.append(f"{prefix} rounding VAT code")
            continue
        setattr(flow, f"{prefix}_rounding_vat_code_id", standard.id)
        setattr(flow, f"{prefix}_rounding_vat_code_label", standard.code)
    flow.save()
    return missing
