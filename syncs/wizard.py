"""The onboarding wizard: connect both tools, map from live lists, configure, preview, activate.

It lives in `syncs` because its last step previews the entries with the engine (a dry run) and
activates the flow; mappings and connections are written through their own apps' services.
The lists fetched from the tools are kept in the session (per wizard, per connection) and can
be refreshed. Each flow remembers the furthest step reached, so an owner who leaves resumes there.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.db import models, transaction
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from integration_hub.connectors import registry
from integration_hub.connectors.errors import ConnectorError
from integration_hub.connectors.types import Account, Journal, TaxRate, VatCode
from mappings import suggestions
from mappings.models import Flow, FlowKind, JournalMapping, LabelOption, VatMapping
from mappings.services import FlowNotReady, flow_problems, vat_mapping_set
from syncs import overlap, selectors, services
from syncs.engine import Engine, RunAborted
from syncs.entries import label_for
from syncs.wizard_dimensions import DimensionsForm, dimension_lists
from syncs.wizard_payments import PaymentsForm
from syncs.wizard_forms import (
    AccountsForm,
    ConfigurationForm,
    DiscountsForm,
    JournalsForm,
    RoundingVatForm,
    VatForm,
)
from tenants import services as tenant_services
from tenants.forms import ConnectionForm
from tenants.models import Connection
from tenants.views import tenant_view

STEPS = [
    ("source", "Invoicing tool"),
    ("target", "Accounting tool"),
    ("sale_vat", "Sales VAT"),
    ("purchase_vat", "Purchase VAT"),
    ("rounding_vat", "Rounding VAT"),
    ("journals", "Journals"),
    ("accounts", "Accounts"),
    ("discounts", "Discounts"),
    ("configuration", "Configuration"),
    ("review", "Review"),
]
STEP_KEYS = [key for key, _ in STEPS]
# A document flow (ERP -> Xero, issue 16): no journals, rounding or discounts; object types and links instead.
DOCUMENT_STEPS = [
    ("source", "ERP"),
    ("target", "Accounting tool"),
    ("object_types", "Object types"),
    ("sale_vat", "Sales VAT"),
    ("purchase_vat", "Purchase VAT"),
    ("accounts", "Accounts"),
    ("links", "Links"),
    ("review", "Review"),
]
PROBLEM_STEPS = {"sale_vat": "sale_vat", "purchase_vat": "purchase_vat", "vat": "sale_vat", "rounding_vat": "rounding_vat",
                 "journals": "journals", "accounts": "accounts", "discounts": "discounts",
                 "configuration": "configuration", "source": "source", "target": "target"}
LIST_TYPES = {"accounts": Account, "vat_codes": VatCode, "journals": Journal, "tax_rates": TaxRate,
              "source_journals": Journal}


class ListUnavailable(Exception):
    def __init__(self, connection: Connection, reason: str):
        super().__init__(reason)
        self.connection, self.reason = connection, reason


# --- the lists fetched from the tools, cached in the session -----------------------------------------
def _plain(value):
    if isinstance(value, Decimal):
        return {"__decimal__": str(value)}
    return value


def _revive(value):
    if isinstance(value, dict) and "__decimal__" in value:
        return Decimal(value["__decimal__"])
    return value


def live_list(request, connection: Connection, name: str):
    """A list from a tool (accounts, vat_codes, journals, tax_rates, source_journals), cached per wizard session."""
    cache = request.session.setdefault("wizard_lists", {})
    key = f"{connection.pk}:{name}:{connection.updated_at.timestamp():.0f}"
    cls = LIST_TYPES[name]
    if key not in cache:
        try:
            items = tenant_services.connection_list(connection=connection, name=name)
        except tenant_services.ConnectionUnusable as exc:
            raise ListUnavailable(connection, str(exc)) from None
        except ConnectorError as exc:
            tenant_services.connection_mark(connection=connection, status="error", message=str(exc))
            raise ListUnavailable(connection, str(exc)) from exc
        cache[key] = [{k: _plain(v) for k, v in dataclasses.asdict(item).items()} for item in items]
        request.session.modified = True
    return [cls(**{k: _revive(v) for k, v in row.items()}) for row in cache[key]]


def forget_lists(request) -> None:
    request.session.pop("wizard_lists", None)


# --- navigation --------------------------------------------------------------------------------------
def _flow_or_404(request, tenant, pk) -> Flow:
    return selectors.access_flow(request.user, tenant, pk)


def all_steps(flow: Flow) -> list[tuple[str, str]]:
    """Every step of the flow's kind of setup, in order."""
    return DOCUMENT_STEPS if flow.kind == FlowKind.DOCUMENTS else STEPS


