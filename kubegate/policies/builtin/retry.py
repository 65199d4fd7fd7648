"""retry: run the children, then again while ``condition`` is true, up to ``count`` retries.

Attributes (APIM): ``condition`` (required), ``count`` (required, 1..50),
``interval`` (seconds, required), ``max-interval``, ``delta``,
``first-fast-retry`` (false). Waits: fixed ``interval``; with ``delta``, linear
``interval + n*delta``; with ``max-interval`` too, exponential
``min(interval + (2^n - 1) * delta, max-interval)``. Errors inside the children
go to on-error as usual. The request body is buffered so it can be resent."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, run_block, trace
from ._util import bool_evaluator


def wait_seconds(n: int, interval: float, delta: float | None, max_interval: float | None,
                 first_fast: bool) -> float:
    """Wait before retry number ``n`` (1-based)."""
    if first_fast and n == 1:
        return 0.0
    if delta is None:
        return interval
    if max_interval is None:
        return interval + (n - 1) * delta
    return min(interval + (2 ** (n - 1) - 1) * delta, max_interval)


@register("retry", summary="re-run the enclosed policies while a condition holds")
def compile_retry(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("condition", "count", "interval", "max-interval", "delta",
                       "first-fast-retry"), required=("condition", "count", "interval"))
    cond = bool_evaluator(c.attr(el, "condition", "false"), "retry condition")  # type: ignore[arg-type]
    count = c.const_int(el, "count", 1, minimum=0, maximum=50) or 0
    interval = float(c.const_int(el, "interval", 0, minimum=0, maximum=3600) or 0)
    max_i = c.const_int(el, "max-interval", None, minimum=0, maximum=3600)
    delta = c.const_int(el, "delta", None, minimum=0, maximum=3600)
    first_fast = c.const_bool(el, "first-fast-retry", False)
    children = c.compile_block(el.children, path)
    if c.section in ("inbound", "backend"):
        c.needs_request_body = True
    sleep = c.env.sleep
    max_f = float(max_i) if max_i is not None else None
    delta_f = float(delta) if delta is not None else None

    async def run(ctx: Any) -> object | None:
        attempt = 0
        while True:
            result = await run_block(children, ctx)
            if result is not None or attempt >= count or not cond(ctx):
                return result
            attempt += 1
            wait = wait_seconds(attempt, interval, delta_f, max_f, first_fast)
            trace(ctx, f"retry: attempt {attempt + 1} of {count + 1} after {wait:g} s")
            if wait > 0:
                await sleep(wait)
    return c.step(el, path, run, is_async=True, count=count)
