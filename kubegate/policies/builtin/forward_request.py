"""forward-request: send the request to the backend through the data plane's ``send``.

Attributes (APIM): ``timeout`` (seconds, default 300; the data plane's own
response timeout also applies), ``buffer-request-body`` (false),
``buffer-response`` (true; accepted), ``fail-on-error-status-code`` (false: when
true a 4xx/5xx backend status goes to on-error), ``follow-redirects`` (false),
``http-version`` (``1`` or ``2or1``; accepted).

``follow-redirects="true"``: a 301/302/303/307/308 answer with a ``Location`` is
followed by the gateway, as .NET's HttpClient (APIM's) does: at most
``MAX_REDIRECTS`` hops (then the last redirect is returned); 303, and 301/302 to
a POST, become a GET without body; 307/308 repeat method and body;
``Authorization`` is not sent on; an https to http redirect is not followed.
A relative ``Location`` resolves against the URL the backend was sent (its base
URL plus path). Hops go through the send-request HTTP client (``"http"``
service). The first request is sent with ``ctx.send`` wrapped: the data plane
streams a response only when ``ctx.send`` is its own callback, so the response
stays buffered for the redirect check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..context import Headers, Response
from ..errors import BackendError, PolicyFailure
from ..registry import register
from ..runtime import Step, trace
from ._backend_url import origin, resolve, sent_url

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 50


async def _first(ctx: Any) -> None:
    original = ctx.send

    async def buffered(c: Any) -> None:
        await original(c)
    ctx.send = buffered
    try:
        await original(ctx)
    finally:
        ctx.send = original


async def follow(ctx: Any, client: Any, timeout: float) -> None:
    """Follow the redirects of ``ctx.Response`` (already the backend's answer)."""
    url = sent_url(ctx)
    method = ctx.Request.Method
    body = ctx.Request.Body.content or b""
    headers = Headers(ctx.Request.Headers.to_list())
    headers.delete("Authorization")
    for _ in range(MAX_REDIRECTS):
        resp = ctx.Response
        location = resp.Headers.get("Location")
        if resp.StatusCode not in REDIRECTS or not location:
            return
        if url is None and "://" not in location:
            raise BackendError(502, f"follow-redirects: cannot resolve the relative Location "
                                    f"{location!r} (the backend URL is not known)")
        target = resolve(url or "", location.strip())
        if (url or "").lower().startswith("https:") and target.lower().startswith("http:"):
            trace(ctx, f"forward-request: not following https -> http redirect to {target}")
            return
        if resp.StatusCode == 303 and method != "HEAD" or (
                resp.StatusCode in (301, 302) and method == "POST"):
            method, body = "GET", b""
            headers.delete("Content-Type")
            headers.delete("Content-Length")
        if client is None:
            raise BackendError(500, "follow-redirects: no HTTP client is configured")
        if url is not None and origin(target) != origin(url):
            headers.delete("Cookie")
        trace(ctx, f"forward-request: {resp.StatusCode} -> {method} {target}")
        try:
            status, reason, rh, rb = await asyncio.wait_for(
                client(method, target, headers.to_list(), body, timeout), timeout)
        except (OSError, TimeoutError) as exc:
            raise BackendError(504 if isinstance(exc, TimeoutError) else 502,
                               f"redirect to {target} failed: {exc or 'timeout'}") from None
        ctx.Response = Response(status, reason, rh, rb)
        url = target
    trace(ctx, f"forward-request: stopped after {MAX_REDIRECTS} redirects")


def forward(timeout: float | None, fail_on_error: bool = False, redirects: bool = False,
            client: Any = None) -> Callable[[Any], Awaitable[None]]:
    async def fwd(ctx: Any) -> None:
        send = _first(ctx) if redirects else ctx.send(ctx)
        if timeout is None:
            await send
        else:
            try:
                await asyncio.wait_for(send, timeout)
            except TimeoutError:
                raise BackendError(504, f"backend did not answer within {timeout:g} s") from None
        if redirects:
            await follow(ctx, client, timeout if timeout is not None else 300.0)
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
    redirects = c.const_bool(el, "follow-redirects", False)
    if redirects:
        c.needs_request_body = True  # a 307/308 repeats the body
    c.const_choice(el, "http-version", ("1", "2", "2or1"), "1")
    fail = c.const_bool(el, "fail-on-error-status-code", False)
    client = c.env.services.get("http")
    return c.step(el, path, forward(seconds, fail, redirects, client), is_async=True,
                  timeout=seconds, fail_on_error=fail, follow_redirects=redirects)
