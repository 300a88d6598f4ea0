from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from mappings.models import NO_VAT, NO_VAT_LABEL, FlowKind
from mappings.services import FlowNotReady, flow_problems
from syncs import catalogue, selectors, services
from syncs.models import DocumentOutcome
from tenants import policy
from tenants.views import tenant_view


def _run_message(request, run, created) -> None:
    if created:
        messages.success(request, f"Run {run.pk} queued: it starts in a few seconds.")
    else:
        messages.info(request, f"Run {run.pk} is already {run.get_status_display().lower()}; it picks up "
                               "every open error and change, so nothing more was queued.")


@tenant_view()
def flow_detail(request, tenant, pk):
    flow = selectors.access_flow(request.user, tenant, pk)
    runs = list(flow.runs.defer("call_log").order_by("-created_at", "-id")[:20])
    is_owner = policy.may(request.user, "mappings.change_flow", flow)
    # The invoices and document flows' settings are the wizard's steps; a flow never activated is a setup to finish.
    has_steps = flow.kind in (FlowKind.INVOICES, FlowKind.DOCUMENTS)
    in_setup = has_steps and not flow.enabled and not runs
    vat_mappings = list(flow.vat_mappings.all())
    for mapping in vat_mappings:
        mapping.rate_shown = format(mapping.source_rate.normalize(), "f")
        mapping.code_shown = (NO_VAT_LABEL if mapping.target_vat_code_id == NO_VAT
                              else mapping.target_vat_code_label or mapping.target_vat_code_id)
    context = {"tenant": tenant, "flow": flow, "problems": flow_problems(flow), "runs": runs,
               "vat_mappings": vat_mappings, "journal_mappings": flow.journal_mappings.all(),
               "is_owner": is_owner, "in_setup": in_setup, "has_steps": has_steps and is_owner,
               "setup_step": flow.wizard_step or "source",
               "every_minutes": services.schedule_minutes(flow),
               "can_run": policy.may(request.user, "syncs.add_syncrun", flow) and not in_setup}
    if flow.kind == FlowKind.DOCUMENTS:
        from syncs.wizard_documents import ObjectTypesForm

        context["switches"] = ObjectTypesForm(flow=flow, with_name=False)
    return render(request, "syncs/flow_detail.html", context)


@tenant_view("mappings.change_flow")
@require_POST
def flow_switches(request, tenant, pk):
    """A document flow's object types and creation switches, changed from its page (they apply from the next run;
    a run that is following the ERP reads them when it starts its next pass)."""
    from syncs.wizard_documents import save_switches

    flow = selectors.access_flow(request.user, tenant, pk)
    if flow.kind != FlowKind.DOCUMENTS:
        messages.error(request, "Only document flows have object types.")
        return redirect("flow_detail", slug=tenant.slug, pk=flow.pk)
    form = save_switches(flow, request.POST)
    if form.is_valid():
        on = [label for key, label in form.fields["object_types"].choices if key in flow.object_types]
        messages.success(request, f"Saved: {', '.join(on)}; they apply from the next run.")
        return redirect("flow_detail", slug=tenant.slug, pk=flow.pk)
    for error in form.errors.get("object_types", []):
        messages.error(request, error)
    return redirect("flow_detail", slug=tenant.slug, pk=flow.pk)


@tenant_view("syncs.add_syncrun")
@require_POST
def flow_sync_now(request, tenant, pk):
    flow = selectors.access_flow(request.user, tenant, pk)
    run, created = services.run_request(flow=flow, user=request.user)
    _run_message(request, run, created)
    return redirect("run_detail", slug=tenant.slug, pk=run.pk)


@tenant_view("syncs.retry_syncerror")
@require_POST
def flow_retry_errors(request, tenant, pk):
    flow = selectors.access_flow(request.user, tenant, pk)
    run, created = services.retry_open_errors(flow=flow, user=request.user)
    if run is None:
        messages.info(request, "There is no open error to retry.")
        return redirect("flow_detail", slug=tenant.slug, pk=flow.pk)
    _run_message(request, run, created)
    return redirect("run_detail", slug=tenant.slug, pk=run.pk)


