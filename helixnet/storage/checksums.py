"""SHA-256 digests as HelixNet records them (64 lowercase hex) and as S3 carries them (base64).

S3's ``x-amz-checksum-sha256`` is the base64 of the 32-byte digest; the API and the database use
hex, like ``sha256sum`` prints it. One place converts between the two, and checks what a client
declared before it is signed into a URL or a token.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from helixnet.errors import ValidationFailed

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
"""What a declared sha256 must look like: lowercase, as ``sha256sum`` and ``hashlib`` print it."""

SHA256_HEX_PATTERN = SHA256_HEX.pattern


@dataclass(frozen=True)
class ObjectHead:
    """What one HEAD says about a stored object, without reading it.

    ``etag`` is the store's own tag (S3's, quotes removed) or ``None`` where there is none;
    ``sha256`` is the full-object checksum the store verified and kept (hex), or ``None``.
    """

    size: int
    etag: str | None = None
    sha256: str | None = None


def checked_sha256(value: object, loc: str = "sha256") -> str | None:
    """``value`` if it is ``None`` or 64 lowercase hex digits; else a 422 naming ``loc``."""
    if value is None:
        return None
    if not isinstance(value, str) or not SHA256_HEX.match(value):
        raise ValidationFailed.field([loc], "must be the SHA-256 of the bytes as 64 lowercase hex digits")
    return value


def sha256_base64(hex_digest: str) -> str:
    """The ``x-amz-checksum-sha256`` value of a hex digest."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def sha256_hex(b64_digest: str) -> str | None:
    """The hex digest in an ``x-amz-checksum-sha256`` value, or ``None`` if it is not one.

    A multipart object's checksum reads ``<base64>-<parts>`` (a checksum of checksums): that is not
    the sha256 of the bytes, so it is ``None`` here too.
    """
    try:
        raw = base64.b64decode(b64_digest, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


__all__ = ["SHA256_HEX_PATTERN", "ObjectHead", "checked_sha256", "sha256_base64", "sha256_hex"]
