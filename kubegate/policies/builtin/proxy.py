"""proxy: send the backend call through an HTTP proxy.

Attributes (APIM): ``url`` (required, ``http://host:port``; the gateway talks
plain HTTP to the proxy, as APIM does), ``username``, ``password`` (Basic
authentication; NTLM is not supported); all allow expressions. The proxy goes in
``context.backend_proxy``. The data plane sends requests for an ``http://``
backend to the proxy in absolute form (``GET http://backend/path HTTP/1.1``) and
opens a ``CONNECT`` tunnel for an ``https://`` backend, with TLS to the backend
inside it. ``k8s://``/``nodeport://`` backends cannot go through a proxy (500)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from kubegate.model.policy import PolicyElement
from kubegate.sources.apim.expressions import ExpressionError

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ..state import ProxyRoute
from ._util import evaluator, to_text


def parse_proxy_url(url: str) -> tuple[str, int]:
    """``http://host[:port]`` -> (host, port); ValueError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "http":
        raise ValueError(f"expected an http://host:port proxy URL (APIM talks HTTP to the "
                         f"proxy), got {url!r}")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"invalid port in proxy URL {url!r}") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise ValueError(f"expected http://host:port without path or credentials, got {url!r}")
    return parts.hostname, port


def basic(username: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{username}:{password}".encode())


@register("proxy", sections={"inbound"}, summary="route the backend call through an HTTP proxy")
def compile_proxy(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("url", "username", "password"), required=("url",))
    if "password" in el.attributes and "username" not in el.attributes:
        c.attr_problem(el, "password", "needs 'username'")
    url_expr = c.attr(el, "url", "")
    assert url_expr is not None
    user = c.attr(el, "username")
    pw = c.attr(el, "password")
    get_user = evaluator(user) if user is not None else None
    get_pw = evaluator(pw) if pw is not None else None
    constant_route: ProxyRoute | None = None
    if url_expr.is_constant:
        raw = el.attributes.get("url", "")
        try:
            host, port = parse_proxy_url(str(url_expr.value))
        except ValueError as exc:
            if not (c.env.placeholder_named_values and "{{" in raw):
                c.attr_problem(el, "url", str(exc))
                return None
            host, port = "placeholder.invalid", 80
        if (user is None or user.is_constant) and (pw is None or pw.is_constant):
            auth = basic(to_text(user.value), to_text(pw.value) if pw is not None else "") \
                if user is not None else None
            constant_route = ProxyRoute(host, port, auth)
    get_url = evaluator(url_expr)

    def route(ctx: Any) -> ProxyRoute:
        if constant_route is not None:
            return constant_route
        try:
            host, port = parse_proxy_url(to_text(get_url(ctx)))
        except ValueError as exc:
            raise ExpressionError(f"proxy url: {exc}") from None
        auth = None
        if get_user is not None:
            auth = basic(to_text(get_user(ctx)), to_text(get_pw(ctx)) if get_pw else "")
        return ProxyRoute(host, port, auth)

    def run(ctx: Any) -> None:
        via = route(ctx)
        ctx.backend_proxy = via
        trace(ctx, f"proxy: backend call through {via.url}"
                   + (" (Basic authentication)" if via.authorization else ""))
    return c.step(el, path, run, url=constant_route.url if constant_route else None)
