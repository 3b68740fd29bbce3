"""HelixNet: a self-hosted job runner with artifacts, compute plugins, a REST API and an admin UI.

The names below are the public, promised surface; everything else is importable but may change.

They are loaded on first use (PEP 562): ``import helixnet`` alone costs nothing, because the
``helixnet.testing`` pytest plugin is imported by every pytest run of a project that has HelixNet
installed, and the whole stack (SQLAlchemy, huey, fsspec) took ~0.7 s to import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# The error classes import nothing: loaded at once.
from helixnet.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    HelixNetError,
    NotFound,
    ObjectNotFound,
    PayloadTooLarge,
    PermissionDenied,
    PluginError,
    QueueUnavailable,
    RateLimited,
    RequestTimeout,
    StorageError,
    ValidationFailed,
    WaitTimeout,
)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time ``__getattr__`` loads these
    from helixnet.app import HelixNet
    from helixnet.core.config import Settings
    from helixnet.core.models import ACTIVE_STATUSES, FINAL_STATUSES, ArtifactStatus, JobStatus
    from helixnet.core.schedule_schemas import ScheduleCreate, SchedulePage, ScheduleRead, ScheduleUpdate
    from helixnet.core.schemas import (
        ArtifactRead,
        JobCreate,
        JobEventRead,
        JobPage,
        JobRead,
        UserCreate,
        UserRead,
        UserUpdate,
    )
    from helixnet.plugins.base import ComputePlugin, InputSpec, NoParams
    from helixnet.worker.context import InputFile, JobCancelled, JobContext, JobFailed

__version__ = "0.1.0.dev0"

#: Public name -> the module it lives in (keep in step with the TYPE_CHECKING imports above).
_EXPORTS: dict[str, str] = {
    "HelixNet": "helixnet.app",
    "Settings": "helixnet.core.config",
    **dict.fromkeys(["InputFile", "JobCancelled", "JobContext", "JobFailed"], "helixnet.worker.context"),
    **dict.fromkeys(["ACTIVE_STATUSES", "FINAL_STATUSES", "ArtifactStatus", "JobStatus"], "helixnet.core.models"),
    **dict.fromkeys(
        ["ArtifactRead", "JobCreate", "JobEventRead", "JobPage", "JobRead", "UserCreate", "UserRead", "UserUpdate"],
        "helixnet.core.schemas",
    ),
    **dict.fromkeys(["ComputePlugin", "InputSpec", "NoParams"], "helixnet.plugins.base"),
    **dict.fromkeys(
        ["ScheduleCreate", "SchedulePage", "ScheduleRead", "ScheduleUpdate"], "helixnet.core.schedule_schemas"
    ),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'helixnet' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "ACTIVE_STATUSES",
    "ArtifactRead",
    "ArtifactStatus",
    "AuthenticationFailed",
    "ComputePlugin",
    "ConfigurationError",
    "Conflict",
    "FINAL_STATUSES",
    "HelixNet",
    "HelixNetError",
    "InputFile",
    "InputSpec",
    "JobCancelled",
    "JobContext",
    "JobCreate",
    "JobEventRead",
    "JobFailed",
    "JobPage",
    "JobRead",
    "JobStatus",
    "NoParams",
    "NotFound",
    "ObjectNotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PluginError",
    "QueueUnavailable",
    "RateLimited",
    "RequestTimeout",
    "ScheduleCreate",
    "SchedulePage",
    "ScheduleRead",
    "ScheduleUpdate",
    "Settings",
    "StorageError",
    "UserCreate",
    "UserRead",
    "UserUpdate",
    "ValidationFailed",
    "WaitTimeout",
    "__version__",
]