def keys_of(flow: Flow) -> list[str]:
    return [key for key, _ in all_steps(flow)]


def steps_for(flow: Flow) -> list[tuple[str, str]]:
    """The steps that apply: a tool that books documents rather than entries (Xero) has no journals to map; a
    document flow asks for the VAT of the sides its object types book (sales, purchases)."""
    if flow.kind == FlowKind.DOCUMENTS:
        kinds = flow.kinds
        return [(key, label) for key, label in DOCUMENT_STEPS
                if not key.endswith("_vat") or key.split("_")[0] in kinds]
    return [(key, label) for key, label in STEPS if key != "journals" or flow.books_entries]


def problem_step(flow: Flow, step: str) -> str:
    """The wizard step that fixes a problem named by `flow_problems`."""
    if flow.kind == FlowKind.DOCUMENTS and step == "configuration":
        return "object_types"
    return PROBLEM_STEPS.get(step, "configuration")


def _index(flow: Flow, step: str) -> int:
    keys = keys_of(flow)
    return keys.index(step) if step in keys else 0


def _applies(flow: Flow, step: str) -> bool:
    return step in dict(steps_for(flow))


def _advance(flow: Flow, step: str) -> str:
    """Remember the furthest step reached and return the next one."""
    keys = keys_of(flow)
    later = [key for key in keys[_index(flow, step) + 1:] if _applies(flow, key)]
    following = later[0] if later else keys[-1]
    if _index(flow, flow.wizard_step or "source") < _index(flow, following):
        flow.wizard_step = following
        Flow.objects.filter(pk=flow.pk).update(wizard_step=following)
    return following


def _next(flow: Flow, step: str, request=None):
    """After a successful save: the step's draft is done with; go to the next step."""
    if request is not None:
        draft_forget(request, flow, step)
    return redirect("wizard_step", slug=flow.tenant.slug, pk=flow.pk, step=_advance(flow, step))


def _saved(flow: Flow, step: str) -> bool:
    """A step was saved once it has been passed (a step is only left forwards by saving it)."""
    return _index(flow, step) < _index(flow, flow.wizard_step or "source")


CONFIGURATION_UNSAVED = "The configuration (step 9: start date, drafts, labels) has not been saved yet."


OBJECT_TYPES_UNSAVED = "The object types (which documents go to Xero) have not been saved yet."


def configuration_saved(flow: Flow) -> bool:
    """Step 9 holds choices with defaults (start date, drafts, labels): they count once the owner saved them. A
    document flow's defaults are its object types."""
    step = "object_types" if flow.kind == FlowKind.DOCUMENTS else "configuration"
    return flow.enabled or _saved(flow, step)


def unsaved_message(flow: Flow) -> str:
    return OBJECT_TYPES_UNSAVED if flow.kind == FlowKind.DOCUMENTS else CONFIGURATION_UNSAVED


def _context(request, tenant, flow: Flow, step: str, **extra) -> dict:
    reached = _index(flow, flow.wizard_step or "source")
    unfinished = {problem_step(flow, p.step) for p in flow_problems(flow)}
    applicable = steps_for(flow)
    steps = [{"key": key, "label": label, "number": number + 1, "current": key == step,
              "done": _saved(flow, key) and key not in unfinished and key != "review",
              "reachable": _index(flow, key) <= reached or (key in ("source", "target"))}
             for number, (key, label) in enumerate(applicable)]
    keys = [key for key, _ in applicable]
    index = keys.index(step) if step in keys else 0
    extra.setdefault("step_form", "")
    return {"tenant": tenant, "flow": flow, "step": step, "steps": steps,
            "step_label": dict(all_steps(flow))[step], "step_number": index + 1, "step_count": len(applicable),
            "previous_step": keys[index - 1] if index else "",
            "source_word": "ERP" if flow.kind == FlowKind.DOCUMENTS else "invoicing tool",
            "has_draft": (request.method == "GET" and step in _drafts(request, flow)
                          and not {"provider", "mode"} & set(request.GET)), **extra}


# --- drafts: what was typed on a step and not saved, kept in the session until the step is saved -----------
DRAFT_IGNORED = {"csrfmiddlewaretoken", "go", "action", "use_existing", "discard_draft"}


def _drafts(request, flow: Flow) -> dict:
    return request.session.get("wizard_drafts", {}).get(str(flow.pk), {})


