"""The built-in storage factory: a URL becomes one fsspec filesystem wrapped in a ``Storage``.

Registered for ``file://``, ``memory://`` and ``s3://`` in the ``helixnet.storage``
entry-point group (pyproject), exactly as a third-party backend would be.
"""

from __future__ import annotations

import importlib
from typing import Any

import fsspec.core

from helixnet.errors import ConfigurationError, StorageError
from helixnet.storage.base import Storage

_OPTIONAL_BACKENDS: dict[str, tuple[str, str]] = {
    "s3": ("s3fs", 'pip install "helixnet[s3]"'),
    "s3a": ("s3fs", 'pip install "helixnet[s3]"'),
}
"""scheme -> (module fsspec needs, how to install it). Imported only when such a URL is opened."""


def open_fsspec_storage(url: str, options: dict[str, Any] | None = None) -> Storage:
    """Open ``url`` with fsspec and make sure its root is usable.

    * ``file:///abs/dir``: a local folder, created if missing;
    * ``memory://name``: fsspec's in-process memory filesystem, rooted at ``/name``;
    * ``s3://bucket/prefix``: s3fs, with ``options`` passed through (``endpoint_url``,
      ``key``, ``secret``, ``client_kwargs``...); the bucket is created if missing.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigurationError("a storage URL needs a scheme, e.g. file:///srv/helixnet/artifacts")
    _require_backend(scheme.lower())
    options = dict(options or {})
    if scheme.lower() in ("s3", "s3a"):
        options = _sigv4(options)
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        raise ConfigurationError(f"storage scheme {scheme!r} needs a package that is missing: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"cannot open storage with scheme {scheme!r}: {exc}") from exc
    storage = Storage(fs, root, url=url)
    if storage.protocol == "file":
        _ensure_folder(storage)
    elif storage.protocol == "s3":
        _ensure_bucket(storage)
    return storage


def _require_backend(scheme: str) -> None:
    """Import an optional backend now, to fail with an install hint instead of fsspec's message."""
    if scheme not in _OPTIONAL_BACKENDS:
        return
    module, hint = _OPTIONAL_BACKENDS[scheme]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigurationError(f"{scheme}:// storage needs {module}: {hint}") from exc


def _sigv4(options: dict[str, Any]) -> dict[str, Any]:
    """Presign with SigV4 unless the deployment chose otherwise.

    botocore presigns with SigV2 in us-east-1 and the other old regions when no signature version
    is configured; SigV2 signs neither Content-Length nor If-None-Match, so S3 would accept an
    upload of any size to our URLs. Every other request is SigV4 already, so nothing else changes.
    """
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("signature_version", "s3v4")
    return {**options, "config_kwargs": config}


def _ensure_folder(storage: Storage) -> None:
    try:
        storage.fs.makedirs(storage.root, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the storage folder {storage.root!r}: {exc}") from exc


def _ensure_bucket(storage: Storage) -> None:
    bucket = storage.bucket
    if not bucket:
        raise ConfigurationError("an s3:// storage URL needs a bucket: s3://bucket[/prefix]")
    fs: Any = storage.fs
    try:
        if fs.exists(bucket):
            return
        params: dict[str, Any] = {"Bucket": bucket}
        region = (getattr(fs, "client_kwargs", None) or {}).get("region_name")
        # Not fs.mkdir: s3fs sends LocationConstraint=us-east-1, which S3 (and moto) reject;
        # us-east-1 is the one region that must be left out.
        if region and region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        fs.call_s3("create_bucket", **params)
        fs.invalidate_cache()
    except FileExistsError:
        return  # another process created it between our check and our create
    except Exception as exc:
        raise StorageError(f"cannot reach or create the bucket {bucket!r}: {exc}") from exc


__all__ = ["open_fsspec_storage"]
