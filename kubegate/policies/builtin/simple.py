"""set-method, set-status, set-variable and trace: one attribute or text each.

* ``set-method``: the text is the new request method (inbound, on-error).
* ``set-status``: ``code`` (required), ``reason`` — the response status.
* ``set-variable``: ``name``, ``value`` — ``context.Variables[name]``.
* ``trace``: ``source`` (required), ``severity`` (verbose/information/error,
  default verbose), ``<message>`` and ``<metadata name value>`` children; the
  message goes to the context's trace list (the access log reads it)."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, to_text


@register("set-method", sections={"inbound", "on-error", "backend"},
          summary="change the request method")
def compile_set_method(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ())
    if not el.text:
        c.problem(el, "needs the method as text, e.g. <set-method>POST</set-method>")
    get = evaluator(c.text(el))

    def run(ctx: Any) -> None:
        method = to_text(get(ctx)).strip().upper()
        ctx.Request.Method = method
        if ctx.Tracing:
            trace(ctx, f"set-method: {method}")
    return c.step(el, path, run)


@register("set-status", summary="set the response status code and reason")
def compile_set_status(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("code", "reason"), required=("code",))
    code = evaluator(c.attr(el, "code", "200"))  # type: ignore[arg-type]
    reason = evaluator(c.attr(el, "reason", ""))  # type: ignore[arg-type]
    raw = el.attributes.get("code", "200")
    if not raw.startswith("@") and "{{" not in raw and not raw.strip().isdigit():
        c.attr_problem(el, "code", f"expected a status code, got {raw!r}")

    def run(ctx: Any) -> None:
        value = code(ctx)
        try:
            status = int(value)
        except (TypeError, ValueError):
            from kubegate.sources.apim.expressions import ExpressionError
            raise ExpressionError(f"set-status code is not a number: {value!r}") from None
        ctx.Response.StatusCode = status
        ctx.Response.StatusReason = to_text(reason(ctx))
        if ctx.Tracing:
            trace(ctx, f"set-status: {status}")
    return c.step(el, path, run)


@register("set-variable", summary="store a value in context.Variables")
def compile_set_variable(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("name", "value"), required=("name", "value"))
    name = c.const(el, "name", "") or ""
    get = evaluator(c.attr(el, "value", ""))  # type: ignore[arg-type]

    def run(ctx: Any) -> None:
        value = get(ctx)
        ctx.Variables[name] = value
        if ctx.Tracing:
            trace(ctx, f"set-variable {name} = {to_text(value)[:80]!r}")
    return c.step(el, path, run, name=name)


@register("trace", summary="write a message to the request's trace")
def compile_trace(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("source", "severity"), required=("source",))
    c.check_children(el, ("message", "metadata"))
    source = c.const(el, "source", "") or ""
    severity = c.const_choice(el, "severity", ("verbose", "information", "error"), "verbose")
    msg_el = el.child("message")
    message = evaluator(c.text(msg_el)) if msg_el is not None else (lambda ctx: "")
    metadata = []
    for m in el.children:
        if m.name == "metadata":
            c.check_attrs(m, ("name", "value"), required=("name", "value"))
            metadata.append((m.attributes.get("name", ""),
                             evaluator(c.attr(m, "value", ""))))  # type: ignore[arg-type]

    def run(ctx: Any) -> None:
        if ctx.trace is None:
            ctx.trace = []
        meta = "".join(f" {n}={to_text(f(ctx))}" for n, f in metadata)
        ctx.trace.append(f"trace [{severity}] {source}: {to_text(message(ctx))}{meta}")
    return c.step(el, path, run, source=source, severity=severity)