def _secret_names(data) -> set[str]:
    """The form names of the secret credential fields of the posted provider: a draft never keeps a secret."""
    try:
        descriptor = registry.get(data.get("provider", ""))
    except registry.NotRegistered:
        return {name for name in data if name.startswith("cred_")}
    return {f"cred_{spec.name}" for kind in descriptor.auth_kinds for spec in descriptor.fields_for(kind)
            if spec.secret}


def draft_keep(request, flow: Flow, step: str, data) -> None:
    secret = _secret_names(data) if step in ("source", "target") else set()
    kept = {name: data.getlist(name) for name in data if name not in DRAFT_IGNORED and name not in secret}
    drafts = request.session.setdefault("wizard_drafts", {})
    drafts.setdefault(str(flow.pk), {})[step] = kept
    request.session.modified = True


def draft_forget(request, flow: Flow, step: str) -> None:
    drafts = request.session.get("wizard_drafts", {})
    if drafts.get(str(flow.pk), {}).pop(step, None) is not None:
        request.session.modified = True


def _data(request, flow: Flow, step: str):
    """What a step's forms are bound to: the posted data, else the step's draft, else nothing (saved values)."""
    if request.method == "POST":
        return request.POST
    draft = _drafts(request, flow).get(step)
    if draft is None:
        return None
    data = QueryDict(mutable=True)
    for name, values in draft.items():
        data.setlist(name, values)
    return data


def _unavailable(request, tenant, flow, step, error: ListUnavailable):
    role_step = "source" if flow.source_id == error.connection.pk else "target"
    return render(request, "wizard/unavailable.html",
                  _context(request, tenant, flow, step, error=error, fix_step=role_step), status=200)


# --- entry points ------------------------------------------------------------------------------------
@tenant_view("mappings.change_flow")
def wizard_start(request, tenant):
    """Resume the latest setup never finished (a flow of the asked kind never activated: not enabled, no run), or
    start a new one (?new=1, or when there is none). A paused flow is not a setup to resume. `?kind=documents`
    sets up a document flow (ERP -> Xero); the default is an invoices flow."""
    kind = FlowKind.DOCUMENTS if request.GET.get("kind") == FlowKind.DOCUMENTS else FlowKind.INVOICES
    if request.GET.get("new") != "1":
        unfinished = (Flow.objects.filter(tenant=tenant, kind=kind, enabled=False, runs__isnull=True)
                      .order_by("-updated_at", "-pk").first())
        if unfinished is not None:
            return redirect("wizard_step", slug=tenant.slug, pk=unfinished.pk, step=unfinished.wizard_step or "source")
    base = "Documents sync" if kind == FlowKind.DOCUMENTS else "Invoices sync"
    count = Flow.objects.filter(tenant=tenant, kind=kind).count()
    name = base if count == 0 else f"{base} {count + 1}"
    while Flow.objects.filter(tenant=tenant, name=name).exists():
        count += 1
        name = f"{base} {count + 1}"
    flow = Flow.objects.create(tenant=tenant, name=name, kind=kind, wizard_step="source",
                               start_date=dt.date.today().replace(month=1, day=1))
    forget_lists(request)
    return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step="source")


@tenant_view("mappings.change_flow")
@require_POST
def wizard_refresh(request, tenant, pk, step):
    flow = _flow_or_404(request, tenant, pk)
    if step in keys_of(flow) and set(request.POST) - {"csrfmiddlewaretoken", "action"}:
        draft_keep(request, flow, step, request.POST)  # what was typed is shown again with the fresh lists
    forget_lists(request)
    messages.info(request, "The lists were fetched again from both tools.")
    return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step=step)


@tenant_view("mappings.change_flow")
def wizard_step(request, tenant, pk, step):
    flow = _flow_or_404(request, tenant, pk)
    if step not in keys_of(flow):
        raise Http404("No such step.")
    if request.method == "POST" and request.POST.get("discard_draft"):
        draft_forget(request, flow, step)
        return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step=step)
    if request.method == "POST" and request.POST.get("go"):
        # leaving by the progress bar or Back: keep what was typed, unvalidated and unsaved, for the way back
        go = request.POST["go"]
        if go not in keys_of(flow):
            raise Http404("No such step.")
        draft_keep(request, flow, step, request.POST)
        return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step=go)
    if not _applies(flow, step):  # e.g. journals, for a tool that has none: on to the next step that applies
        later = [key for key in keys_of(flow)[_index(flow, step) + 1:] if _applies(flow, key)]
        return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step=later[0] if later else "review")
    if flow.enabled and step != "review":
        messages.info(request, "This flow is active; changes apply from its next run.")
    handler = STEP_HANDLERS[step]
    try:
        return handler(request, tenant, flow, step)
    except ListUnavailable as error:
        return _unavailable(request, tenant, flow, step, error)


