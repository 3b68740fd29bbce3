"""Which server ``helixnet remote`` talks to, with which token, and the login it saves.

``HELIXNET_URL`` (or ``--url``) names the server, ``HELIXNET_TOKEN`` the token; otherwise the
ones ``helixnet remote login`` saved in ``$XDG_CONFIG_HOME/helixnet/credentials.json`` (else
``~/.config/helixnet/``). The file is created readable by its owner alone (0600, given to
``os.open`` so it never exists with wider rights, as ``ssh`` and ``gh`` keep their keys), and a
saved token is only ever sent to the server it was issued by.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from helixnet.commands import EXIT_USAGE, CommandError

CREDENTIALS_FILE = "credentials.json"


@dataclass(frozen=True)
class Remote:
    url: str
    token: str | None


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/helixnet``, else ``~/.config/helixnet`` (the XDG spec ignores a relative value)."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "helixnet"


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


def same_server(url: str) -> str:
    """One spelling of a server's URL, so a saved login is recognised however the URL was typed."""
    url = url.strip().rstrip("/")
    return url.removesuffix("/api/v1").rstrip("/")


def saved() -> dict[str, str] | None:
    path = credentials_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read the saved login {path}: {exc}; run `helixnet remote logout`") from exc
    if not isinstance(data, dict) or not isinstance(data.get("url"), str) or not isinstance(data.get("token"), str):
        raise CommandError(f"the saved login {path} is not one; run `helixnet remote logout`")
    return data


def resolve(url: str | None = None) -> Remote:
    """The server (``--url``, ``HELIXNET_URL``, the saved one) and its token (``HELIXNET_TOKEN``, the saved one)."""
    login = saved()
    given = [
        (url, "--url"),
        (os.environ.get("HELIXNET_URL"), "HELIXNET_URL"),
        ((login or {}).get("url"), "the saved login"),
    ]
    chosen, source = next(((value, name) for value, name in given if value), (None, ""))
    if not chosen:
        raise CommandError("no server: set HELIXNET_URL, pass --url, or run `helixnet remote login --url URL`",
                           EXIT_USAGE)  # fmt: skip
    if not chosen.strip().lower().startswith(("http://", "https://")):
        raise CommandError(f"{source} must be an http:// or https:// URL, not {chosen!r}", EXIT_USAGE)
    chosen = same_server(chosen)
    token = os.environ.get("HELIXNET_TOKEN") or None
    if token is None and login is not None and same_server(login["url"]) == chosen:
        token = login["token"]  # never sent to another server than the one that issued it
    return Remote(chosen, token)


def remember(url: str, token: str, email: str) -> Path:
    """Save the login, replacing any other; the file is 0600 from the moment it exists."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / CREDENTIALS_FILE
    partial = folder / f".{CREDENTIALS_FILE}.{secrets.token_hex(4)}"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump({"url": same_server(url), "email": email, "token": token}, file)
            file.write("\n")
        os.replace(partial, path)  # readers see the old login or the new one, never half of one
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def forget() -> Path | None:
    """Remove the saved login; the path removed, or None when there was none."""
    path = credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


__all__ = ["Remote", "config_dir", "credentials_path", "forget", "remember", "resolve", "saved"]
