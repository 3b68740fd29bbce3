"""Object keys and the filenames inside them.

Keys are built here and nowhere else, so the rules that keep an uploaded name from
escaping its folder (``../``, ``\\``, NUL, a leading ``/``) live in one place.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from helixnet.errors import ValidationFailed

MAX_FILENAME_CHARS = 200
"""Longest filename we keep, in characters."""

MAX_FILENAME_BYTES = 255
"""Longest filename we keep, in UTF-8 bytes: NAME_MAX of ext4, xfs and APFS, so 200 CJK
characters (600 bytes) cannot make a local write fail where S3 would have taken it."""

MAX_EXTENSION_CHARS = 16
"""A suffix longer than this is not an extension worth keeping when we shorten a name."""

FALLBACK_FILENAME = "file"

_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Reserved on Windows and awkward in URLs and Content-Disposition; harmless to replace.
_RESERVED = frozenset('<>:"|?*')


def sanitize_filename(name: str) -> str:
    """Turn a client-supplied name into one safe path segment, keeping what a person reads.

    Directories are dropped (only the last meaningful segment of ``/`` or ``\\`` paths
    survives), control and format characters (NUL, escapes, right-to-left overrides) are
    removed, whitespace runs become one space, leading dots go (no hidden files, no
    ``..``), unicode letters stay (NFC-normalised), and the result is capped in length
    keeping the extension. Never returns an empty string.
    """
    cleaned = []
    for char in unicodedata.normalize("NFC", name):
        if char.isspace():
            cleaned.append(" ")
        elif unicodedata.category(char).startswith("C"):
            continue
        elif char in _RESERVED:
            cleaned.append("_")
        else:
            cleaned.append(char)
    segments = "".join(cleaned).replace("\\", "/").split("/")
    meaningful = [seg for seg in (" ".join(s.split()) for s in segments) if seg not in ("", ".", "..")]
    if not meaningful:
        return FALLBACK_FILENAME
    result = _shorten(meaningful[-1].lstrip(". ").rstrip(". "))
    return result or FALLBACK_FILENAME


def _shorten(name: str) -> str:
    if _fits(name):
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > MAX_EXTENSION_CHARS:
        stem, suffix = name, ""
    else:
        suffix = "." + ext
    stem = stem[: MAX_FILENAME_CHARS - len(suffix)]
    while stem and not _fits(stem + suffix):
        stem = stem[:-1]
    return stem.rstrip(". ") + suffix


def _fits(name: str) -> bool:
    return len(name) <= MAX_FILENAME_CHARS and len(name.encode("utf-8")) <= MAX_FILENAME_BYTES


def _check_id(field: str, value: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValidationFailed.field([field], "must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'")
    return value


def artifact_key(user_id: str, artifact_id: str, filename: str) -> str:
    """The one key layout for artifact bytes: ``users/<user>/artifacts/<artifact>/<name>``.

    Ids must be plain tokens (UUIDs pass) because they become path segments verbatim;
    the filename is sanitised because it comes from the client.
    """
    _check_id("user_id", user_id)
    _check_id("artifact_id", artifact_id)
    return f"users/{user_id}/artifacts/{artifact_id}/{sanitize_filename(filename)}"


def validate_key(key: str) -> str:
    """Return ``key`` if it is a relative, ``/``-separated key that stays under the root.

    Every ``Storage`` method calls this before touching the filesystem, so a key built
    anywhere else cannot reach outside the storage root.
    """
    if not isinstance(key, str) or not key:
        raise ValidationFailed.field(["key"], "must be a non-empty string")
    if key.startswith("/"):
        raise ValidationFailed.field(["key"], "must be relative (no leading '/')")
    if "\\" in key:
        raise ValidationFailed.field(["key"], "must use '/' as separator, never '\\'")
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise ValidationFailed.field(["key"], "must not contain control characters")
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise ValidationFailed.field(["key"], "must not contain empty, '.' or '..' segments")
    return key


def content_disposition(filename: str) -> str:
    """A ``Content-Disposition: attachment`` value that is safe for any filename (RFC 6266).

    Old clients read the quoted ASCII fallback, current ones the UTF-8 ``filename*`` (RFC 5987);
    the name is sanitised first, so no quote, backslash or control character reaches the header.
    """
    name = sanitize_filename(filename)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in ascii_name).strip()
    fallback = fallback or FALLBACK_FILENAME
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


__all__ = ["artifact_key", "content_disposition", "sanitize_filename", "validate_key"]
