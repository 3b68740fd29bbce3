"""The REST API of a HelixNet server from Python: ``Client`` (blocking) and ``AsyncClient``.

Both return the models of the embedded services (``JobRead``, ``ArtifactRead``, ``JobEventRead``,
``UserRead``) and raise the classes of ``helixnet.errors``; a server that cannot be reached raises
``ConnectionFailed``. See docs/client.md.
"""

from helixnet.client._protocol import ConnectionFailed
from helixnet.client.async_ import AsyncClient
from helixnet.client.sync import Client

__all__ = ["AsyncClient", "Client", "ConnectionFailed"]
