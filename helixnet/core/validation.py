"""Turning pydantic's errors into ours: each field named, with the reason; text no database can store."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from helixnet.errors import ValidationFailed


def from_pydantic(exc: ValidationError, detail: str, *, prefix: Sequence[str | int] = ()) -> ValidationFailed:
    errors = [
        {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]} for error in exc.errors()
    ]
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors)
    return ValidationFailed(f"{detail}: {fields}", errors=errors)


NUL_REASON = "must not contain the NUL character (U+0000)"


def refuse_nul(value: Any, loc: Sequence[str | int]) -> None:
    """Refuse U+0000 anywhere in ``value`` (strings, and keys and items of JSON objects and arrays).

    PostgreSQL's text and jsonb cannot store it (SQLite can), so it was a 500 from the driver on
    PostgreSQL alone: it is a 422 naming the field on every database instead.
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed.field(list(loc), NUL_REASON)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                raise ValidationFailed.field([*loc, key], f"a key {NUL_REASON}")
            refuse_nul(item, [*loc, key])
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            refuse_nul(item, [*loc, index])


def nul_free(value: str | None) -> str | None:
    """A pydantic validator: ``refuse_nul`` for one text field."""
    if value is not None and "\x00" in value:
        raise ValueError(NUL_REASON)
    return value


def is_uuid(text: str) -> bool:
    """Whether ``text`` reads as a UUID (an artifact or job id) rather than as a name, a path or text."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