# --- steps 1 and 2: the connections ------------------------------------------------------------------
def _new_connection_name(tenant, descriptor, role: str, flow: Flow | None = None) -> str:
    what = "accounting" if role == "target" else "ERP" if flow is not None and flow.kind == FlowKind.DOCUMENTS \
        else "invoicing"
    base = f"{descriptor.name} ({what})"
    name, number = base, 1
    while Connection.objects.filter(tenant=tenant, name=name).exists():
        number += 1
        name = f"{base} {number}"
    return name


def providers_for(flow: Flow, role: str) -> list:
    """The tools that can play `role` in this kind of flow: a document flow reads an ERP's documents
    ("erp_documents") and books them where documents are booked ("documents")."""
    providers = registry.enabled(role)
    if flow.kind == FlowKind.DOCUMENTS:
        feature = "erp_documents" if role == "source" else "documents"
        providers = [p for p in providers if feature in p.features]
    return providers


def step_connection(request, tenant, flow: Flow, step: str):
    """The flow's connection for one side. A flow that already has one shows it by name with two explicit choices:
    use it unchanged, or change its settings (which every flow using it shares); a new connection is a third,
    separate choice. Nothing is renamed unless the owner edits the name in "change its settings"."""
    role = "source" if step == "source" else "target"
    current: Connection | None = getattr(flow, role)
    providers = providers_for(flow, role)
    existing = Connection.objects.filter(tenant=tenant, role=role).order_by("name")
    if flow.kind == FlowKind.DOCUMENTS:  # only the tools this kind of flow can use
        existing = existing.filter(provider__in=[p.key for p in providers])
    asked = request.method == "POST" or "provider" in request.GET or "mode" in request.GET
    draft = None if asked else _data(request, flow, step)  # a GET comes back to what was typed, if anything

    def param(name: str) -> str:
        if request.method == "POST":
            return request.POST.get(name, "")
        return request.GET.get(name) or (draft.get(name, "") if draft is not None else "")

    provider_key = param("provider") or (current.provider if current else "") or (providers[0].key if providers else "")
    try:
        descriptor = registry.get(provider_key)
    except registry.NotRegistered:
        raise Http404("No such provider.") from None
    if flow.kind == FlowKind.DOCUMENTS and descriptor.key not in {p.key for p in providers}:
        raise Http404("No such provider.")
    mode = param("mode")
    if current is None or current.provider != provider_key:
        mode = "new"
    elif mode not in ("change", "new"):
        # a form posted without a mode edits the flow's connection (as before); a page shown asks first
        mode = "change" if request.method == "POST" else "choose"
    instance = current if mode in ("change", "choose") else None
    auth_kind = instance.auth_kind if instance is not None else param("auth_kind")
    if auth_kind not in descriptor.auth_kinds:
        auth_kind = descriptor.auth_kinds[0]
    check, form = None, None

    if request.method == "POST" and request.POST.get("use_existing"):
        chosen = existing.filter(pk=request.POST.get("use_existing")).first()
        if chosen is None:
            raise Http404("No such connection.")
        refusal = overlap.refused_existing_connection(flow, role, chosen)
        if refusal:  # an active flow may not start booking what another active flow books
            messages.error(request, refusal)
            return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step=step)
        if chosen != current:
            setattr(flow, role, chosen)
            flow.save(update_fields=[role, "updated_at"])
        check = tenant_services.connection_check(connection=chosen)
        if check.ok:
            forget_lists(request)
            return _next(flow, step, request)
        # it does not answer: its settings, to fix them
        current = instance = chosen
        mode, auth_kind = "change", chosen.auth_kind
        descriptor = chosen.descriptor
        form = ConnectionForm(descriptor=descriptor, auth_kind=auth_kind, instance=chosen, tenant=tenant)
    elif request.method == "POST":
        form = ConnectionForm(request.POST, descriptor=descriptor, auth_kind=auth_kind, instance=instance,
                              tenant=tenant)
        if form.is_valid() and not overlap.refused_connection_change(
                flow, role, form, current=instance, tenant=tenant, provider=descriptor.key, auth_kind=auth_kind):
            with transaction.atomic():
                if instance is None:
                    instance = tenant_services.connection_create(
                        tenant=tenant, name=form.cleaned_data["name"], provider=descriptor.key, role=role,
                        auth_kind=auth_kind, credentials=form.credentials())
                else:
                    tenant_services.connection_update(connection=instance, name=form.cleaned_data["name"],
                                                      credentials=form.credentials())
                setattr(flow, role, instance)
                flow.save(update_fields=[role, "updated_at"])
            forget_lists(request)
            draft_forget(request, flow, step)
            mode = "change"
            if auth_kind == "oauth2" and (request.POST.get("action") == "oauth" or instance.status != "connected"):
                here = reverse("wizard_step", args=[tenant.slug, flow.pk, step]) + "?mode=change"
                start = reverse("oauth_start", args=[tenant.slug, instance.pk])
                return redirect(f"{start}?{urlencode({'next': here})}")
            check = tenant_services.connection_check(connection=instance)
            if check.ok and request.POST.get("action") != "test":
                return _next(flow, step, request)
            # keep what was typed (the secret stays stored, never shown) and say why
            form = ConnectionForm(descriptor=descriptor, auth_kind=auth_kind, instance=instance, tenant=tenant)
    else:
        if instance is not None and instance.status == "connected":
            check = tenant_services.CheckResult(ok=True, message=instance.status_message or "connected")
        if mode != "choose":
            initial = {"name": _new_connection_name(tenant, descriptor, role, flow)} if instance is None else {}
            if draft is not None:  # what was typed before leaving the step, shown again (never a secret)
                initial.update({name: draft.get(name) for name in draft if name == "name" or name.startswith("cred_")})
            form = ConnectionForm(descriptor=descriptor, auth_kind=auth_kind, instance=instance, tenant=tenant,
                                  initial=initial)
    from tenants.models import AuthKind as AuthKindChoices

    labels = dict(AuthKindChoices.choices)
    sharing = []
    if instance is not None:
        sharing = [f.name for f in Flow.objects.filter(models.Q(source=instance) | models.Q(target=instance))
                   .exclude(pk=flow.pk).order_by("name")]
    return render(request, "wizard/connection.html", _context(
        request, tenant, flow, step, form=form, role=role, providers=providers, descriptor=descriptor,
        auth_choices=[(kind, labels.get(kind, kind)) for kind in descriptor.auth_kinds], mode=mode,
        auth_kind=auth_kind, connection=instance, existing=[c for c in existing if c != instance], check=check,
        sharing=sharing, step_form="connection-form" if form is not None else ""))


