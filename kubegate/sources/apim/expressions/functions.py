"""Local functions and ``try``/``catch``/``finally``.

A local function shares the block's locals (it may read and assign them, as a
C# closure does). A call saves the names the function itself declares, binds
the parameters, runs the body and restores the saved names, so recursion sees
its own variables. Each call is charged to the work budget and calls nest at
most ``MAX_CALL_DEPTH`` deep.

``catch`` handles errors raised while running (an ``ExpressionError`` or a
builtin's failure) but never the work budget or call depth running out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from .codegen import MAX_CALL_DEPTH, NO_RETURN, VOID, BudgetExceeded, CompileFailure, Scope
from .errors import CsException, ExpressionError
from .runtime import convert

Stmt = Callable[[Any], Any]
CompileBlock = Callable[[list[A.Node], Scope], Stmt]
_MISSING = object()
# run-time failures are not classified by .NET exception type, so only handlers
# that catch everything can be honoured
CATCHABLE = {"Exception", "SystemException"}


def compile_local_function(node: A.LocalFunction, scope: Scope,
                           compile_block: CompileBlock) -> None:
    target = scope.functions[node.name]
    inner = scope.child()
    inner.frame = []
    inner.returns = target.ret
    for type_name, name in target.params:
        if name in scope.names:
            raise CompileFailure(f"parameter '{name}' hides a local", node.pos)
        inner.declare(name, type_name)
    body = compile_block(node.body, inner)
    frame = list(dict.fromkeys(inner.frame))
    params = target.params
    ret = target.ret

    def call(env: Any, args: list[Any]) -> Any:
        env.step()
        if env.depth >= MAX_CALL_DEPTH:
            raise BudgetExceeded("local functions nested too deeply")
        saved = [(n, env.locals.get(n, _MISSING)) for n in frame]
        env.depth += 1
        try:
            for (type_name, name), value in zip(params, args, strict=True):
                env.locals[name] = convert(value, type_name) if not type_name.endswith("[]") \
                    else value
            result = body(env)
        finally:
            env.depth -= 1
            for n, v in saved:
                if v is _MISSING:
                    env.locals.pop(n, None)
                else:
                    env.locals[n] = v
        if ret == "void" or result is NO_RETURN or result is VOID:
            return None
        return result if ret.endswith("[]") else _returned(result, ret)
    target.fn = call


def _returned(value: Any, ret: str) -> Any:
    from .numeric import INTEGRAL, wrap

    if ret in INTEGRAL and type(value) is int:
        return wrap(value, ret)
    return convert(value, ret)


def compile_try(node: A.Try, scope: Scope, compile_block: CompileBlock) -> Stmt:
    body = compile_block(node.body, scope.child())
    handlers: list[tuple[str | None, Stmt]] = []
    for c in node.catches:
        name = c.type.split(".")[-1]
        if name not in CATCHABLE:
            raise CompileFailure(f"catching '{c.type}' is not supported; catch Exception",
                                 node.pos)
        inner = scope.child()
        if c.var is not None:
            if c.var in scope.names:
                raise CompileFailure(f"'{c.var}' is already declared", node.pos)
            inner.declare(c.var)
        handlers.append((c.var, compile_block(c.body, inner)))
    final = compile_block(node.final, scope.child()) if node.final is not None else None

    def run(env: Any) -> Any:
        try:
            return body(env)
        except BudgetExceeded:
            raise
        except RecursionError:
            raise
        except Exception as e:  # a C# catch (Exception) sees every run-time failure
            if not handlers:
                raise
            var, handler = handlers[0]
            if var is not None:
                message = e.message if isinstance(e, ExpressionError) else str(e)
                env.locals[var] = CsException(message)
            return handler(env)
        finally:
            if final is not None:
                final(env)
    return run
