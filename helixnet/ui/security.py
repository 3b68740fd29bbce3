"""The UI's Content-Security-Policy: what NiceGUI needs to run, and no framing by other sites.

The API's edge middleware gives every response a CSP that loads nothing (``default-src 'none'``),
which would stop NiceGUI's pages. NiceGUI renders with Vue's in-browser template compiler and
inline scripts, so its pages need ``'unsafe-inline'`` and ``'unsafe-eval'`` for scripts; what
protects them from injected content is that everything a user or plugin wrote is shown as text.
``frame-ancestors 'none'`` still forbids clickjacking (issue 8). Responses that chose their own
policy (artifact downloads: a sandbox that runs nothing) keep it.
"""

from __future__ import annotations

UI_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
#: For bytes a user uploaded, served by the UI: nothing in them runs, whatever their type says.
DOWNLOAD_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


#: The UI's security headers, on every response of its that set none (helixnet.headers.DefaultHeaders).
UI_HEADERS = {"Content-Security-Policy": UI_CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


__all__ = ["DOWNLOAD_CSP", "UI_CSP", "UI_HEADERS"]
