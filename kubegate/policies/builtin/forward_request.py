"""forward-request: send the request to the backend through the data plane's ``send``.

Attributes (APIM): ``timeout`` (seconds, default 300; the data plane's own
response timeout also applies), ``buffer-request-body`` (false),
``buffer-response`` (true; accepted), ``fail-on-error-status-code`` (false: when
true a 4xx/5xx backend status goes to on-error), ``follow-redirects`` (false;
true is unsupported), ``http-version`` (``1`` or ``2or1``; accepted)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..errors import BackendError, PolicyFailure
from ..registry import register
from ..runtime import Step, trace


def forward(timeout: float | None, fail_on_error: bool = False
            ) -> Callable[[Any], Awaitable[None]]:
    async def fwd(ctx: Any) -> None:
        if timeout is None:
            await ctx.send(ctx)
        else:
            try:
                await asyncio.wait_for(ctx.send(ctx), timeout)
            except TimeoutError:
                raise BackendError(504, f"backend did not answer within {timeout:g} s") from None
        status = ctx.Response.StatusCode
        trace(ctx, f"forward-request: backend answered {status}")
        if fail_on_error and status >= 400:
            raise PolicyFailure(status, "BackendErrorStatusCode",
                                f"backend answered {status}")
    return fwd


@register("forward-request", sections={"backend"}, summary="forward the request to the backend")
def compile_forward_request(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("timeout", "buffer-request-body", "buffer-response", "follow-redirects",
                       "fail-on-error-status-code", "http-version", "timeout-ms"))
    c.check_children(el, ())
    timeout = c.const_int(el, "timeout", None, minimum=0, maximum=240 * 3600)
    ms = c.const_int(el, "timeout-ms", None, minimum=0)
    seconds = ms / 1000 if ms is not None else (float(timeout) if timeout is not None else None)
    if c.const_bool(el, "buffer-request-body", False):
        c.needs_request_body = True
    c.const_bool(el, "buffer-response", True)
    if c.const_bool(el, "follow-redirects", False):
        c.attr_problem(el, "follow-redirects", "following redirects is not supported")
    c.const_choice(el, "http-version", ("1", "2", "2or1"), "1")
    fail = c.const_bool(el, "fail-on-error-status-code", False)
    return c.step(el, path, forward(seconds, fail), is_async=True, timeout=seconds,
                  fail_on_error=fail)
