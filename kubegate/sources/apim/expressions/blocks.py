"""Compiles ``@{ ... }`` statements. Each statement closure returns ``NO_RETURN``
or the value of a ``return``; ``foreach`` only walks finite collections and
charges the work budget per iteration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from . import operators as ops
from .codegen import NO_RETURN, CompileFailure, Scope, compile_expr
from .errors import ExpressionError
from .runtime import JArray, JObject, convert, cs_type_name, iterate, to_jtoken

Stmt = Callable[[Any], Any]


def compile_block(stmts: list[A.Node], scope: Scope) -> Stmt:
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
        value = compile_expr(node.value, scope)
        return value
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
    raise CompileFailure(f"unsupported statement {type(node).__name__}", node.pos)


def _declare(node: A.VarDecl, scope: Scope) -> Stmt:
    if node.name in scope.names or node.name == "context":
        raise CompileFailure(f"'{node.name}' is already declared", node.pos)
    value = compile_expr(node.value, scope)
    scope.names.add(node.name)
    name = node.name
    if node.type is None or node.type.array:
        def set_var(env: Any) -> Any:
            env.locals[name] = value(env)
            return NO_RETURN
        return set_var
    type_name = node.type.name

    def set_typed(env: Any) -> Any:
        env.locals[name] = convert(value(env), type_name)
        return NO_RETURN
    return set_typed


def _assign(node: A.Assign, scope: Scope) -> Stmt:
    if node.name not in scope.names:
        raise CompileFailure(f"'{node.name}' is not a declared local variable", node.pos)
    value = compile_expr(node.value, scope)
    name = node.name
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
    inner.names.add(node.var)
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
