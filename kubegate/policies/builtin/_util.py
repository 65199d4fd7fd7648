"""Small helpers shared by the built-in policies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubegate.sources.apim.expressions import CompiledExpression, ExpressionError, cs_str

RESPONSE_SECTIONS = frozenset({"outbound", "on-error", "return-response"})


def targets_response(section: str) -> bool:
    return section in RESPONSE_SECTIONS


def to_text(value: Any) -> str:
    return cs_str(value)


def to_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return cs_str(value).encode("utf-8")


def evaluator(expr: CompiledExpression) -> Callable[[Any], Any]:
    """``ctx -> value``; a constant becomes a closure returning it."""
    if expr.is_constant:
        value = expr.value
        return lambda ctx: value
    return expr


def bool_evaluator(expr: CompiledExpression, what: str) -> Callable[[Any], bool]:
    if expr.is_constant:
        const = str(expr.value).strip().lower() == "true"
        return lambda ctx: const

    def check(ctx: Any) -> bool:
        v = expr(ctx)
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise ExpressionError(f"{what} must be a boolean, got {cs_str(v)!r}")
    return check
