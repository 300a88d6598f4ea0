"""django-import-export in the admin: CSV and XLSX, resources told who is importing or exporting."""
from __future__ import annotations

from integration_hub.spreadsheets import ImportTooLarge, LimitedImportForm, SafeCSV, SafeXLSX


class UserScopedImportExport:
    """Mixin for an admin using ImportExportMixin / ExportMixin: resources receive the user."""

    # Every import and export goes through these: formulas escaped on the way out, size limits on the way in.
    formats = [SafeCSV, SafeXLSX]
    import_form_class = LimitedImportForm

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

        return may(request.user, f"{self.opts.app_label}.import_{self.opts.model_name}")

    def has_export_permission(self, request):
        from tenants.policy import may

        return may(request.user, f"{self.opts.app_label}.view_{self.opts.model_name}")
