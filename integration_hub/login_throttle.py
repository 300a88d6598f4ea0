"""Log-in throttling with django-axes: who is asking, and the page a locked-out person sees.

After ``HUB_LOGIN_FAILURE_LIMIT`` failed log-ins for one user name from one address, that
combination is locked for ``HUB_LOGIN_COOLOFF_MINUTES`` (each attempt while locked starts the wait
again). Other addresses, and other user names from the same address, are not affected. A
successful log-in forgets the failures. ``manage.py axes_reset`` (and friends) unlock early
(docs/operations.md).
"""
from __future__ import annotations

import math

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or, behind HUB_TRUSTED_PROXY_COUNT proxies, the address the
    outermost of them saw (X-Forwarded-For, read from the right so a client cannot forge it)."""
    count = getattr(settings, "HUB_TRUSTED_PROXY_COUNT", 0)
    if count > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")


def locked_out(request, original_response=None, credentials=None):
    """django-axes' lock-out answer: a page saying the account is locked for a while, and until when."""
    from axes.helpers import get_client_username, get_cool_off

    cool_off = get_cool_off(request)
    # The attempt that got this answer (re)started the cool-off, so it ends one cool-off from now.
    retry_at = timezone.localtime(timezone.now() + cool_off) if cool_off else None
    context = {
        "username": get_client_username(request, credentials) or "",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": math.ceil(cool_off.total_seconds() / 60) if cool_off else None,
        "retry_at": retry_at,
        "login_url": request.path,
    }
    return render(request, "registration/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