# --- steps 3 and 4: VAT ---------------------------------------------------------------------------------
def step_vat(request, tenant, flow: Flow, step: str):
    kind = "sale" if step == "sale_vat" else "purchase"
    if flow.source is None or flow.target is None:
        return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step="source" if flow.source is None else "target")
    rates = [r for r in live_list(request, flow.source, "tax_rates") if r.kind in (kind, "both")]
    codes = [c for c in live_list(request, flow.target, "vat_codes") if c.kind in (kind, "both")]
    mappings = list(VatMapping.objects.filter(flow=flow, kind=kind))
    existing = {m.source_tax_id: m.target_vat_code_id for m in mappings}
    existing_due = {m.source_tax_id: m.due_vat_code_id for m in mappings if m.reverse_charge}
    suggested, suggested_due = {}, {}
    for rate in rates:
        code = suggestions.suggest_vat_code(rate, codes, kind)
        if code is not None:
            suggested[rate.id] = code.id
            due = suggestions.reverse_charge_pair(code, codes) if rate.reverse_charge else None
            if due is not None:
                suggested_due[rate.id] = due.id
    form = VatForm(_data(request, flow, step), rates=rates, codes=codes, initial_map=existing, suggested=suggested,
                   initial_due=existing_due, suggested_due=suggested_due, required=kind in flow.kinds)
    if request.method == "POST" and form.is_valid():
        labels = {c.id: c.code for c in codes}
        with transaction.atomic():
            for rate in rates:
                target_id = form.mapping()[rate.id]
                due_id = form.due_mapping()[rate.id] if target_id else ""
                if target_id:
                    # a document flow sends the ERP's document as it is: a reverse charge shows no VAT there, so
                    # it is mapped at 0 % (the fallback by rate must never send a 20 % line to its code)
                    shown_rate = Decimal("0") if flow.kind == FlowKind.DOCUMENTS and rate.reverse_charge else rate.rate
                    vat_mapping_set(flow=flow, kind=kind, source_tax_id=rate.id, source_rate=shown_rate,
                                    source_label=rate.name[:200], target_vat_code_id=target_id,
                                    target_vat_code_label=labels.get(target_id, "")[:200], due_vat_code_id=due_id,
                                    due_vat_code_label=labels.get(due_id, "")[:200])
                else:
                    VatMapping.objects.filter(flow=flow, kind=kind, source_tax_id=rate.id).delete()
        return _next(flow, step, request)
    return render(request, "wizard/vat.html", _context(request, tenant, flow, step, form=form, kind=kind,
                                                        step_form="step-form"))


