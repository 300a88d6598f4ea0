"""Admin classes for tenant-owned data, answering every permission from the role policy.

- A user sees only objects of tenants where their role may view them; an object outside them
  answers 404, exactly like an id that does not exist.
- Add, change and delete ask tenants.policy for the object's tenant; adding, changing or moving
  an object is checked against the tenant it ends up in, and choice lists offer only tenants
  (and flows, connections) where the user holds that permission.
"""
from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404

from tenants import policy
from tenants.models import Connection, Tenant


def _perm(opts, action: str) -> str:
    return f"{opts.app_label}.{action}_{opts.model_name}"


def _tenant_scoped(queryset, tenant_path: str, tenants):
    lookup = "pk__in" if not tenant_path else f"{tenant_path}__in"
    return queryset.filter(**{lookup: tenants.values("pk")})


class PolicyPermissionsMixin:
    """has_*_permission from the policy, for a ModelAdmin or an inline (whose obj is the parent)."""

    def perm(self, action: str) -> str:
        return _perm(self.opts, action)

    def has_view_permission(self, request, obj=None):
        return policy.may(request.user, self.perm("view"), obj)

    def has_add_permission(self, request, obj=None):
        return policy.may(request.user, self.perm("add"), obj)

    def has_change_permission(self, request, obj=None):
        return policy.may(request.user, self.perm("change"), obj)

    def has_delete_permission(self, request, obj=None):
        return policy.may(request.user, self.perm("delete"), obj)

    def has_module_permission(self, request):
        return policy.may(request.user, self.perm("view"))

    def _destination_perm(self, request) -> str:
        match = request.resolver_match
        adding = bool(match and match.url_name and match.url_name.endswith("_add"))
        return self.perm("add" if adding else "change")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Only destinations where the user may put this object: tenants, and their flows or connections."""
        tenants = policy.tenants_where(request.user, self._destination_perm(request))
        related = db_field.related_model
        if related is Tenant:
            kwargs["queryset"] = tenants
        elif related is Connection or related._meta.model_name == "flow":
            kwargs["queryset"] = related._default_manager.filter(tenant__in=tenants.values("pk"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TenantScopedAdminMixin(PolicyPermissionsMixin):
    #: lookup path from the model to its Tenant ("" for the Tenant model itself)
    tenant_path: str = "tenant"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return _tenant_scoped(qs, self.tenant_path, policy.tenants_where(request.user, self.perm("view")))

    def save_model(self, request, obj, form, change):
        """The role is checked in the tenant the object ends up in, not only the one it came from."""
        if not policy.may(request.user, self.perm("change" if change else "add"), obj):
            raise PermissionDenied("Your role does not allow this in that tenant.")
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        """Each inline row added, changed or deleted is checked in the tenant it ends up in, before anything is saved."""
        deleted = set(formset.deleted_forms)
        for inline_form in formset.forms:
            obj = inline_form.instance  # already carries the submitted values
            if inline_form in deleted:
                action = "delete"
            elif inline_form.has_changed():
                action = "change" if obj.pk else "add"
            else:
                continue
            if not policy.may(request.user, _perm(obj._meta, action), obj):
                raise PermissionDenied("Your role does not allow this in that tenant.")
        super().save_formset(request, form, formset, change)

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


class TenantScopedInlineMixin(PolicyPermissionsMixin):
    """For inlines: the parent object answers for the tenant."""
