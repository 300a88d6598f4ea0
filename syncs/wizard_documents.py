"""The wizard's steps that only a document flow has (ERP -> Xero, issue 16): object types, links and its review.

The other steps are the invoice wizard's (syncs/wizard.py), asked in the order of `wizard.DOCUMENT_STEPS`: connect
the ERP, connect Xero, choose the object types, map the ERP's taxes to Xero's tax types, choose the sales and
purchase accounts, link the ERP's parties and products to Xero's contacts and items (from both live lists, with
suggestions), then review and activate. Once active, the same steps change the flow, and its page switches the
object types on and off directly (`ObjectTypesForm` without the name).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render

from integration_hub.connectors.errors import ConnectorError
from mappings.models import DOCUMENT_OBJECT_TYPES, Flow, VatMapping
from mappings.services import flow_problems
from syncs import links
from syncs.engine import close_quietly

#: The review counts the ERP's documents of each type up to this many (a large ERP is not read to its end).
REVIEW_COUNT_CAP = 500


class ObjectTypesForm(forms.Form):
    """The object types a document flow synchronises, each its own switch, and what it does with the new."""

    use_required_attribute = False  # the server says what is missing, in words

    name = forms.CharField(max_length=120, label="Name of the flow")
    object_types = forms.MultipleChoiceField(
        choices=DOCUMENT_OBJECT_TYPES, widget=forms.CheckboxSelectMultiple, label="Object types sent to Xero",
        error_messages={"required": "Switch on at least one object type: otherwise the flow has nothing to send."},
        help_text="Each type has its own switch. A document whose type is off is not read at all.")
    create_contacts = forms.BooleanField(
        required=False, label="Create a Xero contact for a new customer or supplier",
        help_text="Off: a document of a party that is not linked waits on the error desk until it is linked.")
    create_items = forms.BooleanField(
        required=False, label="Create a Xero item for a product that is not linked",
        help_text="Off: the line is sent without an item and the product is reported on the error desk.")

    def __init__(self, *args, flow: Flow, with_name: bool = True, **kwargs):
        initial = {"name": flow.name, "object_types": list(flow.object_types or []),
                   "create_contacts": flow.create_contacts, "create_items": flow.create_items}
        super().__init__(*args, initial={**initial, **kwargs.pop("initial", {})}, **kwargs)
        self.flow = flow
        if not with_name:
            del self.fields["name"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Flow.objects.filter(tenant_id=self.flow.tenant_id, name=name).exclude(pk=self.flow.pk).exists():
            raise forms.ValidationError("This tenant already has a flow with that name.")
        return name

    def save(self) -> Flow:
        flow = self.flow
        if "name" in self.cleaned_data:
            flow.name = self.cleaned_data["name"]
        order = [key for key, _ in DOCUMENT_OBJECT_TYPES]  # kept in the catalogue's order, whatever was posted
        chosen = [key for key in order if key in self.cleaned_data["object_types"]]
        if set(chosen) - set(flow.object_types or []):
            # a type switched on later must be read from the beginning, not only from where the flow got to: the
            # next run reads every document again (those already in Xero and unchanged cost no call to Xero)
            flow.cursor = None
        flow.object_types = chosen
        flow.create_contacts = self.cleaned_data["create_contacts"]
        flow.create_items = self.cleaned_data["create_items"]
        flow.save()
        return flow


def step_object_types(request, tenant, flow: Flow, step: str):
    from syncs import wizard

    form = ObjectTypesForm(wizard._data(request, flow, step), flow=flow)
    if request.method == "POST" and form.is_valid():
        form.save()
        return wizard._next(flow, step, request)
    return render(request, "wizard/object_types.html", wizard._context(request, tenant, flow, step, form=form,
                                                                         step_form="step-form"))


# --- links ----------------------------------------------------------------------------------------------
def _posted(request, prefix: str) -> dict[str, str]:
    """The picker values of a posted Links step: `party:<id>` -> contact id, `product:<id>` -> item code."""
    return {name[len(prefix):]: request.POST.get(name, "") for name in request.POST if name.startswith(prefix)}


def step_links(request, tenant, flow: Flow, step: str):
    """Every ERP party and product with its Xero contact or item: what is linked, what is suggested (same VAT
    number, name or code: pre-selected, saved with the step), and the pickers over Xero's live lists."""
    from syncs import wizard

    if request.method == "POST" and request.POST.get("action") == "import":
        from syncs.views import import_and_report

        import_and_report(request, flow)
        return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step=step)
    if request.method == "POST":
        try:
            saved = links.save_links(flow, parties=_posted(request, "party:"), products=_posted(request, "product:"))
        except links.LinkError as exc:
            messages.error(request, str(exc))
            return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step=step)
        for reason in saved.refused[:20]:
            messages.warning(request, reason)
        if saved.refused:
            return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step=step)
        if saved.linked or saved.removed:
            messages.success(request, f"{len(saved.linked)} link(s) saved, {len(saved.removed)} removed.")
        return wizard._next(flow, step, request)
    overview, problem = None, ""
    try:
        overview = links.links_overview(flow)
    except links.LinkError as exc:
        problem = str(exc)
    return render(request, "wizard/links.html", wizard._context(
        request, tenant, flow, step, overview=overview, problem=problem, step_form="step-form"))


