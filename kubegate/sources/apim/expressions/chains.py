"""Member access, indexers, method calls and ``?.`` chains; static types; ``new``.

A chain is compiled to a base closure plus a list of ``(conditional, op)``
steps; a ``?.`` step on null ends the whole chain with null, as in C#."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import FunctionType
from typing import TYPE_CHECKING, Any

from . import ast as A
from . import builtins, collections
from .crypto import HashAlgorithm, Random
from .errors import ExpressionError
from .jwt import Claims, Jwt
from .runtime import JObject, cs_type_name
from .schema import CONTEXT_MEMBERS
from .statics import ALIASES, CONSTRUCTORS, NAMESPACES, STATICS, TextEncoding

if TYPE_CHECKING:
    from .codegen import Scope

Fn = Callable[[Any], Any]
Compile = Callable[[A.Node, "Scope"], Fn]
Step = Callable[[Any, Any], Any]
TABLES = {**builtins.TABLES, **collections.TABLES}
CS_CLASSES = (Jwt, Claims, collections.KeyValuePair, collections.JProperty, TextEncoding,
              HashAlgorithm, Random)
KNOWN_MEMBERS: frozenset[str] = frozenset().union(
    *(t.keys() for t in TABLES.values()), *CONTEXT_MEMBERS.values(),
    *(c.__cs_members__ for c in CS_CLASSES))
NULL = "Object reference not set to an instance of an object"
NO_KWARGS: dict[str, Any] = {}
_cache: dict[tuple[type, str], tuple[str, Any]] = {}


def lookup(value: Any, name: str) -> tuple[str, Any]:
    """How ``name`` applies to ``value``: ("data"|"call", None) for classes with
    ``__cs_members__``, else the entry of the value type's method table."""
    t = type(value)
    found = _cache.get((t, name))
    if found is not None:
        return found
    members = getattr(t, "__cs_members__", None)
    if members is not None:
        if name not in members:
            raise ExpressionError(f"'{name}' is not a member of {cs_type_name(value)}")
        attr = inspect.getattr_static(t, name, None)
        found = ("call", None) if isinstance(attr, FunctionType) else ("data", None)
    else:
        for klass in t.__mro__:
            table = TABLES.get(klass)
            if table is not None and name in table:
                found = table[name]
                break
        else:
            raise ExpressionError(f"'{name}' is not a member of {cs_type_name(value)}")
    _cache[(t, name)] = found
    return found


def get_member(value: Any, name: str) -> Any:
    if value is None:
        raise ExpressionError(f"{NULL} (reading '{name}')")
    kind, fn = lookup(value, name)
    if kind == "data":
        return getattr(value, name)
    if kind != "prop":
        raise ExpressionError(f"'{name}' is a method; call it with ()")
    return fn(value)


def call_method(value: Any, name: str, t: str | None, args: list[Any],
                kwargs: dict[str, Any]) -> Any:
    if value is None:
        raise ExpressionError(f"{NULL} (calling '{name}')")
    if name == "Count" and isinstance(value, list | tuple):
        return collections.SEQUENCE_COUNT_METHOD[1](value, *args)
    kind, fn = lookup(value, name)
    if kind == "call":
        if t is not None:
            kwargs = {**kwargs, "T": t}
        return getattr(value, name)(*args, **kwargs)
    if kind == "data":
        raise ExpressionError(f"'{name}' is not a method")
    if kwargs:
        raise ExpressionError(f"'{name}' does not take named arguments")
    if kind == "generic":
        return fn(value, t, *args)
    if kind != "method" or t is not None:
        raise ExpressionError(f"'{name}' cannot be called like this")
    return fn(value, *args)


def index(value: Any, keys: list[Any]) -> Any:
    if value is None:
        raise ExpressionError(f"{NULL} (indexer)")
    if len(keys) != 1:
        raise ExpressionError("only one-dimensional indexers are supported")
    key = keys[0]
    if isinstance(value, str | bytes):
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < len(value):
            raise ExpressionError("index was outside the bounds of the string")
        return value[key]
    return call_method(value, "Item", None, [key], {})


def compile_chain(node: A.Chain, scope: Scope, compile_expr: Compile) -> Fn:
    from .codegen import CompileFailure

    base, rest = _static_base(node, scope)
    if base is None:
        base = compile_expr(node.base, scope)
        rest = node.ops
    steps: list[tuple[bool, Step]] = []
    for op in rest:
        if isinstance(op, A.Member | A.Call) and op.name not in KNOWN_MEMBERS:
            raise CompileFailure(f"unknown or unsupported member '{op.name}'", op.pos)
        steps.append((bool(getattr(op, "cond", False)), _step(op, scope, compile_expr)))
    first = base

    def run(env: Any) -> Any:
        value = first(env)
        for cond, step in steps:
            if cond and value is None:
                return None
            value = step(env, value)
        return value
    return run


