"""redirect-content-urls: rewrite backend URLs in a body to the gateway's (and back).

In ``outbound`` every occurrence in the response body of the backend's base URL
(``set-backend-service``'s, else the API's) becomes the gateway URL of the API
(the client's scheme, host and port as received, plus the API path prefix);
in ``inbound`` gateway URLs in the request body become the backend's. As in
APIM, headers (``Location`` included) are not changed: use set-header.

A URL matches up to a path boundary (``/``, ``?``, ``#``, a quote, ``<``,
whitespace or the end), scheme and host case-insensitively; an explicit default
port (``:80``, ``:443``) is matched with or without it. A ``k8s://ns/svc:port``
backend matches the service's cluster DNS forms (``http://svc.ns.svc.cluster.local:port``,
``svc.ns.svc``, ``svc.ns``, ``svc``). Bytes that are not UTF-8 are kept as they are.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._backend_url import api_prefix, backend_base

DEFAULT_PORTS = {"http": 80, "https": 443}
_BOUNDARY = r"(?=[/?#\"'<>\s]|$)"


def gateway_base(ctx: Any) -> str:
    url = ctx.Request.OriginalUrl
    port = "" if DEFAULT_PORTS.get(url.Scheme.lower()) == url.Port else f":{url.Port}"
    return f"{url.Scheme}://{url.Host}{port}{api_prefix(ctx)}"


def variants(base: str) -> list[str]:
    """The spellings of ``base`` to look for in a body."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/")
    scheme = parts.scheme.lower()
    if scheme in ("k8s", "nodeport"):
        pieces = (parts.netloc + parts.path).split("/")
        if len(pieces) < 2 or ":" not in pieces[1]:
            return []
        ns, (svc, port) = pieces[0], pieces[1].split(":", 1)
        path = "/" + "/".join(pieces[2:]) if len(pieces) > 2 else ""
        path = path.rstrip("/")
        hosts = [f"{svc}.{ns}.svc.cluster.local", f"{svc}.{ns}.svc", f"{svc}.{ns}", svc]
        return [f"http://{h}:{port}{path}" for h in hosts]
    host = parts.hostname or ""
    out = [f"{scheme}://{parts.netloc}{path}"]
    default = DEFAULT_PORTS.get(scheme)
    if parts.port is None and default is not None:
        out.append(f"{scheme}://{host}:{default}{path}")
    elif parts.port == default:
        out.append(f"{scheme}://{host}{path}")
    return out


def rewrite(data: bytes, old: list[str], new: str) -> tuple[bytes, int]:
    if not data or not old:
        return data, 0
    text = data.decode("utf-8", errors="surrogateescape")
    pattern = re.compile("|".join(re.escape(o) for o in sorted(old, key=len, reverse=True))
                         + _BOUNDARY, re.IGNORECASE)
    text, n = pattern.subn(lambda m: new, text)
    return text.encode("utf-8", errors="surrogateescape"), n


@register("redirect-content-urls", sections={"inbound", "outbound"},
          summary="rewrite backend URLs in the body to the gateway's")
def compile_redirect_content_urls(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ())
    c.check_children(el, ())
    outbound = c.section == "outbound"
    if outbound:
        c.needs_response_body = True
    else:
        c.needs_request_body = True

    def run(ctx: Any) -> None:
        backend = backend_base(ctx)
        if backend is None:
            trace(ctx, "redirect-content-urls: backend URL unknown, nothing rewritten")
            return
        gateway = gateway_base(ctx)
        message = ctx.Response if outbound else ctx.Request
        if outbound:
            data, n = rewrite(message.Body.content or b"", variants(backend), gateway)
        else:
            target = variants(backend)[0] if variants(backend) else backend
            data, n = rewrite(message.Body.content or b"", variants(gateway), target)
        if n:
            message.Body.content = data
        trace(ctx, f"redirect-content-urls: {n} URL(s) rewritten")
    return c.step(el, path, run, direction="outbound" if outbound else "inbound")
