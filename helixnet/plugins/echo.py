"""``echo``: returns its message; the smallest plugin, used for wiring tests and the throughput benchmark."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from helixnet.plugins.base import ComputePlugin
from helixnet.worker.context import JobContext


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(default="", max_length=100_000)
    fail: bool = Field(default=False, description="Raise instead of returning: to see a FAILURE.")


class EchoPlugin(ComputePlugin):
    name = "echo"
    title = "Echo"
    description = "Returns the message it is given; fails on request."
    Params = EchoParams

    def run(self, ctx: JobContext, params: EchoParams) -> dict[str, str]:
        if params.fail:
            raise RuntimeError(f"echo asked to fail: {params.message}")
        return {"message": params.message}
