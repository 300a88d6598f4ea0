from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.db.models import Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from integration_hub.connectors import registry
from tenants import policy, selectors, services
from tenants.forms import ConnectionForm, ProviderChoiceForm

SESSION_KEY = "tenant_slug"


def tenant_view(permission: str | None = None):
    """Resolve the tenant from the URL (404 when the user cannot see it) and ask the role policy
    (tenants/policy.py) whether the user holds ``permission`` there (403 when not)."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            tenant = selectors.access_tenant(request.user, slug)
            request.tenant = tenant
            request.tenant_role = selectors.role_in_tenant(request.user, tenant)
            if permission:
                policy.require(request.user, permission, tenant)
            request.session[SESSION_KEY] = tenant.slug
            return view(request, tenant, *args, **kwargs)

        return wrapper

    return decorator


@login_required
def home(request):
    tenants = selectors.tenants_for_user(request.user)
    remembered = request.session.get(SESSION_KEY)
    if remembered and tenants.filter(slug=remembered).exists():
        return redirect("tenant_home", slug=remembered)
    first_two = list(tenants[:2])
    if len(first_two) == 1:
        return redirect("tenant_home", slug=first_two[0].slug)
    return redirect("tenant_list")


@login_required
def tenant_list(request):
    return render(request, "tenants/tenant_list.html", {"tenants": selectors.tenants_for_user(request.user)})


@login_required
@require_POST
def tenant_switch(request):
    tenant = selectors.access_tenant(request.user, request.POST.get("tenant", ""))
    request.session[SESSION_KEY] = tenant.slug
    return redirect("tenant_home", slug=tenant.slug)


@tenant_view()
def tenant_home(request, tenant):
    context = {
        "tenant": tenant,
        "role": request.tenant_role,
        "connections": selectors.connections_for_tenant(tenant),
        "is_owner": policy.may(request.user, "tenants.add_connection", tenant),
    }
    return render(request, "tenants/tenant_home.html", context)


@tenant_view("tenants.add_connection")
def connection_new(request, tenant):
    choice = ProviderChoiceForm(request.GET or None, initial={"role": request.GET.get("role", "source")})
    if not choice.is_valid():
        return render(request, "tenants/connection_choose.html", {"tenant": tenant, "form": choice})
    descriptor = registry.get(choice.cleaned_data["provider"])
    auth_kind = request.GET.get("auth_kind") or descriptor.auth_kinds[0]
    if auth_kind not in descriptor.auth_kinds:
        auth_kind = descriptor.auth_kinds[0]
    form = ConnectionForm(request.POST or None, descriptor=descriptor, auth_kind=auth_kind, tenant=tenant,
                          initial={"name": f"{descriptor.name} ({choice.cleaned_data['role']})"})
    if request.method == "POST" and form.is_valid():
        connection = services.connection_create(
            tenant=tenant,
            name=form.cleaned_data["name"],
            provider=descriptor.key,
            role=choice.cleaned_data["role"],
            auth_kind=auth_kind,
            credentials=form.credentials(),
        )
        if auth_kind == "oauth2":
            return redirect("oauth_start", slug=tenant.slug, pk=connection.pk)
        messages.success(request, f"Connection “{connection.name}” saved. Test it to make sure it works.")
        return redirect("connection_detail", slug=tenant.slug, pk=connection.pk)
    return render(request, "tenants/connection_form.html",
                  {"tenant": tenant, "form": form, "descriptor": descriptor, "role": choice.cleaned_data["role"]})


@tenant_view()
def connection_detail(request, tenant, pk):
    connection = selectors.access_connection(request.user, tenant, pk)
    try:
        features = connection.descriptor.features
    except registry.NotRegistered:
        features = frozenset()
    context = {
        "tenant": tenant,
        "connection": connection,
        "features": features,
        "credentials": (services.masked_credentials(connection=connection)
                        if policy.may(request.user, "tenants.view_credentials", connection) else []),
        "is_owner": policy.may(request.user, "tenants.change_connection", connection),
    }
    return render(request, "tenants/connection_detail.html", context)


@tenant_view("tenants.change_connection")
def connection_edit(request, tenant, pk):
    connection = selectors.access_connection(request.user, tenant, pk)
    try:
        descriptor = connection.descriptor
    except registry.NotRegistered:
        raise Http404("This provider is not enabled on this hub.") from None
    form = ConnectionForm(request.POST or None, descriptor=descriptor, auth_kind=connection.auth_kind,
                          instance=connection, tenant=tenant)
    if request.method == "POST" and form.is_valid() and not _overlap_refused(connection, form, tenant):
        services.connection_update(connection=connection, name=form.cleaned_data["name"], credentials=form.credentials())
        messages.success(request, "Connection updated.")
        return redirect("connection_detail", slug=tenant.slug, pk=connection.pk)
    return render(request, "tenants/connection_form.html",
                  {"tenant": tenant, "form": form, "descriptor": descriptor, "connection": connection, "role": connection.role})


def _overlap_refused(connection, form, tenant) -> bool:
    """Pointing a connection at other books must not make two active flows book the same invoices (issue 14)."""
    from mappings.models import Flow
    from syncs import overlap

    for flow in Flow.objects.filter(enabled=True).filter(Q(source=connection) | Q(target=connection)):
        role = "source" if flow.source_id == connection.pk else "target"
        if overlap.refused_connection_change(flow, role, form, current=connection, tenant=tenant,
                                             provider=connection.provider, auth_kind=connection.auth_kind):
            return True
    return False


@tenant_view("tenants.check_connection")
@require_POST
def connection_check(request, tenant, pk):
    connection = selectors.access_connection(request.user, tenant, pk)
    result = services.connection_check(connection=connection)
    if result.ok:
        messages.success(request, f"Connected: {result.message}")
    else:
        messages.error(request, f"Connection failed: {result.message}")
    return redirect("connection_detail", slug=tenant.slug, pk=connection.pk)
