"""Shared plumbing of the limit policies (rate-limit*, quota*; see docs/rate-limits.md).

* The counter store comes from ``env.services["counters"]`` (memory, host
  server client or Redis, chosen by the gateway); without services (offline
  ``kubegate policy check/run``) one process-wide ``MemoryCounterStore``.
* The fail mode comes from the kubegate attribute ``fail-mode`` on the element,
  else ``env.services["fail_mode"]``, else ``fail-open``.
* Work deferred "after the response" (an ``increment-condition`` that reads
  ``context.Response``, quota bandwidth) wraps ``ctx.send``: it runs once the
  backend's response is in ``ctx.Response``.

Stateless apart from the lazily created offline store.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import PolicyElement
from kubegate.services.counters import (
    DEFAULT_FAIL_MODE,
    CounterStore,
    Expression,
    FailMode,
    LimitResponse,
    MemoryCounterStore,
    ScopedLimit,
    store_unavailable,
)
from kubegate.sources.apim.expressions import ExpressionError, is_expression, resolve_named_values

from ..compiler import Compiler
from ..errors import PolicyFailure
from ._util import evaluator, to_text

log = logging.getLogger("kubegate.limits")
FAIL_MODE_ATTR = "fail-mode"
_offline: list[MemoryCounterStore] = []
T = TypeVar("T")
Eval = Callable[[Any], Any]


def counter_store(c: Compiler) -> CounterStore:
    store = c.env.services.get("counters")
    if store is not None:
        return cast(CounterStore, store)
    if not _offline:
        _offline.append(MemoryCounterStore())
    return _offline[0]


def fail_mode(el: PolicyElement, c: Compiler) -> FailMode:
    default = str(c.env.services.get("fail_mode") or DEFAULT_FAIL_MODE)
    return cast(FailMode, c.const_choice(el, FAIL_MODE_ATTR, ("fail-open", "fail-closed"), default))


def parse_spec(el: PolicyElement, c: Compiler, parser: Callable[[dict[str, Any]], T]) -> T | None:
    """Run a ``services.counters`` schema parser on ``el`` (named values resolved first)."""
    try:
        return parser(_tree(el, c))
    except ConfigError as exc:
        c.problems.extend(Problem(p.message, el.file, p.line or el.line, None, p.field)
                          for p in exc.problems)
        return None


NUMERIC_ATTRS = frozenset({"calls", "renewal-period", "bandwidth", "increment-count"})


def _tree(el: PolicyElement, c: Compiler) -> dict[str, Any]:
    def value(name: str, text: str) -> str:
        if is_expression(text):
            return text
        if name in NUMERIC_ATTRS and c.unresolved(text):
            return "1"  # check mode: an unconfigured named value stands for a valid number
        return resolve_named_values(text, c.named_values, line=el.line or 1)
    return {"name": el.name, "line": el.line,
            "attributes": {k: value(k, v) for k, v in el.attributes.items()
                           if k not in (FAIL_MODE_ATTR, "id")},
            "children": [_tree(ch, c) for ch in el.children]}


def compiled(el: PolicyElement, c: Compiler, attr: str, value: Any) -> Eval:
    """``ctx -> value`` for a spec field that may hold an ``Expression``."""
    if isinstance(value, Expression):
        return evaluator(c.value(el, value.source, attr))
    return lambda ctx: value


def reads_response(*values: Any) -> bool:
    """True when an expression among ``values`` reads ``context.Response``: APIM then
    evaluates it (and counts) at the end of the request, not in inbound."""
    return any(isinstance(v, Expression) and "Response" in v.source for v in values)


def as_int(value: Any, what: str, lo: int = 0, hi: int | None = None) -> int:
    try:
        n = int(to_text(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ExpressionError(f"{what} must be a whole number, got {to_text(value)!r}") from None
    if n < lo or (hi is not None and n > hi):
        raise ExpressionError(f"{what} must be between {lo} and {hi or 'any'}, got {n}")
    return n


def as_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = to_text(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ExpressionError(f"{what} must be a boolean, got {to_text(value)!r}")


def after_response(ctx: Any, fn: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``fn(ctx)`` each time the backend has answered (``ctx.send`` returned)."""
    inner = ctx.send
    if inner is None:
        return

    async def send(c: Any) -> None:
        await inner(c)
        await fn(c)
    ctx.send = send


