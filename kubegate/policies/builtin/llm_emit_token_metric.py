"""llm-emit-token-metric and azure-openai-emit-token-metric: count LLM tokens as metrics.

Attributes: ``namespace`` (default ``API Management``). Children: one to five
``<dimension name="..." value="..."/>``; ``value`` (text or expression) may be
left out for the default dimensions ``API ID``, ``Operation ID``, ``Product ID``,
``Subscription ID``, ``User ID``, ``Location``, ``Gateway ID`` and ``Backend ID``
(APIM's list), which take their value from the request context (``Backend ID``:
the backend base URL, kubegate having no backend entities). After the
backend's response, the prompt, completion and total tokens it reports (the
``usage`` object, or counted from a streamed response; see llm_usage) are added
to the Prometheus counter ``kubegate_llm_tokens_total{namespace, kind, <dimensions>}``
(kubegate's stand-in for APIM's Application Insights custom metrics). A response
without token usage adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.observability.llm_tokens import TOKENS

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._backend_url import backend_base
from ._util import evaluator, to_text
from .limits_common import after_response
from .llm_usage import usage

MAX_DIMENSIONS = 5


def _attr(obj: Any, *names: str) -> str:
    for name in names:
        obj = getattr(obj, name, None) if obj is not None else None
    return "" if obj is None else str(obj)


DEFAULTS: dict[str, Callable[[Any], str]] = {
    "api id": lambda ctx: _attr(ctx.Api, "Id"),
    "operation id": lambda ctx: _attr(ctx.Operation, "Id"),
    "product id": lambda ctx: _attr(ctx.Product, "Id"),
    "subscription id": lambda ctx: _attr(ctx.Subscription, "Id"),
    "user id": lambda ctx: _attr(ctx.User, "Id"),
    "location": lambda ctx: _attr(ctx.Deployment, "Region"),
    "gateway id": lambda ctx: _attr(ctx.Deployment, "Gateway", "Id"),
    "backend id": lambda ctx: backend_base(ctx) or "",
}


def compile_emit_token_metric(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("namespace",))
    c.check_children(el, ("dimension",))
    namespace = c.const(el, "namespace", "API Management") or "API Management"
    if not el.children:
        c.problem(el, "needs at least one <dimension>")
    if len(el.children) > MAX_DIMENSIONS:
        c.problem(el, f"at most {MAX_DIMENSIONS} dimensions are allowed")
    dims: list[tuple[str, Callable[[Any], Any]]] = []
    for d in el.children:
        c.check_attrs(d, ("name", "value"), required=("name",))
        name = c.const(d, "name", "") or ""
        if "value" in d.attributes:
            dims.append((name, evaluator(c.attr(d, "value", ""))))  # type: ignore[arg-type]
        elif name.strip().lower() in DEFAULTS:
            dims.append((name, DEFAULTS[name.strip().lower()]))
        else:
            c.problem(d, f"dimension {name!r} needs a value (it is not a default dimension: "
                         f"{', '.join(sorted(DEFAULTS))})")
    c.needs_request_body = True
    c.needs_response_body = True
    policy = el.name

    def run(ctx: Any) -> None:
        body = ctx.Request.Body.content
        values = [(n, to_text(f(ctx))) for n, f in dims]
        done = False

        async def record(ctx: Any) -> None:
            nonlocal done
            if done:
                return
            done = True
            used = usage(body, ctx.Response)
            if used is None:
                trace(ctx, f"{policy}: the response reports no token usage")
                return
            TOKENS.add(namespace, values, *used)
            trace(ctx, f"{policy} {namespace}: prompt={used[0]} completion={used[1]} "
                       f"total={used[2]}")
        after_response(ctx, record)
    return c.step(el, path, run, namespace=namespace, dimensions=len(dims))


@register("llm-emit-token-metric", sections={"inbound"}, summary="count LLM tokens as metrics")
def compile_llm_emit_token_metric(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    return compile_emit_token_metric(el, c, path)


@register("azure-openai-emit-token-metric", sections={"inbound"},
          summary="count Azure OpenAI tokens as metrics")
def compile_azure_openai_emit_token_metric(el: PolicyElement, c: Compiler, path: str
                                           ) -> Step | None:
    return compile_emit_token_metric(el, c, path)
