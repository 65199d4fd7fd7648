"""limit-concurrency: at most ``max-count`` requests per ``key`` run the children at once.

A request over the limit waits up to ``max-wait`` seconds (a kubegate extension;
default 0, which is APIM's behaviour) for a slot, then fails with 429
(Reason ``ConcurrencyLimitExceeded``). The counters live in the compiled step
(one process); a key's entry is removed when no request holds it."""

from __future__ import annotations

import asyncio
from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, run_block, trace
from ._util import evaluator, to_text


class _Slots:
    """Per-key counters with FIFO waiters. Invariant: active[k] <= limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active: dict[str, int] = {}
        self.waiters: dict[str, list[asyncio.Future[None]]] = {}

    async def acquire(self, key: str, wait: float) -> bool:
        n = self.active.get(key, 0)
        if n < self.limit and not self.waiters.get(key):
            self.active[key] = n + 1
            return True
        if wait <= 0:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(key, []).append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), wait)
            return True  # the releaser handed its slot over
        except TimeoutError:
            queue = self.waiters.get(key, [])
            if fut in queue:
                queue.remove(fut)
                if not queue:
                    self.waiters.pop(key, None)
                return False
            return True  # handed over just as the wait ended

    def release(self, key: str) -> None:
        queue = self.waiters.get(key)
        while queue:
            fut = queue.pop(0)
            if not queue:
                self.waiters.pop(key, None)
            if not fut.done():
                fut.set_result(None)
                return
        n = self.active.get(key, 1) - 1
        if n <= 0:
            self.active.pop(key, None)
        else:
            self.active[key] = n


@register("limit-concurrency", summary="limit concurrent executions of the enclosed policies")
def compile_limit_concurrency(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("key", "max-count", "max-wait"), required=("key", "max-count"))
    key = evaluator(c.attr(el, "key", ""))  # type: ignore[arg-type]
    limit = c.const_int(el, "max-count", 1, minimum=1) or 1
    wait = float(c.const_int(el, "max-wait", 0, minimum=0, maximum=3600) or 0)
    children = c.compile_block(el.children, path)
    slots = _Slots(limit)

    async def run(ctx: Any) -> object | None:
        k = to_text(key(ctx))
        if not await slots.acquire(k, wait):
            trace(ctx, f"limit-concurrency {k}: over {limit}")
            raise PolicyFailure(429, "ConcurrencyLimitExceeded",
                                "Too many concurrent requests", source="limit-concurrency")
        try:
            return await run_block(children, ctx)
        finally:
            slots.release(k)
    return c.step(el, path, run, is_async=True, max_count=limit)
