"""Connecting a tool with OAuth2: send the owner to the provider, check `state` on return, store the tokens."""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse

from integration_hub.connectors.errors import ConnectorError
from integration_hub.connectors.excerpt import excerpt
from tenants import policy, selectors, services
from tenants.views import tenant_view

SESSION_KEY = "oauth_pending"


def _safe_next(request, url: str, fallback: str) -> str:
    """``url`` when it is a path on this site, else ``fallback``: never ``///evil``, ``/\\evil``, ``//evil``,
    another host or another scheme (Django's own check, the one its login view uses)."""
    from django.utils.http import url_has_allowed_host_and_scheme

    url = (url or "").strip()
    parts = urlsplit(url)
    on_this_site = url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure())
    return url if on_this_site and url.startswith("/") and not parts.scheme and not parts.netloc else fallback


def _callback_url(request) -> str:
    return request.build_absolute_uri(reverse("oauth_callback"))


@tenant_view("tenants.change_connection")
def oauth_start(request, tenant, pk):
    connection = selectors.access_connection(request.user, tenant, pk)
    if connection.auth_kind != "oauth2":
        raise Http404("This connection does not sign in with OAuth2.")
    client = connection.descriptor.connector_class().oauth_client()  # endpoints from settings, not the tenant
    state = secrets.token_urlsafe(24)
    pending = request.session.get(SESSION_KEY, {})
    pending[state] = {"connection": connection.pk, "tenant": tenant.slug,
                      "next": _safe_next(request, request.GET.get("next", ""),
                                         reverse("connection_detail", args=[tenant.slug, connection.pk]))}
    request.session[SESSION_KEY] = dict(list(pending.items())[-5:])  # a few tabs at most
    return redirect(client.authorization_url(redirect_uri=_callback_url(request), state=state))


@login_required
def oauth_callback(request):
    state = request.GET.get("state", "")
    pending = request.session.get(SESSION_KEY, {})
    started = pending.pop(state, None) if state else None
    request.session[SESSION_KEY] = pending
    if started is None:
        return render(request, "tenants/oauth_failed.html", {
            "reason": "This sign-in did not start here or has already been used (the state does not match). "
                      "Start the connection again from the hub."}, status=400)
    tenant = selectors.access_tenant(request.user, started["tenant"])
    policy.require(request.user, "tenants.change_connection", tenant)
    connection = selectors.access_connection(request.user, tenant, started["connection"])
    if request.GET.get("error"):
        reason = excerpt(request.GET.get("error_description") or request.GET.get("error"))
        services.connection_mark(connection=connection, status="error", message=f"Authorisation refused: {reason}")
        messages.error(request, f"{connection.name} was not connected: {reason}")
        return redirect(started["next"])
    code = request.GET.get("code")
    if not code:
        return HttpResponseBadRequest("The provider sent no authorisation code.")
    credentials = services.connection_read_credentials(connection=connection) or {}
    client = connection.descriptor.connector_class().oauth_client()  # the secret goes to the settings' endpoint only
    try:
        tokens = client.exchange_code(code=code, redirect_uri=_callback_url(request))
    except ConnectorError as exc:
        services.connection_mark(connection=connection, status="error", message=str(exc))
        messages.error(request, f"{connection.name} was not connected: {exc}")
        return redirect(started["next"])
    services.connection_store_credentials(connection=connection, credentials={**credentials, **tokens})
    connection.refresh_from_db()
    result = services.connection_check(connection=connection)
    if result.ok:
        messages.success(request, f"Connected: {result.message}")
    else:
        messages.error(request, f"Connection failed: {result.message}")
    return redirect(started["next"])
