"""What a compute plugin is: a name, a pydantic ``Params`` model, declared inputs and ``run``.

Plugins see only the ``JobContext`` they are given; they never touch the database or storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from helixnet.core.config import Settings
    from helixnet.worker.context import JobContext


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: What an input's name looks like (a plugin may use it as a file name: no path, no dot).
INPUT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class InputSpec(BaseModel):
    """One named input artifact a plugin reads."""

    name: str = Field(pattern=INPUT_NAME_PATTERN)
    required: bool = True
    description: str = ""


class ComputePlugin:
    """Base class of compute plugins; register a subclass in the ``helixnet.compute`` entry-point group.

    ``run`` returns the job's result (anything JSON-serialisable) and may write output artifacts
    through ``ctx.outputs``. Raising fails the job (and retries it while attempts remain).
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams
    inputs: ClassVar[tuple[InputSpec, ...]] = ()
    #: True: a job may also give inputs under names not in ``inputs`` (any name matching
    #: ``INPUT_NAME_PATTERN``), for plugins whose inputs depend on their params (``shell``).
    accepts_any_inputs: ClassVar[bool] = False
    #: Where ``run`` executes: ``thread`` (in the worker), ``process`` (a child process, killed with its
    #: process group at the timeout) or ``dask://host:port``; ``HELIXNET_EXECUTORS`` overrides it per plugin.
    executor: ClassVar[str] = "thread"

    def configure(self, settings: Settings) -> bool:
        """Read this instance's settings once, at start; return False to stay unoffered (e.g. unconfigured)."""
        return True

    def run(self, ctx: JobContext, params: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The plugin as clients see it (GET /plugins)."""
        return {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "params_schema": self.Params.model_json_schema(),
            "inputs": [spec.model_dump() for spec in self.inputs],
            "accepts_any_inputs": self.accepts_any_inputs,
        }
