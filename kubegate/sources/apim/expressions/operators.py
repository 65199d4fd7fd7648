"""C# operator semantics over run-time values."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .builtins import check_length
from .errors import ExpressionError
from .runtime import cs_str, cs_type_name


def wrap(value: Any) -> Any:
    """C# unchecked 64-bit integer arithmetic: results wrap instead of growing."""
    if type(value) is int and not -(2**63) <= value < 2**63:
        return ((value + 2**63) % 2**64) - 2**63
    return value


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def add(a: Any, b: Any) -> Any:
    if isinstance(a, str) or isinstance(b, str):
        left, right = cs_str(a), cs_str(b)
        check_length(len(left) + len(right))  # before the string is built
        return left + right
    if _num(a) and _num(b):
        return wrap(a + b)
    if isinstance(a, datetime) and isinstance(b, timedelta):
        return a + b
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a + b
    return _bad("+", a, b)


def sub(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        return wrap(a - b)
    if isinstance(a, datetime) and isinstance(b, datetime | timedelta):
        return a - b
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a - b
    return _bad("-", a, b)


def mul(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        return wrap(a * b)
    return _bad("*", a, b)


def div(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        if isinstance(a, int) and isinstance(b, int):
            if b == 0:
                raise ExpressionError("attempted to divide by zero")
            q = abs(a) // abs(b)
            return wrap(q if (a >= 0) == (b >= 0) else -q)
        if b == 0:
            return float("nan") if a == 0 else (float("inf") if a > 0 else float("-inf"))
        return a / b
    return _bad("/", a, b)


def mod(a: Any, b: Any) -> Any:
    if _num(a) and _num(b):
        if b == 0:
            if isinstance(a, int) and isinstance(b, int):
                raise ExpressionError("attempted to divide by zero")
            return float("nan")
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return _bad("%", a, b)


def eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def ne(a: Any, b: Any) -> bool:
    return not eq(a, b)


def _compare(op: Callable[[Any, Any], bool], symbol: str) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        if (_num(a) and _num(b)) or (type(a) is type(b) and isinstance(a, datetime | timedelta)):
            return op(a, b)
        if isinstance(a, str) and isinstance(b, str) and len(a) == 1 == len(b):
            return op(a, b)  # char comparison
        _bad(symbol, a, b)
        raise AssertionError
    return compare


def logical(symbol: str) -> Callable[[Any, Any], Any]:
    ops = {"&": operator.and_, "|": operator.or_, "^": operator.xor}

    def apply(a: Any, b: Any) -> Any:
        if (isinstance(a, bool) and isinstance(b, bool)) or (
                type(a) is int and type(b) is int):
            return ops[symbol](a, b)
        return _bad(symbol, a, b)
    return apply


def _bad(symbol: str, a: Any, b: Any) -> Any:
    raise ExpressionError(
        f"operator '{symbol}' cannot be applied to {cs_type_name(a)} and {cs_type_name(b)}")


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": add, "-": sub, "*": mul, "/": div, "%": mod, "==": eq, "!=": ne,
    "<": _compare(operator.lt, "<"), ">": _compare(operator.gt, ">"),
    "<=": _compare(operator.le, "<="), ">=": _compare(operator.ge, ">="),
    "&": logical("&"), "|": logical("|"), "^": logical("^"),
}


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ExpressionError(f"expected a bool, got {cs_type_name(value)}")


def negate(value: Any) -> Any:
    if _num(value):
        return wrap(-value)
    raise ExpressionError(f"operator '-' cannot be applied to {cs_type_name(value)}")


def complement(value: Any) -> Any:
    if type(value) is int:
        return ~value
    raise ExpressionError(f"operator '~' cannot be applied to {cs_type_name(value)}")
