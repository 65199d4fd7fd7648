"""Turns the syntax tree into nested Python closures ``fn(env) -> value``.

Names are resolved at compile time: locals must be declared before use,
static types and their members come from fixed tables, and every member name
must be on some allow-list (``KNOWN_MEMBERS``) or compilation fails. At run
time a member is looked up only in the table (or ``__cs_members__``) of the
value's own type, so nothing outside the allow-lists is reachable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from . import operators as ops
from .chains import KNOWN_MEMBERS, compile_chain
from .errors import ExpressionError
from .runtime import convert, cs_str, is_instance

Fn = Callable[[Any], Any]
NO_RETURN = object()
MAX_STEPS = 100_000


class Env:
    """Per-evaluation state: the context, local variables and a work budget."""

    __slots__ = ("ctx", "locals", "steps")

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.locals: dict[str, Any] = {}
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ExpressionError("expression exceeded its work budget")


class CompileFailure(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class Scope:
    def __init__(self, names: set[str] | None = None) -> None:
        self.names: set[str] = set(names or ())

    def child(self) -> Scope:
        return Scope(self.names)


def compile_expr(node: A.Node, scope: Scope) -> Fn:
    if isinstance(node, A.Literal):
        value = node.value
        return lambda env: value
    if isinstance(node, A.Name):
        return compile_name(node, scope)
    if isinstance(node, A.Chain):
        return compile_chain(node, scope, compile_expr)
    if isinstance(node, A.Interp):
        parts: list[Fn] = [_const(p) if isinstance(p, str) else compile_expr(p, scope)
                           for p in node.parts]
        return lambda env: "".join(cs_str(p(env)) for p in parts)
    if isinstance(node, A.Unary):
        return compile_unary(node, scope)
    if isinstance(node, A.Binary):
        return compile_binary(node, scope)
    if isinstance(node, A.Conditional):
        c, a, b = (compile_expr(n, scope) for n in (node.cond, node.then, node.other))
        return lambda env: a(env) if ops.truthy(c(env)) else b(env)
    if isinstance(node, A.Cast):
        return compile_cast(node, scope)
    if isinstance(node, A.TypeTest):
        return compile_type_test(node, scope)
    if isinstance(node, A.New):
        from .chains import compile_new
        return compile_new(node, scope, compile_expr)
    if isinstance(node, A.Lambda):
        raise CompileFailure("lambdas are only supported as method arguments", node.pos)
    raise CompileFailure(f"unsupported syntax {type(node).__name__}", node.pos)


def _const(value: object) -> Fn:
    return lambda env: value


def compile_name(node: A.Name, scope: Scope) -> Fn:
    name = node.name
    if name in scope.names:
        return lambda env: env.locals[name]
    if name == "context":
        return lambda env: env.ctx
    raise CompileFailure(f"unknown name '{name}'", node.pos)


def compile_unary(node: A.Unary, scope: Scope) -> Fn:
    operand = compile_expr(node.operand, scope)
    if node.op == "!":
        return lambda env: not ops.truthy(operand(env))
    if node.op == "-":
        return lambda env: ops.negate(operand(env))
    if node.op == "~":
        return lambda env: ops.complement(operand(env))
    return lambda env: ops.negate(ops.negate(operand(env)))


def compile_binary(node: A.Binary, scope: Scope) -> Fn:
    left = compile_expr(node.left, scope)
    right = compile_expr(node.right, scope)
    if node.op == "&&":
        return lambda env: ops.truthy(left(env)) and ops.truthy(right(env))
    if node.op == "||":
        return lambda env: ops.truthy(left(env)) or ops.truthy(right(env))
    if node.op == "??":
        def coalesce(env: Any) -> Any:
            value = left(env)
            return right(env) if value is None else value
        return coalesce
    fn = ops.BINARY[node.op]
    return lambda env: fn(left(env), right(env))


def _type_name(ref: A.TypeRef) -> str:
    return "object" if ref.array else ref.name


def compile_cast(node: A.Cast, scope: Scope) -> Fn:
    operand = compile_expr(node.operand, scope)
    name = _type_name(node.type)
    if node.type.array:
        def cast_array(env: Any) -> Any:
            value = operand(env)
            if value is None or isinstance(value, list | tuple | bytes):
                return value
            raise ExpressionError("cannot convert value to an array")
        return cast_array
    return lambda env: convert(operand(env), name)


def compile_type_test(node: A.TypeTest, scope: Scope) -> Fn:
    operand = compile_expr(node.operand, scope)
    name = _type_name(node.type)
    if node.op == "as":
        def as_(env: Any) -> Any:
            value = operand(env)
            return value if is_instance(value, name) else None
        return as_
    bind = node.bind
    if bind is not None:
        if bind in scope.names:
            raise CompileFailure(f"'{bind}' is already declared", node.pos)
        scope.names.add(bind)

        def is_bind(env: Any) -> bool:
            value = operand(env)
            if is_instance(value, name):
                env.locals[bind] = value
                return True
            return False
        return is_bind
    return lambda env: is_instance(operand(env), name)


def compile_lambda(node: A.Lambda, scope: Scope) -> Callable[[Any], Callable[..., Any]]:
    inner = scope.child()
    for p in node.params:
        if p in scope.names:
            raise CompileFailure(f"lambda parameter '{p}' hides a local", node.pos)
        inner.names.add(p)
    body = compile_expr(node.body, inner)
    params = node.params

    def make(env: Any) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            env.step()
            for p, a in zip(params, args, strict=False):
                env.locals[p] = a
            return body(env)
        return call
    return make


__all__ = ["CompileFailure", "Env", "KNOWN_MEMBERS", "NO_RETURN", "Scope", "compile_expr",
           "compile_lambda"]
