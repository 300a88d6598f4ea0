"""Webhooks: one address per connection, events checked, deduplicated, turned into incremental runs.

Factorial has no signature header; the subscriber chooses a secret `challenge` when it subscribes and
Factorial sends it back in `x-factorial-wh-challenge` with every delivery. That is what is verified.
A delivery carries the bare resource (no event name): the subscription type is in the address.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from mappings.models import Flow
from syncs.models import Trigger, WebhookDelivery
from syncs.services import run_request
from tenants.models import Connection
from tenants.services import connection_connector, connection_read_credentials, connection_store_credentials

logger = logging.getLogger(__name__)

CHALLENGE_HEADER = "HTTP_X_FACTORIAL_WH_CHALLENGE"
# Factorial's catalogue has no document or expense "updated" event; these two tell that expenses moved.
FACTORIAL_TYPES = ("expenses/expensable/bulk_set_to_paid", "expenses/expensable/update_reimbursable_amount")


def hook_url(connection: Connection, subscription_type: str) -> str:
    path = reverse("webhook_receive", args=[connection.webhook_token, subscription_type])
    return settings.HUB_PUBLIC_URL.rstrip("/") + path


@transaction.atomic
def ensure_webhook_secrets(connection: Connection) -> tuple[str, str]:
    """The connection's webhook address token and challenge secret, created once."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    credentials = connection_read_credentials(connection=connection) or {}
    if not connection.webhook_token:
        connection.webhook_token = secrets.token_urlsafe(24)
        connection.save(update_fields=["webhook_token"])
    if not credentials.get("webhook_challenge"):
        credentials["webhook_challenge"] = secrets.token_urlsafe(32)
        connection_store_credentials(connection=connection, credentials=credentials)
    return connection.webhook_token, credentials["webhook_challenge"]


def subscribe(connection: Connection) -> list[str]:
    """Subscribe the connection's tool to the events the hub uses; idempotent (existing ones are kept)."""
    token, challenge = ensure_webhook_secrets(connection)
    connection.refresh_from_db()
    connector = connection_connector(connection=connection)
    try:
        existing = {(s.get("type") or s.get("subscription_type"), s.get("target_url"))
                    for s in connector.webhook_subscriptions()}
        created = []
        for subscription_type in FACTORIAL_TYPES:
            url = hook_url(connection, subscription_type)
            if (subscription_type, url) in existing:
                continue
            connector.subscribe_webhook(subscription_type=subscription_type, target_url=url, challenge=challenge)
            created.append(subscription_type)
        return created
    finally:
        connector.close()


def _answer(payload: dict, challenge: str, status: int = 200) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    response["x-factorial-wh-challenge"] = challenge  # echoed: answers a subscription challenge too
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def receive(request, token: str, subscription_type: str):
    connection = Connection.objects.filter(webhook_token=token).select_related("tenant").first()
    if connection is None:
        raise Http404("No such hook.")
    expected = (connection_read_credentials(connection=connection) or {}).get("webhook_challenge", "")
    given = request.META.get(CHALLENGE_HEADER, "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        logger.warning("webhook for connection %s refused: challenge does not match", connection.pk)
        return JsonResponse({"error": "challenge does not match"}, status=403)
    if request.method == "GET":  # a verification call: prove we hold the secret, nothing else happens
        return _answer({"challenge": given}, given)
    try:
        json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    digest = hashlib.sha256(subscription_type.encode() + b"\0" + request.body).hexdigest()
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(connection=connection, subscription_type=subscription_type[:120],
                                                      digest=digest)
    except IntegrityError:
        return _answer({"status": "duplicate"}, given)  # already handled: a redelivery changes nothing
    runs = []
    for flow in Flow.objects.filter(source=connection, enabled=True):
        run, _created = run_request(flow=flow, trigger=Trigger.WEBHOOK)
        runs.append(run.pk)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(runs=runs)
    return _answer({"status": "accepted", "runs": runs}, given, status=202)
