"""``/profile``: full name, phone number and web URL (the API's validation), and a password change
that ends every other session of mine (as ``POST /users/me/password`` revokes older tokens).
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from starlette.requests import Request

from helixnet.core.schemas import UserRead
from helixnet.errors import AuthenticationFailed, HelixNetError, ValidationFailed
from helixnet.ui.frame import frame
from helixnet.ui.session import sign_in, still_signed_in

PROFILE_FIELDS = {"fullname": "Full name", "phone_number": "Phone number", "web_url": "Web URL"}


def create(hx: Any) -> None:
    @ui.page("/profile")
    def profile_page(request: Request) -> None:
        user: UserRead = request.state.user
        with frame(user, "Profile"):
            ProfileView(hx, user, source=request.client.host if request.client else None)


def _mark(widget: Any, message: str | None) -> None:
    widget.error = message  # NiceGUI's validation state: shown under the field


class ProfileView:
    def __init__(self, hx: Any, user: UserRead, *, source: str | None = None) -> None:
        self.hx, self.user, self.source = hx, user, source  # source: the client's address, for throttling
        with ui.card().classes("w-full max-w-xl gap-2"):
            ui.label(user.email).classes("font-medium")
            self.fields = {name: ui.input(label, value=getattr(user, name) or "").classes("w-full")
                           for name, label in PROFILE_FIELDS.items()}  # fmt: skip
            ui.button("Save", on_click=self.save).props("no-caps")
        with ui.card().classes("w-full max-w-xl gap-2"):
            ui.label("Password").classes("text-lg font-medium")
            self.current = ui.input("Current password", password=True).classes("w-full")
            self.new = ui.input("New password", password=True).classes("w-full")
            self.again = ui.input("New password again", password=True).classes("w-full")
            ui.label("Your other sessions are logged out.").classes("text-xs opacity-70")
            ui.button("Change password", on_click=self.change_password).props("no-caps")

    async def save(self) -> None:
        if still_signed_in(self.hx) is None:
            return
        for widget in self.fields.values():
            _mark(widget, None)
        changes = {name: (widget.value or None) for name, widget in self.fields.items()}
        try:
            self.user = await asyncio.to_thread(self.hx.users.update, self.user, changes)
        except ValidationFailed as exc:
            for error in exc.errors:
                name = str(error.get("loc", [""])[-1])
                if name in self.fields:
                    _mark(self.fields[name], str(error.get("msg", "invalid")))
            return
        for name, widget in self.fields.items():
            widget.value = getattr(self.user, name) or ""
        ui.notify("Profile saved", type="positive")

    async def change_password(self) -> None:
        if still_signed_in(self.hx) is None:
            return
        for widget in (self.current, self.new, self.again):
            _mark(widget, None)
        if self.new.value != self.again.value:
            _mark(self.again, "does not match the new password")
            return
        try:
            await asyncio.to_thread(self.hx.users.set_password, self.user, self.new.value or "",
                                    current_password=self.current.value or "", source=self.source)  # fmt: skip
        except AuthenticationFailed:
            _mark(self.current, "incorrect password")
            return
        except ValidationFailed as exc:
            if exc.errors and exc.errors[0].get("loc") == ["current_password"]:
                _mark(self.current, str(exc.errors[0].get("msg")))
                return
            _mark(self.new, str(exc.errors[0].get("msg")) if exc.errors else exc.detail)
            return
        except HelixNetError as exc:
            ui.notify(exc.detail, type="negative")
            return
        sign_in(self.hx, self.user)  # a token of the new version: this session stays, the others end
        for widget in (self.current, self.new, self.again):
            widget.value = ""
        ui.notify("Password changed; your other sessions are logged out", type="positive")


__all__ = ["create"]
