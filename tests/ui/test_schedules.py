"""The Schedules page and its create form, through NiceGUI's testing User against a real HelixNet."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from helixnet.core.models import JobStatus

from .conftest import log_in
from .test_jobs import eventually, widget

pytestmark = pytest.mark.asyncio


async def test_list_pause_run_now_and_delete(user: User, hx: Any, ada: Any, bob: Any) -> None:
    mine = hx.schedules.create(ada, "echo", {"message": "hi"}, cron="30 2 * * *", timezone="Europe/Berlin")
    theirs = hx.schedules.create(bob, "sleep", {"seconds": 1}, interval_seconds=3600)
    await log_in(user, ada.email, path="/schedules")
    await user.should_see("cron 30 2 * * *")
    await user.should_see("Europe/Berlin")
    await user.should_not_see("every 3600 s")  # never another user's schedule
    await user.should_see(marker=f"schedule-{mine.id}")
    await user.should_not_see(marker=f"schedule-{theirs.id}")

    user.find(marker=f"enable-{mine.id}").click()
    await eventually(lambda: _assert(not hx.schedules.get(mine.id).enabled))
    await user.should_see("Next: paused")

    user.find(marker=f"run-{mine.id}").click()
    await eventually(lambda: _assert(hx.schedules.get(mine.id).last_job_id is not None))
    job_id = hx.schedules.get(mine.id).last_job_id
    assert hx.jobs.wait(job_id, timeout=15).status == JobStatus.SUCCESS
    await user.open(f"/jobs/{job_id}")
    await user.should_see("Timeline")
    titles = [entry.props.get("title") for entry in user.find(ui.timeline_entry).elements]
    assert "Fire time" in titles  # the job page says a schedule fired it
    await user.open("/schedules")
    await user.should_see("last run")
    await user.should_see("SUCCESS")

    user.find(marker=f"delete-{mine.id}").click()
    await eventually(lambda: _assert(hx.schedules.list(ada).items == []))
    await user.should_see("No schedules yet.")


async def test_create_from_the_generated_form(user: User, hx: Any, ada: Any) -> None:
    await log_in(user, ada.email, path="/schedules/new?plugin=echo")
    await user.should_see("Message")  # the echo plugin's params, generated as on the job form
    widget(user, "Time zone").set_value("Mars/Olympus")
    widget(user, "Cron expression").set_value("0 9 * * 1-5")
    user.find("Submit").click()
    await eventually(lambda: _assert(widget(user, "Time zone").error))
    assert hx.schedules.list(ada).items == []
    widget(user, "Time zone").set_value("America/New_York")
    widget(user, "Message").set_value("good morning")
    user.find("Submit").click()
    await eventually(lambda: _assert(len(hx.schedules.list(ada).items) == 1))
    made = hx.schedules.list(ada).items[0]
    assert (made.cron, made.timezone, made.params["message"]) == ("0 9 * * 1-5", "America/New_York", "good morning")
    assert made.next_fire_at is not None
    await user.should_see("cron 0 9 * * 1-5")


def _assert(condition: Any) -> None:
    assert condition
