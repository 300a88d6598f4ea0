from django.contrib import admin
from django.utils.html import format_html_join

from tenants import services
from tenants.admin_scoping import TenantScopedAdminMixin
from tenants.models import Connection, Membership, Tenant
from tenants.selectors import user_is_support


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_path = ""
    list_display = ["name", "slug", "country", "base_currency", "active", "created_at"]
    list_filter = ["active", "country"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and user_is_support(request.user)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "tenant__name"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user"]


@admin.register(Connection)
class ConnectionAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "tenant", "provider", "role", "auth_kind", "status", "last_checked_at"]
    list_filter = ["status", "provider", "role"]
    search_fields = ["name", "tenant__name", "external_org_id"]
    list_select_related = ["tenant"]
    fields = ["tenant", "name", "provider", "role", "auth_kind", "credentials_masked", "status", "status_message",
              "last_checked_at", "external_org_id", "external_org_name"]
    readonly_fields = ["tenant", "provider", "role", "auth_kind", "credentials_masked", "last_checked_at",
                       "external_org_id", "external_org_name"]
    actions = ["check_connections"]

    @admin.display(description="Credentials")
    def credentials_masked(self, obj):
        return format_html_join("", "<div><b>{}</b>: <code>{}</code></div>", services.masked_credentials(connection=obj))

    def has_add_permission(self, request):
        # Credentials are typed in the tenant's connection form, which knows each provider's fields.
        return False

    @admin.action(description="Test the selected connections")
    def check_connections(self, request, queryset):
        for connection in queryset:
            if not self._may_manage(request, connection):
                continue
            result = services.connection_check(connection=connection)
            level = "success" if result.ok else "error"
            self.message_user(request, f"{connection.name}: {result.message}", level=level)
