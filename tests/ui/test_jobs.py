"""Dashboard, new-job form and job page, through NiceGUI's testing User against a real HelixNet."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Literal

import pytest
from nicegui import ui
from nicegui.testing import User
from pydantic import BaseModel, Field

from helixnet import ComputePlugin
from helixnet.core.models import Job, JobStatus

from .conftest import log_in

pytestmark = pytest.mark.asyncio


async def eventually(check: Any, timeout: float = 10.0) -> None:
    """Wait for ``check()`` (an assertion) to pass while the app's event loop runs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                await result
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def widget(user: User, label: str) -> Any:
    """The one field labelled exactly ``label`` ("New password" is not "New password again")."""
    found = [el for el in user.find(label).elements if el.props.get("label") == label]
    assert len(found) == 1, found
    return found[0]


async def test_empty_dashboard_says_what_to_do(user: User, ada: Any) -> None:
    await log_in(user, ada.email)
    await user.should_see("No jobs yet.")
    await user.should_see("New job")


async def test_dashboard_filters_live_in_the_url(user: User, hx: Any, ada: Any, bob: Any) -> None:
    wanted = hx.jobs.submit(ada, "echo", params={"message": "the aardvark report"})
    hx.jobs.submit(ada, "echo", params={"message": "zebra"})
    hx.jobs.submit(bob, "echo", params={"message": "bob's aardvark"})
    for job in hx.jobs.list(None, all_users=True).items:
        hx.jobs.wait(job.id, timeout=30)
    await log_in(user, ada.email, path="/?q=aardvark")
    await user.should_see(wanted.id[:8])
    await user.should_not_see("zebra")
    await user.should_not_see("bob's aardvark")  # never another user's job
    await user.should_see("SUCCESS 2")  # counts cover the plugin filter, not the search (that would scan)
    await user.open("/?status=PENDING")
    await user.should_see("No jobs match these filters.")
    await user.open("/?plugin=sleep")
    await user.should_see("No jobs match these filters.")


async def test_dashboard_pages_with_a_cursor(user: User, hx: Any, ada: Any) -> None:
    ids = [hx.jobs.submit(ada, "sleep", params={"seconds": 3600}).id for _ in range(55)]
    await log_in(user, ada.email)
    await user.should_see(ids[-1][:8])
    await user.should_not_see(ids[0][:8])
    next_link = next(iter(user.find("Next page").elements))
    await user.open(next_link.props["href"])
    await user.should_see(ids[0][:8])
    await user.should_see("First page")
    await user.open("/?sort=oldest")
    await user.should_see(ids[0][:8])
    for job_id in ids:
        hx.jobs.cancel(job_id)


async def test_counts_are_capped(user: User, hx: Any, ada: Any) -> None:
    from sqlalchemy import insert

    from helixnet.core.models import Job, utcnow
    from helixnet.ui.widgets import COUNT_CAP

    now = utcnow()
    rows = [{"id": f"00000000-0000-0000-0000-{i:012d}", "owner_id": ada.id, "plugin": "echo", "params": {},
             "inputs": {}, "status": "CANCELLED", "created_at": now} for i in range(COUNT_CAP + 5)]  # fmt: skip
    with hx.db.connect() as conn:  # seeding only: 10,005 rows through submit would take a while
        conn.execute(insert(Job), rows)
    await log_in(user, ada.email)
    await user.should_see("CANCELLED 10,000+")
    await user.should_see("PENDING 0")


async def test_dashboard_updates_live(user: User, hx: Any, ada: Any) -> None:
    await log_in(user, ada.email)
    await user.should_see("No jobs yet.")
    job = hx.jobs.submit(ada, "echo", params={"message": "live"})
    hx.jobs.wait(job.id, timeout=30)
    await eventually(lambda: user.should_see(job.id[:8], retries=1))
    await eventually(lambda: user.should_see("SUCCESS 1", retries=1))


@pytest.mark.parametrize(("plugin", "labels"), [
    ("echo", ["Message", "Fail", "Raise instead of returning: to see a FAILURE."]),
    ("sleep", ["Seconds *"]),
    ("textstats", ["Top", "Min Length", "Case Sensitive", "Count 'The' and 'the' apart.", "content *"]),
])  # fmt: skip
async def test_generated_form_of_each_builtin(user: User, ada: Any, plugin: str, labels: list[str]) -> None:
    await log_in(user, ada.email, path=f"/jobs/new?plugin={plugin}")
    for label in labels:
        await user.should_see(label)


async def test_form_bounds_defaults_and_hints(user: User, ada: Any) -> None:
    await log_in(user, ada.email, path="/jobs/new?plugin=textstats")
    top = widget(user, "Top")
    assert isinstance(top, ui.number)
    assert (top.value, top.props["min"], top.props["max"]) == (10, 1, 1000)
    assert top.props["hint"] == "How many of the most frequent terms to list. · from 1 to 1000"
    await user.open("/jobs/new?plugin=sleep")
    seconds = widget(user, "Seconds *")
    assert seconds.value is None and (seconds.props["min"], seconds.props["max"]) == (0, 3600)


async def test_pydantic_errors_appear_next_to_their_field(user: User, hx: Any, ada: Any) -> None:
    await log_in(user, ada.email, path="/jobs/new?plugin=sleep")
    seconds = widget(user, "Seconds *")
    user.find("Submit").click()
    await eventually(lambda: _assert_error(seconds, "Field required"))
    seconds.value = 5000
    user.find("Submit").click()
    await eventually(lambda: _assert_error(seconds, "Input should be less than or equal to 3600"))
    assert hx.jobs.list(ada).items == []


def _assert_error(widget: Any, message: str) -> None:
    assert widget.props.get("error") is True, widget.props
    assert widget.props.get("error-message") == message


