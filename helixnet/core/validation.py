"""Turning pydantic's errors into ours: each field named, with the reason."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from helixnet.errors import ValidationFailed


def from_pydantic(exc: ValidationError, detail: str, *, prefix: Sequence[str | int] = ()) -> ValidationFailed:
    errors = [
        {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]} for error in exc.errors()
    ]
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors)
    return ValidationFailed(f"{detail}: {fields}", errors=errors)
