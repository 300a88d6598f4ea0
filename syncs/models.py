"""Runs, the per-document binding and outcomes, errors, and third-party links."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from mappings.models import Flow
from tenants.models import Connection, Tenant


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual (sync now)"
    RETRY = "retry", "Retry"
    WEBHOOK = "webhook", "Webhook"
    RECOVERY = "recovery", "Recovery after a stopped worker"
    ACTIVATION = "activation", "First run (activation)"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Partial (some documents failed)"
    FAILED = "failed", "Failed"
    PAUSED = "paused", "Paused (call budget spent)"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class SyncRun(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="runs")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=120, blank=True, default="", help_text="host:pid of the process running it")
    # counts per outcome
    seen_count = models.PositiveIntegerField(default=0)
    total_count = models.PositiveIntegerField(null=True, blank=True, help_text="Documents to look at, when known")
    synced_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    waiting_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    cursor_before = models.DateTimeField(null=True, blank=True)
    cursor_after = models.DateTimeField(null=True, blank=True)
    external_calls = models.PositiveIntegerField(default=0)
    call_log = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True, default="")
    # a retry run only looks at these documents (SyncDocument ids); empty: the whole flow
    document_ids = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # paused: a target's call budget was spent (e.g. Xero's 5,000 calls a day); a run starts again then
    resume_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="run_tenant_recent"),
            models.Index(fields=["flow", "-created_at"], name="run_flow_recent"),
            models.Index(fields=["status"], name="run_status"),
            models.Index(fields=["-created_at", "-id"], name="run_recent"),
        ]
        constraints = [
            # At most one queued-or-running run per flow: runs of a flow never overlap.
            models.UniqueConstraint(fields=["flow"], condition=Q(status__in=["queued", "running"]),
                                    name="one_active_run_per_flow"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.flow} ({self.status})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Being sent"
    SYNCED = "synced", "Synced"
    ERROR = "error", "Error"
    WAITING = "waiting", "Waiting for attachment"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled in the invoicing tool"


class SyncDocument(models.Model):
    """One source document of a flow, and what it became in the target (the binding)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="documents")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="documents")
    source_id = models.CharField(max_length=128)
    source_number = models.CharField(max_length=128, blank=True, default="")
    kind = models.CharField(max_length=20, default="sale")  # sale | purchase; document flows: quote, sales_order...
    is_credit_note = models.BooleanField(default=False)
    partner_name = models.CharField(max_length=200, blank=True, default="")
    issue_date = models.DateField(null=True, blank=True)
    total_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    source_version = models.CharField(max_length=64, blank=True, default="", help_text="fingerprint of what was synced")
    seen_version = models.CharField(max_length=64, blank=True, default="",
                                    help_text="fingerprint of the version last looked at (whatever came of it)")
    pending_version = models.CharField(max_length=64, blank=True, default="",
                                       help_text="fingerprint being sent; set before the target is called")
    source_updated_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=160, help_text="the hub's reference, written on the entry in the target")
    target_entry_id = models.CharField(max_length=128, blank=True, default="")
    target_state = models.CharField(max_length=10, blank=True, default="")
    target_number = models.CharField(max_length=128, blank=True, default="")
    # Status monitoring (targets with "status_monitoring": Netvisor, Procountor): where the document stands there
    # now, as last asked (integration_hub.connectors.types.TargetState), the target's own word and its reason
    target_status = models.CharField(max_length=12, blank=True, default="")
    target_status_label = models.CharField(max_length=60, blank=True, default="")
    target_status_reason = models.CharField(max_length=500, blank=True, default="")
    target_status_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    # foreign currency: the rate the entry was converted at, its day and where it came from
    exchange_rate = models.DecimalField(max_digits=24, decimal_places=12, null=True, blank=True)
    exchange_rate_date = models.DateField(null=True, blank=True)
    exchange_rate_source = models.CharField(max_length=60, blank=True, default="")
    # cancelled or deleted in the source after it was synced
    source_gone = models.CharField(max_length=10, blank=True, default="", help_text="cancelled | deleted")
    reversal_entry_id = models.CharField(max_length=128, blank=True, default="")
    presence_checked_at = models.DateTimeField(null=True, blank=True,
                                               help_text="when the hub last checked it still exists in the source")
    duplicate_confirmed = models.BooleanField(
        default=False, help_text="A person confirmed it is not a duplicate of another invoice with the same number.")
    last_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "source_id"], name="one_binding_per_source_document"),
            models.UniqueConstraint(fields=["flow", "reference"], name="one_binding_per_reference"),
        ]
        indexes = [
            models.Index(fields=["flow", "status"], name="document_flow_status"),
            models.Index(fields=["tenant", "status"], name="document_tenant_status"),
            models.Index(fields=["source_number"], name="document_number"),
        ]
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.source_number or self.source_id


