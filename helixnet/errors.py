"""HelixNet's one error tree.

Adapters translate the errors of SQLAlchemy, huey, fsspec and botocore at their edge
(``raise ... from exc``) so that embedding code and the API only ever catch these::

    HelixNetError
     ├── NotFound                 the object does not exist, or is not the caller's (never a leak)
     ├── Conflict                 a duplicate (email, idempotency key) or a state that forbids the action
     ├── ValidationFailed         input that does not fit; ``errors`` lists each field and why
     ├── AuthenticationFailed     wrong credentials, bad/expired/revoked token
     ├── PermissionDenied         authenticated but not allowed
     ├── PayloadTooLarge          more bytes than declared or allowed
     ├── RateLimited              too many attempts; ``retry_after`` says how many seconds to wait
     ├── RequestTimeout           the client stopped sending its request body for too long
     ├── QueueUnavailable         the queue backend did not answer
     ├── StorageError             the storage backend failed
     │    └── ObjectNotFound      no object at that key
     ├── PluginError              a compute plugin is broken (bad entry point, duplicate name)
     ├── ConfigurationError       settings that cannot work (e.g. default secret in production)
     └── WaitTimeout              ``jobs.wait`` gave up before the job finished (also a TimeoutError)

The API maps this tree to HTTP status codes in one table; nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class HelixNetError(Exception):
    """Base of every error HelixNet raises on purpose."""

    def __init__(self, detail: str, *, errors: Sequence[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors: list[dict[str, Any]] = list(errors or [])


class NotFound(HelixNetError):
    """Missing, or owned by somebody else: callers cannot tell the two apart."""


class Conflict(HelixNetError):
    pass


class ValidationFailed(HelixNetError, ValueError):
    """Bad input. ``errors`` holds ``{"loc": [...], "msg": "..."}`` items, one per field."""

    @classmethod
    def field(cls, loc: Sequence[str | int], msg: str) -> ValidationFailed:
        """One-field shortcut so callers never forget to name the field."""
        path = ".".join(str(part) for part in loc)
        return cls(f"{path}: {msg}", errors=[{"loc": list(loc), "msg": msg}])


class AuthenticationFailed(HelixNetError):
    pass


class PermissionDenied(HelixNetError):
    pass


class PayloadTooLarge(HelixNetError):
    pass


class RateLimited(HelixNetError):
    """Too many attempts (failed logins of one account); try again after ``retry_after`` seconds."""

    def __init__(self, detail: str, *, retry_after: float, errors: Sequence[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors)
        self.retry_after = retry_after


class RequestTimeout(HelixNetError):
    """The client sent nothing for longer than allowed (an upload gone silent); its request is dropped."""


class QueueUnavailable(HelixNetError):
    pass


class StorageError(HelixNetError):
    pass


class ObjectNotFound(StorageError):
    pass


class PluginError(HelixNetError):
    pass


class ConfigurationError(HelixNetError):
    pass


class WaitTimeout(HelixNetError, TimeoutError):
    pass


__all__ = [
    "AuthenticationFailed",
    "ConfigurationError",
    "Conflict",
    "HelixNetError",
    "NotFound",
    "ObjectNotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PluginError",
    "QueueUnavailable",
    "RateLimited",
    "RequestTimeout",
    "StorageError",
    "ValidationFailed",
    "WaitTimeout",
]
