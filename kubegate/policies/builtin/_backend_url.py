"""Absolute URLs of the backend request, for policies that must name them
(forward-request follow-redirects, redirect-content-urls).

The backend base URL is ``ctx.backend_url`` (set-backend-service) or the API's
``ServiceUrl`` (filled by the data plane from the operation's backend). The
path the backend receives is the request path without the API's prefix,
appended to the base URL's path, as the data plane sends it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit


def backend_base(ctx: Any) -> str | None:
    base = getattr(ctx, "backend_url", None) or getattr(ctx.Api, "ServiceUrl", None)
    return str(base).rstrip("/") if base else None


def api_prefix(ctx: Any) -> str:
    path = getattr(ctx.Api, "Path", None) or ""
    return "/" + path.strip("/") if path.strip("/") else ""


def backend_path(ctx: Any) -> str:
    """The request's path and query as the backend receives them (prefix removed)."""
    url = ctx.Request.Url
    path, prefix = url.Path, api_prefix(ctx)
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix):] or "/"
    return path + url.QueryString


def sent_url(ctx: Any) -> str | None:
    base = backend_base(ctx)
    return None if base is None else base + backend_path(ctx)


SERVICE_SCHEMES = ("k8s", "nodeport")


def split_service(url: str) -> tuple[str, str] | None:
    """``k8s://ns/svc:port/path?q`` -> (``k8s://ns/svc:port``, ``/path?q``); None for
    other URLs. A Service URL's authority is namespace *and* service."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SERVICE_SCHEMES:
        return None
    namespace, _, after = rest.partition("/")
    end = len(after)
    for stop in "/?#":
        at = after.find(stop)
        if at >= 0:
            end = min(end, at)
    path = after[end:]
    return f"{scheme}://{namespace}/{after[:end]}", (path if path.startswith("/") else "/" + path)


def resolve(base: str, location: str) -> str:
    """``location`` (absolute, or relative to ``base``) as an absolute URL; works
    for ``k8s://`` and ``nodeport://`` bases too (the Service stays; a network-path
    reference ``//host/x`` from a Service backend means ``http://host/x``)."""
    if urlsplit(location).scheme:
        return location
    service = split_service(base)
    if service is not None:
        if location.startswith("//"):
            return "http:" + location
        root, path = service
        target = urlsplit(urljoin("http://service" + path, location))
        return root + target.path + (f"?{target.query}" if target.query else "")
    scheme, sep, rest = base.partition("://")
    if not sep:
        return location
    joined = urljoin("http://" + rest, location)
    return f"{scheme}://{joined[len('http://'):]}"


def origin(url: str) -> str:
    service = split_service(url)
    if service is not None:
        return service[0].lower()
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
