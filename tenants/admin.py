from django import forms
from django.contrib import admin
from django.utils.html import format_html_join

from tenants import invitations, policy, services
from tenants.admin_scoping import TenantScopedAdminMixin
from tenants.models import Connection, Membership, Role, Tenant


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_path = ""
    list_display = ["name", "slug", "country", "base_currency", "active", "created_at"]
    list_filter = ["active", "country"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser  # tenants are opened by the operator

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class InviteForm(forms.ModelForm):
    """A member is invited by e-mail address: nobody picks from the hub's list of users."""

    email = forms.EmailField(label="E-mail address",
                             help_text="The person's e-mail address. Someone new gets an e-mail to choose a password.")

    class Meta:
        model = Membership
        fields = ["tenant", "email", "role"]

    def clean(self):
        cleaned = super().clean()
        tenant, email = cleaned.get("tenant"), cleaned.get("email")
        if tenant and email and Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
            self.add_error("email", f"{email} is already a member of {tenant.name}.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "member_email", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "tenant__name"]
    list_select_related = ["user", "tenant"]

    @admin.display(description="E-mail")
    def member_email(self, obj):
        return obj.user.email

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = InviteForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["tenant", "email", "role"] if obj is None else ["user", "tenant", "role"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["user"]

    def save_model(self, request, obj, form, change):
        if not change:
            user, created = invitations.user_for_invitation(email=form.cleaned_data["email"])
            obj.user = user
            super().save_model(request, obj, form, change)
            invitations.invitation_send(membership=obj, request=request, new_user=created)
            policy.forget(request.user)
            return
        super().save_model(request, obj, form, change)
        policy.forget(request.user)


@admin.register(Connection)
class ConnectionAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "tenant", "provider", "role", "auth_kind", "status", "last_checked_at"]
    list_filter = ["status", "provider", "role"]
    search_fields = ["name", "tenant__name", "external_org_id"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "provider", "role", "auth_kind", "credentials_masked", "status", "status_message", "last_checked_at",
                       "external_org_id", "external_org_name"]
    actions = ["check_connections"]

    def get_fields(self, request, obj=None):
        fields = ["tenant", "name", "provider", "role", "auth_kind", "status", "status_message", "last_checked_at",
                  "external_org_id", "external_org_name"]
        if obj is not None and policy.may(request.user, "tenants.view_credentials", obj):
            fields.insert(5, "credentials_masked")
        return fields

    @admin.display(description="Credentials")
    def credentials_masked(self, obj):
        return format_html_join("", "<div><b>{}</b>: <code>{}</code></div>", services.masked_credentials(connection=obj))

    def has_add_permission(self, request, obj=None):
        # Credentials are typed in the tenant's connection form, which knows each provider's fields.
        return False

    def has_check_permission(self, request):
        return policy.may(request.user, "tenants.check_connection")

    @admin.action(description="Test the selected connections", permissions=["check"])
    def check_connections(self, request, queryset):
        for connection in queryset:
            if not policy.may(request.user, "tenants.check_connection", connection):
                continue
            result = services.connection_check(connection=connection)
            level = "success" if result.ok else "error"
            self.message_user(request, f"{connection.name}: {result.message}", level=level)


__all__ = ["TenantAdmin", "MembershipAdmin", "ConnectionAdmin", "Role"]
