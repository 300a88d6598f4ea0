"""Demo tenants and logins for `make run`. Idempotent: running it again changes nothing but the password."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from tenants.models import Role, Tenant
from tenants.services import membership_set, tenant_create


@dataclass
class DemoLogins:
    username: str
    password: str
    tenant: Tenant
    other_tenant: Tenant


@transaction.atomic
def seed_tenants(*, password: str) -> DemoLogins:
    User = get_user_model()
    user, _ = User.objects.get_or_create(username="demo", defaults={"email": "demo@example.com", "first_name": "Demo"})
    user.is_staff = False  # reaches the admin by its roles alone (tenants/policy.py), scoped to its tenants
    user.set_password(password)
    user.save()
    tenant = Tenant.objects.filter(slug="demo").first() or tenant_create(
        name="Demo Bistro SAS", slug="demo", country="FR", base_currency="EUR"
    )
    other = Tenant.objects.filter(slug="demo-holding").first() or tenant_create(
        name="Demo Holding", slug="demo-holding", country="FR", base_currency="EUR"
    )
    membership_set(tenant=tenant, user=user, role=Role.OWNER)
    membership_set(tenant=other, user=user, role=Role.ACCOUNTANT)
    # A tenant the demo user does NOT belong to, to show isolation.
    if not Tenant.objects.filter(slug="someone-else").exists():
        tenant_create(name="Someone Else SARL", slug="someone-else", country="FR", base_currency="EUR")
    return DemoLogins(username="demo", password=password, tenant=tenant, other_tenant=other)
