"""Inviting a member by e-mail address: an existing account is added, a new person gets a link to set a password."""
from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tenants.models import Membership

logger = logging.getLogger(__name__)


@transaction.atomic
def user_for_invitation(*, email: str):
    """The account with this e-mail address, or a new one (no usable password yet). Returns (user, created)."""
    User = get_user_model()
    email = User.objects.normalize_email(email.strip())
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is not None:
        return user, False
    username, n = email.lower()[:150], 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"{email.lower()[:140]}-{n}"
    user = User(username=username, email=email)
    user.set_unusable_password()
    user.save()
    return user, True


def invitation_send(*, membership: Membership, request, new_user: bool) -> int:
    """E-mail the invited person: where to sign in, or (someone new) a link to choose a password."""
    user, tenant = membership.user, membership.tenant
    if new_user:
        path = reverse("password_reset_confirm", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                                                         "token": default_token_generator.make_token(user)})
        action = f"Choose your password here (the link works once): {request.build_absolute_uri(path)}"
    else:
        action = f"Sign in with your usual account: {request.build_absolute_uri(reverse('login'))}"
    body = (f"You were invited to {tenant.name} on the integration hub as {membership.get_role_display().lower()}.\n\n"
            f"{action}\n")
    try:
        return send_mail(f"[Integration hub] Invitation to {tenant.name}", body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except OSError:
        logger.exception("could not e-mail the invitation to tenant %s", tenant.slug)
        return 0
