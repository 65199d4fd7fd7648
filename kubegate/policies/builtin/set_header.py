"""set-header and set-query-parameter: ``name``, ``exists-action`` and ``<value>`` children.

``exists-action``: ``override`` (default) replaces the values, ``skip`` leaves an
existing header untouched, ``append`` adds the values, ``delete`` removes it.
Several ``<value>`` elements give several values. A value expression that yields
null is dropped; ``override`` with no remaining value removes the header.
In ``outbound``/``on-error`` set-header acts on the response, elsewhere on the
request; set-query-parameter acts on the request URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, targets_response

ACTIONS = ("override", "skip", "append", "delete")


def _compile(el: PolicyElement, c: Compiler, path: str,
             target: Callable[[Any], Any]) -> Step:
    c.check_attrs(el, ("name", "exists-action"), required=("name",))
    c.check_children(el, ("value",))
    name_expr = c.attr(el, "name", "")
    assert name_expr is not None
    if not name_expr.is_constant:
        c.attr_problem(el, "name", "policy expressions are not supported here")
    name = str(name_expr.value or "")
    action = c.const_choice(el, "exists-action", ACTIONS, "override")
    values = tuple(evaluator(c.text(v)) for v in el.children)
    if action != "delete" and not values:
        c.problem(el, "needs at least one <value> (unless exists-action=\"delete\")")
    what = el.name

    def run(ctx: Any) -> None:
        items = target(ctx)
        if action == "delete":
            items.delete(name)
            trace(ctx, f"{what} {name}: deleted")
            return
        exists = items.values_of(name) is not None
        if action == "skip" and exists:
            trace(ctx, f"{what} {name}: exists, skipped")
            return
        vals = [v for v in (f(ctx) for f in values) if v is not None]
        texts = [x if isinstance(x, str) else _text(x) for x in vals]
        if action == "append":
            for t in texts:
                items.append(name, t)
        elif texts:
            items.set(name, texts)
        else:
            items.delete(name)
        trace(ctx, f"{what} {name}: {action} {texts!r}")
    return c.step(el, path, run, name=name, action=action)


def _text(v: Any) -> str:
    from ._util import to_text
    return to_text(v)


@register("set-header", summary="set, append, skip or delete a header")
def compile_set_header(el: PolicyElement, c: Compiler, path: str) -> Step:
    if targets_response(c.section):
        return _compile(el, c, path, lambda ctx: ctx.Response.Headers)
    return _compile(el, c, path, lambda ctx: ctx.Request.Headers)


@register("set-query-parameter", sections={"inbound", "backend"},
          summary="set, append, skip or delete a query parameter")
def compile_set_query_parameter(el: PolicyElement, c: Compiler, path: str) -> Step:
    return _compile(el, c, path, lambda ctx: ctx.Request.Url.Query)