def step_rounding_vat(request, tenant, flow: Flow, step: str):
    codes = live_list(request, flow.target, "vat_codes")
    sale = [c for c in codes if c.kind in ("sale", "both")]
    purchase = [c for c in codes if c.kind in ("purchase", "both")]
    initial = {
        "sales_rounding_vat_code_id": flow.sales_rounding_vat_code_id or getattr(
            suggestions.suggest_rounding_vat_code(codes, "sale"), "id", ""),
        "purchase_rounding_vat_code_id": flow.purchase_rounding_vat_code_id or getattr(
            suggestions.suggest_rounding_vat_code(codes, "purchase"), "id", ""),
    }
    pending = [name for name, value in initial.items() if value and not getattr(flow, name)]
    form = RoundingVatForm(_data(request, flow, step), initial=initial, sale_codes=sale, purchase_codes=purchase,
                           kinds=flow.kinds)
    if request.method == "POST" and form.is_valid():
        labels = {c.id: c.code for c in codes}
        for prefix in ("sales", "purchase"):
            value = form.cleaned_data[f"{prefix}_rounding_vat_code_id"]
            setattr(flow, f"{prefix}_rounding_vat_code_id", value)
            setattr(flow, f"{prefix}_rounding_vat_code_label", labels.get(value, "")[:200])
        flow.save()
        return _next(flow, step, request)
    return render(request, "wizard/simple.html", _context(
        request, tenant, flow, step, form=form, step_form="step-form", pending=pending,
        intro="The VAT code carried by the rounding lines, when an invoice's lines and total differ by a few cents."))


# --- step 6: journals ---------------------------------------------------------------------------------
def step_journals(request, tenant, flow: Flow, step: str):
    journals = live_list(request, flow.target, "journals")
    source_journals = live_list(request, flow.source, "source_journals")
    initial = {
        "journal_mode": flow.journal_mode,
        "sales_journal_id": flow.sales_journal_id or getattr(suggestions.suggest_journal("sale", journals), "id", ""),
        "purchase_journal_id": flow.purchase_journal_id or getattr(
            suggestions.suggest_journal("purchase", journals), "id", ""),
    }
    pending = [name for name in ("sales_journal_id", "purchase_journal_id")
               if initial[name] and not getattr(flow, name)]
    existing = dict(JournalMapping.objects.filter(flow=flow).values_list("source_journal", "target_journal_id"))
    form = JournalsForm(_data(request, flow, step), initial=initial, journals=journals, source_journals=source_journals,
                        initial_map=existing, kinds=flow.kinds)
    if request.method == "POST" and form.is_valid():
        labels = {j.id: f"{j.code} {j.name}".strip() for j in journals}
        with transaction.atomic():
            flow.journal_mode = form.cleaned_data["journal_mode"]
            for prefix in ("sales", "purchase"):
                value = form.cleaned_data[f"{prefix}_journal_id"]
                setattr(flow, f"{prefix}_journal_id", value)
                setattr(flow, f"{prefix}_journal_label", labels.get(value, "")[:200])
            flow.save()
            for source_code, target_id in form.source_mapping().items():
                if target_id:
                    JournalMapping.objects.update_or_create(
                        flow=flow, source_journal=source_code,
                        defaults={"target_journal_id": target_id, "target_journal_label": labels.get(target_id, "")})
                else:
                    JournalMapping.objects.filter(flow=flow, source_journal=source_code).delete()
        return _next(flow, step, request)
    return render(request, "wizard/journals.html", _context(request, tenant, flow, step, form=form,
                                                              step_form="step-form", pending=pending))


# --- steps 7 and 8: accounts -------------------------------------------------------------------------
def step_accounts(request, tenant, flow: Flow, step: str):
    accounts = live_list(request, flow.target, "accounts")
    numbered = flow.books_entries  # a chart numbered by class (Tryton's French plan); Xero's codes are free
    lists = {role: suggestions.accounts_for(role, accounts, numbered=numbered) for role, _, _ in AccountsForm.ROLES}
    suggested = {}
    initial = {}
    documents = flow.kind == FlowKind.DOCUMENTS
    for role, _, _ in AccountsForm.roles_for(flow.books_entries, documents):
        proposal = suggestions.suggest_account(role, accounts, numbered=numbered)
        if proposal is not None:
            suggested[role] = proposal.number
        initial[role] = getattr(flow, role) or suggested.get(role, "")
    pending = [role for role in suggested if not getattr(flow, role)]
    form = AccountsForm(_data(request, flow, step), initial=initial, lists=lists, suggested=suggested,
                        required=AccountsForm.required_roles(flow.kinds, documents), pending=pending,
                        books_entries=flow.books_entries, documents=documents)
    if request.method == "POST" and form.is_valid():
        for role, _, _ in AccountsForm.roles_for(flow.books_entries, documents):
            setattr(flow, role, form.cleaned_data[role])
        flow.save()
        return _next(flow, step, request)
    return render(request, "wizard/accounts.html", _context(request, tenant, flow, step, form=form,
                                                              step_form="step-form"))


