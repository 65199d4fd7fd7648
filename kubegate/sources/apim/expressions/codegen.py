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
from . import numeric
from . import operators as ops
from .chains import KNOWN_MEMBERS, compile_chain
from .errors import BudgetExceeded, ExpressionError
from .runtime import convert, cs_str, is_instance

Fn = Callable[[Any], Any]
NO_RETURN = object()
VOID = object()  # ``return;`` in a void local function
MAX_STEPS = 100_000
MAX_CALL_DEPTH = 32


class Env:
    """Per-evaluation state: the context, local variables and a work budget."""

    __slots__ = ("ctx", "locals", "steps", "depth")

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.locals: dict[str, Any] = {}
        self.steps = 0
        self.depth = 0

    def step(self, cost: int = 1) -> None:
        self.steps += cost
        if self.steps > MAX_STEPS:
            raise BudgetExceeded("expression exceeded its work budget")


class CompileFailure(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class LocalFunction:
    """A local function's signature, known before its body is compiled (so calls
    can precede the declaration and recurse); ``fn`` is set once compiled."""

    __slots__ = ("name", "ret", "params", "fn")

    def __init__(self, name: str, ret: str, params: list[tuple[str, str]]) -> None:
        self.name = name
        self.ret = ret
        self.params = params
        self.fn: Callable[[Any, list[Any]], Any] | None = None


class Scope:
    """Names visible at a point of the source. ``types`` holds the static type of
    locals where known; ``frame`` collects every name declared in the enclosing
    local function (shared by nested scopes) so a call can save and restore them;
    ``returns`` is the declared return type inside a local function."""

    def __init__(self, names: set[str] | None = None) -> None:
        self.names: set[str] = set(names or ())
        self.types: dict[str, str] = {}
        self.consts: set[str] = set()
        self.functions: dict[str, LocalFunction] = {}
        self.frame: list[str] = []
        self.returns: str | None = None
        self.anonymous: set[str] = set()  # member names of anonymous objects made so far

    def child(self) -> Scope:
        inner = Scope(self.names)
        inner.types = dict(self.types)
        inner.consts = set(self.consts)
        inner.functions = dict(self.functions)
        inner.frame = self.frame
        inner.returns = self.returns
        inner.anonymous = self.anonymous
        return inner

    def declare(self, name: str, type_name: str | None = None) -> None:
        self.names.add(name)
        self.frame.append(name)
        if type_name is not None:
            self.types[name] = type_name
        else:
            self.types.pop(name, None)


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
    if isinstance(node, A.Anonymous):
        from .chains import compile_anonymous
        return compile_anonymous(node, scope, compile_expr)
    if isinstance(node, A.Invoke):
        return compile_invoke(node, scope)
    if isinstance(node, A.ElementInit):
        raise CompileFailure("'{ key, value }' is only allowed in a dictionary initializer",
                             node.pos)
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


def compile_invoke(node: A.Invoke, scope: Scope) -> Fn:
    fn = scope.functions.get(node.name)
    if fn is None:
        raise CompileFailure(f"unknown name '{node.name}'", node.pos)
    if len(node.args) != len(fn.params):
        raise CompileFailure(f"'{node.name}' takes {len(fn.params)} argument(s), "
                             f"got {len(node.args)}", node.pos)
    args = [compile_numeric(a, scope) for a in node.args]
    target = fn

    def invoke(env: Any) -> Any:
        assert target.fn is not None
        return target.fn(env, [a(env) for a in args])
    return invoke


def compile_numeric(node: A.Node, scope: Scope) -> Fn:
    """Compile an operand; a char operand of arithmetic is its character code."""
    fn = compile_expr(node, scope)
    if numeric.static_type(node, scope) == "char":
        return lambda env: _char_code(fn(env))
    return fn


def _char_code(value: Any) -> Any:
    return ord(value) if isinstance(value, str) and len(value) == 1 else value


def _wrapped(fn: Fn, type_name: str | None) -> Fn:
    if type_name not in numeric.INTEGRAL or type_name == "long":
        return fn  # unknown and long results already wrap at 64 bits
    wrap = numeric.wrap
    t = type_name

    def wrapped(env: Any) -> Any:
        value = fn(env)
        return wrap(value, t) if type(value) is int else value
    return wrapped


def compile_unary(node: A.Unary, scope: Scope) -> Fn:
    if node.op == "!":
        plain = compile_expr(node.operand, scope)
        return lambda env: not ops.truthy(plain(env))
    operand = compile_numeric(node.operand, scope)
    result = numeric.static_type(node, scope)
    if node.op == "-":
        return _wrapped(lambda env: ops.negate(operand(env)), result)
    if node.op == "~":
        return _wrapped(lambda env: ops.complement(operand(env)), result)
    return lambda env: ops.negate(ops.negate(operand(env)))


def compile_binary(node: A.Binary, scope: Scope) -> Fn:
    if node.op in ("<<", ">>"):
        lhs, count = compile_numeric(node.left, scope), compile_numeric(node.right, scope)
        width = numeric.static_type(node, scope)
        op = node.op
        return lambda env: numeric.shift(op, lhs(env), count(env), width)
    result = numeric.static_type(node, scope)
    numeric_op = node.op in numeric.ARITHMETIC and result in numeric.INTEGRAL
    left = compile_numeric(node.left, scope) if numeric_op else compile_expr(node.left, scope)
    right = compile_numeric(node.right, scope) if numeric_op else compile_expr(node.right, scope)
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
    plain: Fn = lambda env: fn(left(env), right(env))  # noqa: E731
    return _wrapped(plain, result) if numeric_op else plain


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
    key = numeric.canonical(name)
    source = numeric.static_type(node.operand, scope)
    if key in numeric.INTEGRAL and (source in numeric.INTEGRAL or source in ("char", "double")):
        # a numeric conversion: unchecked, so integers wrap and doubles truncate
        def cast_integral(env: Any) -> Any:
            value = operand(env)
            if source == "char":
                value = _char_code(value)
            result = numeric.to_integral(value, key)
            return convert(value, name) if result is None else result
        return cast_integral
    if key == "char" and numeric.static_type(node.operand, scope) in numeric.INTEGRAL:
        return lambda env: chr(numeric.wrap(operand(env), "ushort"))
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
        scope.declare(bind, numeric.canonical(name))

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
        inner.declare(p)
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


__all__ = ["BudgetExceeded", "CompileFailure", "Env", "KNOWN_MEMBERS", "LocalFunction",
           "NO_RETURN", "Scope", "VOID", "compile_expr", "compile_lambda"]
