"""Files that come with documents: what kind they are, and whether they are what they claim to be."""
from __future__ import annotations

from integration_hub.connectors.errors import PermanentError
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


def check_readable(attachment: Attachment, *, provider: str) -> Attachment:
    """The attachment itself, or AttachmentUnreadable saying what is wrong with it."""
    content = attachment.content or b""
    name = attachment.filename
    if not content:
        raise AttachmentUnreadable(f"the file {name!r} is empty", provider=provider)
    if attachment.content_type == "application/pdf" and not content.startswith(PDF_MAGIC):
        raise AttachmentUnreadable(f"the file {name!r} is not a valid PDF", provider=provider,
                                   provider_message=f"it starts with {content[:20]!r}")
    if attachment.content_type.startswith("application/vnd.oasis") and not content.startswith(ZIP_MAGIC):
        raise AttachmentUnreadable(f"the file {name!r} is not a valid document", provider=provider)
    return attachment