class DocumentOutcome(models.Model):
    """What one run did with one document: the document's history across runs."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="outcomes")
    document = models.ForeignKey(SyncDocument, on_delete=models.CASCADE, related_name="outcomes")
    status = models.CharField(max_length=10, choices=DocumentStatus.choices)
    action = models.CharField(max_length=20, blank=True, default="",
                              help_text="created | updated | linked | none")
    error_code = models.CharField(max_length=80, blank=True, default="")
    message = models.TextField(blank=True, default="")
    steps = models.JSONField(default=list, blank=True,
                             help_text="What this run did for the document, in order (created, posted, file attached...)")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["document", "-at"], name="outcome_document_recent")]


class ErrorStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"


class SyncError(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sync_errors")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="sync_errors")
    document = models.ForeignKey(SyncDocument, on_delete=models.CASCADE, related_name="errors")
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="errors")
    code = models.CharField(max_length=80)
    message = models.TextField()
    provider_message = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=ErrorStatus.choices, default=ErrorStatus.OPEN)
    occurrences = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["document"], condition=Q(status="open"), name="one_open_error_per_document"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "code"], name="error_tenant_status_code"),
            models.Index(fields=["flow", "status"], name="error_flow_status"),
            models.Index(fields=["-last_seen_at", "-id"], name="error_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.code} on {self.document}"


class ProductLink(models.Model):
    """A product of the ERP and the item it is booked as in accounting (several products may share one item)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="product_links")
    source = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    source_product_id = models.CharField(max_length=128)
    target_item_id = models.CharField(max_length=128, blank=True, default="")
    target_item_code = models.CharField(max_length=60)
    name = models.CharField(max_length=200, blank=True, default="")
    matched_by = models.CharField(max_length=30, blank=True, default="", help_text="code | created | person")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "source_product_id"], name="one_link_per_source_product"),
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.target_item_code}"


class PartnerLink(models.Model):
    """A third party of the source and the third party it matched or became in the target."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="partner_links")
    source = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    source_partner_id = models.CharField(max_length=128)
    target_partner_id = models.CharField(max_length=128)
    name = models.CharField(max_length=200, blank=True, default="")
    matched_by = models.CharField(max_length=30, blank=True, default="",
                                  help_text="auxiliary_account | vat_number | registration_number | name | created")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "source_partner_id"], name="one_link_per_source_partner"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.source_partner_id} → {self.target_partner_id})"


class WebhookDelivery(models.Model):
    """One event a tool sent; the digest makes a redelivered event a no-op."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhook_deliveries")
    subscription_type = models.CharField(max_length=120)
    digest = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    runs = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "digest"], name="one_delivery_per_event")]
        ordering = ["-received_at"]


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Being sent"
    SYNCED = "synced", "Booked"
    RECONCILED = "reconciled", "Booked and reconciled"
    ERROR = "error", "Error"


class SyncPayment(models.Model):
    """One payment of a synced invoice and the payment entry it became in the target (exactly once)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="payments")
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="payments")
    document = models.ForeignKey(SyncDocument, on_delete=models.CASCADE, related_name="payments")
    source_payment_id = models.CharField(max_length=128)
    reference = models.CharField(max_length=160, help_text="the hub's reference, written on the payment entry")
    date = models.DateField(null=True, blank=True)
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True,
                                 help_text="in the invoice's currency")
    currency = models.CharField(max_length=3, blank=True, default="")
    company_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True,
                                         help_text="in the company's currency")
    interest = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True,
                                   help_text="what of the amount paid penalty interest (the rest: fees and the invoice)")
    fees = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True,
                               help_text="what of the amount paid collection fees")
    target_entry_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    message = models.TextField(blank=True, default="")
    last_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "document", "source_payment_id"], name="one_binding_per_payment"),
            models.UniqueConstraint(fields=["flow", "reference"], name="one_payment_per_reference"),
        ]
        ordering = ["document", "date", "id"]

    def __str__(self) -> str:
        return f"Payment {self.source_payment_id} of {self.document}"


class ExchangeRate(models.Model):
    """A rate from the operator's rate source (e.g. the ECB's daily reference rates), cached in the hub."""

    base = models.CharField(max_length=3, default="EUR")
    currency = models.CharField(max_length=3)
    day = models.DateField()
    rate = models.DecimalField(max_digits=24, decimal_places=12, help_text="units of base per unit of currency")
    source = models.CharField(max_length=60)
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "base", "currency", "day"], name="one_rate_per_day")]
        ordering = ["-day", "currency"]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} {self.base} on {self.day} ({self.source})"


class CallBudget(models.Model):
    """One shared call budget (integration_hub/connectors/budget.py, database backend): a provider's organisation,
    or with organisation "" the provider's app-wide window. Every worker locks this row before it counts."""

    provider = models.CharField(max_length=60)
    organisation = models.CharField(max_length=200, blank=True, default="")
    blocked_until = models.FloatField(null=True, blank=True, help_text="epoch seconds: no call before (a 429)")
    problem = models.CharField(max_length=40, blank=True, default="", help_text="the limit the provider named")
    touched = models.PositiveBigIntegerField(default=0, help_text="written first in every transaction (SQLite's lock)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "organisation"], name="one_budget_per_organisation")]

    def __str__(self) -> str:
        return f"{self.provider} / {self.organisation or '(app)'}"


class CallBudgetMark(models.Model):
    """One call (or, with a weight, calls the provider saw that we did not make) counted in one window of a
    budget until `expires_at`; window "lease" holds the calls in flight."""

    budget = models.ForeignKey(CallBudget, on_delete=models.CASCADE, related_name="marks")
    window = models.CharField(max_length=12)
    token = models.CharField(max_length=40)
    expires_at = models.FloatField(help_text="epoch seconds")
    weight = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["budget", "window", "expires_at"], name="budget_mark_window"),
                   models.Index(fields=["token"], name="budget_mark_token")]
