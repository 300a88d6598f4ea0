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
    # A new grant may reach other organisations than the one chosen before: choose again.
    stored = {k: v for k, v in credentials.items() if k not in ("tenant_id", "tenant_name")}
    services.connection_store_credentials(connection=connection, credentials={**stored, **tokens})
    connection.refresh_from_db()
    if "organisations" in connection.descriptor.features:
        try:
            found = _organisations(connection)
        except ConnectorError as exc:
            services.connection_mark(connection=connection, status="error", message=str(exc))
            messages.error(request, f"{connection.name} was connected but its organisations could not be listed: {exc}")
            return redirect(started["next"])
        if len(found) > 1:
            request.session[ORGANISATIONS_KEY] = {"connection": connection.pk, "tenant": tenant.slug,
                                                  "next": started["next"], "choices": found}
            return redirect("oauth_organisation", slug=tenant.slug, pk=connection.pk)
    return _checked(request, connection, started["next"])


ORGANISATIONS_KEY = "oauth_organisations"


def _organisations(connection) -> list[list[str]]:
    """(id, name) of the organisations the connection's grant may use, as the provider lists them."""
    connector = services.connection_connector(connection=connection)
    try:
        return [[str(i), str(n)] for i, n in connector.organisations()]
    finally:
        connector.close()


def _checked(request, connection, next_url: str):
    result = services.connection_check(connection=connection)
    if result.ok:
        messages.success(request, f"Connected: {result.message}")
    else:
        messages.error(request, f"Connection failed: {result.message}")
    return redirect(next_url)


@tenant_view("tenants.change_connection")
def oauth_organisation(request, tenant, pk):
    """After consent to several organisations: the person picks the one this connection books into."""
    connection = selectors.access_connection(request.user, tenant, pk)
    pending = request.session.get(ORGANISATIONS_KEY) or {}
    if pending.get("connection") != connection.pk or pending.get("tenant") != tenant.slug:
        raise Http404("No organisation is waiting to be chosen for this connection.")
    choices = {tenant_id: name for tenant_id, name in pending.get("choices") or []}
    error = ""
    if request.method == "POST":
        chosen = request.POST.get("organisation", "")
        if chosen in choices:
            credentials = services.connection_read_credentials(connection=connection) or {}
            services.connection_store_credentials(
                connection=connection, credentials={**credentials, "tenant_id": chosen, "tenant_name": choices[chosen]})
            request.session.pop(ORGANISATIONS_KEY, None)
            connection.refresh_from_db()
            return _checked(request, connection, pending.get("next") or reverse(
                "connection_detail", args=[tenant.slug, connection.pk]))
        error = "Choose one of the organisations listed."
    return render(request, "tenants/oauth_organisation.html", {
        "tenant": tenant, "connection": connection, "choices": sorted(choices.items(), key=lambda c: c[1].lower()),
        "error": error}, status=400 if error else 200)
