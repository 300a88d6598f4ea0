"""django-import-export in the admin: CSV and XLSX, resources told who is importing or exporting.

Imports with more rows than HUB_IMPORT_INLINE_ROWS are previewed by the worker (imports/): the upload is kept
in an ``ImportPreview``, a django-q2 task checks its rows while the page shows a progress bar
(static/hub/import-preview.js polls ``import/<id>/progress/``), then the page shows django-import-export's own
preview and a *Confirm import* button that imports exactly those bytes. Smaller imports stay in the request.
"""
from __future__ import annotations

import logging
import re

from import_export.resources import Diff

from integration_hub.spreadsheets import ImportTooLarge, LimitedImportForm, SafeCSV, SafeXLSX

logger = logging.getLogger(__name__)
_STYLED_DIFF_TAG = re.compile(r'<(ins|del) style="[^"<>]*">')


class InertDiff(Diff):
    """django-import-export's preview diff without its inline ``style`` attributes, which the
    Content-Security-Policy refuses: import.css and static/hub/admin.css colour ``ins`` and ``del``."""

    def as_html(self):
        from django.utils.safestring import mark_safe

        return [mark_safe(_STYLED_DIFF_TAG.sub(r"<\1>", html)) for html in super().as_html()]


class UserScopedImportExport:
    """Mixin for an admin using ImportExportMixin / ExportMixin: resources receive the user."""

    # Every import and export goes through these: formulas escaped on the way out, size limits on the way in.
    formats = [SafeCSV, SafeXLSX]
    import_form_class = LimitedImportForm

    # --- imports: large previews in the worker -----------------------------------------------------------------
    def import_permission(self) -> str:
        return f"{self.opts.app_label}.import_{self.opts.model_name}"

    def import_resource_for(self, request, index: int):
        """The import resource the form's choice ``index`` names, built with the admin's kwargs (the user)."""
        return self.get_import_resource_classes(request)[index](**self.get_import_resource_kwargs(request))

    def get_urls(self):
        from django.urls import path
        from import_export.admin import ImportMixin

        urls = super().get_urls()
        if not isinstance(self, ImportMixin):
            return urls
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("import/<uuid:preview_id>/", view(self.import_preview_view), name="%s_%s_import_preview" % info),
            path("import/<uuid:preview_id>/progress/", view(self.import_preview_progress),
                 name="%s_%s_import_preview_progress" % info),
            path("import/<uuid:preview_id>/confirm/", view(self.import_preview_confirm),
                 name="%s_%s_import_preview_confirm" % info),
        ] + urls

    def import_action(self, request, **kwargs):
        """django-import-export's import page; a valid upload with more rows than HUB_IMPORT_INLINE_ROWS is kept
        and previewed by the worker instead, and the answer is its progress page."""
        if (request.method == "POST" and self.has_import_permission(request)
                and not self.is_skip_import_confirm_enabled()):
            form = self.create_import_form(request)
            if form.is_valid():
                url = self._start_worker_preview(request, form)
                if url is not None:
                    from django.http import HttpResponseRedirect

                    return HttpResponseRedirect(url)
        return super().import_action(request, **kwargs)

    def _start_worker_preview(self, request, form) -> str | None:
        """The progress page's address when the upload goes to the worker; None to preview it in the request
        (small files, and files that cannot be read: django-import-export reads them again and says why)."""
        from django.urls import reverse

        from imports.preview import read_dataset
        from imports.services import inline_rows, preview_start

        upload = form.cleaned_data["import_file"]
        format_index = int(form.cleaned_data["format"])
        input_format = self.get_import_formats()[format_index]()
        content = b"".join(upload.chunks())
        try:
            rows = len(read_dataset(input_format, content, self.from_encoding))
        except Exception:  # noqa: BLE001 - reported on the form by django-import-export's own reading
            return None
        if rows <= inline_rows():
            return None
        preview = preview_start(user=request.user, model=self.opts.label_lower,
                                resource_index=self.get_resource_index(form), format_index=format_index,
                                file_name=upload.name, content=content, total_rows=rows)
        return reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_import_preview",
                       args=[preview.pk])

    def _preview_or_404(self, request, preview_id):
        """The user's own preview of this admin's model, while the role policy lets them import in every tenant
        it involves; anything else (someone else's, another tenant's, a lost role) is missing."""
        from django.http import Http404

        from imports.models import ImportPreview
        from tenants.policy import tenants_where

        preview = ImportPreview.objects.filter(pk=preview_id, user=request.user, model=self.opts.label_lower).first()
        if preview is None or not self.has_import_permission(request):
            raise Http404("No such import preview.")
        involved = set(preview.tenants.values_list("pk", flat=True))
        if involved and not involved <= set(tenants_where(request.user, self.import_permission())
                                            .values_list("pk", flat=True)):
            raise Http404("No such import preview.")
        return preview

    def _preview_url(self, name: str, preview) -> str:
        from django.urls import reverse

        suffix = f"_{name}" if name else ""
        return reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_import_preview{suffix}",
                       args=[preview.pk])

    def import_preview_view(self, request, preview_id):
        from django.template.response import TemplateResponse
        from django.urls import reverse

        from imports.models import PreviewStatus
        from imports.preview import StoredResult
        from imports.services import preview_fail_if_stale

        preview = self._preview_or_404(request, preview_id)
        preview_fail_if_stale(preview)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import",
            "opts": self.opts,
            "media": self.media,
            "preview": preview,
            "progress_url": self._preview_url("progress", preview),
            "confirm_url": self._preview_url("confirm", preview),
            "import_url": reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_import"),
            "import_error_display": self.import_error_display,
        }
        if preview.status == PreviewStatus.READY:
            context["result"] = StoredResult(preview.result)
            context["confirm_form"] = preview.confirmable
        request.current_app = self.admin_site.name
        return TemplateResponse(request, ["admin/import_export/import_preview.html"], context)

    def import_preview_progress(self, request, preview_id):
        from django.http import JsonResponse

        from imports.services import preview_fail_if_stale

        preview = self._preview_or_404(request, preview_id)
        preview_fail_if_stale(preview)
        return JsonResponse({"status": preview.status, "status_display": preview.get_status_display(),
                             "active": preview.active, "checked": preview.checked_rows, "total": preview.total_rows,
                             "message": preview.message})

    def import_preview_confirm(self, request, preview_id):
        """Import exactly the previewed file, as its uploader, if the role policy still allows it."""
        from django.contrib import messages
        from django.db import transaction
        from django.http import HttpResponseNotAllowed, HttpResponseRedirect

        from imports import services
        from imports.models import PreviewStatus
        from imports.preview import read_dataset

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        preview = self._preview_or_404(request, preview_id)
        back = HttpResponseRedirect(self._preview_url("", preview))
        if not services.preview_claim_import(preview):
            messages.error(request, {
                PreviewStatus.IMPORTED: "This file was imported already.",
                PreviewStatus.IMPORTING: "This file is being imported already.",
            }.get(preview.status, "This preview cannot be confirmed: it is not ready, or some rows are invalid."))
            return back
        try:
            with transaction.atomic():
                input_format = self.get_import_formats()[preview.format_index](encoding=self.from_encoding)
                dataset = read_dataset(input_format, bytes(preview.content), self.from_encoding)
                result = self.import_resource_for(request, preview.resource_index).import_data(
                    dataset, dry_run=False, raise_errors=False, use_transactions=True,
                    rollback_on_validation_errors=True, file_name=preview.file_name, user=request.user,
                    retain_instance_in_row_result=True)
                imported = not (result.has_errors() or result.has_validation_errors())
                if imported:
                    services.preview_imported(preview)
        except Exception as exc:  # noqa: BLE001 - a message, never a 500; the log keeps the traceback
            logger.exception("import of preview %s failed", preview.pk)
            services.preview_fail(preview, f"The import stopped on an unexpected error ({type(exc).__name__}). "
                                           "Nothing was imported: upload the file again.")
            return back
        if not imported:
            services.preview_fail(preview, changed_since_preview(result))
            return back
        return self.process_result(result, request)

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportTooLarge):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        """django-import-export's, except that subclasses of its binary formats (SafeXLSX) keep native
        types too (it compares exact classes): numbers stay number cells in an XLSX."""
        from django.core.exceptions import PermissionDenied
        from import_export.formats.base_formats import BINARY_FORMATS

        if not self.has_export_permission(request):
            raise PermissionDenied
        data = self.get_data_for_export(request, queryset,
                                        force_native_type=isinstance(file_format, tuple(BINARY_FORMATS)), **kwargs)
        export_data = file_format.export_data(data)
        encoding = kwargs.get("encoding")
        if not file_format.is_binary() and encoding:
            export_data = export_data.encode(encoding)
        return export_data

    def get_import_resource_kwargs(self, request, **kwargs):
        return {**super().get_import_resource_kwargs(request, **kwargs), "user": request.user}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {**super().get_export_resource_kwargs(request, **kwargs), "user": request.user}

    # Importing and exporting are decided by the role policy like everything else (tenants/policy.py).
    def has_import_permission(self, request):
        from tenants.policy import may

        return may(request.user, self.import_permission())

    def has_export_permission(self, request):
        from tenants.policy import may

        return may(request.user, f"{self.opts.app_label}.view_{self.opts.model_name}")


def changed_since_preview(result) -> str:
    """Why a confirmed import wrote nothing: the rows that fail now (the accounting tool's lists or the user's
    roles changed since the preview)."""
    reasons = []
    for row in result.invalid_rows[:3]:
        text = "; ".join(f"{field}: {' '.join(str(m) for m in messages)}" if field != "__all__" else
                         " ".join(str(m) for m in messages) for field, messages in row.error_dict.items())
        reasons.append(f"row {row.number}: {text}")
    for number, errors in result.row_errors()[:3]:
        reasons.append(f"row {number}: {errors[0].error}")
    for error in result.base_errors[:1]:
        reasons.append(str(error.error))
    count = len(result.invalid_rows) + len(result.row_errors()) + (1 if result.base_errors else 0)
    return (f"Nothing was imported: since the preview, {count} row(s) no longer pass the checks "
            f"({'; '.join(reasons)}). Upload the file again to see a new preview.")