@tenant_view("mappings.change_flow")
@require_POST
def flow_activate(request, tenant, pk):
    flow = selectors.access_flow(request.user, tenant, pk)
    try:
        run = services.flow_activate(flow=flow, user=request.user)
    except FlowNotReady as exc:
        for problem in exc.problems:
            messages.error(request, problem.message)
        return redirect("flow_detail", slug=tenant.slug, pk=flow.pk)
    messages.success(request, f"{flow.name} is active: it runs every {flow.schedule_minutes} minutes. First run queued.")
    return redirect("run_detail", slug=tenant.slug, pk=run.pk) if run else redirect("flow_detail", slug=tenant.slug, pk=flow.pk)


@tenant_view("mappings.change_flow")
@require_POST
def flow_deactivate(request, tenant, pk):
    flow = selectors.access_flow(request.user, tenant, pk)
    services.flow_deactivate(flow=flow)
    messages.success(request, f"{flow.name} is no longer active; it will not run on its own.")
    return redirect("flow_detail", slug=tenant.slug, pk=flow.pk)


@tenant_view()
def run_detail(request, tenant, pk):
    run = selectors.access_run(request.user, tenant, pk)
    outcomes = (DocumentOutcome.objects.filter(run=run).select_related("document").order_by("-id")[:200])
    for outcome in outcomes:
        outcome.catalogue = catalogue.get(outcome.error_code) if outcome.error_code else None
    return render(request, "syncs/run_detail.html", {"tenant": tenant, "run": run, "outcomes": outcomes,
                                                     "active": selectors.run_is_active(run)})


@tenant_view()
def run_progress(request, tenant, pk):
    """Live progress of a run, polled by its page."""
    return JsonResponse(selectors.run_progress(selectors.access_run(request.user, tenant, pk)))


@tenant_view("mappings.add_flow")
def master_data_new(request, tenant):
    from mappings.models import FlowKind
    from syncs.wizard_forms import MasterDataFlowForm

    form = MasterDataFlowForm(request.POST or None, tenant=tenant,
                              initial={"name": "Master data to Factorial", "account_classes": "4567",
                                       "schedule_minutes": 60})
    if request.method == "POST" and form.is_valid():
        flow = form.save(commit=False)
        flow.tenant, flow.kind, flow.wizard_step = tenant, FlowKind.MASTER_DATA, "review"
        flow.full_clean()
        flow.save()
        messages.success(request, "Flow saved. Activate it to push the ledger accounts and contacts now and then "
                                  "on its schedule.")
        return redirect("flow_detail", slug=tenant.slug, pk=flow.pk)
    return render(request, "syncs/master_data_form.html", {"tenant": tenant, "form": form})


@tenant_view("tenants.change_connection")
@require_POST
def connection_webhooks(request, tenant, pk):
    """Subscribe the tool to the events that trigger runs (idempotent)."""
    from integration_hub.connectors.errors import ConnectorError
    from syncs import webhooks
    from tenants.selectors import access_connection

    connection = access_connection(request.user, tenant, pk)
    if "webhooks" not in connection.descriptor.features:
        messages.error(request, f"{connection.descriptor.name} sends no events the hub can use.")
    else:
        try:
            created = webhooks.subscribe(connection)
        except ConnectorError as exc:
            messages.error(request, f"The subscription failed: {exc}")
        else:
            messages.success(request, f"Subscribed to {len(created)} new event type(s); runs now start when "
                                      f"{connection.descriptor.name} sends them." if created else
                             "Already subscribed: nothing to do.")
    return redirect("connection_detail", slug=tenant.slug, pk=connection.pk)


@tenant_view("syncs.retry_syncdocument")
@require_POST
def document_retry(request, tenant, pk):
    document = selectors.access_document(request.user, tenant, pk)
    run, created = services.retry_documents(documents=[document], user=request.user)
    _run_message(request, run, created)
    return redirect("run_detail", slug=tenant.slug, pk=run.pk)


