"""send-request: call another service while processing the request.

Attributes (APIM): ``mode`` (``new`` | ``copy``, default new),
``response-variable-name``, ``timeout`` (seconds, default 60), ``ignore-error``
(false). Children: ``set-url``, ``set-method`` (default GET), ``set-header``
(name, exists-action, values), ``set-body``. The HTTP client is the
``"http"`` service of the compile environment:
``async client(method, url, headers, body, timeout) -> (status, reason, headers, body)``.
The response is stored as a ``Response`` in ``context.Variables``. A failure
(no client, unreachable, timeout) goes to on-error, or with ``ignore-error``
leaves the variable null."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..context import Response
from ..errors import BackendError
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, to_bytes, to_text

HttpClient = Callable[[str, str, list[tuple[str, str]], bytes, float],
                      Awaitable[tuple[int, str, list[tuple[str, str]], bytes]]]


@register("send-request", summary="call another service and keep its response")
def compile_send_request(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("mode", "response-variable-name", "timeout", "ignore-error"))
    c.check_children(el, ("set-url", "set-method", "set-header", "set-body",
                          "authentication-managed-identity", "authentication-basic"))
    mode = c.const_choice(el, "mode", ("new", "copy"), "new")
    var = c.const(el, "response-variable-name")
    timeout = float(c.const_int(el, "timeout", 60, minimum=1, maximum=3600) or 60)
    ignore = c.const_bool(el, "ignore-error", False)
    url_el, method_el, body_el = el.child("set-url"), el.child("set-method"), el.child("set-body")
    if url_el is None and mode == "new":
        c.problem(el, "needs <set-url> (mode=\"new\")")
    url = evaluator(c.text(url_el)) if url_el is not None else None
    method = evaluator(c.text(method_el)) if method_el is not None else None
    body = evaluator(c.text(body_el)) if body_el is not None else None
    if mode == "copy":
        c.needs_request_body = True
    headers: list[tuple[str, str, list[Any]]] = []
    for h in el.children:
        if h.name == "set-header":
            c.check_attrs(h, ("name", "exists-action"), required=("name",))
            c.check_children(h, ("value",))
            action = c.const_choice(h, "exists-action", ("override", "skip", "append", "delete"),
                                    "override")
            headers.append((c.const(h, "name", "") or "", action,
                            [evaluator(c.text(v)) for v in h.children]))
    client: HttpClient | None = c.env.services.get("http")
    auth = [c.compile_element(a, f"{path}/{a.name}") for a in el.children
            if a.name.startswith("authentication-")]

    async def authenticate(ctx: Any, hdrs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Run the authentication children on a scratch request; keep its Authorization."""
        from ..context import Headers
        saved = ctx.Request.Headers
        ctx.Request.Headers = Headers(hdrs)
        try:
            for step in auth:
                if step is not None:
                    result = step.fn(ctx)
                    if step.is_async:
                        await result
            return list(ctx.Request.Headers.to_list())
        finally:
            ctx.Request.Headers = saved

    def build(ctx: Any) -> tuple[str, str, list[tuple[str, str]], bytes]:
        from ..context import Headers
        req = ctx.Request
        hdrs = Headers(req.Headers.to_list() if mode == "copy" else [])
        for name, action, values in headers:
            if action == "delete":
                hdrs.delete(name)
            elif action == "skip" and name in hdrs:
                continue
            else:
                texts = [to_text(v(ctx)) for v in values]
                if action == "append":
                    for t in texts:
                        hdrs.append(name, t)
                else:
                    hdrs.set(name, texts)
        m = to_text(method(ctx)).strip().upper() if method else (
            req.Method if mode == "copy" else "GET")
        u = to_text(url(ctx)) if url else req.Url.ToString()
        data = to_bytes(body(ctx)) if body else (
            (req.Body.content or b"") if mode == "copy" else b"")
        return m, u, hdrs.to_list(), data

    async def run(ctx: Any) -> None:
        m, u, hdrs, data = build(ctx)
        if auth:
            hdrs = await authenticate(ctx, hdrs)
        try:
            if client is None:
                raise BackendError(500, "send-request: no HTTP client is configured")
            status, reason, rh, rb = await asyncio.wait_for(client(m, u, hdrs, data, timeout),
                                                            timeout)
            result: Response | None = Response(status, reason, rh, rb)
        except (BackendError, OSError, TimeoutError) as exc:
            if not ignore:
                if isinstance(exc, BackendError):
                    raise
                raise BackendError(504 if isinstance(exc, TimeoutError) else 502,
                                   f"send-request to {u} failed: {exc or 'timeout'}") from None
            result = None
        trace(ctx, f"send-request {m} {u}: "
                   f"{result.StatusCode if result is not None else 'failed (ignored)'}")
        if var:
            ctx.Variables[var] = result
    return c.step(el, path, run, is_async=True, mode=mode)
