"""Rendering a parsed Liquid template against a set of variables.

A ``Template`` is parsed once and rendered per request with fresh scopes.
``assign`` and ``capture`` write the outermost scope (as Liquid does); a ``for``
loop's variable and ``forloop`` live in a scope of their own. Rendering is
bounded: at most ``MAX_STEPS`` loop iterations and ``MAX_OUTPUT`` characters
(of output, and of any text a filter builds), beyond which it fails with
``LiquidError`` instead of running away. Any other failure while rendering
(``TypeError``, ``ValueError``, ``OverflowError``, ``RecursionError`` from odd
data) is a ``LiquidError`` too, so a template error never crashes the caller.
"""

from __future__ import annotations

from typing import Any

from .filters import FILTERS
from .nodes import (
    Assign,
    Capture,
    Case,
    Compare,
    Condition,
    Filtered,
    For,
    If,
    Jump,
    Literal,
    Output,
    Path,
    Range,
    Special,
)
from .parse import parse
from .values import MAX_OUTPUT, Drop, LiquidError, items_of, member, to_text, truthy

MAX_STEPS = 100_000
MAX_RANGE = 100_000


class _Jump(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


class _Run:
    def __init__(self, variables: dict[str, Any]) -> None:
        self.scopes: list[dict[str, Any]] = [dict(variables)]
        self.steps = 0
        self.size = 0

    # -- values ---------------------------------------------------------------------------
    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def value(self, expr: Any) -> Any:
        if isinstance(expr, Literal):
            return expr.value
        if isinstance(expr, Path):
            obj = self.lookup(expr.name)
            for part in expr.parts:
                key = part if isinstance(part, str) else self.value(part)
                obj = member(obj, key)
                if obj is None:
                    return None
            return obj
        if isinstance(expr, Range):
            start, stop = _int(self.value(expr.start)), _int(self.value(expr.stop))
            if stop - start > MAX_RANGE:
                raise LiquidError(f"range ({start}..{stop}) is too long")
            return list(range(start, stop + 1))
        if isinstance(expr, Special):
            return expr
        if isinstance(expr, Filtered):
            return self.filtered(expr)
        raise LiquidError(f"cannot evaluate {expr!r}")  # pragma: no cover - parser prevents

    def filtered(self, f: Filtered) -> Any:
        value = self.value(f.value)
        if isinstance(value, Special):
            value = None
        for name, args in f.filters:
            try:
                value = FILTERS[name](value, *(self.value(a) for a in args))
            except LiquidError:
                raise
            except (TypeError, ValueError, OverflowError) as exc:
                raise LiquidError(f"filter {name}: {exc}") from None
            if isinstance(value, str) and len(value) > MAX_OUTPUT:
                raise LiquidError(f"filter {name}: the text exceeds {MAX_OUTPUT} characters")
        return value

    def test(self, cond: Condition) -> bool:
        result = self.compare(cond.terms[-1])
        for op, term in zip(reversed(cond.ops), reversed(cond.terms[:-1]), strict=True):
            left = self.compare(term)
            result = (left and result) if op == "and" else (left or result)
        return result

    def compare(self, c: Compare) -> bool:
        left = self.value(c.left)
        if c.op is None:
            return not isinstance(left, Special) and truthy(left)
        right = self.value(c.right)
        if c.op == "contains":
            if isinstance(left, str):
                return to_text(right) in left
            if isinstance(left, list | tuple):
                return right in left
            if isinstance(left, dict):
                return isinstance(right, str | int | float) and right in left
            return False
        if c.op in ("==", "!="):
            same = _equal(left, right)
            return same if c.op == "==" else not same
        if not _comparable(left, right):
            return False
        return {"<": left < right, ">": left > right, "<=": left <= right,
                ">=": left >= right}[c.op]

    # -- nodes ----------------------------------------------------------------------------
    def render(self, nodes: list[Any], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.emit(out, node)
            elif isinstance(node, Output):
                self.emit(out, to_text(self.filtered(node.expr)))
            elif isinstance(node, If):
                self.render_if(node, out)
            elif isinstance(node, For):
                self.render_for(node, out)
            elif isinstance(node, Case):
                self.render_case(node, out)
            elif isinstance(node, Assign):
                self.scopes[0][node.name] = self.filtered(node.expr)
            elif isinstance(node, Capture):
                buf: list[str] = []
                self.render(node.body, buf)
                self.scopes[0][node.name] = "".join(buf)
            elif isinstance(node, Jump):
                raise _Jump(node.kind)

    def emit(self, out: list[str], text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise LiquidError(f"the template output exceeds {MAX_OUTPUT} characters")
        out.append(text)

    def render_if(self, node: If, out: list[str]) -> None:
        for i, (cond, body) in enumerate(node.branches):
            passed = self.test(cond)
            if i == 0 and node.negate_first:
                passed = not passed
            if passed:
                self.render(body, out)
                return
        if node.otherwise is not None:
            self.render(node.otherwise, out)

    def render_case(self, node: Case, out: list[str]) -> None:
        subject = self.filtered(node.subject)
        for values, body in node.whens:
            if any(_equal(subject, self.value(v)) for v in values):
                self.render(body, out)
                return
        if node.otherwise is not None:
            self.render(node.otherwise, out)

    def render_for(self, node: For, out: list[str]) -> None:
        items = items_of(self.value(node.source))
        offset = _int(self.value(node.offset)) if node.offset is not None else 0
        items = items[max(offset, 0):]
        if node.limit is not None:
            items = items[:max(_int(self.value(node.limit)), 0)]
        if node.reversed:
            items.reverse()
        if not items:
            if node.otherwise is not None:
                self.render(node.otherwise, out)
            return
        n = len(items)
        scope: dict[str, Any] = {}
        self.scopes.append(scope)
        try:
            for i, item in enumerate(items):
                self.steps += 1
                if self.steps > MAX_STEPS:
                    raise LiquidError(f"the template ran more than {MAX_STEPS} loop iterations")
                scope[node.var] = item
                scope["forloop"] = {"index": i + 1, "index0": i, "rindex": n - i,
                                    "rindex0": n - i - 1, "first": i == 0, "last": i == n - 1,
                                    "length": n}
                try:
                    self.render(node.body, out)
                except _Jump as j:
                    if j.kind == "break":
                        break
        finally:
            self.scopes.pop()


def _int(value: Any) -> int:
    try:
        return int(value) if not isinstance(value, str) else int(value.strip() or 0)
    except (TypeError, ValueError, OverflowError):
        raise LiquidError(f"expected a whole number, got {to_text(value)!r}") from None


def _empty(value: Any) -> bool:
    return value == "" or (isinstance(value, list | tuple | dict) and len(value) == 0)


def _blank(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, str) and not value.strip()) \
        or _empty(value)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(b, Special):
        a, b = b, a
    if isinstance(a, Special):
        return _empty(b) if a.kind == "empty" else _blank(b)
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, Drop) or isinstance(b, Drop):
        return a is b
    return bool(a == b)


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str))


class Template:
    """A parsed template; ``render(variables)`` returns the text."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = parse(source)

    def render(self, variables: dict[str, Any]) -> str:
        out: list[str] = []
        run = _Run(variables)
        try:
            run.render(self.nodes, out)
            return "".join(out)
        except _Jump:  # pragma: no cover - the parser rejects break/continue outside loops
            return "".join(out)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise LiquidError(f"{type(exc).__name__}: {exc}") from None
