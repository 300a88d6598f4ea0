"""django-import-export in the admin: CSV and XLSX, resources told who is importing or exporting."""
from __future__ import annotations

from import_export.formats.base_formats import CSV, XLSX


class UserScopedImportExport:
    """Mixin for an admin using ImportExportMixin / ExportMixin: resources receive the user."""

    formats = [CSV, XLSX]

    def get_import_resource_kwargs(self, request, **kwargs):
        return {**super().get_import_resource_kwargs(request, **kwargs), "user": request.user}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {**super().get_export_resource_kwargs(request, **kwargs), "user": request.user}
