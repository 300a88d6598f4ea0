"""The error list out (CSV, XLSX), for accountants who work in a spreadsheet."""
from __future__ import annotations

from import_export import fields, resources

from syncs import catalogue
from syncs.models import SyncError
from tenants.policy import tenants_where


class SyncErrorResource(resources.ModelResource):
    invoice = fields.Field(attribute="document__source_number", column_name="invoice")
    third_party = fields.Field(attribute="document__partner_name", column_name="third party")
    kind = fields.Field(attribute="document__kind", column_name="kind")
    flow_name = fields.Field(attribute="flow__name", column_name="flow")
    title = fields.Field(column_name="error")
    description = fields.Field(column_name="what it means")
    resolution = fields.Field(column_name="how to fix it")
    resolved_by_name = fields.Field(attribute="resolved_by__username", column_name="resolved by")

    class Meta:
        model = SyncError
        fields = ("id", "code", "title", "invoice", "third_party", "kind", "flow_name", "status", "message",
                  "provider_message", "description", "resolution", "occurrences", "created_at", "last_seen_at",
                  "resolved_by_name", "resolved_at", "resolution_note")
        export_order = fields

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user

    def filter_export(self, queryset, **kwargs):
        if self.user is not None:
            queryset = queryset.filter(tenant__in=tenants_where(self.user, "syncs.view_syncerror").values("pk"))
        return queryset.select_related("document", "flow", "resolved_by")

    def dehydrate_title(self, error):
        return catalogue.get(error.code).title

    def dehydrate_description(self, error):
        return catalogue.get(error.code).description

    def dehydrate_resolution(self, error):
        return catalogue.get(error.code).resolution
