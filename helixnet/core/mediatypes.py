"""Content types of artifacts: guessed from a filename, or checked because a client chose them.

A declared type becomes a (signed) response header when the artifact is served back, so it must
be a well-formed media type: a multipart part labelled ``not a media type at all`` or
``text/html; charset=éÿ`` was stored and served back as is (issue 8).
"""

from __future__ import annotations

import mimetypes
import re

from helixnet.errors import ValidationFailed

MAX_CONTENT_TYPE_CHARS = 255
"""The width of ``artifacts.content_type``; it also travels in a signed header."""

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(
    rf"^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|\"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*\"))*$"
)


def guess_content_type(filename: str) -> str:
    """The type a filename suggests; the generic binary type when it suggests none."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def is_media_type(value: str) -> bool:
    """RFC 9110's ``type/subtype *(; name=value)``, in ASCII, at most MAX_CONTENT_TYPE_CHARS long."""
    return len(value) <= MAX_CONTENT_TYPE_CHARS and _MEDIA_TYPE.match(value) is not None


def well_formed_media_type(content_type: str | None) -> str | None:
    """A label a client gave a file: kept when well formed, else ``application/octet-stream``; None if absent."""
    if not isinstance(content_type, str) or not content_type.strip():
        return None
    value = content_type.strip()
    return value if is_media_type(value) else "application/octet-stream"


def checked_content_type(content_type: str | None, filename: str) -> str:
    """The declared type of a two-step upload, refused (422) when malformed; guessed when not given."""
    if content_type is None or (isinstance(content_type, str) and not content_type.strip()):
        return guess_content_type(filename)
    value = content_type.strip() if isinstance(content_type, str) else ""
    if not is_media_type(value):
        msg = f"must be a media type such as text/csv: printable ASCII, {MAX_CONTENT_TYPE_CHARS} at most"
        raise ValidationFailed.field(["content_type"], msg)
    return value


__all__ = ["MAX_CONTENT_TYPE_CHARS", "checked_content_type", "guess_content_type", "is_media_type",
           "well_formed_media_type"]
