"""``/login``: email and password, checked by the same service as the API's token endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from helixnet.errors import AuthenticationFailed, RateLimited, ValidationFailed
from helixnet.ui.guard import safe_redirect
from helixnet.ui.session import current_user, sign_in

#: One message for a wrong password, an unknown email and a deactivated account.
LOGIN_FAILED = "Incorrect email or password"
MISSING = "Enter your email and password"


def create(hx: Any) -> None:
    @ui.page("/login")
    async def login(request: Request, redirect_to: str = "/") -> RedirectResponse | None:
        target = safe_redirect(redirect_to)
        if current_user(hx) is not None:
            return RedirectResponse(request.scope.get("root_path", "") + target, status_code=303)
        ui.page_title("Log in · HelixNet")
        ui.dark_mode(None)

        # Counted per account *and* address, as the API does: one visitor's guesses lock out only
        # that visitor (the address is the trusted proxy's X-Forwarded-For where there is one).
        source = request.client.host if request.client else None

        async def try_login() -> None:
            error.set_text("")
            if not email.value or not password.value:
                error.set_text(MISSING)
                return
            try:
                # bcrypt takes a while by design: off the event loop, so other tabs stay live.
                user = await asyncio.to_thread(hx.users.authenticate, email.value, password.value, source=source)
            except RateLimited:
                error.set_text("Too many failed attempts; try again in a minute")
                return
            except AuthenticationFailed:
                error.set_text(LOGIN_FAILED)
                return
            except ValidationFailed:  # a password no account can have (over bcrypt's 72 bytes)
                error.set_text(LOGIN_FAILED)
                return
            sign_in(hx, user)
            ui.navigate.to(target)

        with ui.card().classes("absolute-center w-[22rem] max-w-[92vw] items-stretch gap-3"):
            ui.label("HelixNet").classes("text-2xl font-bold")
            email = ui.input("Email").props('autofocus autocomplete=username type=email')
            password = ui.input("Password", password=True, password_toggle_button=True)
            password.props("autocomplete=current-password").on("keydown.enter", try_login)
            email.on("keydown.enter", lambda: password.run_method("focus"))
            error = ui.label("").classes("text-negative")
            ui.button("Log in", on_click=try_login)
        return None


__all__ = ["LOGIN_FAILED", "MISSING", "create"]
