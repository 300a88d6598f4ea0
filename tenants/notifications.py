"""Telling a tenant's owners something they must act on (by e-mail; EMAIL_URL configures it)."""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from tenants.models import Membership, Role, Tenant

logger = logging.getLogger(__name__)


def notify_owners(*, tenant: Tenant, subject: str, body: str) -> int:
    recipients = sorted({m.user.email for m in Membership.objects.filter(tenant=tenant, role=Role.OWNER)
                         .select_related("user") if m.user.email})
    if not recipients:
        logger.warning("tenant %s has no owner with an e-mail address to tell: %s", tenant.slug, subject)
        return 0
    try:
        return send_mail(f"[Integration hub] {subject}", body, settings.DEFAULT_FROM_EMAIL, recipients)
    except OSError:
        logger.exception("could not e-mail the owners of %s", tenant.slug)
        return 0
