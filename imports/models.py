"""Previews of large admin imports, computed by the worker (see imports/preview.py)."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class PreviewStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Checking the rows"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    IMPORTING = "importing", "Importing"
    IMPORTED = "imported", "Imported"


class ImportPreview(models.Model):
    """One uploaded file waiting for (or showing) its preview, and then its confirmation.

    It belongs to the user who uploaded it and to the tenants its rows name; only that user sees it, and
    only while the role policy still lets them import there (everyone else gets 404, like a missing one).
    The file itself is kept here (at most HUB_IMPORT_MAX_BYTES), so the worker that previews it and the
    web process that imports it read the same bytes whichever machine they run on.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_previews")
    tenants = models.ManyToManyField("tenants.Tenant", blank=True, related_name="import_previews")
    model = models.CharField(max_length=100, help_text="app_label.model_name of the admin importing it")
    resource_index = models.PositiveSmallIntegerField(default=0)
    format_index = models.PositiveSmallIntegerField(default=0)
    file_name = models.CharField(max_length=255)
    size = models.PositiveIntegerField(default=0)
    content = models.BinaryField(default=b"", help_text="the uploaded file; emptied once imported or failed")
    status = models.CharField(max_length=10, choices=PreviewStatus.choices, default=PreviewStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    checked_rows = models.PositiveIntegerField(default=0)
    confirmable = models.BooleanField(default=False, help_text="every row valid: the preview may be confirmed")
    result = models.JSONField(default=dict, blank=True, help_text="the preview as django-import-export shows it")
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="imports_preview_user_idx")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def active(self) -> bool:
        return self.status in (PreviewStatus.QUEUED, PreviewStatus.RUNNING)
