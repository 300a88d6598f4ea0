"""What each role may do in a tenant: the one place the pages, the admin and the imports ask.

Every permission is a Django permission name (``app.action_model``) registered with django-rules,
so ``user.has_perm(name, obj)`` answers it everywhere, templates included. A permission is granted
by the roles listed in ``MATRIX``; an object answers for the tenant it belongs to (``tenant_of``);
without an object a permission asks "may the user do this in at least one tenant?" (list pages,
the admin index, the *Add* button), and ``tenants_where`` names those tenants for choice lists.

Roles:
- owner: everything in the tenant, connections and members included;
- accountant: mappings (and their import), errors (retry, resolve, ignore), runs (sync now),
  reads everything else but credentials and members;
- viewer: reads (no members, no credentials);
- support (superuser or the ``tenants.support_all_tenants`` permission, no membership needed):
  reads every tenant and retries; never credentials or memberships.

Django's own model permissions (granted by hand in the admin) give nothing here: a member
reaches what the role allows, and nothing more.
"""
from __future__ import annotations

import rules
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import QuerySet

from tenants.models import Membership, Role, Tenant

SUPPORT_PERMISSION = "tenants.support_all_tenants"
SUPPORT = "support"
OWNER, ACCOUNTANT, VIEWER = Role.OWNER.value, Role.ACCOUNTANT.value, Role.VIEWER.value
MEMBERS = frozenset({OWNER, ACCOUNTANT, VIEWER})
READERS = MEMBERS | {SUPPORT}
DESK = frozenset({OWNER, ACCOUNTANT})

#: permission -> the roles that hold it (SUPPORT stands for support staff in every tenant)
MATRIX: dict[str, frozenset[str]] = {
    # tenants
    "tenants.view_tenant": READERS,
    "tenants.change_tenant": frozenset({OWNER}),
    "tenants.view_membership": frozenset({OWNER}),
    "tenants.add_membership": frozenset({OWNER}),
    "tenants.change_membership": frozenset({OWNER}),
    "tenants.delete_membership": frozenset({OWNER}),
    "tenants.view_connection": READERS,
    "tenants.add_connection": frozenset({OWNER}),
    "tenants.change_connection": frozenset({OWNER}),
    "tenants.delete_connection": frozenset({OWNER}),
    "tenants.check_connection": frozenset({OWNER}),
    "tenants.view_credentials": frozenset({OWNER}),
    # flows and their mappings
    "mappings.view_flow": READERS,
    "mappings.add_flow": frozenset({OWNER}),
    "mappings.change_flow": frozenset({OWNER}),
    "mappings.delete_flow": frozenset({OWNER}),
    "mappings.import_flow": DESK,  # the flow's account mappings (CSV/XLSX)
    "mappings.view_vatmapping": READERS,
    "mappings.add_vatmapping": DESK,
    "mappings.change_vatmapping": DESK,
    "mappings.delete_vatmapping": DESK,
    "mappings.import_vatmapping": DESK,
    "mappings.view_journalmapping": READERS,
    "mappings.add_journalmapping": DESK,
    "mappings.change_journalmapping": DESK,
    "mappings.delete_journalmapping": DESK,
    "mappings.import_journalmapping": DESK,
    "mappings.view_dimensionmapping": READERS,
    "mappings.add_dimensionmapping": DESK,
    "mappings.change_dimensionmapping": DESK,
    "mappings.delete_dimensionmapping": DESK,
    "mappings.import_dimensionmapping": DESK,
    # runs, documents, errors
    "syncs.view_syncrun": READERS,
    "syncs.add_syncrun": DESK,  # sync now
    "syncs.view_syncdocument": READERS,
    "syncs.retry_syncdocument": DESK | {SUPPORT},
    "syncs.view_syncerror": READERS,
    "syncs.retry_syncerror": DESK | {SUPPORT},
    "syncs.resolve_syncerror": DESK,  # resolve or ignore, with a note
    # a document flow's links (ERP party -> Xero contact, product -> item) and the import of Xero's contacts
    "syncs.change_partnerlink": DESK,
}

