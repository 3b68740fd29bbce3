"""Signed, expiring URLs for object bytes: what a client needs to send or fetch them.

S3 signs its own URLs (``Storage.presign``), so the bytes never pass through the app. A local
folder or memory has no URL of its own: the API streams those bytes itself, and the token made
here is the whole authorisation of one such request. It binds the key, the method, the size
limit, the artifact, the filename, the content type and the expiry, and it is signed with a salt
of its own, so a login token is never a storage token and a storage token never logs anyone in.
It also names the user it was issued to and their ``token_version`` then: the service refuses it
once that user is deactivated or their tokens are revoked (issue 8: URLs outlived their user).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from helixnet.errors import PermissionDenied, ValidationFailed

STORAGE_URL_SALT = "helixnet.storage-url"
"""Differs from ``TokenSigner``'s salt: same keys, yet neither kind of token passes for the other."""

METHODS = frozenset({"PUT", "GET"})


@dataclass(frozen=True)
class SignedRequest:
    """One request a client may make on an object's bytes, until ``expires_at``.

    ``url`` is a direct URL (S3's presigned one) or ``None`` when the app serves the bytes
    itself; then ``token`` is what goes into the app's own URL. ``headers`` must be sent as they
    are: S3 signed them and refuses the request without them.
    """

    method: str
    url: str | None
    token: str | None
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class ObjectGrant:
    """What a verified token allows: ``method`` on the object at ``key``, until ``expires_at``.

    ``max_bytes`` is the declared size for an upload (the most the app accepts) and the stored
    size for a download; ``filename`` and ``content_type`` are what the app answers with.
    ``user_id`` is who the URL was issued to and ``token_version`` their version at that time.
    ``sha256`` is the digest an upload declared (hex): the app refuses a body with another one.
    """

    key: str
    method: str
    max_bytes: int | None
    artifact_id: str
    filename: str
    content_type: str
    expires_at: datetime
    user_id: str
    token_version: int
    sha256: str | None = None


class ObjectUrlSigner:
    """Makes and checks storage tokens; knows nothing of the database or of HTTP.

    Keys are ``Settings.signing_keys()``: oldest first, the newest signs, all of them verify, so
    rotating the secret keeps URLs already handed out working until they expire.
    """

    def __init__(self, keys: Sequence[str], *, salt: str = STORAGE_URL_SALT) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        self._serializer = URLSafeSerializer(list(keys), salt=salt)

    def sign(self, grant: ObjectGrant) -> str:
        """The token for ``grant``; the expiry is kept to the whole second (a Unix timestamp)."""
        if grant.method not in METHODS:
            raise ValueError(f"method must be PUT or GET, not {grant.method!r}")
        payload: dict[str, Any] = {
            "k": grant.key,
            "m": grant.method,
            "n": grant.max_bytes,
            "a": grant.artifact_id,
            "f": grant.filename,
            "t": grant.content_type,
            "u": grant.user_id,
            "v": grant.token_version,
            "exp": int(_aware(grant.expires_at).timestamp()),
        }
        if grant.sha256 is not None:
            payload["h"] = grant.sha256  # only when declared: other tokens stay as short as before
        return self._serializer.dumps(payload)

    def verify(self, token: str, method: str, now: datetime) -> ObjectGrant:
        """The grant ``token`` carries, if it is genuine, for ``method`` and unexpired at ``now``.

        ``now`` is passed in (the service's clock), so tests move time instead of sleeping.
        """
        try:
            payload = self._serializer.loads(token) if isinstance(token, str) else None
        except BadData as exc:  # bad signature, unknown key, not base64, not JSON
            raise PermissionDenied("signed URL is invalid") from exc
        grant = _grant(payload)
        if grant is None:
            raise PermissionDenied("signed URL is invalid")
        if grant.method != method.upper():
            raise PermissionDenied(f"this URL is for {grant.method}, not {method.upper()}")
        if _aware(now) >= grant.expires_at:
            raise PermissionDenied("signed URL expired")
        return grant


def lifetime(expires_in: int | None, default: int, most: int) -> int:
    """Seconds a signed URL lives: ``default``, or what was asked for, 1 to ``most``."""
    if expires_in is None:
        return default
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= most:
        raise ValidationFailed.field(["expires_in"], f"must be a whole number of seconds from 1 to {most}")
    return expires_in


def _grant(payload: Any) -> ObjectGrant | None:
    """The grant in a correctly signed payload, or ``None`` if its shape is wrong (an older format)."""
    if not isinstance(payload, dict):
        return None
    key, method, artifact_id = payload.get("k"), payload.get("m"), payload.get("a")
    filename, content_type = payload.get("f"), payload.get("t")
    max_bytes, exp = payload.get("n"), payload.get("exp")
    user_id, token_version = payload.get("u"), payload.get("v")
    sha256 = payload.get("h")
    if not (
        isinstance(key, str)
        and isinstance(artifact_id, str)
        and isinstance(filename, str)
        and isinstance(content_type, str)
        and method in METHODS
        and type(exp) is int
        and isinstance(user_id, str)
        and type(token_version) is int
        and (max_bytes is None or (type(max_bytes) is int and max_bytes >= 0))
        and (sha256 is None or isinstance(sha256, str))
    ):
        return None
    return ObjectGrant(
        key=key,
        method=str(method),
        max_bytes=max_bytes,
        artifact_id=artifact_id,
        filename=filename,
        content_type=content_type,
        expires_at=datetime.fromtimestamp(exp, UTC),
        user_id=user_id,
        token_version=token_version,
        sha256=sha256,
    )


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; HelixNet uses aware UTC times")
    return moment


__all__ = ["STORAGE_URL_SALT", "ObjectGrant", "ObjectUrlSigner", "SignedRequest", "lifetime"]
