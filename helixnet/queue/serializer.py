"""What huey stores for us (JSON, never pickle) and how adapters are built from URL options."""

from __future__ import annotations

import inspect
import json
from typing import Any, TypeVar

from huey.registry import Message
from huey.serializer import Serializer

from helixnet.errors import ConfigurationError

_Q = TypeVar("_Q")


class JsonSerializer(Serializer):
    """huey messages as JSON instead of pickle.

    Whoever can write to the backend (a shared Redis) must not be able to run code in
    the workers, which unpickling their bytes would allow. Our messages are flat (no eta,
    pipeline or chord), so JSON carries them whole; anything else fails to decode and is
    skipped.
    """

    def _serialize(self, data: Any) -> bytes:
        if isinstance(data, Message):
            data = {"message": list(data)}
        return json.dumps(data, separators=(",", ":")).encode()

    def _deserialize(self, data: bytes) -> Any:
        obj = json.loads(data)
        if isinstance(obj, dict) and "message" in obj:
            message = Message(*obj["message"])
            return message._replace(args=tuple(message.args))
        return obj


def build_queue(cls: type[_Q], *args: Any, name: str, options: dict[str, Any] | None) -> _Q:
    """``cls(*args, name=name, **options)``, naming the bad option instead of a TypeError."""
    kwargs: dict[str, Any] = {**(options or {}), "name": name}
    try:
        if options and "name" in options:
            raise TypeError("the queue name is an argument of its own, not an option")
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        raise ConfigurationError(f"bad options {sorted(options or {})} for {cls.__name__}: {exc}") from exc
    return cls(*args, **kwargs)


__all__ = ["JsonSerializer", "build_queue"]
