"""rewrite-uri: ``template`` (required), ``copy-unmatched-params`` (default true).

The template is the backend path relative to the API (``/v2/orders/{id}?x={q}``);
``{name}`` takes the matched operation parameter ``name`` (URL-escaped; empty
when absent). With ``copy-unmatched-params``, query parameters of the incoming
request that are not operation template parameters and not set by the template
are kept. The new path keeps the API's path prefix (``context.Api.Path``) so
the data plane maps it to the backend the same way as an unrewritten path."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..context import Url
from ..registry import register
from ..runtime import Step, trace
from ._util import to_text

PARAM = re.compile(r"\{([^{}]+)\}")


def _parts(template: str) -> list[tuple[bool, str]]:
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in PARAM.finditer(template):
        parts.append((False, template[pos:m.start()]))
        parts.append((True, m.group(1).lstrip("*")))
        pos = m.end()
    parts.append((False, template[pos:]))
    return [p for p in parts if p[0] or p[1]]


def _render(parts: list[tuple[bool, str]], params: dict[str, str], safe: str) -> str:
    return "".join(quote(params.get(v, ""), safe=safe) if is_param else v
                   for is_param, v in parts)


def rewrite(template: str) -> Callable[[Any, bool], str]:
    """A function applying ``template`` to a context; returns the new path+query."""
    path_t, _, query_t = template.partition("?")
    path_parts = _parts(path_t if path_t.startswith("/") else "/" + path_t)
    query_parts = _parts(query_t)

    def apply(ctx: Any, copy_unmatched: bool) -> str:
        req = ctx.Request
        params = req.MatchedParameters
        path = _render(path_parts, params, "")
        query = _render(query_parts, params, "=&") if query_parts else ""
        pairs = parse_qsl(query, keep_blank_values=True)
        if copy_unmatched:
            used = {n for n, _ in pairs}
            old = req.Url.Query
            for name in old.names():
                if name not in used and name not in params:
                    pairs.extend((name, v) for v in old.values_of(name) or ())
        prefix = ""
        api = ctx.Api
        if api is not None and api.Path:
            prefix = "/" + str(api.Path).strip("/")
        qs = "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs)
        url = req.Url
        req.Url = Url(url.Scheme, url.Host, url.Port, (prefix + path) or "/", qs)
        return path + ("?" + qs if qs else "")
    return apply


@register("rewrite-uri", sections={"inbound"}, summary="rewrite the backend path and query")
def compile_rewrite_uri(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("template", "copy-unmatched-params"), required=("template",))
    copy = c.const_bool(el, "copy-unmatched-params", True)
    tmpl = c.attr(el, "template", "/")
    assert tmpl is not None
    if tmpl.is_constant:
        apply = rewrite(str(tmpl.value))

        def run(ctx: Any) -> None:
            trace(ctx, f"rewrite-uri: {apply(ctx, copy)}")
        return c.step(el, path, run, template=str(tmpl.value))

    def run_expr(ctx: Any) -> None:
        trace(ctx, f"rewrite-uri: {rewrite(to_text(tmpl(ctx)))(ctx, copy)}")
    return c.step(el, path, run_expr)
