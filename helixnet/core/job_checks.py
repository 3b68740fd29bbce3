"""What a submit must pass before a row is written: plugin, params, inputs, ranges; and idempotent replays.

Shared by ``submit`` and ``submit_many`` (which prefixes each error with the item's index), so a job
is refused for the same reasons whichever way it comes in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from helixnet.core.db import Database
from helixnet.core.models import Artifact, ArtifactStatus
from helixnet.core.schemas import JobRead
from helixnet.core.validation import from_pydantic, refuse_nul
from helixnet.core.workflows import checked_parents, split_inputs
from helixnet.errors import NotFound, ValidationFailed
from helixnet.plugins.base import INPUT_NAME_PATTERN
from helixnet.plugins.registry import PluginRegistry


class JobChecks:
    """Checks a job request against the installed plugins, the caller's artifacts and the defaults."""

    def __init__(self, db: Database, plugins: PluginRegistry, *, default_max_retries: int = 0,
                 default_timeout: float | None = None) -> None:  # fmt: skip
        self._db = db
        self._plugins = plugins
        self._default_max_retries = default_max_retries
        self._default_timeout = default_timeout

    def request(
        self,
        owner_id: str,
        plugin: Any,
        params: Any,
        inputs: Any,
        priority: Any,
        max_retries: Any,
        timeout: Any,
        after: Any = None,
        allow_failed_parents: Any = False,
    ) -> dict[str, Any]:
        """A submit's fields checked and completed with the defaults, as the row stores them.

        Workflow fields (issue 13) come back as ``parents`` (``after`` plus the jobs whose outputs
        the inputs name, sorted), ``input_refs`` and ``allow_failed_parents``.
        """
        if not isinstance(plugin, str):
            raise ValidationFailed.field(["plugin"], "must be a plugin name")
        checked_params = self.params(plugin, params)
        plain, refs = split_inputs(inputs or {})
        checked_inputs = self.inputs(owner_id, plugin, plain, refs=refs)
        if not isinstance(allow_failed_parents, bool):
            raise ValidationFailed.field(["allow_failed_parents"], "must be true or false")
        parents: list[str] = []
        if after or refs:
            with self._db.read() as session:
                parents = checked_parents(session, owner_id, after, refs)
        elif after is not None and (isinstance(after, (str, bytes)) or not isinstance(after, (list, tuple))):
            raise ValidationFailed.field(["after"], "must be a list of job ids")
        check_range("priority", priority, -100, 100)
        retries = self._default_max_retries if max_retries is None else max_retries
        check_range("max_retries", retries, 0, 100)
        timeout = self._default_timeout if timeout is None else timeout
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not 0 < timeout <= 7 * 24 * 3600):  # fmt: skip
            raise ValidationFailed.field(["timeout"], "must be between 0 and 604800 seconds")
        return {"plugin": plugin, "params": checked_params, "inputs": checked_inputs, "priority": priority,
                "max_retries": retries, "timeout": timeout, "input_refs": refs, "parents": parents,
                "allow_failed_parents": allow_failed_parents}  # fmt: skip

    def params(self, plugin_name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        try:
            plugin = self._plugins.get_or_raise(plugin_name)
        except NotFound as exc:
            raise ValidationFailed(exc.detail, errors=exc.errors) from None
        if params is not None and not isinstance(params, Mapping):
            raise ValidationFailed.field(["params"], "must be an object")
        try:
            model = plugin.Params.model_validate(dict(params or {}))
        except ValidationError as exc:
            raise from_pydantic(exc, f"invalid params for plugin {plugin_name!r}", prefix=["params"]) from exc
        checked = model.model_dump(mode="json")
        refuse_nul(checked, ["params"])  # PostgreSQL cannot store U+0000 in JSON: a 422, never a 500
        return checked

    def inputs(
        self, owner_id: str, plugin_name: str, inputs: Mapping[str, str], refs: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """Artifact inputs checked as the caller's own; ``refs`` (parents' outputs) count as given."""
        if not isinstance(inputs, Mapping):
            raise ValidationFailed.field(["inputs"], "must map input names to artifact ids")
        plugin = self._plugins[plugin_name]
        specs = {spec.name: spec for spec in plugin.inputs}
        for name in [*inputs, *(refs or {})]:
            if name in specs:
                continue
            if not plugin.accepts_any_inputs:
                known = ", ".join(specs) or "none"
                raise ValidationFailed.field(["inputs", name], f"unknown input for {plugin_name}; known: {known}")
            if not isinstance(name, str) or not re.fullmatch(INPUT_NAME_PATTERN, name):
                raise ValidationFailed.field(["inputs", name], "input names are letters, digits and _ (at most 64)")
        for name, spec in specs.items():
            if spec.required and name not in inputs and name not in (refs or {}):
                raise ValidationFailed.field(["inputs", name], "required input missing")
        if not inputs:
            return {}
        with self._db.read() as session:
            for name, artifact_id in inputs.items():
                row = session.get(Artifact, artifact_id) if isinstance(artifact_id, str) else None
                if row is None or row.owner_id != owner_id or row.status != ArtifactStatus.AVAILABLE:
                    raise NotFound(
                        f"input {name!r}: artifact {artifact_id} not found",
                        errors=[{"loc": ["inputs", name], "msg": f"artifact {artifact_id} not found"}],
                    )
        return dict(inputs)


def check_range(field: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed.field([field], f"must be an integer from {low} to {high}")


def same_request_or_refuse(earlier: JobRead, request: Mapping[str, Any]) -> JobRead:
    """The earlier job when ``request`` is the one it was made from; a reused key for another is a 422.

    As the IETF Idempotency-Key draft asks: a retry gets the first answer, a different request
    under the same key is the client's mistake, never silently answered with an unrelated job.
    """
    differing = [name for name, value in request.items() if _plain(getattr(earlier, name)) != _plain(value)]
    if differing:
        raise ValidationFailed(
            f"Idempotency-Key already used for job {earlier.id}, a different request ({', '.join(differing)} differ)",
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "already used for a different request"}],
        )
    return earlier


def _plain(value: Any) -> Any:
    """Models as dicts, so a stored ``input_refs`` compares equal to the request's."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value.model_dump() if isinstance(value, BaseModel) else value


__all__ = ["JobChecks", "check_range", "same_request_or_refuse"]
