"""Small integration policies.

* ``wait`` (``for`` = ``all`` | ``any``, default all): runs its children
  (send-request, cache-lookup-value, choose) concurrently and waits for all of
  them, or for the first to finish (the others are cancelled).
* ``send-one-way-request``: as send-request (``mode``, ``timeout``, children),
  without waiting for or keeping the response; failures are only traced.
* ``authentication-basic``: ``username``, ``password`` -> ``Authorization: Basic ...``
  on the backend request.
* ``emit-metric``: ``name``, ``value`` (default 1), ``namespace``, ``<dimension
  name value>`` -> a ``metric`` line in the request's trace (the access log).
* ``jsonp``: ``callback-parameter-name`` -> wrap the response body in
  ``callback(...)`` when the request has that query parameter.
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import replace
from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..errors import BackendError
from ..registry import register
from ..runtime import Block, Step, run_block, trace
from ._util import evaluator, to_text
from .send_request import compile_send_request

_TASKS: set[asyncio.Task[Any]] = set()


@register("wait", summary="run the enclosed policies concurrently")
def compile_wait(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("for",))
    mode = c.const_choice(el, "for", ("all", "any"), "all")
    c.check_children(el, ("send-request", "cache-lookup-value", "choose"))
    blocks: list[Block] = [c.compile_block([ch], f"{path}/{i}") for i, ch in
                           enumerate(el.children, 1)]

    async def run(ctx: Any) -> None:
        tasks = [asyncio.ensure_future(run_block(b, ctx)) for b in blocks]
        if not tasks:
            return
        if mode == "all":
            await asyncio.gather(*tasks)
            return
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in done:
            t.result()
    return c.step(el, path, run, is_async=True, mode=mode)


@register("send-one-way-request", summary="fire-and-forget HTTP request")
def compile_send_one_way(el: PolicyElement, c: Compiler, path: str) -> Step:
    attrs = {k: v for k, v in el.attributes.items() if k != "response-variable-name"}
    inner: Step | None = compile_send_request(replace(el, attributes=attrs), c, path)
    assert inner is not None
    fn = inner.fn

    async def finish(ctx: Any) -> None:
        try:
            await fn(ctx)
        except (BackendError, OSError, TimeoutError) as exc:
            trace(ctx, f"send-one-way-request failed: {exc}")

    def run(ctx: Any) -> None:
        task = asyncio.ensure_future(finish(ctx))
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
    return c.step(el, path, run, mode=inner.detail.get("mode"))


@register("authentication-basic", sections={"inbound", "backend"},
          summary="basic authentication to the backend")
def compile_authentication_basic(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("username", "password"), required=("username", "password"))
    user = evaluator(c.attr(el, "username", ""))  # type: ignore[arg-type]
    password = evaluator(c.attr(el, "password", ""))  # type: ignore[arg-type]

    def run(ctx: Any) -> None:
        raw = f"{to_text(user(ctx))}:{to_text(password(ctx))}".encode()
        ctx.Request.Headers.set("Authorization", "Basic " + base64.b64encode(raw).decode())
        trace(ctx, "authentication-basic: Authorization set")
    return c.step(el, path, run)


@register("emit-metric", summary="record a custom metric in the trace")
def compile_emit_metric(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("name", "value", "namespace"), required=("name",))
    c.check_children(el, ("dimension",))
    name = c.const(el, "name", "") or ""
    namespace = c.const(el, "namespace", "API Management") or ""
    value = evaluator(c.attr(el, "value", "1"))  # type: ignore[arg-type]
    dims = []
    for d in el.children:
        c.check_attrs(d, ("name", "value"), required=("name",))
        dims.append((c.const(d, "name", "") or "",
                     evaluator(c.attr(d, "value", "")) if "value" in d.attributes  # type: ignore[arg-type]
                     else None))

    def run(ctx: Any) -> None:
        if ctx.trace is None:
            ctx.trace = []
        parts = " ".join(f"{n}={to_text(f(ctx)) if f else 'default'}" for n, f in dims)
        ctx.trace.append(f"metric {namespace}/{name} {to_text(value(ctx))} {parts}".rstrip())
    return c.step(el, path, run, metric=name)


_CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.]{0,127}\Z")


@register("jsonp", sections={"outbound"}, summary="wrap JSON responses for JSONP callers")
def compile_jsonp(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("callback-parameter-name",), required=("callback-parameter-name",))
    param = c.const(el, "callback-parameter-name", "callback") or "callback"
    c.needs_response_body = True

    def run(ctx: Any) -> None:
        name = ctx.Request.Url.Query.GetValueOrDefault(param, None)
        if not name or not _CALLBACK.match(name):
            return
        body = ctx.Response.Body
        body.content = name.encode() + b"(" + (body.content or b"") + b")"
        ctx.Response.Headers.set("Content-Type", "application/javascript")
        trace(ctx, f"jsonp: wrapped in {name}()")
    return c.step(el, path, run)
