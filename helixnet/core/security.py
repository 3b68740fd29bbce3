"""Password hashing (bcrypt) and signed, expiring tokens (itsdangerous).

Tokens carry the user id and the user's ``token_version``; bumping the version revokes them all.
Several signing keys may verify at once (rotation); the newest one signs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bcrypt
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from helixnet.errors import AuthenticationFailed, ValidationFailed

#: bcrypt ignores everything past 72 bytes; we refuse such passwords instead of truncating silently.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 8
BCRYPT_ROUNDS = 12


def check_password_policy(password: str, field: str = "password") -> bytes:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise ValidationFailed.field([field], f"must be at least {MIN_PASSWORD_CHARS} characters")
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValidationFailed.field(
            [field], f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt's limit); got {len(raw)}"
        )
    return raw


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    return bcrypt.hashpw(check_password_policy(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password_shape(password: str, field: str = "password") -> None:
    """Refuse a password no account can have (empty, or over bcrypt's 72 bytes) before it counts as a guess.

    Such a request is invalid on its face: answering it 422 instead of counting it keeps anyone
    from locking an account with cheap requests that never reach bcrypt (issue 8).
    """
    if not isinstance(password, str) or not password:
        raise ValidationFailed.field([field], "must not be empty")
    size = len(password.encode("utf-8"))
    if size > MAX_PASSWORD_BYTES:
        raise ValidationFailed.field(
            [field], f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt's limit); got {size}"
        )


def verify_password(password: str, password_hash: str) -> bool:
    raw = password.encode("utf-8") if isinstance(password, str) else b""
    if not raw or len(raw) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(raw, password_hash.encode("ascii"))
    except ValueError:  # a malformed hash in the row: not a match, never a crash
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    token_version: int


class TokenSigner:
    """Issues and checks bearer tokens; knows nothing of the database."""

    def __init__(self, keys: Sequence[str], *, max_age_seconds: int, salt: str = "helixnet.token") -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        self.max_age_seconds = max_age_seconds
        # itsdangerous signs with the last key and verifies with any of them.
        self._serializer = URLSafeTimedSerializer(list(keys), salt=salt)

    def issue(self, user_id: str, token_version: int) -> str:
        return self._serializer.dumps({"sub": user_id, "tv": token_version})

    def verify(self, token: str) -> TokenClaims:
        try:
            payload = self._serializer.loads(token, max_age=self.max_age_seconds)
        except SignatureExpired as exc:
            raise AuthenticationFailed("token expired") from exc
        except BadSignature as exc:
            raise AuthenticationFailed("invalid token") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("sub"), str):
            raise AuthenticationFailed("invalid token")
        return TokenClaims(user_id=payload["sub"], token_version=int(payload.get("tv", 0)))
