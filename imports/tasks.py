"""django-q2 task: compute an import preview. Takes an id; safe to run twice (a second delivery finds it claimed)."""
from __future__ import annotations

import logging

from imports import services
from imports.preview import PreviewFailed, compute

logger = logging.getLogger(__name__)


def compute_preview(preview_id: str) -> str:
    preview = services.preview_claim(preview_id)
    if preview is None:
        return f"import preview {preview_id}: not waiting (already handled)"
    try:
        computed = compute(preview, lambda checked: services.preview_progress(preview, checked))
    except PreviewFailed as exc:
        services.preview_fail(preview, str(exc))
        return f"import preview {preview_id}: failed ({exc})"
    except Exception as exc:  # noqa: BLE001 - the person importing gets a message, the log gets the traceback
        logger.exception("import preview %s failed", preview_id)
        services.preview_fail(preview, f"The preview stopped on an unexpected error ({type(exc).__name__}). "
                                       "Nothing was imported: upload the file again, and if it happens again, "
                                       "ask the operator to look at the worker's log.")
        return f"import preview {preview_id}: failed ({type(exc).__name__})"
    services.preview_finish(preview, result=computed.result, confirmable=computed.confirmable,
                            tenant_ids=computed.tenant_ids, checked=computed.checked)
    return f"import preview {preview_id}: {computed.checked} row(s) checked"
