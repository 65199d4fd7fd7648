"""return-response and mock-response: answer now; the pipeline ends (outbound is skipped).

return-response: ``response-variable-name`` (a response held in a variable, e.g.
from send-request) and children ``set-status``, ``set-header``, ``set-body``
applied to it. Without them the response is 200 with an empty body.

mock-response: ``status-code`` (default 200), ``content-type`` (default
``application/json``); the body is the operation's OpenAPI example for that
status and content type when the environment has one, else empty."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.sources.apim.expressions import ExpressionError

from ..compiler import Compiler
from ..context import Response
from ..errors import STOP
from ..registry import register
from ..runtime import Step, run_block_sync_or_async, trace


def _copy(resp: Response) -> Response:
    new = Response(resp.StatusCode, resp.StatusReason, resp.Headers.to_list(),
                   resp.Body.content if resp.Body.content is not None else b"")
    return new


@register("return-response", summary="end the pipeline with a response")
def compile_return_response(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("response-variable-name",))
    c.check_children(el, ("set-status", "set-header", "set-body"))
    var = c.const(el, "response-variable-name")
    saved = c.section
    c.section = "return-response"
    try:
        children = c.compile_block(el.children, path)
    finally:
        c.section = saved
    is_async, run_children = run_block_sync_or_async(children)

    def start(ctx: Any) -> None:
        if var is None:
            ctx.Response = Response(200, "OK", [], b"")
            return
        held = ctx.Variables.get(var)
        if not isinstance(held, Response):
            raise ExpressionError(f"variable '{var}' does not hold a response")
        ctx.Response = _copy(held)

    if is_async:
        async def run_async(ctx: Any) -> object:
            start(ctx)
            await run_children(ctx)
            trace(ctx, f"return-response: {ctx.Response.StatusCode}")
            return STOP
        return c.step(el, path, run_async, is_async=True)

    def run(ctx: Any) -> object:
        start(ctx)
        run_children(ctx)
        trace(ctx, f"return-response: {ctx.Response.StatusCode}")
        return STOP
    return c.step(el, path, run)


@register("mock-response", sections={"inbound", "outbound", "on-error"},
          summary="answer with the operation's example response")
def compile_mock_response(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("status-code", "content-type", "index"))
    c.check_children(el, ())
    status = c.const_int(el, "status-code", 200, minimum=100, maximum=599) or 200
    ctype = c.const(el, "content-type", "application/json") or "application/json"
    by_type = c.env.examples.get(status, {})
    body = by_type.get(ctype)
    if body is None and by_type and "content-type" not in el.attributes:
        ctype, body = next(iter(by_type.items()))
    data = body or b""
    headers = [("Content-Type", ctype)] if data else []
    from http import HTTPStatus
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""

    def run(ctx: Any) -> object:
        ctx.Response = Response(status, phrase, list(headers), data)
        trace(ctx, f"mock-response: {status} ({len(data)} bytes)")
        return STOP
    return c.step(el, path, run, status=status, example=bool(data))
