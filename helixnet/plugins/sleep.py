"""``sleep``: waits, reporting progress, and stops early when cancelled (a long job to watch)."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from helixnet.plugins.base import ComputePlugin
from helixnet.worker.context import JobCancelled, JobContext

#: Progress is reported at least this often.
TICK_SECONDS = 0.5


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0, le=3600, description="How long to sleep, 0 to 3600 s.")


class SleepPlugin(ComputePlugin):
    name = "sleep"
    title = "Sleep"
    description = "Sleeps for a number of seconds, reporting progress; stops early when cancelled."
    Params = SleepParams

    def run(self, ctx: JobContext, params: SleepParams) -> dict[str, float]:
        start = time.monotonic()
        deadline = start + params.seconds
        ctx.progress(0.0, f"sleeping {params.seconds:g} s")
        while (left := deadline - time.monotonic()) > 0:
            if ctx.wait(min(TICK_SECONDS, left)):
                raise JobCancelled(ctx.job_id)
            elapsed = time.monotonic() - start
            ctx.progress(min(1.0, elapsed / params.seconds), f"{elapsed:.1f} of {params.seconds:g} s")
        return {"slept": round(time.monotonic() - start, 3)}
