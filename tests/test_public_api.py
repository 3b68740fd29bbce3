"""The promised surface: changing it must be a decision, so this test pins it (httpx does the same)."""

import helixnet

EXPECTED = [
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


def test_all_is_pinned_and_sorted():
    assert helixnet.__all__ == EXPECTED
    assert sorted(helixnet.__all__[:-1]) == helixnet.__all__[:-1]


def test_every_name_exists():
    for name in helixnet.__all__:
        assert getattr(helixnet, name) is not None


#: Raised by plugins to tell the worker how a job ends, not errors of HelixNet's own.
PLUGIN_SIGNALS = (helixnet.JobCancelled, helixnet.JobFailed)


def test_errors_share_one_base():
    for name in helixnet.__all__:
        obj = getattr(helixnet, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj not in PLUGIN_SIGNALS:
            assert issubclass(obj, helixnet.HelixNetError), name
