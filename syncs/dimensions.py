"""Cost centres, projects and analytic accounts: what a line of the source carries -> the target's analytic accounts.

The source says, per invoice line, which value of each dimension it belongs to
(``InvoiceLine.dimensions``: {"cost_center": (id, label), "project": ..., "analytic:<root>": ...}).
The flow maps each (dimension, value id) to an analytic account of the accounting tool
(``DimensionMapping``); a value without a mapping follows the flow's ``unmapped_dimension``:
"ignore" books the line without it, "error" stops the invoice with DIMENSION_NOT_MAPPED.
"""
from __future__ import annotations

from mappings.models import DimensionMapping, Flow, UnmappedDimension
from syncs import catalogue

DIMENSION_WORDS = {"cost_center": "cost centre", "project": "project"}


def dimension_word(dimension: str) -> str:
    """How a dimension is named to a person ("analytic:<root>" is an analytic axis of the source)."""
    if dimension.startswith("analytic:"):
        return "analytic account"
    return DIMENSION_WORDS.get(dimension, dimension.replace("_", " "))


def dimension_map(flow: Flow) -> dict[tuple[str, str], str]:
    """{(dimension, source value id): target analytic account id} of a flow."""
    rows = DimensionMapping.objects.filter(flow=flow).values_list("dimension", "source_value_id", "target_dimension_id")
    return {(dimension, value): target for dimension, value, target in rows if target}


def line_analytic(line, mapping: dict[tuple[str, str], str], policy: str) -> dict[str, str]:
    """{dimension: target analytic account id} for one invoice line.

    An unmapped value is left out, or (policy "error") raises DocumentProblem DIMENSION_NOT_MAPPED naming it."""
    analytic: dict[str, str] = {}
    for dimension, (value_id, label) in sorted((line.dimensions or {}).items()):
        target = mapping.get((dimension, str(value_id)))
        if target:
            analytic[dimension] = str(target)
        elif policy == UnmappedDimension.ERROR:
            raise unmapped_problem(dimension, str(value_id), label, line.description)
    return analytic


def unmapped_problem(dimension: str, value_id: str, label: str, description: str):
    from syncs.entries import DocumentProblem  # entries uses this module: imported when needed

    where = f" of line “{description}”" if description else ""
    shown = f"“{label}” ({value_id})" if label and label != value_id else f"“{value_id}”"
    return DocumentProblem(
        catalogue.DIMENSION_NOT_MAPPED,
        f"The {dimension_word(dimension)} {shown}{where} is not mapped to an analytic account in accounting.",
        details={"dimension": dimension, "value": value_id, "label": label})