# --- review -----------------------------------------------------------------------------------------------
@dataclass
class TypeSummary:
    key: str
    label: str
    on: bool
    count: int | None = None  # the ERP's documents of this type (None: not counted)
    capped: bool = False


def _count_documents(flow: Flow, types: list[TypeSummary]) -> str:
    """How many documents of each switched-on type the ERP has now: what the first run sends. Returns a problem in
    words when the ERP cannot be read."""
    from integration_hub.connectors.tryton.erp import TrytonErp
    from tenants.services import ConnectionUnusable, connection_connector

    wanted = [t for t in types if t.on and t.key in ("quote", "sales_order", "invoice", "purchase_order", "bill")]
    if not wanted:
        return ""
    source = None
    try:
        source = connection_connector(connection=flow.source)
        erp = TrytonErp.from_connector(source)
        for summary in wanted:
            counted = sum(1 for _ in itertools.islice(erp.list_documents(summary.key), REVIEW_COUNT_CAP + 1))
            summary.count, summary.capped = min(counted, REVIEW_COUNT_CAP), counted > REVIEW_COUNT_CAP
    except (ConnectionUnusable, ConnectorError) as exc:
        return f"The ERP “{flow.source.name}” could not be read: {exc}"
    finally:
        if source is not None:
            close_quietly(source)
    return ""


def step_review_documents(request, tenant, flow: Flow, step: str):
    from syncs import wizard

    problems = [{"message": p.message, "step": wizard.problem_step(flow, p.step)} for p in flow_problems(flow)]
    if not wizard.configuration_saved(flow):
        problems.append({"message": wizard.OBJECT_TYPES_UNSAVED, "step": "object_types"})
    on = set(flow.object_types or [])
    types = [TypeSummary(key, label, key in on) for key, label in DOCUMENT_OBJECT_TYPES]
    mappings = list(VatMapping.objects.filter(flow=flow).order_by("kind", "source_rate"))
    read_problem, overview = "", None
    if flow.source_id and flow.target_id and not problems:
        read_problem = _count_documents(flow, types)
        try:
            overview = links.links_overview(flow)
        except links.LinkError as exc:
            read_problem = read_problem or str(exc)
    linked = None
    if overview is not None:
        parties = [row for row in overview.parties if row.in_erp]
        products = [row for row in overview.products if row.in_erp]
        linked = {"parties": sum(1 for row in parties if row.contact_id), "parties_total": len(parties),
                  "products": sum(1 for row in products if row.item_code), "products_total": len(products)}
        read_problem = read_problem or " ".join(overview.problems)
    return render(request, "wizard/review_documents.html", wizard._context(
        request, tenant, flow, step, problems=problems, types=types, mappings=mappings, linked=linked,
        read_problem=read_problem, cap=REVIEW_COUNT_CAP))


# --- the flow's page: the switches, changed without the wizard ---------------------------------------------
def save_switches(flow: Flow, data) -> ObjectTypesForm:
    """The object-type switches posted from the flow's page; the form (with its errors when invalid)."""
    form = ObjectTypesForm(data, flow=flow, with_name=False)
    if form.is_valid():
        with transaction.atomic():
            form.save()
    return form
