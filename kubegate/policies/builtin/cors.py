"""cors: answer preflight requests in the gateway and add CORS headers to responses.

Attributes: ``allow-credentials`` (false), ``terminate-unmatched-request``
(true). Children: ``<allowed-origins>`` (``<origin>``, ``*`` = any),
``<allowed-methods preflight-result-max-age="s">`` (``<method>``, ``*``; default
GET, POST), ``<allowed-headers>`` (``<header>``, ``*``), ``<expose-headers>``.

* Preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``):
  answered 200 here, never forwarded. Unmatched: an empty 200 when
  terminate-unmatched-request, else the request goes on.
* Other requests with an allowed ``Origin``: the final response gets
  ``Access-Control-Allow-Origin`` (and Credentials/Expose-Headers). An
  unmatched GET/HEAD with terminate-unmatched-request gets an empty 200.
* ``Vary: Origin`` is added whenever the answer depends on the origin.
"""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..context import Response
from ..errors import STOP
from ..registry import register
from ..runtime import Step, trace


def _items(c: Compiler, el: PolicyElement | None, item: str) -> list[str]:
    if el is None:
        return []
    c.check_children(el, (item,))
    return [str(c.text(x).value or "").strip() for x in el.children if x.name == item]


@register("cors", sections={"inbound"}, summary="cross-origin resource sharing")
def compile_cors(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("allow-credentials", "terminate-unmatched-request"))
    c.check_children(el, ("allowed-origins", "allowed-methods", "allowed-headers",
                          "expose-headers"))
    creds = c.const_bool(el, "allow-credentials", False)
    terminate = c.const_bool(el, "terminate-unmatched-request", True)
    origins = _items(c, el.child("allowed-origins"), "origin")
    if el.child("allowed-origins") is None or not origins:
        c.problem(el, "needs <allowed-origins> with at least one <origin>")
    methods_el = el.child("allowed-methods")
    methods = [m.upper() for m in _items(c, methods_el, "method")] or ["GET", "POST"]
    max_age = None
    if methods_el is not None:
        c.check_attrs(methods_el, ("preflight-result-max-age",))
        max_age = c.const_int(methods_el, "preflight-result-max-age", None, minimum=0)
    headers = [h.lower() for h in _items(c, el.child("allowed-headers"), "header")]
    expose = _items(c, el.child("expose-headers"), "header")
    any_origin = "*" in origins
    if any_origin and creds:
        c.problem(el, "allow-credentials=\"true\" cannot be used with the origin \"*\"")
    origin_set = {o.rstrip("/").lower() for o in origins}
    any_method, any_header = "*" in methods, "*" in headers

    def allowed_origin(origin: str) -> bool:
        return any_origin or origin.rstrip("/").lower() in origin_set

    def common(origin: str) -> list[tuple[str, str]]:
        out = [("Access-Control-Allow-Origin", "*" if any_origin and not creds else origin)]
        if creds:
            out.append(("Access-Control-Allow-Credentials", "true"))
        if not any_origin or creds:
            out.append(("Vary", "Origin"))
        return out

    def run(ctx: Any) -> object | None:
        req = ctx.Request
        origin = req.Headers.get("Origin")
        if origin is None:
            return None
        asked = req.Headers.get("Access-Control-Request-Method")
        if req.Method == "OPTIONS" and asked is not None:
            want = [h.strip().lower() for h in
                    (req.Headers.get("Access-Control-Request-Headers") or "").split(",")
                    if h.strip()]
            ok = (allowed_origin(origin) and (any_method or asked.upper() in methods)
                  and (any_header or all(h in headers for h in want)))
            if not ok:
                trace(ctx, f"cors: preflight from {origin} not allowed")
                if not terminate:
                    return None
                ctx.Response = Response(200, "OK", [("Vary", "Origin")], b"")
                return STOP
            out = common(origin)
            out.append(("Access-Control-Allow-Methods", asked.upper() if any_method
                        else ", ".join(methods)))
            if want:
                out.append(("Access-Control-Allow-Headers",
                            ", ".join(want) if any_header else ", ".join(headers)))
            if max_age is not None:
                out.append(("Access-Control-Max-Age", str(max_age)))
            ctx.Response = Response(200, "OK", out, b"")
            trace(ctx, f"cors: preflight from {origin} allowed")
            return STOP
        if not allowed_origin(origin):
            trace(ctx, f"cors: origin {origin} not allowed")
            if terminate and req.Method in ("GET", "HEAD"):
                ctx.Response = Response(200, "OK", [("Vary", "Origin")], b"")
                return STOP
            return None
        out = common(origin)
        if expose:
            out.append(("Access-Control-Expose-Headers", ", ".join(expose)))
        if ctx.response_headers is None:
            ctx.response_headers = []
        ctx.response_headers.extend(out)
        trace(ctx, f"cors: origin {origin} allowed")
        return None
    return c.step(el, path, run, origins=origins)
