"""Artifacts and profile pages, and file inputs of the new-job form, through NiceGUI's testing User."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User

from .conftest import PASSWORD, log_in
from .test_jobs import eventually, widget

pytestmark = pytest.mark.asyncio


async def upload(user: User, name: str, data: bytes, content_type: str = "text/plain", *, label: str = "") -> None:
    pickers = [el for el in user.find(kind=ui.upload).elements if not label or el.props.get("label") == label]
    assert len(pickers) == 1, pickers
    [picker] = pickers
    await picker.handle_uploads([SmallFileUpload(name=name, content_type=content_type, _data=data)])
    await eventually(lambda: _notified(user, f"Uploaded {name}"))  # the handler runs as a background task


def _notified(user: User, message: str) -> None:
    assert message in user.notify.messages, user.notify.messages


async def test_artifacts_upload_preview_download_delete(user: User, hx: Any, ada: Any, bob: Any) -> None:
    hx.artifacts.create(bob, "bobs.txt", b"not yours")
    await log_in(user, ada.email, path="/artifacts")
    await user.should_see("No artifacts yet.")
    await upload(user, "notes.txt", b"first line\nsecond line\n")
    await user.should_see("notes.txt")
    await user.should_not_see("bobs.txt")
    [artifact] = hx.artifacts.list(ada)
    assert hx.artifacts.read_bytes(artifact.id) == b"first line\nsecond line\n"

    preview = next(iter(user.find(kind=ui.expansion).elements))
    preview.value = True
    await user.should_see(content="first line\nsecond line")

    user.find("Download").click()
    await eventually(lambda: _downloaded(user))
    url = user.download.http_responses[-1].url
    assert "/files/" in str(url) and user.download.http_responses[-1].content == b"first line\nsecond line\n"

    user.find("Delete").click()
    user.find("Delete it").click()
    await user.should_see("No artifacts yet.")
    assert hx.artifacts.list(ada) == []


def _downloaded(user: User) -> None:
    assert user.download.http_responses, "no download yet"


async def test_a_download_link_needs_a_session(user: User, hx: Any, ada: Any) -> None:
    artifact = hx.artifacts.create(ada, "secret.txt", b"secret")
    token = hx.artifacts.download_request(artifact.id, ada).token
    stranger = await user.http_client.get(f"/files/{token}", follow_redirects=False)
    assert stranger.status_code == 307  # the guard first
    await log_in(user, ada.email)
    assert (await user.http_client.get(f"/files/{token}")).content == b"secret"
    assert (await user.http_client.get(f"/files/{token}x")).status_code == 403


async def test_textstats_job_with_an_uploaded_input(user: User, hx: Any, ada: Any) -> None:
    await log_in(user, ada.email, path="/jobs/new?plugin=textstats")
    user.find("Submit").click()
    await user.should_see(content="required input missing")
    await upload(user, "poem.txt", b"so much depends\nupon\na red wheel\nbarrow\n", label="File for content")
    user.find("Submit").click()
    await eventually(lambda: user.should_see("Timeline", retries=1))
    job = hx.jobs.wait(hx.jobs.list(ada).items[0].id, timeout=30)
    assert job.result["lines"] == 4
    await eventually(lambda: user.should_see("result.json", retries=1))


async def test_profile_validates_like_the_api(user: User, hx: Any, ada: Any) -> None:
    await log_in(user, ada.email, path="/profile")
    widget(user, "Phone number").value = "call me"
    widget(user, "Web URL").value = "not a url"
    user.find("Save").click()
    await eventually(lambda: _has_error(widget(user, "Phone number")))
    assert widget(user, "Web URL").props["error"] is True
    widget(user, "Full name").value = "Ada Lovelace"
    widget(user, "Phone number").value = "+44 20 7946 0000"
    widget(user, "Web URL").value = "https://example.org/ada"
    user.find("Save").click()
    await user.should_see("Profile saved")
    saved = hx.users.get(ada.id)
    assert (saved.fullname, saved.phone_number, saved.web_url) == ("Ada Lovelace", "+44 20 7946 0000", "https://example.org/ada")


def _has_error(element: Any) -> None:
    assert element.props.get("error") is True


async def test_password_change_ends_my_other_sessions(user: User, make_user: Any, hx: Any, ada: Any) -> None:
    other = make_user()
    await log_in(other, ada.email)
    await log_in(user, ada.email, path="/profile")
    widget(user, "Current password").value = "wrong"
    widget(user, "New password").value = "a new long password"
    widget(user, "New password again").value = "a new long password"
    user.find("Change password").click()
    await eventually(lambda: _has_error(widget(user, "Current password")))
    widget(user, "Current password").value = PASSWORD
    user.find("Change password").click()
    await user.should_see("Password changed; your other sessions are logged out")
    assert (await user.http_client.get("/profile", follow_redirects=False)).status_code == 200  # this one stays
    assert (await other.http_client.get("/", follow_redirects=False)).status_code == 307  # the other ends
    hx.users.authenticate(ada.email, "a new long password")
