"""``helixnet remote``: the REST API of a HelixNet server from the shell (see docs/client.md)."""

from helixnet.remote.commands import register

__all__ = ["register"]
