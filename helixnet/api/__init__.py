"""The REST API: ``create_app(hx)`` returns a Starlette app to serve or to mount in your own."""

from helixnet.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