def step_discounts(request, tenant, flow: Flow, step: str):
    numbered = flow.books_entries
    accounts = suggestions.accounts_for("sales_discount_account", live_list(request, flow.target, "accounts"),
                                        numbered=numbered)
    initial = {
        "separate_discounts": flow.separate_discounts,
        "sales_discount_account": flow.sales_discount_account or getattr(
            suggestions.suggest_account("sales_discount_account", accounts, numbered=numbered), "number", ""),
        "purchase_discount_account": flow.purchase_discount_account or getattr(
            suggestions.suggest_account("purchase_discount_account", accounts, numbered=numbered), "number", ""),
    }
    pending = [name for name, value in initial.items()
               if value and name.endswith("_account") and not getattr(flow, name)]
    form = DiscountsForm(_data(request, flow, step), initial=initial, accounts=accounts)
    if request.method == "POST" and form.is_valid():
        flow.separate_discounts = form.cleaned_data["separate_discounts"]
        flow.sales_discount_account = form.cleaned_data["sales_discount_account"]
        flow.purchase_discount_account = form.cleaned_data["purchase_discount_account"]
        flow.save()
        return _next(flow, step, request)
    return render(request, "wizard/simple.html", _context(
        request, tenant, flow, step, form=form, optional=True, step_form="step-form", pending=pending,
        intro="Optional. Without it, the discounted amount is taken off the product or expense account."))


# --- step 9: configuration ------------------------------------------------------------------------------
SAMPLE = {"name": "Dupont SARL", "number": "F2026-0042", "lines": ["Espresso machine", "Delivery"]}


def label_examples() -> list[dict]:
    everything = " / ".join(SAMPLE["lines"])
    examples = []
    for value, title in LabelOption.choices:
        def label(kind, source_label=""):
            return label_for(value, kind, name=SAMPLE["name"], number=SAMPLE["number"], source_label=source_label,
                             everything=everything)

        examples.append({"value": value, "title": title, "partner": label("partner"),
                         "line": label("line", SAMPLE["lines"][0]), "vat": label("vat", "VAT 20 %")})
    return examples


def step_configuration(request, tenant, flow: Flow, step: str):
    form = ConfigurationForm(_data(request, flow, step), instance=flow)
    values, targets, dimensions_problem = dimension_lists(request, flow) if flow.source and flow.target else ([], [], "")
    dimensions = DimensionsForm(_data(request, flow, step), flow=flow, values=values, targets=targets)
    journals, accounts, payments_problem = _payment_lists(request, flow)
    payments = PaymentsForm(_data(request, flow, step), flow=flow, journals=journals, accounts=accounts)
    if request.method == "POST" and form.is_valid() and dimensions.is_valid() and payments.is_valid():
        name_taken = Flow.objects.filter(tenant=tenant, name=form.cleaned_data["name"]).exclude(pk=flow.pk).exists()
        refusal = overlap.refused_scope_change(flow, form.cleaned_data["scope"])
        if name_taken:
            form.add_error("name", "This tenant already has a flow with that name.")
        elif refusal:
            form.add_error("scope", refusal)
        else:
            form.save()
            dimensions.save(flow)
            payments.save(flow)
            return _next(flow, step, request)
    return render(request, "wizard/configuration.html", _context(request, tenant, flow, step, form=form,
                                                                  examples=label_examples(), sample=SAMPLE,
                                                                  dimensions=dimensions,
                                                                  dimensions_problem=dimensions_problem,
                                                                  step_form="configuration-form",
                                                                  payments=payments, payments_problem=payments_problem))


def _payment_lists(request, flow: Flow) -> tuple[list, list, str]:
    """The accounting tool's journals and accounts for the Payments section (a tool that cannot be asked leaves
    the section with a note, never the step unusable)."""
    if flow.target is None:
        return [], [], "Connect the accounting tool first."
    try:
        return live_list(request, flow.target, "journals"), live_list(request, flow.target, "accounts"), ""
    except ListUnavailable as exc:
        return [], [], f"The journals and accounts could not be listed: {exc.reason}"