def message_bytes(message: Any) -> int:
    """Body size of a request/response: the loaded body, else its Content-Length."""
    content = message.Body.content
    if content is not None:
        return len(content)
    length = message.Headers.get("Content-Length")
    return int(length) if length and length.strip().isdigit() else 0


def exchanged_bytes(ctx: Any) -> int:
    return message_bytes(ctx.Request) + message_bytes(ctx.Response)


def subscription_id(ctx: Any) -> str | None:
    sub = ctx.Subscription
    ident = getattr(sub, "Id", None) if sub is not None else None
    return str(ident) if ident else None


def who(ctx: Any) -> tuple[str, str]:
    api = getattr(ctx.Api, "Id", None) or "-"
    op = getattr(ctx.Operation, "Id", None) or "-"
    return str(api), str(op)


def rejected(ctx: Any, policy: str, counter: str, limit: str, response: LimitResponse,
             reason: str, message: str) -> PolicyFailure:
    """Log the rejection (API, operation, subscription, counter key, limit) and build
    the failure that sends ``response``."""
    log_rejected(policy, *who(ctx), subscription_id(ctx), counter, limit, response.status)
    return PolicyFailure(response.status, reason, message, headers=list(response.headers),
                         body=response.body, source=policy)


def log_rejected(policy: str, api: str, operation: str, subscription: str | None,
                 counter: str, limit: str, status: int) -> None:
    log.info("%s rejected request: api=%s operation=%s subscription=%s key=%s limit=%s "
             "status=%d", policy, api, operation, subscription or "-", counter, limit, status)


def unavailable(ctx: Any, policy: str, counter: str, message: str) -> PolicyFailure:
    log_unavailable(policy, *who(ctx), counter)
    resp = store_unavailable(message)
    return PolicyFailure(503, "CounterStoreUnavailable", message, headers=list(resp.headers),
                         body=resp.body, source=policy)


def log_unavailable(policy: str, api: str, operation: str, counter: str) -> None:
    log.warning("%s: counter store unavailable, fail-closed: api=%s operation=%s key=%s",
                policy, api, operation, counter)


def add_response_header(ctx: Any, name: str | None, value: int) -> None:
    if name:
        if ctx.response_headers is None:
            ctx.response_headers = []
        ctx.response_headers.append((name, str(value)))


def scope_tag(scope: str | None, ctx: Any) -> str:
    """The part of a counter key naming where the policy is configured."""
    return scope_tag_of(scope, getattr(ctx.Api, "Id", None),
                        getattr(ctx.Operation, "Id", None) if scope == "operation" else None)


def scope_tag_of(scope: str | None, api: str | None, operation: str | None) -> str:
    """`scope_tag` from the API's and operation's ids (``context.Api.Id``, ``.Operation.Id``)."""
    if scope == "api":
        return f"api:{api or '-'}"
    if scope == "operation":
        return f"op:{api or '-'}/{operation or '-'}"
    return scope or "doc"


def nested(apis: tuple[ScopedLimit, ...], ctx: Any) -> list[tuple[str, ScopedLimit]]:
    """The nested limits that apply to this request, with their key suffixes."""
    out: list[tuple[str, ScopedLimit]] = []
    if not apis:
        return out
    names = {getattr(ctx.Api, "Id", None), getattr(ctx.Api, "Name", None)} - {None}
    ops = {getattr(ctx.Operation, "Id", None), getattr(ctx.Operation, "Name", None)} - {None}
    for api in apis:
        if api.ref in names:
            if api.calls is not None or api.bandwidth is not None:
                out.append((f"api:{api.ref}", api))
            out.extend((f"api:{api.ref}:op:{op.ref}", op) for op in api.operations
                       if op.ref in ops and (op.calls is not None or op.bandwidth is not None))
    return out