@tenant_view()
def tenant_dashboard(request, tenant):
    data = selectors.dashboard(tenant)
    peak = max([p["n"] for p in data["series"]] + [1])
    width, height, gap = 18, 120, 4
    bars = []
    for i, point in enumerate(data["series"]):
        h = round(point["n"] / peak * height)
        bars.append({"x": i * (width + gap), "y": height - h, "h": h, "n": point["n"], "day": point["day"]})
    for row in data["errors_by_code"]:
        row["title"] = catalogue.get(row["code"]).title
    return render(request, "syncs/dashboard.html", {
        "tenant": tenant, **data, "bars": bars, "chart_width": len(bars) * (width + gap) + 40, "chart_height": height,
        "bar_width": width, "peak": peak, "can_desk": policy.may(request.user, "syncs.view_syncerror", tenant)})


@tenant_view()
def document_detail(request, tenant, pk):
    document = selectors.access_document(request.user, tenant, pk)
    history = document.outcomes.select_related("run").order_by("-at", "-id")[:100]
    errors = document.errors.order_by("-created_at")
    for error in errors:
        error.catalogue = catalogue.get(error.code)
    return render(request, "syncs/document_detail.html", {
        "tenant": tenant, "document": document, "history": history, "errors": errors,
        "links": selectors.document_links(document),
        "can_run": policy.may(request.user, "syncs.retry_syncdocument", tenant)})


# --- the Links page of a document flow (syncs/links.py) ----------------------------------------
LINKS_PERMISSION = "syncs.change_partnerlink"


def _document_flow(request, tenant, pk):
    """A document flow of the tenant; any other flow looks missing, as another tenant's does."""
    from django.http import Http404

    flow = selectors.access_flow(request.user, tenant, pk)
    if flow.kind != FlowKind.DOCUMENTS:
        raise Http404("No such flow.")
    return flow


@tenant_view()
def flow_links(request, tenant, pk):
    from syncs import links

    flow = _document_flow(request, tenant, pk)
    overview, problem = None, ""
    try:
        overview = links.links_overview(flow)
    except links.LinkError as exc:
        problem = str(exc)
    waiting = catalogue.get(catalogue.DOC_CONTACT_NOT_LINKED)
    return render(request, "syncs/flow_links.html", {
        "tenant": tenant, "flow": flow, "overview": overview, "problem": problem,
        "can_change": policy.may(request.user, LINKS_PERMISSION, flow), "waiting_code": waiting})


def _links_redirect(tenant, flow, anchor=""):
    from django.urls import reverse

    return redirect(reverse("flow_links", args=[tenant.slug, flow.pk]) + anchor)


@tenant_view(LINKS_PERMISSION)
@require_POST
def flow_link_party(request, tenant, pk):
    from syncs import links

    flow = _document_flow(request, tenant, pk)
    party_id = request.POST.get("party", "")
    try:
        link = links.set_partner_link(flow, party_id, request.POST.get("contact", ""))
    except links.LinkError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"“{link.name}” is linked to the chosen Xero contact." if link else
                         "The link was removed: the flow's own rules link this party again when it next sends one "
                         "of its documents.")
    return _links_redirect(tenant, flow, "#parties")


@tenant_view(LINKS_PERMISSION)
@require_POST
def flow_link_product(request, tenant, pk):
    from syncs import links

    flow = _document_flow(request, tenant, pk)
    try:
        link = links.set_product_link(flow, request.POST.get("product", ""), request.POST.get("item", ""))
    except links.LinkError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"“{link.name}” is linked to the Xero item {link.target_item_code}." if link else
                         "The link was removed: the flow's own rules (same code, or a new item) apply again.")
    return _links_redirect(tenant, flow, "#products")


@tenant_view(LINKS_PERMISSION)
@require_POST
def flow_links_import(request, tenant, pk):
    flow = _document_flow(request, tenant, pk)
    import_and_report(request, flow)
    return _links_redirect(tenant, flow, "#parties")


def import_and_report(request, flow) -> None:
    """Xero's contacts imported into the ERP (Links page and the wizard's Links step), what came of it said."""
    from syncs import links

    try:
        result = links.import_contacts(flow)
    except links.LinkError as exc:
        messages.error(request, str(exc))
        return
    messages.success(request, f"Import of Xero's contacts: {len(result.created)} party(ies) created in the ERP, "
                              f"{len(result.linked)} linked to a party the ERP already had.")
    for reason in result.refused[:20]:
        messages.warning(request, reason)
