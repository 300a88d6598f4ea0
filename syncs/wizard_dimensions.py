"""The wizard's "Cost centres and projects" section, shown on the Configuration step.

One row per value the invoicing tool offers (cost centre, project, analytic account), with a choice of the
accounting tool's analytic accounts, pre-filled by name; and what happens to a line whose value is not
mapped. The two lists are fetched once per wizard session (like the other live lists); a tool that cannot
be asked leaves the section with a note, never the step unusable.
"""
from __future__ import annotations

import hashlib

from django import forms
from django.db import transaction

from integration_hub.connectors.errors import ConnectorError
from mappings.models import DimensionMapping, Flow, UnmappedDimension
from mappings.suggestions import suggest_dimension
from syncs.dimensions import dimension_word
from tenants import services as tenant_services
from tenants.models import Connection

NOT_MAPPED = ""


def _fetch(request, connection: Connection, name: str) -> list[tuple[str, str, str]]:
    cache = request.session.setdefault("wizard_lists", {})
    key = f"{connection.pk}:{name}:{connection.updated_at.timestamp():.0f}"
    if key not in cache:
        items = tenant_services.connection_list(connection=connection, name=name)
        cache[key] = [[str(part) for part in item] for item in items]
        request.session.modified = True
    return [tuple(item) for item in cache[key]]


def dimension_lists(request, flow: Flow) -> tuple[list, list, str]:
    """(source values (dimension, id, label), target accounts (id, label, axis), why they are missing or "")."""
    try:
        values = _fetch(request, flow.source, "dimension_values")
        targets = _fetch(request, flow.target, "dimensions")
    except (tenant_services.ConnectionUnusable, ConnectorError) as exc:
        return [], [], f"The cost centres and projects could not be listed: {exc}"
    return values, targets, ""


def _field_name(dimension: str, value_id: str) -> str:
    return "dimension_" + hashlib.sha256(f"{dimension}|{value_id}".encode()).hexdigest()[:12]


class DimensionsForm(forms.Form):
    unmapped_dimension = forms.ChoiceField(
        choices=UnmappedDimension.choices, widget=forms.RadioSelect, required=False,
        label="A line whose cost centre or project is not mapped")

    def __init__(self, *args, flow: Flow, values: list, targets: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.values, self.targets = values, targets
        self.fields["unmapped_dimension"].initial = flow.unmapped_dimension
        existing = {(m.dimension, m.source_value_id): m.target_dimension_id
                    for m in DimensionMapping.objects.filter(flow=flow)}
        choices = [(NOT_MAPPED, "— not mapped —")] + [
            (target_id, f"{label} ({axis})" if axis else label) for target_id, label, axis in targets]
        self.rows = []
        for dimension, value_id, label in values:
            current = existing.get((dimension, value_id))
            suggested = "" if current is not None else suggest_dimension(label, targets)
            name = _field_name(dimension, value_id)
            self.fields[name] = forms.ChoiceField(choices=choices, required=False,
                                                  initial=current if current is not None else suggested,
                                                  label=f"{dimension_word(dimension).capitalize()} {label}")
            self.rows.append({"dimension": dimension_word(dimension), "label": label, "field": self[name],
                              "suggested": bool(suggested)})

    @property
    def shown(self) -> bool:
        return bool(self.values or self.targets)

    @transaction.atomic
    def save(self, flow: Flow) -> None:
        flow.unmapped_dimension = self.cleaned_data.get("unmapped_dimension") or flow.unmapped_dimension
        Flow.objects.filter(pk=flow.pk).update(unmapped_dimension=flow.unmapped_dimension)
        labels = {target_id: label for target_id, label, _axis in self.targets}
        for dimension, value_id, label in self.values:
            target_id = self.cleaned_data.get(_field_name(dimension, value_id)) or NOT_MAPPED
            if target_id:
                DimensionMapping.objects.update_or_create(
                    flow=flow, dimension=dimension, source_value_id=value_id,
                    defaults={"source_label": label[:200], "target_dimension_id": target_id,
                              "target_dimension_label": labels.get(target_id, "")[:200]})
            else:
                DimensionMapping.objects.filter(flow=flow, dimension=dimension, source_value_id=value_id).delete()
