"""The bundled admin UI (NiceGUI): ``mount_ui(app, hx)`` serves it inside an ASGI app."""

from helixnet.ui.app import mount_ui

__all__ = ["mount_ui"]
