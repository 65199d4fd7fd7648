"""Values inside Liquid templates: member access, text, truth.

A template reaches only plain data (``dict``, ``list``, strings, numbers,
booleans, ``None``, ``datetime``) and ``Drop`` objects, which expose a fixed set
of members through ``liquid_member``. Nothing else is looked up: there is no
attribute access on arbitrary objects, so a template cannot reach beyond what a
drop chooses to show.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kubegate.sources.apim.expressions import cs_str


class LiquidError(Exception):
    """A template failed while rendering (bad filter input, a limit reached)."""


MAX_OUTPUT = 16 * 1024 * 1024
"""The longest text a template may produce, or build in between (filters check it)."""


def check_length(size: int, what: str) -> None:
    """Fail before building a text longer than ``MAX_OUTPUT``."""
    if size > MAX_OUTPUT:
        raise LiquidError(f"{what}: the text would exceed {MAX_OUTPUT} characters")


class Drop:
    """An object a template may read: ``liquid_member(name)`` answers, else ``None``."""

    def liquid_member(self, name: str) -> Any:
        return None

    def liquid_items(self) -> list[Any] | None:
        """What ``for x in drop`` iterates (``None``: not iterable)."""
        return None

    def liquid_text(self) -> str:
        return ""


class Pair(Drop):
    """A dictionary entry in a ``for`` loop: ``Key``/``Value`` (DotLiquid) or ``[0]``/``[1]``."""

    def __init__(self, key: str, value: Any) -> None:
        self.key, self.value = key, value

    def liquid_member(self, name: str) -> Any:
        return {"Key": self.key, "Value": self.value, "key": self.key, "value": self.value,
                "0": self.key, "1": self.value, "first": self.key, "last": self.value}.get(name)

    def liquid_text(self) -> str:
        return to_text(self.key) + to_text(self.value)


def member(obj: Any, key: Any) -> Any:
    """``obj.key`` / ``obj[key]`` as Liquid reads it; ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Drop):
        return obj.liquid_member(str(key))
    if isinstance(obj, dict):
        if isinstance(key, str) and key in obj:
            return obj[key]
        if key in ("size", "Size"):
            return len(obj)
        return obj.get(str(key)) if not isinstance(key, str) else None
    if isinstance(obj, list | tuple):
        if isinstance(key, int) and not isinstance(key, bool):
            return obj[key] if -len(obj) <= key < len(obj) else None
        if key in ("size", "Size"):
            return len(obj)
        if key in ("first", "First"):
            return obj[0] if obj else None
        if key in ("last", "Last"):
            return obj[-1] if obj else None
        return None
    if isinstance(obj, str) and key in ("size", "Size", "Length"):
        return len(obj)
    return None


def to_text(value: Any) -> str:
    """How ``{{ value }}`` renders."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Drop):
        return value.liquid_text()
    if isinstance(value, list | tuple):
        return "".join(to_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(value, datetime | int | float):
        return cs_str(value)
    return ""


def truthy(value: Any) -> bool:
    """Liquid truth: only ``nil`` and ``false`` are false."""
    return value is not None and value is not False


def items_of(value: Any) -> list[Any]:
    """What a ``for`` loop iterates."""
    if value is None:
        return []
    if isinstance(value, Drop):
        return value.liquid_items() or []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, dict):
        return [Pair(str(k), v) for k, v in value.items()]
    if isinstance(value, range):
        return list(value)
    return [value]
