"""``/admin/users``: list, create, deactivate or reactivate, make or unmake admin, reset a password.

The same rules as ``PATCH /api/v1/users/{id}``: an admin cannot deactivate or demote themselves, and
deactivating a user (or resetting their password) ends their sessions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from starlette.requests import Request

from helixnet.core.schemas import UserRead
from helixnet.errors import HelixNetError, ValidationFailed
from helixnet.ui.frame import frame
from helixnet.ui.session import still_signed_in
from helixnet.ui.widgets import when

PAGE = 200


def create(hx: Any) -> None:
    @ui.page("/admin/users")
    def users_page(request: Request, page: int = 0) -> None:
        me: UserRead = request.state.user
        with frame(me, "Users"):
            UsersView(hx, me, max(0, page))


class UsersView:
    def __init__(self, hx: Any, me: UserRead, page: int) -> None:
        self.hx, self.me, self.page = hx, me, page
        with ui.expansion("New user", icon="person_add").classes("w-full max-w-xl border rounded"):
            self.email = ui.input("Email").classes("w-full")
            self.fullname = ui.input("Full name").classes("w-full")
            self.password = ui.input("Password", password=True).classes("w-full")
            self.is_admin = ui.checkbox("Admin")
            ui.button("Create", on_click=self.create_user).props("no-caps")
        self.listing()

    @ui.refreshable_method
    def listing(self) -> None:
        users: list[UserRead] = self.hx.users.list(limit=PAGE + 1, offset=self.page * PAGE)
        with ui.column().classes("w-full gap-0 border rounded divide-y"):
            for user in users[:PAGE]:
                self.row(user)
        with ui.row().classes("w-full justify-between"):
            ui.link("Previous", f"/admin/users?page={self.page - 1}") if self.page else ui.label("")
            if len(users) > PAGE:
                ui.link("Next", f"/admin/users?page={self.page + 1}")

    def row(self, user: UserRead) -> None:
        with ui.row().classes("w-full items-center gap-x-4 gap-y-1 px-3 py-2 flex-wrap") as row:
            row.props(f'data-user-id="{user.id}"')
            ui.label(user.email).classes("font-medium break-all")
            ui.label(user.fullname or "").classes("opacity-80")
            if user.is_admin:
                ui.badge("admin", color="primary")
            if not user.is_active:
                ui.badge("deactivated", color="grey-7")
            ui.label(f"since {when(user.created_at)}").classes("text-xs opacity-70")
            ui.space()
            if user.id != self.me.id:  # no locking myself out, as in the API
                ui.button("Deactivate" if user.is_active else "Activate",
                          on_click=lambda u=user: self.flags(u, is_active=not u.is_active)
                          ).props("flat dense no-caps").mark(f"active-{user.id}")  # fmt: skip
                ui.button("Remove admin" if user.is_admin else "Make admin",
                          on_click=lambda u=user: self.flags(u, is_admin=not u.is_admin)
                          ).props("flat dense no-caps").mark(f"admin-{user.id}")  # fmt: skip
            ui.button("Reset password", on_click=lambda u=user: self.reset_dialog(u)).props("flat dense no-caps").mark(
                f"reset-{user.id}"
            )

    async def create_user(self) -> None:
        if still_signed_in(self.hx, admin=True) is None:
            return
        self.email.error = self.password.error = None
        try:
            user = await asyncio.to_thread(self.hx.users.create, self.email.value or "", self.password.value or "",
                                           self.fullname.value or None, bool(self.is_admin.value))  # fmt: skip
        except ValidationFailed as exc:
            for error in exc.errors:
                field = str(error.get("loc", [""])[-1])
                target = self.password if field == "password" else self.email
                target.error = str(error.get("msg", "invalid"))
            return
        except HelixNetError as exc:  # Conflict: already registered
            self.email.error = exc.errors[0]["msg"] if exc.errors else exc.detail
            return
        for widget in (self.email, self.fullname, self.password):
            widget.value = ""
        self.is_admin.value = False
        ui.notify(f"Created {user.email}", type="positive")
        self.listing.refresh()

    async def flags(self, user: UserRead, *, is_active: bool | None = None, is_admin: bool | None = None) -> None:
        if still_signed_in(self.hx, admin=True) is None:
            return
        try:
            await asyncio.to_thread(self.hx.users.set_flags, user, is_active=is_active, is_admin=is_admin)
        except HelixNetError as exc:
            ui.notify(exc.detail, type="negative")
            return
        self.listing.refresh()

    def reset_dialog(self, user: UserRead) -> None:
        with ui.dialog() as dialog, ui.card().classes("w-96 max-w-[92vw]"):
            ui.label(f"New password for {user.email}")
            password = ui.input("New password", password=True).classes("w-full")
            ui.label("Their sessions and tokens stop working.").classes("text-xs opacity-70")

            async def reset() -> None:
                if still_signed_in(self.hx, admin=True) is None:
                    return
                try:
                    await asyncio.to_thread(self.hx.users.set_password, user, password.value or "")
                except ValidationFailed as exc:
                    password.error = exc.errors[0]["msg"] if exc.errors else exc.detail
                    return
                dialog.close()
                ui.notify(f"Password of {user.email} reset", type="positive")

            with ui.row():
                ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                ui.button("Set password", on_click=reset).props("no-caps")
        dialog.open()


__all__ = ["create"]
