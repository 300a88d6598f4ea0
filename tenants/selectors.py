"""Reads scoped to what a user may see. Missing and forbidden give the same answer: Http404."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from tenants.models import Connection, Membership, Role, Tenant

SUPPORT_PERMISSION = "tenants.support_all_tenants"


def user_is_support(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Superusers and holders of the support permission see every tenant (tenants/policy.py)."""
    from tenants.policy import is_support

    return is_support(user)


def tenants_for_user(user) -> QuerySet[Tenant]:
    if not user.is_authenticated or not user.is_active:
        return Tenant.objects.none()
    if user_is_support(user):
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user, active=True).distinct()


def tenant_ids_for_user(user) -> QuerySet:
    return tenants_for_user(user).values("id")


def role_in_tenant(user, tenant: Tenant) -> str | None:
    """The user's role in the tenant; support staff without a membership act as viewers."""
    membership = Membership.objects.filter(user=user, tenant=tenant).only("role").first()
    if membership:
        return membership.role
    return Role.VIEWER if user_is_support(user) else None


def access_tenant(user, slug: str) -> Tenant:
    try:
        return tenants_for_user(user).get(slug=slug)
    except Tenant.DoesNotExist:
        raise Http404("No such tenant.") from None


def access_connection(user, tenant: Tenant, connection_id: int) -> Connection:
    """A connection of `tenant` the user can see; any other id gives Http404."""
    if not tenants_for_user(user).filter(pk=tenant.pk).exists():
        raise Http404("No such connection.")
    try:
        return Connection.objects.get(pk=connection_id, tenant=tenant)
    except (Connection.DoesNotExist, ValueError, TypeError):
        raise Http404("No such connection.") from None


def connections_for_tenant(tenant: Tenant) -> QuerySet[Connection]:
    return Connection.objects.filter(tenant=tenant).order_by("role", "name")