def _step(op: A.Node, scope: Scope, compile_expr: Compile) -> Step:
    if isinstance(op, A.Member):
        name = op.name
        return lambda env, v: get_member(v, name)
    if isinstance(op, A.Index):
        keys = [compile_expr(a, scope) for a in op.args]
        return lambda env, v: index(v, [k(env) for k in keys])
    assert isinstance(op, A.Call)
    call_name = op.name
    t = _type_arg(op)
    args = _arguments(op.args, scope, compile_expr)
    kwargs = {k: compile_expr(v, scope) for k, v in op.kwargs.items()}
    if not kwargs:
        return lambda env, v: call_method(v, call_name, t, [a(env) for a in args], NO_KWARGS)
    return lambda env, v: call_method(v, call_name, t, [a(env) for a in args],
                                      {k: f(env) for k, f in kwargs.items()})


def _type_arg(op: A.Call) -> str | None:
    from .codegen import CompileFailure

    if len(op.type_args) > 1:
        raise CompileFailure("only one generic type argument is supported", op.pos)
    return (op.type_args[0].name + ("[]" if op.type_args[0].array else "")) \
        if op.type_args else None


def _arguments(nodes: list[A.Node], scope: Scope, compile_expr: Compile) -> list[Fn]:
    from .codegen import compile_lambda

    return [compile_lambda(a, scope) if isinstance(a, A.Lambda) else compile_expr(a, scope)
            for a in nodes]


def _static_base(node: A.Chain, scope: Scope) -> tuple[Fn | None, list[A.Node]]:
    """Resolve ``System.Text.Encoding.UTF8``-style prefixes to a static member."""
    from .codegen import CompileFailure

    if not isinstance(node.base, A.Name) or node.base.name in scope.names \
            or node.base.name == "context":
        return None, node.ops
    name, pos, ops = node.base.name, node.base.pos, list(node.ops)
    while name in NAMESPACES and ops and isinstance(ops[0], A.Member):
        name, pos, ops = ops[0].name, ops[0].pos, ops[1:]
    type_name = ALIASES.get(name, name)
    table = STATICS.get(type_name)
    if table is None:
        raise CompileFailure(f"unknown name '{name}'", pos)
    if not ops or not isinstance(ops[0], A.Member | A.Call):
        raise CompileFailure(f"'{name}' is a type, not a value", pos)
    first = ops[0]
    entry = table.get(first.name)
    if entry is None:
        raise CompileFailure(f"'{name}.{first.name}' is not supported", first.pos)
    kind, fn = entry
    if isinstance(first, A.Member):
        if kind != "prop":
            raise CompileFailure(f"'{name}.{first.name}' is a method", first.pos)
        return (lambda env: fn(env)), ops[1:]
    if kind == "prop":
        raise CompileFailure(f"'{name}.{first.name}' is not a method", first.pos)
    if first.kwargs:
        raise CompileFailure("named arguments are not supported here", first.pos)
    return _static_call(first, kind, fn, scope), ops[1:]


def _static_call(call: A.Call, kind: str, fn: Callable[..., Any], scope: Scope) -> Fn:
    from .codegen import compile_expr

    args = _arguments(call.args, scope, compile_expr)
    if kind == "generic":
        t = _type_arg(call)
        return lambda env: fn(t, *[a(env) for a in args])
    return lambda env: fn(*[a(env) for a in args])


def compile_new(node: A.New, scope: Scope, compile_expr: Compile) -> Fn:
    from .codegen import CompileFailure

    args = [compile_expr(a, scope) for a in node.args]
    items = [compile_expr(a, scope) for a in node.items or []]
    name = node.type.name.split(".")[-1]
    if node.type.array or name in ("List", "IList"):
        if args and name not in ("List",):
            raise CompileFailure("array sizes are not supported; use an initializer", node.pos)
        return lambda env: [i(env) for i in items]
    ctor = CONSTRUCTORS.get(name)
    if ctor is None:
        raise CompileFailure(f"'new {node.type.name}' is not supported", node.pos)
    if items and name != "JObject":
        raise CompileFailure("object initializers are not supported", node.pos)

    def construct(env: Any) -> Any:
        try:
            return ctor(*[a(env) for a in args], *[i(env) for i in items])
        except TypeError:
            raise ExpressionError(f"no constructor of {name} takes these arguments") from None
    return construct


__all__ = ["JObject", "KNOWN_MEMBERS", "call_method", "compile_chain", "get_member", "index"]
