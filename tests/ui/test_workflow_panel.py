"""The job page shows a workflow's parents and children with their statuses, each a link (issue 13)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from helixnet import Conflict

from .conftest import log_in
from .test_jobs import eventually

pytestmark = pytest.mark.asyncio


async def test_parents_and_children_are_linked_rows_with_live_badges(user: User, hx: Any, ada: Any) -> None:
    parent = hx.jobs.submit(ada, "sleep", params={"seconds": 60})
    child = hx.jobs.submit(ada, "echo", after=[parent.id])
    await log_in(user, ada.email, path=f"/jobs/{child.id}")
    await user.should_see("WAITING")
    await user.should_see("Parents (1, after)")
    links = {el.props.get("href") for el in user.find(kind=ui.link).elements}
    assert f"/jobs/{parent.id}" in links
    hx.jobs.cancel(parent.id)  # the parent's change reaches the child's open page
    await eventually(lambda: user.should_see(content=f"dependency failed: {parent.id}", retries=1), timeout=20)
    await user.open(f"/jobs/{parent.id}")
    await user.should_see("Children (1, waiting on this job)")
    assert f"/jobs/{child.id}" in {el.props.get("href") for el in user.find(kind=ui.link).elements}
    user.find("Retry and re-arm children").click()
    await eventually(lambda: user.should_see(content="retry of job", retries=1))
    assert hx.jobs.get(child.id).status.value == "WAITING"
    for item in hx.jobs.list(ada).items:
        if not item.is_final:
            with contextlib.suppress(Conflict):  # a cancel cascades: the child may have ended already
                hx.jobs.cancel(item.id)


async def test_a_job_on_its_own_shows_no_workflow(user: User, hx: Any, ada: Any) -> None:
    job = hx.jobs.submit(ada, "echo")
    await log_in(user, ada.email, path=f"/jobs/{job.id}")
    await user.should_see("Params")
    await user.should_not_see("Workflow")
