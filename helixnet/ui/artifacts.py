"""``/artifacts``: my artifacts, newest first; upload, download, delete."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui
from starlette.requests import Request

from helixnet.core.schemas import ArtifactRead, UserRead
from helixnet.errors import HelixNetError
from helixnet.ui.files import artifact_card, store_upload
from helixnet.ui.frame import frame
from helixnet.ui.session import still_signed_in

#: Shown at most; the REST API pages through all of them.
SHOWN = 200


def create(hx: Any) -> None:
    @ui.page("/artifacts")
    def artifacts_page(request: Request) -> None:
        user: UserRead = request.state.user
        root = request.scope.get("root_path", "")
        with frame(user, "Artifacts"):
            ArtifactsView(hx, user, root)


class ArtifactsView:
    def __init__(self, hx: Any, user: UserRead, root: str) -> None:
        self.hx, self.user, self.root = hx, user, root
        ui.upload(label="Upload files", on_upload=self.received, auto_upload=True, multiple=True).props(
            'aria-label="Upload files"'
        ).classes("w-full max-w-xl")
        self.listing()

    async def received(self, event: Any) -> None:
        artifact = await store_upload(self.hx, self.user, event)
        if artifact is None:
            return
        ui.notify(f"Uploaded {artifact.filename}")
        self.listing.refresh()

    @ui.refreshable_method
    def listing(self) -> None:
        found: list[ArtifactRead] = self.hx.artifacts.list(self.user, limit=SHOWN)
        if not found:
            with ui.column().classes("w-full items-center p-8 border rounded"):
                ui.label("No artifacts yet.").classes("text-lg")
                ui.label("Upload a file here, or run a job: its outputs appear here too.")
            return
        for artifact in found:
            with ui.row().classes("w-full items-start gap-2 flex-nowrap"):
                with ui.column().classes("flex-1 min-w-0"):
                    artifact_card(self.hx, self.user, artifact, title=artifact.filename, root=self.root)
                ui.button("Delete", icon="delete", on_click=lambda a=artifact: self.confirm_delete(a)).props(
                    "flat dense no-caps color=negative"
                )
        if len(found) == SHOWN:
            ui.label(f"The newest {SHOWN}; GET /api/v1/artifacts lists them all.").classes("text-sm opacity-70")

    def confirm_delete(self, artifact: ArtifactRead) -> None:
        with ui.dialog() as dialog, ui.card():
            ui.label(f"Delete {artifact.filename}? Its bytes are removed from storage.")
            with ui.row():
                ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
                ui.button("Delete it", on_click=lambda: self.delete(artifact, dialog)).props("no-caps color=negative")
        dialog.open()

    async def delete(self, artifact: ArtifactRead, dialog: ui.dialog) -> None:
        dialog.close()
        if still_signed_in(self.hx) is None:
            return
        try:
            await asyncio.to_thread(self.hx.artifacts.delete, artifact.id, self.user)
        except HelixNetError as exc:
            ui.notify(exc.detail, type="warning")
        else:
            ui.notify(f"Deleted {artifact.filename}")
        self.listing.refresh()


__all__ = ["create"]
