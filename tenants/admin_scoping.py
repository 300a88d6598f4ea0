"""Admin classes for tenant-owned data: a non-support user sees and touches only their tenants.

An object outside the user's tenants answers 404, exactly like an id that does not exist.
"""
from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.http import Http404

from tenants.models import Membership, Role, Tenant
from tenants.selectors import tenant_ids_for_user, tenants_for_user, user_is_support


class TenantScopedAdminMixin:
    #: lookup path from the model to its Tenant ("" for the Tenant model itself)
    tenant_path: str = "tenant"
    #: roles that may change or delete an object (support staff may always look)
    manage_roles: tuple[str, ...] = (Role.OWNER,)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if user_is_support(request.user):
            return qs
        lookup = "pk__in" if not self.tenant_path else f"{self.tenant_path}__in"
        return qs.filter(**{lookup: tenant_ids_for_user(request.user)})

    def _tenant_of(self, obj) -> Tenant | None:
        if obj is None:
            return None
        if not self.tenant_path:
            return obj
        value = obj
        for part in self.tenant_path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def _may_manage(self, request, obj) -> bool:
        if request.user.is_superuser:
            return True
        tenant = self._tenant_of(obj)
        if tenant is None:
            return True
        return Membership.objects.filter(user=request.user, tenant=tenant, role__in=self.manage_roles).exists()

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_manage(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_manage(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Tenant and not user_is_support(request.user):
            kwargs["queryset"] = tenants_for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _visible_or_404(self, request, object_id):
        if object_id is not None and self.get_object(request, unquote(object_id)) is None:
            raise Http404("No such object.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._visible_or_404(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._visible_or_404(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._visible_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)
