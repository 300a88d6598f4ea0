"""Files that come with documents: what kind they are, and whether they are what they claim to be."""
from __future__ import annotations

import io
import logging

from integration_hub.connectors.errors import PermanentError
from integration_hub.connectors.text import readable_bytes, readable_error
from integration_hub.connectors.types import Attachment

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"  # OpenDocument files (e.g. Tryton's rendered invoice report)


class AttachmentUnreadable(PermanentError):
    """The source has a file for the document but it is empty or not what it claims to be."""


def guess_content_type(filename: str, content: bytes, declared: str = "") -> str:
    lower = filename.lower()
    if lower.endswith(".pdf") or "pdf" in declared:
        return "application/pdf"
    if lower.endswith(".odt"):
        return "application/vnd.oasis.opendocument.text"
    if content.startswith(PDF_MAGIC):
        return "application/pdf"
    return declared or "application/octet-stream"


def pdf_problem(content: bytes) -> str:
    """Why ``content`` is not a PDF a person can open ("" when it is): read by a real PDF parser (pypdf),
    so a file that only starts like a PDF does not pass."""
    if not content.startswith(PDF_MAGIC):
        return f"it does not start like a PDF (it starts with {readable_bytes(content, limit=24)})"
    import pypdf  # noqa: PLC0415 - only needed when a file is checked

    pypdf_logger = logging.getLogger("pypdf")
    level = pypdf_logger.level
    pypdf_logger.setLevel(logging.ERROR)  # its warnings about sloppy files are not ours to log
    try:
        pages = len(pypdf.PdfReader(io.BytesIO(content), strict=False).pages)
    except Exception as exc:  # noqa: BLE001 - any parser failure means the file cannot be opened
        detail = readable_error(exc, limit=120)
        return f"a PDF reader cannot open it ({type(exc).__name__}{': ' + detail if detail else ''})"
    finally:
        pypdf_logger.setLevel(level)
    return "" if pages else "it has no page"


def check_readable(attachment: Attachment, *, provider: str) -> Attachment:
    """The attachment itself, or AttachmentUnreadable saying what is wrong with it."""
    content = attachment.content or b""
    name = attachment.filename
    if not content:
        raise AttachmentUnreadable(f"the file “{name}” is empty", provider=provider)
    if attachment.content_type == "application/pdf":
        problem = pdf_problem(content)
        if problem:
            raise AttachmentUnreadable(f"the file “{name}” is not a valid PDF: {problem}", provider=provider)
    if attachment.content_type.startswith("application/vnd.oasis") and not content.startswith(ZIP_MAGIC):
        raise AttachmentUnreadable(f"the file “{name}” is not a valid document", provider=provider)
    return attachment