# --- step 10: review and activation --------------------------------------------------------------------
def step_review(request, tenant, flow: Flow, step: str):
    if flow.kind == FlowKind.DOCUMENTS:
        from syncs.wizard_documents import step_review_documents

        return step_review_documents(request, tenant, flow, step)
    problems = [{"message": p.message, "step": problem_step(flow, p.step)} for p in flow_problems(flow)]
    if not configuration_saved(flow):  # its defaults (start date, drafts, labels) were never confirmed
        problems.append({"message": CONFIGURATION_UNSAVED, "step": "configuration"})
    if not flow.enabled:  # said before Activate is pressed, not only after (split the scope on step 9)
        others = overlap.overlapping_flows(flow)
        if others:
            problems.append({"message": overlap.refusal_html(flow, others), "step": "configuration"})
    previews, preview_error = [], ""
    if flow.source_id and flow.target_id and not problems:
        count = request.GET.get("count", "")
        count = min(int(count), REVIEW_MAX) if count.isdigit() and int(count) > 0 else REVIEW_COUNT
        since = dt.datetime.combine(flow.start_date, dt.time.min, tzinfo=dt.timezone.utc)
        try:  # the most recent documents since the start date, as the first run would handle them; nothing is written
            previews = Engine(flow, dry_run=True, newest=count).execute(since=since)
        except (RunAborted, ConnectorError) as exc:
            preview_error = str(exc)
    return render(request, "wizard/review.html", _context(
        request, tenant, flow, step, problems=problems, previews=previews, preview_error=preview_error,
        review=_review_groups(flow, previews) if not problems and not preview_error else None))


REVIEW_COUNT, REVIEW_MAX = 10, 50
PREVIEW_GROUPS = {"error": "fail", "create": "sync", "update": "sync", "waiting": "wait", "unchanged": "booked",
                  "skipped": "skipped", "cancelled": "skipped"}


def _review_groups(flow: Flow, previews: list) -> dict:
    """The dry run's previews as the review shows them: newest first, by what would happen to each."""
    from syncs import catalogue

    def day(preview) -> int:
        issued = preview.invoice.issue_date
        return issued.toordinal() if isinstance(issued, dt.date) else 0

    groups: dict[str, list] = {group: [] for group in dict.fromkeys(PREVIEW_GROUPS.values())}
    for preview in sorted(previews, key=day, reverse=True):
        if preview.problem is not None:
            preview.catalogue = catalogue.get(preview.problem.code)
        groups[PREVIEW_GROUPS.get(preview.action, "skipped")].append(preview)
    start = flow.start_date.toordinal()
    return {**groups, "total": len(previews), "counts": {group: len(items) for group, items in groups.items()},
            "nothing_to_book": not any(day(p) >= start for p in previews)}


@tenant_view("mappings.change_flow")
@require_POST
def wizard_activate(request, tenant, pk):
    flow = _flow_or_404(request, tenant, pk)
    if not configuration_saved(flow):
        messages.error(request, unsaved_message(flow))
        return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step="review")
    try:
        run = services.flow_activate(flow=flow, user=request.user)
    except FlowNotReady as exc:
        for text in overlap.messages_for(exc):  # an overlap links to the other flow
            messages.error(request, text)
        return redirect("wizard_step", slug=tenant.slug, pk=flow.pk, step="review")
    Flow.objects.filter(pk=flow.pk).update(wizard_step="review")
    every = services.schedule_minutes(flow)
    messages.success(request, f"{flow.name} is active and runs every "
                              f"{'minute' if every == 1 else f'{every} minutes'}. Its first run has started.")
    return redirect(reverse("run_detail", args=[tenant.slug, run.pk]) if run else
                    reverse("flow_detail", args=[tenant.slug, flow.pk]))


STEP_HANDLERS = {
    "source": step_connection, "target": step_connection, "sale_vat": step_vat, "purchase_vat": step_vat,
    "rounding_vat": step_rounding_vat, "journals": step_journals, "accounts": step_accounts,
    "discounts": step_discounts, "configuration": step_configuration, "review": step_review,
}


def _document_step(name: str):
    def handler(request, tenant, flow, step):
        from syncs import wizard_documents

        return getattr(wizard_documents, name)(request, tenant, flow, step)
    return handler


STEP_HANDLERS.update({"object_types": _document_step("step_object_types"), "links": _document_step("step_links")})
