"""check-header: ``name``, ``failed-check-httpcode``, ``failed-check-error-message``,
``ignore-case`` and optional ``<value>`` children.

The request fails (to on-error, with that status and message) when the header
is missing (Reason ``HeaderNotFound``) or, if values are listed, when none of
its values equals one of them (``HeaderValueNotAllowed``)."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, to_text


@register("check-header", sections={"inbound"}, summary="require a request header (and value)")
def compile_check_header(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("name", "failed-check-httpcode", "failed-check-error-message",
                       "ignore-case"),
                  required=("name", "failed-check-httpcode", "failed-check-error-message",
                            "ignore-case"))
    c.check_children(el, ("value",))
    name = c.const(el, "name", "") or ""
    status = c.const_int(el, "failed-check-httpcode", 401, minimum=100, maximum=599) or 401
    message = evaluator(c.attr(el, "failed-check-error-message", ""))  # type: ignore[arg-type]
    ignore_case = c.const_bool(el, "ignore-case", False)
    values = [evaluator(c.text(v)) for v in el.children]

    def fail(ctx: Any, reason: str) -> PolicyFailure:
        return PolicyFailure(status, reason, to_text(message(ctx)), source="check-header")

    def run(ctx: Any) -> None:
        got = ctx.Request.Headers.values_of(name)
        if got is None:
            trace(ctx, f"check-header {name}: missing -> {status}")
            raise fail(ctx, "HeaderNotFound")
        if values:
            allowed = [to_text(v(ctx)) for v in values]
            actual = [x.strip() for g in got for x in g.split(",")] + list(got)
            if ignore_case:
                allowed = [a.lower() for a in allowed]
                actual = [a.lower() for a in actual]
            if not any(a in allowed for a in actual):
                trace(ctx, f"check-header {name}: value not allowed -> {status}")
                raise fail(ctx, "HeaderValueNotAllowed")
        if ctx.Tracing:
            trace(ctx, f"check-header {name}: ok")
    return c.step(el, path, run, header=name, status=status)
