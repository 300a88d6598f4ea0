from django import forms
from django.contrib import admin
from import_export.admin import ImportExportMixin

from integration_hub.admin_io import UserScopedImportExport
from mappings.models import DimensionMapping, Flow, JournalMapping, VatMapping
from mappings.resources import (
    DimensionMappingResource,
    FlowAccountsResource,
    JournalMappingResource,
    VatMappingResource,
)
from tenants.admin_scoping import TenantScopedAdminMixin, TenantScopedInlineMixin


class VatMappingInline(TenantScopedInlineMixin, admin.TabularInline):
    model = VatMapping
    extra = 0


class JournalMappingInline(TenantScopedInlineMixin, admin.TabularInline):
    model = JournalMapping
    extra = 0


class DimensionMappingInline(TenantScopedInlineMixin, admin.TabularInline):
    model = DimensionMapping
    extra = 0


class FlowAdminForm(forms.ModelForm):
    def clean(self):
        """An active invoices flow keeps to its accounting company's other flows: a change of its tools or scope
        that would book invoices another active flow books is refused (see syncs.overlap)."""
        data = super().clean()
        flow = self.instance
        if flow.pk and flow.enabled:
            from syncs import overlap

            changes = {name: data[name] for name in ("source", "target", "scope", "kind") if name in data}
            others = overlap.overlapping_flows(flow, **changes)
            if others:
                raise forms.ValidationError(overlap.refusal_html(flow, others, changes.get("scope")))
        return data


@admin.register(Flow)
class FlowAdmin(UserScopedImportExport, ImportExportMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    resource_classes = [FlowAccountsResource]
    list_display = ["name", "tenant", "source", "target", "enabled", "schedule_minutes", "cursor"]
    list_filter = ["enabled", "scope"]
    search_fields = ["name", "tenant__name"]
    list_select_related = ["tenant", "source", "target"]
    readonly_fields = ["cursor", "enabled"]
    inlines = [VatMappingInline, JournalMappingInline, DimensionMappingInline]
    form = FlowAdminForm

    def save_model(self, request, obj, form, change):
        """A flow's tools belong to the flow's own tenant."""
        from django.core.exceptions import PermissionDenied

        for connection in (obj.source, obj.target):
            if connection is not None and connection.tenant_id != obj.tenant_id:
                raise PermissionDenied("A flow connects tools of its own tenant only.")
        super().save_model(request, obj, form, change)


@admin.register(VatMapping)
class VatMappingAdmin(UserScopedImportExport, ImportExportMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    resource_classes = [VatMappingResource]
    tenant_path = "flow__tenant"
    list_display = ["flow", "kind", "source_rate", "source_label", "target_vat_code_label", "target_vat_code_id"]
    list_filter = ["kind"]
    list_select_related = ["flow"]
    search_fields = ["flow__name", "source_label", "target_vat_code_label"]


@admin.register(JournalMapping)
class JournalMappingAdmin(VatMappingAdmin):
    resource_classes = [JournalMappingResource]
    list_display = ["flow", "source_journal", "target_journal_label", "target_journal_id"]
    list_filter = []
    search_fields = ["flow__name", "source_journal", "target_journal_label"]


@admin.register(DimensionMapping)
class DimensionMappingAdmin(VatMappingAdmin):
    resource_classes = [DimensionMappingResource]
    list_display = ["flow", "dimension", "source_label", "source_value_id", "target_dimension_label",
                    "target_dimension_id"]
    list_filter = ["dimension"]
    search_fields = ["flow__name", "source_label", "target_dimension_label"]
