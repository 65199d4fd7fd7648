"""choose: the first ``<when condition="...">`` whose condition is true runs, else ``<otherwise>``.

Conditions are boolean expressions compiled once; the branches are ordinary
policy lists (in the enclosing section). A choose whose branches are all
synchronous runs synchronously."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, run_block_sync_or_async, trace
from ._util import bool_evaluator


@register("choose", summary="conditional branches (when/otherwise)")
def compile_choose(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ())
    c.check_children(el, ("when", "otherwise"))
    branches: list[tuple[Any, bool, Any, int]] = []
    otherwise: tuple[bool, Any] | None = None
    n = 0
    for child in el.children:
        if child.name == "when":
            n += 1
            c.check_attrs(child, ("condition",), required=("condition",))
            cond = bool_evaluator(c.attr(child, "condition", "false"),  # type: ignore[arg-type]
                                  "when condition")
            is_async, run = run_block_sync_or_async(
                c.compile_block(child.children, f"{path}/when[{n}]"))
            branches.append((cond, is_async, run, n))
        elif child.name == "otherwise":
            if otherwise is not None:
                c.problem(child, "<choose> may have only one <otherwise>")
            c.check_attrs(child, ())
            otherwise = run_block_sync_or_async(
                c.compile_block(child.children, f"{path}/otherwise"))
    if not branches:
        c.problem(el, "needs at least one <when>")
    if any(b[1] for b in branches) or (otherwise is not None and otherwise[0]):
        async def run_async(ctx: Any) -> object | None:
            for cond, is_async, run, i in branches:
                if cond(ctx):
                    if ctx.Tracing:
                        trace(ctx, f"choose: when[{i}] matched")
                    return await run(ctx) if is_async else run(ctx)
            if otherwise is not None:
                trace(ctx, "choose: otherwise")
                return await otherwise[1](ctx) if otherwise[0] else otherwise[1](ctx)
            return None
        return c.step(el, path, run_async, is_async=True, branches=len(branches))

    def run_sync(ctx: Any) -> object | None:
        for cond, _, run, i in branches:
            if cond(ctx):
                if ctx.Tracing:
                    trace(ctx, f"choose: when[{i}] matched")
                result: object | None = run(ctx)
                return result
        if otherwise is not None:
            trace(ctx, "choose: otherwise")
            other: object | None = otherwise[1](ctx)
            return other
        return None
    return c.step(el, path, run_sync, branches=len(branches))
