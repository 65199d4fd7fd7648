"""set-header and set-query-parameter: ``name``, ``exists-action`` and ``<value>`` children.

``name`` and ``exists-action`` may be policy expressions (as in APIM), evaluated
per request; an empty name or an unknown action is then an error (on-error runs).

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
from kubegate.sources.apim.expressions import ExpressionError

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
    name_of = evaluator(name_expr)
    fixed_name = str(name_expr.value or "") if name_expr.is_constant else None
    action_expr = c.attr(el, "exists-action", "override")
    assert action_expr is not None
    if action_expr.is_constant:
        action: str | None = c.const_choice(el, "exists-action", ACTIONS, "override")
    else:
        action = None
    action_of = evaluator(action_expr)
    values = tuple(evaluator(c.text(v)) for v in el.children)
    if action not in (None, "delete") and not values:
        c.problem(el, "needs at least one <value> (unless exists-action=\"delete\")")
    what = el.name

    def run(ctx: Any) -> None:
        name = fixed_name if fixed_name is not None else _text(name_of(ctx))
        if not name:
            raise ExpressionError(f"{what}: the name expression gave an empty name")
        act = action if action is not None else _text(action_of(ctx)).strip().lower()
        if act not in ACTIONS:
            raise ExpressionError(f"{what} {name}: exists-action must be one of "
                                  f"{', '.join(ACTIONS)}, got {act!r}")
        items = target(ctx)
        if act == "delete":
            items.delete(name)
            trace(ctx, f"{what} {name}: deleted")
            return
        exists = items.values_of(name) is not None
        if act == "skip" and exists:
            trace(ctx, f"{what} {name}: exists, skipped")
            return
        vals = [v for v in (f(ctx) for f in values) if v is not None]
        texts = [x if isinstance(x, str) else _text(x) for x in vals]
        if act == "append":
            for t in texts:
                items.append(name, t)
        elif texts:
            items.set(name, texts)
        else:
            items.delete(name)
        trace(ctx, f"{what} {name}: {act} {texts!r}")
    return c.step(el, path, run, name=fixed_name if fixed_name is not None else "(expression)",
                  action=action or "(expression)")


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
