"""Panels other apps' pages include: the tenant's flows and its error counters."""
from django import template

from mappings.models import FlowKind
from syncs import catalogue, selectors
from tenants import policy

register = template.Library()


@register.inclusion_tag("syncs/flows_panel.html", takes_context=True)
def flows_panel(context, tenant):
    flows = list(selectors.flows_for_tenant(tenant))
    latest = selectors.latest_runs(flows)
    for flow in flows:
        flow.latest_run = latest.get(flow.pk)
        # A setup never finished: an invoices flow never activated (the wizard's last step starts its first run).
        flow.in_setup = flow.kind in (FlowKind.INVOICES, FlowKind.DOCUMENTS) and not flow.enabled and flow.latest_run is None
    counters = selectors.tenant_counters(tenant)
    for row in counters["errors_by_code"]:
        row["title"] = catalogue.get(row["code"]).title
    user = context.get("user")
    return {"tenant": tenant, "flows": flows, "in_setup": [flow for flow in flows if flow.in_setup], "counters": counters, "csrf_token": context.get("csrf_token"),
            "can_run": bool(user and policy.may(user, "syncs.add_syncrun", tenant)),
            "is_owner": bool(user and policy.may(user, "mappings.add_flow", tenant)),
            "can_desk": bool(user and policy.may(user, "syncs.view_syncerror", tenant)),
            "can_import": bool(user and policy.may(user, "mappings.import_vatmapping", tenant))}
