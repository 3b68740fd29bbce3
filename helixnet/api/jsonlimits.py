"""JSON from clients, bounded at the edge: nesting depth and the length of numbers.

Valid JSON can still be hostile: params nested 10,000 deep raised RecursionError (a 500) and
inputs nested as deep closed the connection; a 5,000-digit integer hit Python's int-string limit
(another 500). Bounds are checked here, before anything recursive sees the document, and a breach
is a 422 naming the field (issue 8).
"""

from __future__ import annotations

import json
import re
from typing import Any

from helixnet.api.errors import MalformedRequest
from helixnet.errors import ValidationFailed

#: Deepest nesting of objects and arrays accepted anywhere in a body.
MAX_DEPTH = 64
#: Most characters in one number literal: ample for any 128-bit id or float, far below int's limit.
MAX_NUMBER_CHARS = 100

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.S)


class _TooLong:
    """Stands in for a number literal over the limit until its place in the document is found."""


_TOO_LONG = _TooLong()


def parse_json(text: str | bytes, loc: list[str | int]) -> Any:
    """The document in ``text``; 400 when it is not JSON, 422 naming the field when it is out of bounds."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest("malformed JSON: not UTF-8", errors=[{"loc": loc, "msg": "malformed JSON"}]) from exc
    if text.count("[") + text.count("{") > MAX_DEPTH and (deep := _too_deep_at(text)) is not None:
        raise ValidationFailed.field([*loc, *deep], f"nested deeper than {MAX_DEPTH} levels")
    flagged = False

    def number(literal: str, convert: Any) -> Any:
        nonlocal flagged
        if len(literal) > MAX_NUMBER_CHARS:
            flagged = True
            return _TOO_LONG
        return convert(literal)

    try:
        data = json.loads(text, parse_int=lambda s: number(s, int), parse_float=lambda s: number(s, float),
                          parse_constant=_refuse_constant)  # fmt: skip
    except (json.JSONDecodeError, ValueError) as exc:
        raise MalformedRequest(f"malformed JSON: {exc}", errors=[{"loc": loc, "msg": "malformed JSON"}]) from exc
    if flagged:
        raise ValidationFailed.field([*loc, *_path_to_too_long(data)],
                                     f"number longer than {MAX_NUMBER_CHARS} characters")  # fmt: skip
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep_at(text: str) -> list[str | int] | None:
    """Where nesting first passes MAX_DEPTH (the top-level field), or None; no recursion, one pass."""
    depth, top_key, last_string = 0, None, None
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth == 2:
                top_key = last_string
            if depth > MAX_DEPTH:
                return [] if top_key is None else [top_key]
        elif char in "]}":
            depth -= 1
        elif char[0] == '"' and depth == 1:
            last_string = char[1:-1]
    return None


def _path_to_too_long(data: Any) -> list[str | int]:
    """The path to the first over-long number (the document is already known to be shallow)."""
    stack: list[tuple[list[str | int], Any]] = [([], data)]
    while stack:
        path, value = stack.pop()
        if value is _TOO_LONG:
            return path
        if isinstance(value, dict):
            stack.extend(([*path, key], item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(([*path, index], item) for index, item in enumerate(value))
    return []


__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "parse_json"]
