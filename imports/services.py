"""Writes of import previews: start (and enqueue), claim, progress, finish, fail, confirm."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from imports.models import ImportPreview, PreviewStatus

PREVIEW_TASK = "imports.tasks.compute_preview"
KEEP_DAYS = 7  # previews older than this are deleted when a new one starts
DEFAULT_INLINE_ROWS = 200


def inline_rows() -> int:
    """Imports with more rows than this are previewed by the worker (HUB_IMPORT_INLINE_ROWS)."""
    return int(getattr(settings, "HUB_IMPORT_INLINE_ROWS", DEFAULT_INLINE_ROWS))


def stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "HUB_RUN_STALE_AFTER", 600)))


def preview_start(*, user, model: str, resource_index: int, format_index: int, file_name: str, content: bytes,
                  total_rows: int) -> ImportPreview:
    """Keep the upload and queue its preview in the worker (once this transaction commits)."""
    ImportPreview.objects.filter(created_at__lt=timezone.now() - dt.timedelta(days=KEEP_DAYS)).delete()
    preview = ImportPreview.objects.create(user=user, model=model, resource_index=resource_index,
                                           format_index=format_index, file_name=file_name[:255], size=len(content),
                                           content=content, total_rows=total_rows)
    transaction.on_commit(lambda: async_task(PREVIEW_TASK, str(preview.pk), task_name=f"import-preview-{preview.pk}",
                                             group="import-previews"))
    return preview


def preview_claim(preview_id) -> ImportPreview | None:
    """Move a queued preview (or one whose worker died) to running; None when another delivery has it."""
    now = timezone.now()
    claimable = Q(status=PreviewStatus.QUEUED) | Q(status=PreviewStatus.RUNNING, heartbeat_at__lt=now - stale_after())
    if not ImportPreview.objects.filter(claimable, pk=preview_id).update(status=PreviewStatus.RUNNING,
                                                                        heartbeat_at=now, checked_rows=0):
        return None
    return ImportPreview.objects.select_related("user").get(pk=preview_id)


def preview_progress(preview: ImportPreview, checked: int) -> None:
    ImportPreview.objects.filter(pk=preview.pk, status=PreviewStatus.RUNNING).update(
        checked_rows=checked, heartbeat_at=timezone.now())


def preview_finish(preview: ImportPreview, *, result: dict, confirmable: bool, tenant_ids, checked: int) -> None:
    now = timezone.now()
    with transaction.atomic():
        updated = ImportPreview.objects.filter(pk=preview.pk, status=PreviewStatus.RUNNING).update(
            status=PreviewStatus.READY, result=result, confirmable=confirmable, checked_rows=checked,
            heartbeat_at=now, finished_at=now, message="")
        if updated:
            preview.tenants.set(sorted(set(tenant_ids)))


def preview_fail(preview: ImportPreview, message: str, *, statuses=(PreviewStatus.QUEUED, PreviewStatus.RUNNING,
                                                                  PreviewStatus.IMPORTING)) -> None:
    """End the preview with a message for the person importing; the file is not kept."""
    now = timezone.now()
    ImportPreview.objects.filter(pk=preview.pk, status__in=statuses).update(
        status=PreviewStatus.FAILED, message=message, confirmable=False, content=b"", heartbeat_at=now,
        finished_at=now)


def preview_fail_if_stale(preview: ImportPreview) -> bool:
    """A running preview whose worker stopped answering ends with a message (checked when someone looks)."""
    if preview.status == PreviewStatus.RUNNING and preview.heartbeat_at < timezone.now() - stale_after():
        preview_fail(preview, "The worker stopped before the preview was ready (it may have restarted). "
                              "Nothing was imported: upload the file again.", statuses=(PreviewStatus.RUNNING,))
        preview.refresh_from_db()
        return True
    return False


def preview_claim_import(preview: ImportPreview) -> bool:
    """Ready and confirmable -> importing, once: a second click (or a second tab) gets False."""
    return bool(ImportPreview.objects.filter(pk=preview.pk, status=PreviewStatus.READY, confirmable=True)
                .update(status=PreviewStatus.IMPORTING, heartbeat_at=timezone.now()))


def preview_imported(preview: ImportPreview) -> None:
    ImportPreview.objects.filter(pk=preview.pk).update(status=PreviewStatus.IMPORTED, content=b"",
                                                       heartbeat_at=timezone.now())