class Colour(BaseModel):
    shade: Literal["red", "green", "blue"] = Field(default="green", description="Which one.")
    label: str | None = Field(default=None, max_length=20)


class ColourPlugin(ComputePlugin):
    name = "colour"
    Params = Colour

    def run(self, ctx: Any, params: Colour) -> dict[str, str]:
        return {"shade": params.shade}


async def test_enum_becomes_a_select_and_submit_opens_the_job(user: User, hx: Any, ada: Any) -> None:
    hx.plugins.add(ColourPlugin)
    await log_in(user, ada.email, path="/jobs/new?plugin=colour")
    shade = widget(user, "Shade")
    assert isinstance(shade, ui.select)
    assert shade.value == "green" and list(shade.options) == ["red", "green", "blue"]
    shade.value = "blue"
    user.find("Submit").click()
    await eventually(lambda: user.should_see("Timeline", retries=1))
    job = hx.jobs.list(ada).items[0]
    assert job.params == {"shade": "blue", "label": None}
    assert user.back_history[-1] == f"/jobs/{job.id}"


async def test_job_page_goes_live_to_success_with_result_and_log(user: User, hx: Any, ada: Any) -> None:
    job = hx.jobs.submit(ada, "sleep", params={"seconds": 1})
    await log_in(user, ada.email, path=f"/jobs/{job.id}")
    await user.should_see("Cancel")
    await eventually(lambda: user.should_see("SUCCESS", retries=1), timeout=20)
    await user.should_see("Result")
    titles = [entry.props["title"] for entry in user.find(kind=ui.timeline_entry).elements]
    assert sorted(titles) == ["Attempt", "Created", "Finished SUCCESS", "Queued"]
    await user.should_not_see("Cancel")
    await eventually(lambda: user.should_see(content="finished SUCCESS in", retries=1))


async def test_cancel_a_running_job_and_retry_it(user: User, hx: Any, ada: Any) -> None:
    job = hx.jobs.submit(ada, "sleep", params={"seconds": 60})
    await log_in(user, ada.email, path=f"/jobs/{job.id}")
    await eventually(lambda: user.should_see("RUNNING", retries=1), timeout=20)
    user.find("Cancel").click()
    await eventually(lambda: user.should_see("CANCELLED", retries=1), timeout=20)
    user.find("Retry").click()
    await eventually(lambda: user.should_see(content="retry of job", retries=1))
    assert len(hx.jobs.list(ada).items) == 2
    for item in hx.jobs.list(ada).items:
        if item.status in (JobStatus.PENDING, JobStatus.RUNNING):
            hx.jobs.cancel(item.id)


async def test_another_users_job_is_not_found(user: User, hx: Any, ada: Any, bob: Any) -> None:
    theirs = hx.jobs.submit(bob, "echo", params={"message": "private"})
    await log_in(user, ada.email)
    await user.should_see("No jobs yet.")
    answer = await user.http_client.get(f"/jobs/{theirs.id}")
    unknown = await user.http_client.get("/no-such-page")
    assert answer.status_code == unknown.status_code == 404
    assert "private" not in answer.text


async def test_message_is_text_not_html(user: User, hx: Any, ada: Any) -> None:
    evil = "<img src=x onerror=alert(1)>"
    job = hx.jobs.submit(ada, "echo", params={"message": evil})
    hx.jobs.wait(job.id, timeout=30)
    with hx.db.write() as session:  # what a plugin's ctx.progress(..., message) leaves behind
        session.get(Job, job.id).message = evil
    await log_in(user, ada.email, path=f"/jobs/{job.id}")
    await user.should_see(content=evil)
    await user.should_see(f"100% — {evil}")
    await user.open("/")
    await user.should_see(evil)
    assert not any(isinstance(el, ui.html) for el in user.current_layout.descendants())


async def test_an_open_page_cannot_act_after_the_session_ended(user: User, hx: Any, ada: Any) -> None:
    job = hx.jobs.submit(ada, "sleep", params={"seconds": 3600})
    await log_in(user, ada.email, path=f"/jobs/{job.id}")
    await user.should_see("Cancel")
    hx.users.set_flags(ada, is_active=False)  # an admin deactivates her while the page is open
    user.find("Cancel").click()
    await eventually(lambda: user.should_see("Log in", retries=1))
    assert not hx.jobs.get(job.id).cancel_requested
    hx.jobs.cancel(job.id)


async def test_open_tabs_cost_no_queries_while_nothing_changes(make_user: Any, hx: Any, ada: Any) -> None:
    """Live pages wait on the change feed: idle, five open tabs query exactly as much as one (the shared poll)."""
    from sqlalchemy import event

    async def queries_while_idle(tabs: int) -> int:
        browsers = [make_user() for _ in range(tabs)]
        for browser in browsers:
            await log_in(browser, ada.email)
        statements: list[tuple[str, str]] = []

        def listener(*args: Any) -> None:  # (conn, cursor, statement, ...)
            statements.append((threading.current_thread().name, args[2]))

        event.listen(hx.db.engine, "before_cursor_execute", listener)
        await asyncio.sleep(1.5)
        event.remove(hx.db.engine, "before_cursor_execute", listener)
        # What pages and the change feed cost; the sweeper, workers and digests run on a clock of
        # their own whatever is open, and would only add noise to the comparison.
        return len([s for thread, s in statements if "job_events" not in s
                    and (thread == "helixnet-changes" or not thread.startswith("helixnet-"))])  # fmt: skip

    one, five = await queries_while_idle(1), await queries_while_idle(5)
    assert five <= one + 4, (one, five)  # the poll's few queries, not one per tab per tick
