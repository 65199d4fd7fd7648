"""Public entry points: compile ``@(...)``/``@{...}`` and ``{{named-value}}`` templates.

Named values are substituted textually before parsing (as APIM does); an
offset map keeps error positions pointing at the original document text."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from . import ast as A
from .blocks import compile_block
from .budget import WORK
from .codegen import NO_RETURN, CompileFailure, Env, Scope, compile_expr
from .errors import ExpressionCompileError, ExpressionError, position
from .parser import ParseError, Parser
from .regexes import EVALUATION_BUDGET, REGEX_BUDGET

MAX_SOURCE = 64 * 1024
MAX_TREE_DEPTH = 150
NAMED_VALUE = re.compile(r"\{\{([^{}\s]+?)\}\}")


class CompiledExpression:
    """A compiled value: call it with a Context to get the value.

    ``is_constant`` is true for literal text (then ``value`` holds it and the
    call ignores the context)."""

    __slots__ = ("source", "_fn", "is_constant", "value", "bounded", "_direct")

    def __init__(self, source: str, fn: Callable[[Any], Any] | None, value: Any = None,
                 bounded: bool = False) -> None:
        self.source = source
        self._fn = fn
        self.is_constant = fn is None
        self.value = value
        self.bounded = bounded  # cannot loop or call: evaluated without a work budget
        # member reads of the context only (`context.Request.IpAddress`): no Env needed
        self._direct: Callable[[Any], Any] | None = getattr(fn, "direct", None)

    def __call__(self, ctx: Any) -> Any:
        if self._fn is None:
            return self.value
        if self.bounded:
            direct = self._direct
            try:
                return direct(ctx) if direct is not None else self._fn(Env(ctx))
            except ExpressionError:
                raise
            except (Exception, RecursionError) as e:
                raise ExpressionError(f"expression evaluation failed: {e}") from None
        env = Env(ctx)
        token = REGEX_BUDGET.set([EVALUATION_BUDGET])
        work = WORK.set(env)
        try:
            result = self._fn(env)
        except ExpressionError:
            raise
        except (Exception, RecursionError) as e:  # a builtin rejected its arguments
            raise ExpressionError(f"expression evaluation failed: {e}") from None
        finally:
            WORK.reset(work)
            REGEX_BUDGET.reset(token)
        return None if result is NO_RETURN else result

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"


def is_expression(text: str) -> bool:
    """True when ``text`` (ignoring surrounding whitespace) is ``@(...)`` or ``@{...}``."""
    t = text.strip()
    return (t.startswith("@(") and t.endswith(")")) or (t.startswith("@{") and t.endswith("}"))


class _OffsetMap:
    def __init__(self) -> None:
        self.new: list[int] = [0]
        self.orig: list[int] = [0]
        self.fixed: list[bool] = [False]

    def add(self, new: int, orig: int, fixed: bool) -> None:
        self.new.append(new)
        self.orig.append(orig)
        self.fixed.append(fixed)

    def __call__(self, offset: int) -> int:
        i = bisect.bisect_right(self.new, offset) - 1
        return self.orig[i] + (0 if self.fixed[i] else offset - self.new[i])


def _substitute(text: str, named_values: Mapping[str, str] | None, line: int,
                column: int) -> tuple[str, _OffsetMap]:
    out: list[str] = []
    omap = _OffsetMap()
    pos = new_len = 0
    for m in NAMED_VALUE.finditer(text):
        name = m.group(1)
        if named_values is None or name not in named_values:
            ln, col = position(text, m.start(), line, column)
            raise ExpressionCompileError(f"unknown named value '{name}'", ln, col, text)
        out.append(text[pos:m.start()])
        new_len += m.start() - pos
        omap.add(new_len, m.start(), True)
        value = named_values[name]
        out.append(value)
        new_len += len(value)
        omap.add(new_len, m.end(), False)
        pos = m.end()
    out.append(text[pos:])
    return "".join(out), omap


def resolve_named_values(text: str, named_values: Mapping[str, str] | None = None, *,
                         line: int = 1, column: int = 1) -> str:
    """Replace every ``{{name}}`` in ``text``; an unknown name is a compile error."""
    return _substitute(text, named_values, line, column)[0]


def compile_value(text: str, *, line: int = 1, column: int = 1,
                  named_values: Mapping[str, str] | None = None) -> CompiledExpression:
    """Compile an attribute or element value: an expression, or literal text with
    ``{{named-value}}`` references (resolved now; the result is constant)."""
    if is_expression(text):
        return compile_expression(text, line=line, column=column, named_values=named_values)
    value = resolve_named_values(text, named_values, line=line, column=column)
    if is_expression(value):  # a named value may itself hold an expression
        return compile_expression(value, line=line, column=column, named_values=None)
    return CompiledExpression(text, None, value)


def compile_expression(source: str, *, line: int = 1, column: int = 1,
                       named_values: Mapping[str, str] | None = None) -> CompiledExpression:
    """Compile ``@(expression)`` or ``@{ statements }`` to a callable taking a Context.

    ``line``/``column`` give the position of ``source``'s first character in the
    policy document; errors are ``ExpressionCompileError`` with document positions."""
    if len(source) > MAX_SOURCE:
        raise ExpressionCompileError("expression is too long", line, column, source)
    text, omap = _substitute(source, named_values, line, column)

    def fail(message: str, offset: int) -> ExpressionCompileError:
        ln, col = position(source, min(omap(offset), len(source)), line, column)
        return ExpressionCompileError(message, ln, col, source)

    stripped = text.lstrip()
    start = len(text) - len(stripped)
    end = len(text.rstrip())
    try:
        if stripped.startswith("@(") and text[end - 1] == ")":
            parser = Parser(text, start + 2, end - 1)
            node: A.Node | list[A.Node] = parser.parse_single()
        elif stripped.startswith("@{") and text[end - 1] == "}":
            parser = Parser(text, start + 2, end - 1)
            node = parser.parse_block()
        else:
            raise fail("expected an expression: @(...) or @{...}", start)
        _check_depth(node)
        scope = Scope()
        if isinstance(node, list):
            if not node:
                raise CompileFailure("empty block; expected a return statement", start + 2)
            fn = compile_block(node, scope)
        else:
            fn = compile_expr(node, scope)
    except (ParseError, CompileFailure) as e:
        raise fail(e.message, e.pos) from None
    except RecursionError:
        raise fail("expression nested too deeply", start) from None
    return CompiledExpression(source, fn, bounded=_bounded(node))


# Nodes whose evaluation does work proportional to the expression's own size: member
# reads, literals, operators. Calls, indexers, lambdas, `new` and statements may loop or
# run builtins (regular expressions) and are evaluated with the work budget.
_BOUNDED_NODES = (A.Literal, A.Name, A.Member, A.Chain, A.Unary, A.Binary, A.Conditional,
                  A.Cast, A.TypeTest, A.Interp, A.TypeRef)


def _bounded(root: A.Node | list[A.Node]) -> bool:
    """True when ``root`` is one expression (not a statement block) made only of
    _BOUNDED_NODES."""
    return not isinstance(root, list) and all(
        isinstance(item, _BOUNDED_NODES) for item, _ in _walk(root)
        if isinstance(item, A.Node | A.Param | A.Catch | A.TypeRef))


def _walk(root: A.Node | list[A.Node]) -> Iterator[tuple[object, int]]:
    """Every item of a syntax tree (nodes, lists, plain values) with its depth."""
    stack: list[tuple[object, int]] = [(root, 0)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, list | tuple):
            stack.extend((x, depth + 1) for x in item)
        elif isinstance(item, dict):
            stack.extend((x, depth + 1) for x in item.values())
        elif isinstance(item, A.Node | A.Param | A.Catch | A.TypeRef):
            for slot in type(item).__slots__:
                stack.append((getattr(item, slot), depth + 1))


def _check_depth(root: A.Node | list[A.Node]) -> None:
    for item, depth in _walk(root):
        if depth > MAX_TREE_DEPTH:
            pos = item.pos if isinstance(item, A.Node) else 0
            raise CompileFailure("expression nested too deeply", pos)
