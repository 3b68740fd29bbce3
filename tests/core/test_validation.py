"""U+0000 is refused before it reaches a database: PostgreSQL's text and jsonb cannot store it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from helixnet import HelixNet, JobStatus, ValidationFailed
from helixnet.core.validation import refuse_nul
from helixnet.plugins.base import ComputePlugin
from helixnet.plugins.registry import discover


@pytest.mark.parametrize(("value", "loc"), [
    ("a\x00b", ["params"]),
    ({"k\x00": 1}, ["params", "k\x00"]),
    ({"outer": {"inner": ["ok", "n\x00"]}}, ["params", "outer", "inner", 1]),
    ([{"x": ("t", "\x00")}], ["params", 0, "x", 1]),
])  # fmt: skip
def test_refuse_nul_names_where_it_is(value: object, loc: list[object]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        refuse_nul(value, ["params"])
    assert caught.value.errors[0]["loc"] == loc


def test_everything_else_passes() -> None:
    refuse_nul({"a": [1, 2.5, None, True, "text \u2028 with \x01 controls"], "b": {}}, ["params"])


def test_the_python_api_refuses_it_on_both_databases(make_hx, database: str) -> None:
    hx = make_hx(database, workers=0)
    with pytest.raises(ValidationFailed) as caught:
        hx.users.create(email="nul@example.org", password="long enough pw", fullname="a\x00b")
    assert caught.value.errors[0]["loc"] == ["fullname"]
    user = hx.users.create(email="nul@example.org", password="long enough pw")
    with pytest.raises(ValidationFailed) as caught:
        hx.jobs.submit(user, "echo", {"message": "\x00"})
    assert caught.value.errors[0]["loc"] == ["params", "message"]
    with pytest.raises(ValidationFailed):
        hx.users.update(user, {"fullname": "\x00"})
    assert hx.jobs.list(user).items == []


class _NulParams(BaseModel):
    mode: str = "result"


class _NulPlugin(ComputePlugin):
    """Says U+0000 in the one way ``mode`` names: its result, its exception, its progress or a log line."""

    name = "nul_out"
    Params = _NulParams

    def run(self, ctx: Any, params: _NulParams) -> dict[str, Any]:
        if params.mode == "raise":
            raise ValueError("bad\x00byte")
        if params.mode == "talk":
            ctx.progress(0.5, "half\x00way")
            ctx.log.warning("a\x00b")
            return {"ok": True}
        return {"text": "a\x00b"}


def test_a_plugin_that_outputs_nul_fails_cleanly_on_both_databases(make_settings, database: str) -> None:
    """On PostgreSQL the outcome could not be written: the job read as "worker lost" 30 s later."""
    plugins = discover()
    plugins.add(_NulPlugin)
    hx = HelixNet(make_settings(database), plugins=plugins)
    hx.start(1)
    try:
        user = hx.users.create(email="nul@example.org", password="long enough pw")
        jobs = {mode: hx.jobs.submit(user, "nul_out", {"mode": mode}).id for mode in ("result", "raise", "talk")}
        done = {mode: hx.jobs.wait(job_id, timeout=20) for mode, job_id in jobs.items()}
        lines = [event.message for event in hx.jobs.events(jobs["talk"])]
    finally:
        hx.stop(timeout=5)
    assert (done["result"].status, done["result"].attempts) == (JobStatus.FAILURE, 1)
    assert "result is not storable" in done["result"].error and "NUL" in done["result"].error
    assert done["raise"].status == JobStatus.FAILURE and done["raise"].error == "ValueError: bad\\x00byte"
    assert done["talk"].status == JobStatus.SUCCESS
    assert "a\\x00b" in lines, lines
