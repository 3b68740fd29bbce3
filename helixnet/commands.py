"""What every ``helixnet`` command module shares: exit codes, the user-facing error, building a HelixNet.

``cli.py`` (the parser and the light commands) and ``serve.py`` (the web stack) both import this and
never each other, so the CLI's other commands load no web code and ``serve`` needs no parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from helixnet.app import HelixNet

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A user-facing failure with its exit code: printed as one line, never a traceback."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def build_hx(**overrides: Any) -> HelixNet:
    """A HelixNet from ``HELIXNET_*`` settings; a bad setting names its variable instead of a traceback."""
    from helixnet.app import HelixNet
    from helixnet.core.config import Settings

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        fields = "; ".join(f"HELIXNET_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise CommandError(f"invalid settings: {fields}") from exc
    return HelixNet(settings)


def safe_url(url: str) -> str:
    """A database or queue URL fit to print: the password is masked."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "CommandError", "build_hx", "safe_url"]
