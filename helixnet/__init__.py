"""HelixNet: a self-hosted job runner with artifacts, compute plugins, a REST API and an admin UI.

The names below are the public, promised surface; everything else is importable but may change.
"""

from helixnet.app import HelixNet
from helixnet.core.config import Settings
from helixnet.core.models import ACTIVE_STATUSES, FINAL_STATUSES, ArtifactStatus, JobStatus
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
from helixnet.plugins.base import ComputePlugin, InputSpec, NoParams
from helixnet.worker.context import InputFile, JobCancelled, JobContext, JobFailed

__version__ = "0.1.0.dev0"

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
    "Settings",
    "StorageError",
    "UserCreate",
    "UserRead",
    "UserUpdate",
    "ValidationFailed",
    "WaitTimeout",
    "__version__",
]
