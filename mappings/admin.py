from django.contrib import admin
from import_export.admin import ImportExportMixin

from integration_hub.admin_io import UserScopedImportExport
from mappings.resources import FlowAccountsResource, JournalMappingResource, VatMappingResource

from mappings.models import Flow, JournalMapping, VatMapping
from tenants.admin_scoping import TenantScopedAdminMixin
from tenants.models import Connection, Role
from tenants.selectors import tenant_ids_for_user, user_is_support


class VatMappingInline(admin.TabularInline):
    model = VatMapping
    extra = 0


class JournalMappingInline(admin.TabularInline):
    model = JournalMapping
    extra = 0


@admin.register(Flow)
class FlowAdmin(UserScopedImportExport, ImportExportMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    resource_classes = [FlowAccountsResource]
    list_display = ["name", "tenant", "source", "target", "enabled", "schedule_minutes", "cursor"]
    list_filter = ["enabled", "scope"]
    search_fields = ["name", "tenant__name"]
    list_select_related = ["tenant", "source", "target"]
    readonly_fields = ["cursor", "enabled"]
    inlines = [VatMappingInline, JournalMappingInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Connection and not user_is_support(request.user):
            kwargs["queryset"] = Connection.objects.filter(tenant_id__in=tenant_ids_for_user(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(VatMapping)
class VatMappingAdmin(UserScopedImportExport, ImportExportMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    resource_classes = [VatMappingResource]
    tenant_path = "flow__tenant"
    manage_roles = (Role.OWNER,)
    list_display = ["flow", "kind", "source_rate", "source_label", "target_vat_code_label", "target_vat_code_id"]
    list_filter = ["kind"]
    list_select_related = ["flow"]
    search_fields = ["flow__name", "source_label", "target_vat_code_label"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Flow and not user_is_support(request.user):
            kwargs["queryset"] = Flow.objects.filter(tenant_id__in=tenant_ids_for_user(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(JournalMapping)
class JournalMappingAdmin(VatMappingAdmin):
    resource_classes = [JournalMappingResource]
    list_display = ["flow", "source_journal", "target_journal_label", "target_journal_id"]
    list_filter = []
    search_fields = ["flow__name", "source_journal", "target_journal_label"]
