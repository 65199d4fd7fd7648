"""set-body: replace the request body (inbound/backend) or the response body.

The text is literal (named values resolved) or an expression; a JSON object or
array result is serialised, ``byte[]`` is kept. ``xsi-nil`` (``blank``/``null``)
gives an empty body.

``template="liquid"``: the content (text and any XML child elements, in
document order) is a Liquid template (see ``kubegate.policies.liquid``),
parsed at compile time and rendered per request with ``context`` and ``body``
(the message body parsed as JSON or XML by its Content-Type; ``nil`` inside
return-response, where APIM gives templates no body). Configured
``{{named values}}`` are substituted first; any other ``{{...}}`` is Liquid."""

from __future__ import annotations

from typing import Any

from kubegate.model.errors import Problem
from kubegate.model.policy import TEXT_KEY, PolicyElement
from kubegate.sources.apim.expressions import ExpressionError
from kubegate.sources.apim.expressions.api import NAMED_VALUE

from ..compiler import Compiler
from ..liquid import LiquidError, LiquidSyntaxError, Template
from ..liquid.context import ContextDrop, parse_body
from ..registry import register
from ..runtime import Step, trace
from ._inner_xml import MixedContentError, inner
from ._util import evaluator, targets_response, to_bytes


def _liquid(el: PolicyElement, c: Compiler, path: str, response: bool) -> Step | None:
    try:
        source = inner(el)
    except MixedContentError as exc:
        c.problem(exc.element, str(exc))
        return None
    known = c.env.named_values
    source = NAMED_VALUE.sub(lambda m: known.get(m.group(1), m.group(0)), source)
    try:
        template = Template(source)
    except LiquidSyntaxError as exc:
        where = el.where(TEXT_KEY)
        first = where["line"] or el.line or 1
        column = exc.column
        if column is not None and exc.line == 1 and TEXT_KEY in el.positions:
            column += where["column"] - 1
        c.problems.append(Problem(f"<set-body>: liquid template: {exc.message}", el.file,
                                  first + exc.line - 1, column))
        return None
    except RecursionError:  # the parser limits nesting; this is a last line of defence
        c.problem(el, "liquid template: the template is nested too deeply")
        return None
    in_return = c.section == "return-response"

    def run(ctx: Any) -> None:
        message = ctx.Response if response else ctx.Request
        body = None if in_return else parse_body(message.Body.content,
                                                  message.Headers.get("Content-Type"))
        try:
            text = template.render({"context": ContextDrop(ctx, response or in_return),
                                    "body": body})
        except LiquidError as exc:
            raise ExpressionError(f"liquid template: {exc}") from None
        data = text.encode("utf-8")
        message.Body.content = data
        trace(ctx, f"set-body (liquid): {len(data)} bytes")
    return c.step(el, path, run, target="response" if response else "request",
                  template="liquid")


@register("set-body", summary="replace the request or response body")
def compile_set_body(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("template", "xsi-nil", "parse-date"))
    template = c.const(el, "template")
    liquid = template is not None and template.lower() == "liquid"
    if template is not None and not liquid:
        c.attr_problem(el, "template", f"unknown template kind {template!r} (only liquid)")
    if not liquid:
        c.check_children(el, ())
    c.const_choice(el, "xsi-nil", ("blank", "null"), "blank")
    c.const_bool(el, "parse-date", True)
    response = targets_response(c.section)
    if c.section in ("outbound", "on-error"):
        c.needs_response_body = True
    elif c.section in ("inbound", "backend"):
        c.needs_request_body = True
    if liquid:
        return _liquid(el, c, path, response)
    get = evaluator(c.text(el))

    def run(ctx: Any) -> None:
        data = to_bytes(get(ctx))
        (ctx.Response if response else ctx.Request).Body.content = data
        trace(ctx, f"set-body: {len(data)} bytes")
    return c.step(el, path, run, target="response" if response else "request")
