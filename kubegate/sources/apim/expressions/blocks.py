"""Compiles ``@{ ... }`` statements. Each statement closure returns ``NO_RETURN``
or the value of a ``return`` (``VOID`` for ``return;``); ``foreach`` only walks
finite collections and charges the work budget per iteration; local function
calls charge it too and are limited in depth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from . import numeric
from . import operators as ops
from .codegen import NO_RETURN, VOID, CompileFailure, LocalFunction, Scope, compile_expr
from .collections import CsDictionary
from .errors import ExpressionError
from .functions import compile_local_function, compile_try
from .runtime import JArray, JObject, convert, cs_type_name, iterate, to_jtoken

Stmt = Callable[[Any], Any]


def compile_block(stmts: list[A.Node], scope: Scope) -> Stmt:
    for s in stmts:  # local functions may be called before their declaration
        if isinstance(s, A.LocalFunction):
            if s.name in scope.functions or s.name in scope.names:
                raise CompileFailure(f"'{s.name}' is already declared", s.pos)
            params = [(numeric.canonical(p.type.name) + ("[]" if p.type.array else ""), p.name)
                      for p in s.params]
            scope.functions[s.name] = LocalFunction(
                s.name, numeric.canonical(s.ret.name) + ("[]" if s.ret.array else ""), params)
    compiled = [compile_statement(s, scope) for s in stmts]
    if len(compiled) == 1:
        return compiled[0]

    def run(env: Any) -> Any:
        for stmt in compiled:
            result = stmt(env)
            if result is not NO_RETURN:
                return result
        return NO_RETURN
    return run


def compile_statement(node: A.Node, scope: Scope) -> Stmt:
    if isinstance(node, A.Return):
        if node.value is None:
            if scope.returns != "void":
                raise CompileFailure("'return' needs a value here", node.pos)
            return lambda env: VOID
        if scope.returns == "void":
            raise CompileFailure("a void local function cannot return a value", node.pos)
        value = compile_expr(node.value, scope)
        return value
    if isinstance(node, A.Block):
        return compile_block(node.body, scope.child())
    if isinstance(node, A.LocalFunction):
        compile_local_function(node, scope, compile_block)
        return lambda env: NO_RETURN
    if isinstance(node, A.Try):
        return compile_try(node, scope, compile_block)
    if isinstance(node, A.VarDecl):
        return _declare(node, scope)
    if isinstance(node, A.Assign):
        return _assign(node, scope)
    if isinstance(node, A.ExprStmt):
        expr = compile_expr(node.expr, scope)

        def run_expr(env: Any) -> Any:
            expr(env)
            return NO_RETURN
        return run_expr
    if isinstance(node, A.If):
        cond = compile_expr(node.cond, scope)
        then = compile_block(node.then, scope.child())
        other = compile_block(node.other, scope.child()) if node.other is not None else None

        def run_if(env: Any) -> Any:
            if ops.truthy(cond(env)):
                return then(env)
            return NO_RETURN if other is None else other(env)
        return run_if
    if isinstance(node, A.Foreach):
        return _foreach(node, scope)
    if isinstance(node, A.IndexAssign):
        return _index_assign(node, scope)
    if isinstance(node, A.MemberAssign):
        return _member_assign(node, scope)
    raise CompileFailure(f"unsupported statement {type(node).__name__}", node.pos)


def _declare(node: A.VarDecl, scope: Scope) -> Stmt:
    if node.name in scope.names or node.name == "context" or node.name in scope.functions:
        raise CompileFailure(f"'{node.name}' is already declared", node.pos)
    value = compile_expr(node.value, scope)
    name = node.name
    if node.type is None or node.type.array:
        scope.declare(name, numeric.static_type(node.value, scope) if node.type is None
                      else None)
        if node.const:
            scope.consts.add(name)

        def set_var(env: Any) -> Any:
            env.locals[name] = value(env)
            return NO_RETURN
        return set_var
    type_name = node.type.name
    store = _storer(value, type_name, numeric.static_type(node.value, scope))
    scope.declare(name, numeric.canonical(type_name))
    if node.const:
        scope.consts.add(name)

    def set_typed(env: Any) -> Any:
        env.locals[name] = store(env)
        return NO_RETURN
    return set_typed


def _storer(value: Any, type_name: str, source: str | None) -> Any:
    """Convert a value stored in a typed local: numeric sources wrap to an integral
    type (implicit conversions and constants), others convert as a cast would."""
    key = numeric.canonical(type_name)
    if key in numeric.INTEGRAL and source in numeric.INTEGRAL:
        def store_integral(env: Any) -> Any:
            v = value(env)
            return numeric.wrap(v, key) if type(v) is int else convert(v, type_name)
        return store_integral
    if key == "double" and source in numeric.INTEGRAL:
        return lambda env: float(value(env))
    return lambda env: convert(value(env), type_name)


def _assign(node: A.Assign, scope: Scope) -> Stmt:
    if node.name not in scope.names:
        raise CompileFailure(f"'{node.name}' is not a declared local variable", node.pos)
    if node.name in scope.consts:
        raise CompileFailure(f"'{node.name}' is a constant and cannot be assigned", node.pos)
    name = node.name
    target = scope.types.get(name)
    if target in numeric.INTEGRAL and node.op != "??=":
        # x = v, x += v, x++: computed in the promoted type, stored back as x's type
        expr = node.value if node.op == "=" else A.Binary(
            node.pos, node.op[0], A.Name(node.pos, name), node.value)
        from .codegen import compile_expr as compile_value
        value = _storer(compile_value(expr, scope), target, numeric.static_type(expr, scope))

        def assign_integral(env: Any) -> Any:
            env.locals[name] = value(env)
            return NO_RETURN
        return assign_integral
    value = compile_expr(node.value, scope)
    if node.op == "=":
        def assign(env: Any) -> Any:
            env.locals[name] = value(env)
            return NO_RETURN
        return assign
    if node.op == "??=":
        def coalesce(env: Any) -> Any:
            if env.locals[name] is None:
                env.locals[name] = value(env)
            return NO_RETURN
        return coalesce
    fn = ops.BINARY[node.op[0]]

    def compound(env: Any) -> Any:
        env.locals[name] = fn(env.locals[name], value(env))
        return NO_RETURN
    return compound


def _index_assign(node: A.IndexAssign, scope: Scope) -> Stmt:
    target, key, value = (compile_expr(n, scope) for n in (node.target, node.key, node.value))

    def assign(env: Any) -> Any:
        container, k, v = target(env), key(env), value(env)
        if isinstance(container, JObject) and isinstance(k, str):
            container[k] = to_jtoken(v)
        elif isinstance(container, bytearray) and type(k) is int and 0 <= k < len(container):
            if type(v) is not int or not 0 <= v <= 255:
                raise ExpressionError("a byte array element must be a byte (0-255)")
            container[k] = v
        elif isinstance(container, CsDictionary):
            container[k] = v
        elif isinstance(container, list) and isinstance(k, int) and not isinstance(k, bool) \
                and 0 <= k < len(container):
            container[k] = to_jtoken(v) if isinstance(container, JArray) else v
        else:
            raise ExpressionError(
                f"cannot assign an element of {cs_type_name(container)} with this index")
        return NO_RETURN
    return assign


def _foreach(node: A.Foreach, scope: Scope) -> Stmt:
    if node.var in scope.names:
        raise CompileFailure(f"'{node.var}' is already declared", node.pos)
    iterable = compile_expr(node.iterable, scope)
    inner = scope.child()
    inner.declare(node.var)
    body = compile_block(node.body, inner)
    var = node.var

    def run(env: Any) -> Any:
        for item in list(iterate(iterable(env))):
            env.step()
            env.locals[var] = item
            result = body(env)
            if result is not NO_RETURN:
                return result
        return NO_RETURN
    return run


def _member_assign(node: A.MemberAssign, scope: Scope) -> Stmt:
    from .chains import SETTABLE

    root = node.target
    while isinstance(root, A.Chain):
        root = root.base
    if not isinstance(root, A.Name) or root.name not in scope.names:
        raise CompileFailure("only properties of objects held by local variables can be set",
                             node.pos)
    if node.name not in SETTABLE:
        raise CompileFailure(f"'{node.name}' is not a settable property", node.pos)
    target, value = compile_expr(node.target, scope), compile_expr(node.value, scope)
    name = node.name

    def assign(env: Any) -> Any:
        obj = target(env)
        if obj is None:
            raise ExpressionError(f"Object reference not set to an instance of an object "
                                  f"(setting '{name}')")
        if name not in getattr(type(obj), "__cs_settable__", ()):
            raise ExpressionError(f"'{name}' cannot be set on {cs_type_name(obj)}")
        setattr(obj, name, value(env))
        return NO_RETURN
    return assign
