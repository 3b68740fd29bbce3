"""``/jobs/new``: pick a plugin, fill in the form generated from its params schema, upload its inputs."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from starlette.requests import Request

from helixnet.core.schemas import UserRead
from helixnet.errors import HelixNetError, ValidationFailed
from helixnet.ui.files import store_upload
from helixnet.ui.forms import ParamsForm
from helixnet.ui.frame import frame
from helixnet.ui.session import still_signed_in


def create(hx: Any) -> None:
    @ui.page("/jobs/new")
    def new_job(request: Request, plugin: str = "") -> None:
        user: UserRead = request.state.user
        with frame(user, "New job"):
            if chosen := plugin_picker(hx, plugin, "/jobs/new", "run"):
                JobForm(hx, user, chosen)


def plugin_picker(hx: Any, plugin: str, page: str, verb: str) -> str | None:
    """The plugin select of a form page (``page?plugin=name`` on change); the chosen name, or None
    (after saying so) when no plugin is installed."""
    names = sorted(hx.plugins)
    if not names:
        ui.label(f"No compute plugins are installed, so there is nothing to {verb} yet.")
        return None
    chosen = plugin if plugin in names else names[0]
    ui.select(
        {name: f"{name} — {hx.plugins[name].title or name}" for name in names},
        value=chosen,
        label="Plugin",
        on_change=lambda e: ui.navigate.to(f"{page}?plugin={e.value}"),
    ).classes("w-full max-w-xl")
    return chosen


class JobForm:
    """The params form and one file picker per declared input; Submit creates the job and opens it."""

    def __init__(self, hx: Any, user: UserRead, plugin_name: str) -> None:
        self.hx, self.user, self.plugin_name = hx, user, plugin_name
        plugin = hx.plugins[plugin_name]
        self.inputs: dict[str, str] = {}
        with ui.card().classes("w-full max-w-xl gap-3"):
            if plugin.description:
                ui.label(plugin.description).classes("opacity-80")
            self.form = ParamsForm(plugin.Params.model_json_schema())
            for spec in plugin.inputs:
                self._picker(spec)
            self.error = ui.label("").classes("text-negative whitespace-pre-wrap")
            ui.button("Submit", on_click=self.submit).props("no-caps")

    def _picker(self, spec: Any) -> None:
        label = f"{spec.name}{' *' if spec.required else ''}"
        ui.label(label).classes("font-medium")
        if spec.description:
            ui.label(spec.description).classes("text-xs opacity-70")

        async def received(event: Any) -> None:
            artifact = await store_upload(self.hx, self.user, event)
            if artifact is None:
                return
            self.inputs[spec.name] = artifact.id
            ui.notify(f"Uploaded {artifact.filename}")

        ui.upload(on_upload=received, auto_upload=True, max_files=1, label=f"File for {spec.name}").props(
            f'aria-label="{spec.name} file"'
        ).classes("w-full")

    async def submit(self) -> None:
        if still_signed_in(self.hx) is None:
            return
        self.error.set_text("")
        self.form.clear_errors()
        try:
            job = await asyncio.to_thread(self.hx.jobs.submit, self.user, self.plugin_name,
                                     params=self.form.values(), inputs=dict(self.inputs))  # fmt: skip
        except ValidationFailed as exc:
            rest = self.form.show_errors(list(exc.errors or []))
            self.error.set_text("\n".join(rest) if rest else "Please correct the fields marked above.")
            return
        except HelixNetError as exc:
            self.error.set_text(exc.detail)
            return
        ui.navigate.to(f"/jobs/{job.id}")


__all__ = ["JobForm", "create"]
