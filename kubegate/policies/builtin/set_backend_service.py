"""set-backend-service: ``base-url`` (absolute URL, expressions allowed) or
``backend-id`` (a named backend from the configuration). The chosen URL is put
in ``context.backend_url``, which the data plane's ``send`` uses instead of the
API's backend."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.sources.apim.expressions import ExpressionError

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._util import to_text

SCHEMES = ("http://", "https://", "k8s://", "nodeport://")


@register("set-backend-service", sections={"inbound", "backend"},
          summary="send the request to another backend")
def compile_set_backend_service(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("base-url", "backend-id"))
    has_url, has_id = "base-url" in el.attributes, "backend-id" in el.attributes
    if has_url == has_id:
        c.problem(el, "needs exactly one of 'base-url' or 'backend-id'")
    if has_id:
        name = c.const(el, "backend-id", "") or ""
        url = c.env.backends.get(name)
        if url is None and name and not c.env.placeholder_named_values:
            known = ", ".join(sorted(c.env.backends)) or "none configured"
            c.attr_problem(el, "backend-id", f"unknown backend {name!r} (known: {known})")

        def run_id(ctx: Any) -> None:
            ctx.backend_url = url
            trace(ctx, f"set-backend-service: backend {name} -> {url}")
        return c.step(el, path, run_id, backend=name)
    expr = c.attr(el, "base-url", "")
    assert expr is not None
    if expr.is_constant:
        const = str(expr.value)
        raw = el.attributes.get("base-url", "")
        placeholder = c.env.placeholder_named_values and "{{" in raw
        if not placeholder and not const.lower().startswith(SCHEMES):
            c.attr_problem(el, "base-url", f"expected an absolute http(s) URL, got {const!r}")

        def run_const(ctx: Any) -> None:
            ctx.backend_url = const
            trace(ctx, f"set-backend-service: {const}")
        return c.step(el, path, run_const, base_url=const)

    def run_expr(ctx: Any) -> None:
        value = to_text(expr(ctx))
        if not value.lower().startswith(SCHEMES):
            raise ExpressionError(f"set-backend-service base-url is not an absolute URL: "
                                  f"{value!r}")
        ctx.backend_url = value
        trace(ctx, f"set-backend-service: {value}")
    return c.step(el, path, run_expr)
