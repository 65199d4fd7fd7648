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
URL plus path; a ``k8s://``/``nodeport://`` backend keeps its Service). Hops go
through the send-request HTTP client (``"http"`` service). The first request is
sent with ``ctx.send`` wrapped: the data plane streams a response only when
``ctx.send`` is its own callback, so the response stays buffered for the
redirect check.

Safety (kubegate's defaults, the backend chooses the ``Location``):

* A target on another origin than the backend must be http(s), and none of its
  addresses (an IP literal, or every address its name resolves to) may be
  loopback, link-local (169.254/16, fe80::/10) or unspecified (0.0.0.0/8, ::) —
  unless the backend's own address is of that kind (a backend on 127.0.0.1 may
  redirect to 127.0.0.1). Such a redirect is not followed: the client gets it.
* Once the chain left the backend's origin, only the ``SAFE_HEADERS`` (content
  negotiation, conditional requests, User-Agent) are sent on: no Authorization,
  Cookie, subscription key or any header a policy added.
* One deadline for the whole chain, the first request included: ``timeout``
  (300 s when unset).
* Same-origin hops use the request's egress (``authentication-certificate``'s
  client certificate); a ``proxy`` policy's proxy carries every hop.
* Failures reach the client as a generic message; the details are logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..context import Headers, Response
from ..errors import BackendError, PolicyFailure
from ..registry import register
from ..runtime import Step, trace
from ._backend_url import origin, resolve, sent_url, split_service

log = logging.getLogger("kubegate.policies.forward_request")

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 50
DEFAULT_TIMEOUT = 300.0  # APIM's forward-request default: the redirect chain's deadline
SAFE_HEADERS = frozenset({
    "accept", "accept-charset", "accept-encoding", "accept-language", "cache-control",
    "content-language", "content-type", "if-match", "if-modified-since", "if-none-match",
    "if-range", "if-unmodified-since", "pragma", "range", "user-agent",
})
"""Headers sent on once a redirect left the backend's origin (case-insensitive)."""
SPECIAL = ("loopback", "link-local", "unspecified")


def address_kind(address: str) -> str | None:
    """``loopback``, ``link-local`` or ``unspecified`` for such an IP address, else None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip.packed[0] == 0):
        return "unspecified"
    return None


async def addresses(host: str) -> list[str]:
    """The addresses ``host`` (a name or an IP literal) stands for; OSError if none."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return [host]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def kinds(host: str) -> set[str]:
    return {k for a in await addresses(host) if (k := address_kind(a)) is not None}


async def backend_kinds(url: str) -> set[str]:
    """The special address kinds of the backend itself (allowed as redirect targets)."""
    host = urlsplit(url).hostname if split_service(url) is None else None
    if not host:
        return set()
    try:
        return await kinds(host)
    except OSError:
        return set()


async def refusal(url: str | None, target: str, allowed: Callable[[], Awaitable[set[str]]]
                  ) -> str | None:
    """Why ``target`` must not be followed from the backend ``url``, or None."""
    if url is not None and origin(target) == origin(url):
        return None  # the backend itself
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL on another origin"
    try:
        found = await kinds(parts.hostname)
    except OSError as exc:
        log.info("follow-redirects: cannot resolve %r: %s", parts.hostname, exc)
        return "its host does not resolve"
    refused = found - await allowed() if found else set()
    if refused:
        return f"its host is a {'/'.join(k for k in SPECIAL if k in refused)} address"
    return None


async def _first(ctx: Any) -> None:
    original = ctx.send

    async def buffered(c: Any) -> None:
        await original(c)
    ctx.send = buffered
    try:
        await original(ctx)
    finally:
        ctx.send = original


async def follow(ctx: Any, client: Any, deadline: float) -> None:
    """Follow the redirects of ``ctx.Response`` (already the backend's answer) until
    the loop time ``deadline``."""
    loop = asyncio.get_running_loop()
    url = first = sent_url(ctx)
    method = ctx.Request.Method
    body = ctx.Request.Body.content or b""
    headers = Headers(ctx.Request.Headers.to_list())
    headers.delete("Authorization")
    certificate = getattr(ctx, "backend_certificate", None)
    proxy = getattr(ctx, "backend_proxy", None)
    left_origin = False
    cached: set[str] | None = None

    async def allowed() -> set[str]:
        nonlocal cached
        if cached is None:
            cached = await backend_kinds(first) if first else set()
        return cached

    for _ in range(MAX_REDIRECTS):
        resp = ctx.Response
        location = resp.Headers.get("Location")
        if resp.StatusCode not in REDIRECTS or not location:
            return
        if url is None and "://" not in location:
            raise BackendError(502, "follow-redirects: the backend answered a relative redirect "
                                    "but its URL is not known")
        target = resolve(url or "", location.strip())
        if (url or "").lower().startswith("https:") and target.lower().startswith("http:"):
            trace(ctx, f"forward-request: not following https -> http redirect to {target}")
            return
        why = await refusal(first, target, allowed)
        if why is not None:
            log.info("follow-redirects: not following %s -> %s: %s", url, target, why)
            trace(ctx, f"forward-request: not following the redirect to {target}: {why}")
            return
        if resp.StatusCode == 303 and method != "HEAD" or (
                resp.StatusCode in (301, 302) and method == "POST"):
            method, body = "GET", b""
            headers.delete("Content-Type")
            headers.delete("Content-Length")
        if client is None:
            raise BackendError(500, "follow-redirects: no HTTP client is configured")
        same = first is not None and origin(target) == origin(first)
        if not same and not left_origin:
            left_origin = True
            headers = Headers([(n, v) for n, v in headers.to_list() if n.lower() in SAFE_HEADERS])
        egress: dict[str, Any] = {}
        if same and certificate is not None:
            egress["certificate"] = certificate
        if proxy is not None:
            egress["proxy"] = proxy
        trace(ctx, f"forward-request: {resp.StatusCode} -> {method} {target}")
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        try:
            status, reason, rh, rb = await asyncio.wait_for(
                client(method, target, headers.to_list(), body, remaining, **egress), remaining)
        except (OSError, TimeoutError, BackendError) as exc:
            log.warning("follow-redirects: %s %s failed: %r", method, target, exc)
            if isinstance(exc, TimeoutError):
                raise
            status = exc.status if isinstance(exc, BackendError) else 502
            raise BackendError(status, "follow-redirects: the redirect target could not be "
                                       "reached") from None
        ctx.Response = Response(status, reason, rh, rb)
        url = target
    trace(ctx, f"forward-request: stopped after {MAX_REDIRECTS} redirects")


def forward(timeout: float | None, fail_on_error: bool = False, redirects: bool = False,
            client: Any = None) -> Callable[[Any], Awaitable[None]]:
    async def fwd(ctx: Any) -> None:
        if redirects:
            limit = timeout if timeout is not None else DEFAULT_TIMEOUT
            deadline = asyncio.get_running_loop().time() + limit
            try:  # one deadline for the first request and every hop
                await asyncio.wait_for(_first(ctx), limit)
                await follow(ctx, client, deadline)
            except TimeoutError:
                raise BackendError(504, f"backend did not answer within {limit:g} s "
                                        "(following redirects)") from None
        elif timeout is None:
            await ctx.send(ctx)
        else:
            try:
                await asyncio.wait_for(ctx.send(ctx), timeout)
            except TimeoutError:
                raise BackendError(504, f"backend did not answer within {timeout:g} s") from None
        if not (fail_on_error or ctx.Tracing):
            return  # (a streamed response is not in ctx.Response: nothing looks at it)
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
