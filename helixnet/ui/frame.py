"""The shared frame: header with the name, navigation, dark mode and the user's menu.

A context manager, as NiceGUI's ``examples/modularization/theme.py::frame()``: each page writes its
content inside ``with frame(user, "Title"):`` and looks like one product.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import app, ui

from helixnet.core.schemas import UserRead
from helixnet.ui.session import sign_out

NAV = [("Dashboard", "/"), ("Schedules", "/schedules"), ("Artifacts", "/artifacts")]
ADMIN_NAV = [("Users", "/admin/users"), ("All jobs", "/admin/jobs"), ("Monitor", "/admin/monitor")]

#: Report whether the tab is visible, so live pages pause their updates while it is hidden.
_VISIBILITY_JS = """
<script>
document.addEventListener('visibilitychange', () => emitEvent('hx_visibility', !document.hidden));
</script>
"""


def nav_items(user: UserRead) -> list[tuple[str, str]]:
    """The links this user may follow: admin links only for admins."""
    return [*NAV, *(ADMIN_NAV if user.is_admin else [])]


@contextmanager
def frame(user: UserRead, title: str) -> Iterator[ui.column]:
    """Header, navigation and a centred content column (full width on a phone, no sideways scroll)."""
    ui.page_title(f"{title} · HelixNet")
    dark = ui.dark_mode(theme_choice())  # None: follow the system until the user picks
    ui.add_head_html(_VISIBILITY_JS)
    ui.query("body").classes("overflow-x-hidden")
    with ui.header().classes("items-center gap-2 px-4 py-2 flex-wrap"):
        ui.link("HelixNet", "/").classes("text-lg font-bold text-white no-underline mr-4")
        with ui.row().classes("gap-3 items-center flex-wrap"):
            for label, path in nav_items(user):
                ui.link(label, path).classes("text-white no-underline")
        ui.space()
        theme = ui.button().props('flat round color=white aria-label="Theme"').mark("theme")
        theme.on_click(lambda: _toggle(dark, theme))
        _show_theme(theme, dark.value)
        with ui.button(icon="account_circle").props("flat no-caps color=white") as menu_button:
            ui.label(user.email).classes("max-w-[40vw] truncate")
            with ui.menu():
                ui.menu_item("Profile", on_click=lambda: ui.navigate.to("/profile"))
        menu_button.props('aria-label="Account"')
        ui.button("Log out", on_click=log_out).props("flat no-caps color=white")
    with ui.column().classes("w-full max-w-6xl mx-auto p-4 gap-4") as content:
        ui.label(title).classes("text-2xl font-semibold")
        yield content


#: The theme button cycles: follow the system -> dark -> light -> follow the system.
THEMES: list[tuple[bool | None, str, str]] = [
    (None, "brightness_auto", "Theme: as the system"),
    (True, "dark_mode", "Theme: dark"),
    (False, "light_mode", "Theme: light"),
]


def theme_choice() -> bool | None:
    """This browser's pick, kept with its session (every tab and page), else the system's."""
    value = app.storage.user.get("dark")
    return value if isinstance(value, bool) else None


def _toggle(dark: ui.dark_mode, button: ui.button) -> None:
    index = next(i for i, (value, _, _) in enumerate(THEMES) if value == dark.value)
    dark.value = THEMES[(index + 1) % len(THEMES)][0]
    app.storage.user["dark"] = dark.value
    _show_theme(button, dark.value)


def _show_theme(button: ui.button, value: bool | None) -> None:
    _, icon, label = next(theme for theme in THEMES if theme[0] == value)
    button.props(f"icon={icon}")
    button.props["title"] = label


def log_out() -> None:
    sign_out()
    ui.navigate.to("/login")


__all__ = ["frame", "log_out", "nav_items"]
