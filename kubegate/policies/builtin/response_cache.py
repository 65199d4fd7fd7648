"""cache-lookup and cache-store: an in-gateway response cache (GET only).

cache-lookup (inbound): ``vary-by-developer``, ``vary-by-developer-groups``
(required), ``downstream-caching-type`` (none/private/public), ``must-revalidate``,
``allow-private-response-caching``, ``caching-type``; children ``<vary-by-header>``,
``<vary-by-query-parameter>``. The key is the method, the URL path, the listed
query parameters and headers (and the subscription/user when varied by
developer). A hit answers from the cache and ends the pipeline.
cache-store (outbound): ``duration`` (seconds; expression allowed),
``cache-response`` (store only 200 by default; an expression can decide).
Entries live in the ``"cache"`` service (the process memory cache by default)."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..context import Response
from ..errors import STOP
from ..registry import register
from ..runtime import Step, trace
from ._util import bool_evaluator, evaluator, to_text
from .cache_value import CACHING_TYPES, _cache


@register("cache-lookup", sections={"inbound"}, summary="answer from the response cache")
def compile_cache_lookup(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("vary-by-developer", "vary-by-developer-groups", "downstream-caching-type",
                       "must-revalidate", "allow-private-response-caching", "caching-type"),
                  required=("vary-by-developer", "vary-by-developer-groups"))
    c.check_children(el, ("vary-by-header", "vary-by-query-parameter"))
    by_dev = c.const_bool(el, "vary-by-developer", False)
    by_groups = c.const_bool(el, "vary-by-developer-groups", False)
    c.const_choice(el, "downstream-caching-type", ("none", "private", "public"), "none")
    c.const_bool(el, "must-revalidate", True)
    c.const_bool(el, "allow-private-response-caching", False)
    c.const_choice(el, "caching-type", CACHING_TYPES, "prefer-external")
    headers = [str(c.text(h).value).strip() for h in el.children if h.name == "vary-by-header"]
    params = sorted(str(c.text(q).value).strip() for q in el.children
                    if q.name == "vary-by-query-parameter")
    cache = _cache(c)

    def key_of(ctx: Any) -> str:
        req = ctx.Request
        parts = [req.Method, req.Url.Path]
        parts += [f"q:{p}={req.Url.Query.GetValueOrDefault(p, '')}" for p in params]
        parts += [f"h:{h}={req.Headers.get(h, '')}" for h in headers]
        if by_dev:
            parts.append(f"dev:{getattr(ctx.Subscription, 'Id', '')}")
        if by_groups:
            groups = getattr(ctx.User, "Groups", None) or []
            parts.append("groups:" + ",".join(sorted(str(g.Id) for g in groups)))
        return "response|" + "\n".join(parts)

    def run(ctx: Any) -> object | None:
        if ctx.Request.Method not in ("GET", "HEAD"):
            return None
        key = key_of(ctx)
        hit, value = cache.get(key)
        if hit:
            status, reason, hdrs, body = value
            ctx.Response = Response(status, reason, list(hdrs), body)
            trace(ctx, "cache-lookup: hit")
            return STOP
        ctx.cache_key = key
        trace(ctx, "cache-lookup: miss")
        return None
    return c.step(el, path, run, headers=headers, query=params)


@register("cache-store", sections={"outbound"}, summary="store the response in the cache")
def compile_cache_store(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("duration", "cache-response"), required=("duration",))
    duration = evaluator(c.attr(el, "duration", "0"))  # type: ignore[arg-type]
    cache_response = c.attr(el, "cache-response")
    decide = bool_evaluator(cache_response, "cache-response") if cache_response else None
    c.needs_response_body = True
    cache = _cache(c)

    def run(ctx: Any) -> None:
        key = ctx.cache_key
        if key is None:
            return
        resp = ctx.Response
        ok = decide(ctx) if decide is not None else resp.StatusCode == 200
        if not ok:
            return
        seconds = float(to_text(duration(ctx)) or 0)
        cache.set(key, (resp.StatusCode, resp.StatusReason, resp.Headers.to_list(),
                        resp.Body.content or b""), max(seconds, 0.0))
        if ctx.Tracing:
            trace(ctx, f"cache-store: {seconds:g} s")
    return c.step(el, path, run)
