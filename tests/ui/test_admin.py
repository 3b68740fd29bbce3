"""Admin pages: users and everyone's jobs with bulk actions, through NiceGUI's testing User."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui.testing import User

from helixnet.core.models import JobStatus

from .conftest import log_in
from .test_jobs import eventually, widget

pytestmark = pytest.mark.asyncio


async def test_admin_creates_deactivates_promotes_and_resets(user: User, make_user: Any, hx: Any, admin: Any,
                                                              ada: Any) -> None:  # fmt: skip
    await log_in(user, admin.email, path="/admin/users")
    await user.should_see(ada.email)
    widget(user, "Email").value = "new@example.org"
    widget(user, "Password").value = "short"
    user.find("Create").click()
    await eventually(lambda: _error(widget(user, "Password")))
    widget(user, "Password").value = "a long enough password"
    user.find("Create").click()
    await user.should_see("Created new@example.org")
    assert hx.users.get_by_email("new@example.org") is not None

    ada_browser = make_user()
    await log_in(ada_browser, ada.email)
    # In the simulation a click runs in this test's task, where the last HTTP request (ada's) is the
    # current one for app.storage.user; a real browser's click carries its own page's request.
    await user.open("/admin/users")
    user.find(marker=f"active-{ada.id}").click()
    await eventually(lambda: _flag(hx, ada.id, "is_active", False))
    assert (await ada_browser.http_client.get("/", follow_redirects=False)).status_code == 307  # session ended
    user.find(marker=f"admin-{ada.id}").click()
    await eventually(lambda: _flag(hx, ada.id, "is_admin", True))
    user.find(marker=f"reset-{ada.id}").click()
    widget(user, "New password").value = "reset to this one"
    user.find("Set password").click()
    await user.should_see(f"Password of {ada.email} reset")
    hx.users.set_flags(ada, is_active=True)
    hx.users.authenticate(ada.email, "reset to this one")


async def test_admin_cannot_lock_themselves_out(user: User, admin: Any) -> None:
    await log_in(user, admin.email, path="/admin/users")
    await user.should_see(admin.email)
    await user.should_not_see("Deactivate")  # the only user is me


def _error(element: Any) -> None:
    assert element.props.get("error") is True, element.props


def _flag(hx: Any, user_id: str, name: str, value: bool) -> None:
    assert getattr(hx.users.get(user_id), name) is value


async def test_bulk_cancel_covers_every_page_and_only_the_filter(user: User, hx: Any, admin: Any, ada: Any,
                                                                 bob: Any) -> None:  # fmt: skip
    ada_jobs = [hx.jobs.submit(ada, "sleep", params={"seconds": 3600}).id for _ in range(120)]
    bob_job = hx.jobs.submit(bob, "sleep", params={"seconds": 3600}).id
    await log_in(user, admin.email, path=f"/admin/jobs?owner={ada.email}")
    await user.should_see("Next page")  # more than one page matches
    user.find("Cancel all matching").click()
    user.find("Run it").click()
    await eventually(lambda: user.should_see(content="120 cancelled of 120 matching", retries=1), timeout=30)
    await user.should_see(content="done")
    assert {hx.jobs.get(job_id).status for job_id in ada_jobs} <= {JobStatus.CANCELLED, JobStatus.RUNNING}
    assert all(hx.jobs.get(job_id).cancel_requested for job_id in ada_jobs)
    assert hx.jobs.get(bob_job).status in (JobStatus.PENDING, JobStatus.RUNNING)
    assert not hx.jobs.get(bob_job).cancel_requested
    hx.jobs.cancel(bob_job)


async def test_admin_sees_everyones_jobs_and_filters_by_owner(user: User, hx: Any, admin: Any, ada: Any,
                                                              bob: Any) -> None:  # fmt: skip
    a = hx.jobs.submit(ada, "echo", params={"message": "from ada"})
    b = hx.jobs.submit(bob, "echo", params={"message": "from bob"})
    await log_in(user, admin.email, path="/admin/jobs")
    await user.should_see(a.id[:8])
    await user.should_see(b.id[:8])
    await user.open(f"/admin/jobs?owner={bob.email}")
    await user.should_see(b.id[:8])
    await user.should_not_see(a.id[:8])
    await user.open("/admin/jobs?owner=nobody@example.org")
    await user.should_see("No jobs match these filters.")
