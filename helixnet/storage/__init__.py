"""Storage: the bytes of artifacts behind one small interface over fsspec."""

from helixnet.storage.base import DEFAULT_CHUNK_SIZE, ByteSource, Storage, StorageWriter, WriteResult
from helixnet.storage.fsspec import open_fsspec_storage
from helixnet.storage.keys import artifact_key, content_disposition, sanitize_filename, validate_key
from helixnet.storage.registry import ENTRY_POINT_GROUP, open_storage, storage_schemes

__all__ = [
    "ByteSource",
    "DEFAULT_CHUNK_SIZE",
    "ENTRY_POINT_GROUP",
    "Storage",
    "StorageWriter",
    "WriteResult",
    "artifact_key",
    "content_disposition",
    "open_fsspec_storage",
    "open_storage",
    "sanitize_filename",
    "storage_schemes",
    "validate_key",
]
