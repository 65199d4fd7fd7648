"""set-body: replace the request body (inbound/backend) or the response body.

The text is literal (named values resolved) or an expression; a JSON object or
array result is serialised, ``byte[]`` is kept. ``template="liquid"`` is not
supported (compile error); ``xsi-nil`` (``blank``/``null``) gives an empty body."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, targets_response, to_bytes


@register("set-body", summary="replace the request or response body")
def compile_set_body(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("template", "xsi-nil", "parse-date"))
    c.check_children(el, ())
    template = c.const(el, "template")
    if template is not None:
        if template.lower() == "liquid":
            c.attr_problem(el, "template", "liquid templates are unsupported")
        else:
            c.attr_problem(el, "template", f"unknown template kind {template!r}")
    c.const_choice(el, "xsi-nil", ("blank", "null"), "blank")
    c.const_bool(el, "parse-date", True)
    get = evaluator(c.text(el))
    response = targets_response(c.section)
    if c.section in ("outbound", "on-error"):
        c.needs_response_body = True
    elif c.section in ("inbound", "backend"):
        c.needs_request_body = True

    def run(ctx: Any) -> None:
        data = to_bytes(get(ctx))
        (ctx.Response if response else ctx.Request).Body.content = data
        trace(ctx, f"set-body: {len(data)} bytes")
    return c.step(el, path, run, target="response" if response else "request")
