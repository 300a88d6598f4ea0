"""Previews of admin imports computed in the worker, kept as data and shown as django-import-export shows them.

The web request reads the upload (bounded by HUB_IMPORT_MAX_BYTES and HUB_IMPORT_MAX_ROWS) only to count its
rows; when there are more than HUB_IMPORT_INLINE_ROWS, the rows are checked here, in a django-q2 task, against
the accounting tool's live lists. The task asks the same admin (``UserScopedImportExport``) for the formats,
the resource and its arguments as the request would, as the user who uploaded the file.

The worker's dry run writes nothing, not even temporarily: it runs django-import-export's row loop without a
transaction (``using_transactions=False``, which its ``save_instance`` honours by not saving), so it holds no
database lock for the seconds the checks take and its progress commits as it goes. The confirmation imports
the same stored bytes in one transaction, rolled back if any row became invalid since the preview.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from types import SimpleNamespace

from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest
from django.utils.safestring import mark_safe

from integration_hub.spreadsheets import ImportTooLarge


class PreviewFailed(Exception):
    """The preview cannot be computed; the message is meant for the person importing."""


def read_dataset(input_format, content: bytes, encoding: str):
    """The file as django-import-export's import step reads it back from its temporary storage
    (text formats decoded with the admin's encoding and universal newlines, binary ones as bytes)."""
    data = content if input_format.is_binary() else io.TextIOWrapper(io.BytesIO(content), encoding=encoding).read()
    return input_format.create_dataset(data)


def admin_for(model_label: str):
    from django.apps import apps
    from django.contrib import admin

    try:
        model = apps.get_model(model_label)
    except (LookupError, ValueError):
        model = None
    model_admin = admin.site._registry.get(model) if model is not None else None
    if model_admin is None or not hasattr(model_admin, "import_resource_for"):
        raise PreviewFailed("This kind of import is no longer offered.")
    return model_admin


def request_as(user) -> HttpRequest:
    """A request carrying only the user, for the admin's hooks that take one (resource classes, their kwargs)."""
    request = HttpRequest()
    request.method = "GET"
    request.user = user
    return request


def unreadable_message(input_format, exc: Exception) -> str:
    return (f"This file could not be read as {input_format.get_title()} ({type(exc).__name__}). "
            "Check that the format chosen matches the file, then upload it again.")


@dataclass
class Computed:
    result: dict
    confirmable: bool
    tenant_ids: set[int]
    checked: int


def compute(preview, on_progress) -> Computed:
    """Check every row of the stored file as a dry run; ``on_progress(rows checked)`` is called as it goes."""
    from tenants.policy import tenant_of

    model_admin = admin_for(preview.model)
    request = request_as(preview.user)
    if not model_admin.has_import_permission(request):
        raise PreviewFailed("Your role no longer allows this import.")
    formats = model_admin.get_import_formats()
    if preview.format_index >= len(formats):
        raise PreviewFailed("This file format is no longer offered.")
    input_format = formats[preview.format_index]()
    try:
        dataset = read_dataset(input_format, bytes(preview.content), model_admin.from_encoding)
    except ImportTooLarge as exc:
        raise PreviewFailed(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any parser error means the same thing to the person importing
        raise PreviewFailed(unreadable_message(input_format, exc)) from None

    resource = model_admin.import_resource_for(request, preview.resource_index)
    total = len(dataset)
    every = max(1, total // 100)  # at most a hundred progress writes per preview
    check_row = resource.import_row

    def import_row(row, instance_loader, **kwargs):
        try:
            return check_row(row, instance_loader, **kwargs)
        finally:
            number = kwargs.get("row_number") or 0
            if number % every == 0 and number < total:
                on_progress(number)

    resource.import_row = import_row
    result = resource.import_data_inner(dataset, True, False, False, False, file_name=preview.file_name,
                                        user=preview.user, retain_instance_in_row_result=True)
    problems = resource.import_problems() if hasattr(resource, "import_problems") else []
    if problems:
        raise PreviewFailed(" ".join(problems) + " Nothing was imported: try again once it answers.")
    tenant_ids = set()
    for row in result.rows:
        tenant = tenant_of(row.instance) if row.instance is not None else None
        if tenant is not None:
            tenant_ids.add(tenant.pk)
    return Computed(result=result_data(result), confirmable=not (result.has_errors() or result.has_validation_errors()),
                    tenant_ids=tenant_ids, checked=total)


# --- the preview as data, and back as what import.html expects --------------------------------------------------
def _text(value) -> str:
    return str(value)


def _error(error) -> dict:
    return {"error": _text(error.error), "row": [_text(v) for v in (error.row or {}).values()]}


def result_data(result) -> dict:
    """What django-import-export's import page shows of a result, as JSON (messages, not tracebacks)."""
    return {
        "diff_headers": [_text(h) for h in result.diff_headers],
        "totals": {key: count for key, count in result.totals.items()},
        "base_errors": [_error(e) for e in result.base_errors],
        "row_errors": [[number, [_error(e) for e in errors]] for number, errors in result.row_errors()],
        "invalid_rows": [{"number": row.number, "values": [_text(v) for v in row.values],
                          "errors": {field: [_text(m) for m in messages] for field, messages in row.error_dict.items()}}
                         for row in result.invalid_rows],
        "valid_rows": [{"import_type": row.import_type, "diff": [_text(cell) for cell in (row.diff or [])]}
                       for row in result.valid_rows()],
    }


class StoredInvalidRow:
    def __init__(self, data: dict):
        self.number = data["number"]
        self.values = data["values"]
        self.error_dict = data["errors"]

    @property
    def field_specific_errors(self) -> dict:
        return {field: messages for field, messages in self.error_dict.items() if field != NON_FIELD_ERRORS}

    @property
    def non_field_specific_errors(self) -> list:
        return self.error_dict.get(NON_FIELD_ERRORS, [])

    @property
    def error_count(self) -> int:
        return sum(len(messages) for messages in self.error_dict.values())


def _diff_cell(html: str):
    # The cells are django-import-export's diff HTML, made by the worker from escaped text (imports never store
    # markup from the file itself); only its own tags are expected here.
    return mark_safe(html)


class StoredResult:
    """A stored preview, with the attributes and methods admin/import_export/import.html reads of a Result."""

    def __init__(self, data: dict):
        self.diff_headers = data.get("diff_headers", [])
        self.totals = data.get("totals", {})
        self.base_errors = [SimpleNamespace(error=e["error"], traceback="", row=SimpleNamespace(values=e["row"]))
                            for e in data.get("base_errors", [])]
        self._row_errors = [(number, [SimpleNamespace(error=e["error"], traceback="",
                                                      row=SimpleNamespace(values=e["row"])) for e in errors])
                            for number, errors in data.get("row_errors", [])]
        self.invalid_rows = [StoredInvalidRow(row) for row in data.get("invalid_rows", [])]
        self._valid_rows = [SimpleNamespace(import_type=row["import_type"],
                                            diff=[_diff_cell(cell) for cell in row["diff"]])
                            for row in data.get("valid_rows", [])]

    def row_errors(self):
        return self._row_errors

    def valid_rows(self):
        return self._valid_rows

    def has_errors(self) -> bool:
        return bool(self.base_errors or self._row_errors)

    def has_validation_errors(self) -> bool:
        return bool(self.invalid_rows)