#: How each model reaches its tenant.
TENANT_PATHS = {"tenant": "", "flow": "tenant", "vatmapping": "flow__tenant", "journalmapping": "flow__tenant",
                "dimensionmapping": "flow__tenant"}


def is_support(user) -> bool:
    return bool(user.is_authenticated and user.is_active
                and (user.is_superuser or ModelBackend().has_perm(user, SUPPORT_PERMISSION)))


def tenant_of(obj) -> Tenant | None:
    """The tenant an object belongs to (or ends up in, for an unsaved object)."""
    if obj is None or isinstance(obj, Tenant):
        return obj
    value = obj
    for part in TENANT_PATHS.get(obj._meta.model_name, "tenant").split("__"):
        try:
            value = getattr(value, part)
        except ObjectDoesNotExist:  # a foreign key not set yet
            return None
        if value is None:
            return None
    return value


def roles_of(user) -> dict[int, str]:
    """{tenant id: role} for the user's memberships in active tenants, cached on the user object."""
    cached = getattr(user, "_hub_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user, tenant__active=True).values_list("tenant_id", "role"))
        user._hub_roles = cached
    return cached


def forget(user) -> None:
    """Drop the cached roles (after a membership of this user changed)."""
    user.__dict__.pop("_hub_roles", None)


def role_in(user, tenant: Tenant | int | None) -> str | None:
    if not user.is_authenticated or not user.is_active or tenant is None:
        return None
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return roles_of(user).get(tenant_id)


def may(user, permission: str, obj=None) -> bool:
    """May the user do this to this object (or, without one, in at least one tenant)?"""
    allowed = MATRIX.get(permission)
    if allowed is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if SUPPORT in allowed and is_support(user):
        return True
    if obj is None:
        return any(role in allowed for role in roles_of(user).values())
    return role_in(user, tenant_of(obj)) in allowed


def require(user, permission: str, obj=None) -> None:
    """Raise PermissionDenied unless ``may``; the message names what is missing, never another tenant."""
    if not may(user, permission, obj):
        raise PermissionDenied("Your role in this tenant does not allow this.")


def tenants_where(user, permission: str) -> QuerySet[Tenant]:
    """The tenants in which the user holds ``permission`` (for choice lists and imports)."""
    allowed = MATRIX.get(permission, frozenset())
    if not user.is_authenticated or not user.is_active:
        return Tenant.objects.none()
    if user.is_superuser or (SUPPORT in allowed and is_support(user)):
        return Tenant.objects.all()
    ids = [tenant_id for tenant_id, role in roles_of(user).items() if role in allowed]
    return Tenant.objects.filter(pk__in=ids)


def may_admin(user) -> bool:
    """May the user enter the admin at all: any member, support staff, or Django staff."""
    return bool(user.is_authenticated and user.is_active
                and (user.is_staff or is_support(user) or roles_of(user)))


def _rule(permission: str):
    def check(user, obj=None) -> bool:
        return may(user, permission, obj)

    return rules.predicate(check, name=permission)


def _app_rule(app_label: str):
    readable = tuple(p for p in MATRIX if p.startswith(app_label + ".view_"))

    def check(user) -> bool:
        return any(may(user, p) for p in readable)

    return rules.predicate(check, name=f"{app_label}: may view something")


def _register() -> None:
    """Every permission of the matrix answers ``user.has_perm`` (and ``{% if perms.x.y %}``)."""
    for permission in MATRIX:
        rules.set_perm(permission, _rule(permission))
    for app_label in {p.split(".")[0] for p in MATRIX}:
        rules.set_perm(app_label, _app_rule(app_label))


_register()


class RoleBackend(rules.permissions.ObjectPermissionBackend):
    """Answers ``has_perm`` / ``has_module_perms`` from the role matrix, for every caller."""


class LoginBackend(ModelBackend):
    """Signs users in; grants no model permission (roles decide), only the support flag."""

    def has_perm(self, user_obj, perm, obj=None):
        return perm == SUPPORT_PERMISSION and super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):
        return False
