"""rate-limit and rate-limit-by-key: sliding windows on the shared counter store.

``rate-limit`` counts per subscription (``context.Subscription.Id``); a request
without a subscription is not limited (APIM applies the policy to calls made
with a subscription key only). The policy's own limit and every matching nested
``<api>``/``<operation>`` limit are separate counters, all checked at once
(one batched round trip); the request passes only when all have room.

``rate-limit-by-key`` counts per evaluated ``counter-key``: one counter per key
value, shared by every scope configuring it. When ``increment-condition`` or
``increment-count`` reads ``context.Response`` the inbound check only asks
"is there room for one more?" (cost 0) and the increment happens after the
backend's response; otherwise it is checked and counted atomically in inbound.

Over the limit: 429 with ``Retry-After`` (or ``retry-after-header-name``) and
APIM's JSON message, Reason ``RateLimitExceeded``; store unreachable under
``fail-closed``: 503. The quota policies live in ``limits_quota``.

The *usual form* of each (fixed numbers, one counter, no condition, nothing
reported on admission) also gets a ``head_check`` (see ``Pipeline.head_check``):
the same hit on the same counter key from the subscription and client address
alone (``rate-limit-by-key`` only for a fixed counter-key, the client's address or
the subscription id), immediate on the memory store (a refusal, uncounted, is left
to the step), or a ``HeadWait`` on stores answering through futures, whose
verdict answers what the step would (``waiting_head_check``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from kubegate.model.policy import PolicyElement
from kubegate.services.counters import (
    Expression,
    Headers,
    LimitResponse,
    RateDecision,
    parse_rate_limit,
    parse_rate_limit_by_key,
    rate_limit_exceeded,
    store_unavailable,
)
from kubegate.services.counters.base import check_rate_args
from kubegate.services.counters.batch import Verdict
from kubegate.services.counters.schema import MAX_RATE_PERIOD

from ..compiler import Compiler
from ..registry import register
from ..runtime import HeadCheck, HeadWait, Step, Wait, trace
from . import limits_quota  # noqa: F401  (registers quota, quota-by-key)
from ._util import to_text
from .limits_common import (
    add_response_header,
    after_response,
    as_bool,
    as_int,
    compiled,
    counter_store,
    fail_mode,
    log_rejected,
    log_unavailable,
    nested,
    parse_spec,
    reads_response,
    rejected,
    scope_tag,
    scope_tag_of,
    subscription_id,
    unavailable,
)

Limit = tuple[str, int, int]  # counter key, calls, period
SUBSCRIPTION_KEYS_KEPT: Final = 4096  # per head check (see subscription_keys)


def finish(ctx: Any, policy: str, decisions: list[tuple[Limit, RateDecision]],
           headers: Headers) -> None:
    """Turn decisions into headers, variables, or the 429/503 failure."""
    if len(decisions) == 1 and decisions[0][1].allowed and quiet(headers):
        if ctx.Tracing:
            trace(ctx, f"{policy} {decisions[0][0][0]}: {decisions[0][1].remaining} left")
        return  # the common case: admitted, nothing to report
    closed = next((d for _, d in decisions if d.unavailable and not d.allowed), None)
    if closed is not None:
        raise unavailable(ctx, policy, decisions[0][0][0], closed.message)
    (key, calls, period), tightest = min(decisions, key=lambda kd: kd[1].remaining)
    if headers.remaining_calls_variable_name:
        ctx.Variables[headers.remaining_calls_variable_name] = tightest.remaining
    add_response_header(ctx, headers.remaining_calls_header_name, tightest.remaining)
    add_response_header(ctx, headers.total_calls_header_name, tightest.total)
    denied = [(lim, d) for lim, d in decisions if not d.allowed]
    if not denied:
        trace(ctx, f"{policy} {key}: {tightest.remaining} of {calls} left")
        return
    retry = max(d.retry_after_s for _, d in denied)
    (key, calls, period), _ = denied[0]
    if headers.retry_after_variable_name:
        ctx.Variables[headers.retry_after_variable_name] = retry
    trace(ctx, f"{policy} {key}: over {calls}/{period}s, retry after {retry}s")
    resp = rate_limit_exceeded(retry, headers.retry_after_header_name)
    raise rejected(ctx, policy, key, f"{calls}/{period}s", resp, "RateLimitExceeded",
                   "Rate limit is exceeded")


def usual(store: Any, calls: Any, period: Any, count: Any) -> bool:
    """A limit the usual forms can count: a store answering in the caller, with its
    verdict alone (``admit_now``), and fixed arguments it accepts (checked here once)."""
    if getattr(store, "admit_now", None) is None or getattr(store, "hit_rate_now", None) is None:
        return False
    return valid_rate(calls, period, count)


def valid_rate(calls: Any, period: Any, count: Any) -> bool:
    """Fixed limit arguments every store accepts (checked once, at compile time)."""
    try:
        check_rate_args(calls, period, count)
    except (TypeError, ValueError):
        return False
    return True


HeadKey = Callable[[str | None, bytes], "str | bool"]


def waiting_head_check(later: Any, mode: Any, policy: str, where: tuple[str, str],
                       key_of: HeadKey, calls: int, period: int, count: int,
                       headers: Headers) -> HeadCheck:
    """The head check of a usual-form limit on a store that answers through futures
    (Redis): ``key_of(subscription, client_ip)`` gives the counter key to hit now (or
    True: nothing to count; False: only the policy can tell), and the request waits
    for the verdict: admitted, or the 429 (503 when the store is unreachable under
    fail-closed) the policy would answer, logged as it logs it."""
    api, operation = where
    limit = f"{calls}/{period}s"

    def settle(future: Any, arg: tuple[str, str | None]) -> LimitResponse | None:
        if later.rate_admitted(future):
            return None
        key, subscription = arg
        decision = later.rate_decision(future, calls, mode)
        if decision.allowed:  # (fail-open)
            return None
        if decision.unavailable:
            log_unavailable(policy, api, operation, key)
            return store_unavailable(decision.message)
        log_rejected(policy, api, operation, subscription, key, limit, 429)
        return rate_limit_exceeded(decision.retry_after_s, headers.retry_after_header_name)

    def head_check(subscription: str | None, client_ip: bytes) -> bool | HeadWait:
        key = key_of(subscription, client_ip)
        if key.__class__ is bool:
            return key  # type: ignore[return-value]
        return HeadWait(later.hit_rate_soon(key, calls, period, count, to=Verdict()), settle,
                        (key, subscription))
    return head_check


def count_after_response(store: Any, limit: Limit, counted: Callable[[Any], int],
                         mode: Any) -> Callable[[Any], Awaitable[None]]:
    """The after-response hook of a rate-limit-by-key whose increment reads the
    response: counts `counted(ctx)` hits once, when that is not 0."""
    key, calls, period = limit
    done = False

    async def count_after(ctx: Any) -> None:
        nonlocal done
        n = 0 if done else counted(ctx)
        if n:
            done = True
            await store.hit_rate(key, calls, period, n, fail_mode=mode)
            trace(ctx, f"rate-limit-by-key {key}: counted {n} after the response")
    return count_after


def quiet(headers: Headers) -> bool:
    """An admitted call reports nothing (no remaining/total header or variable)."""
    return not (headers.remaining_calls_header_name or headers.total_calls_header_name
                or headers.remaining_calls_variable_name)


@register("rate-limit", sections={"inbound"}, summary="limit calls per subscription (sliding)")
def compile_rate_limit(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    mode = fail_mode(el, c)
    spec = parse_spec(el, c, parse_rate_limit)
    if spec is None:
        return None
    store = counter_store(c)
    hit_now: Any = getattr(store, "hit_rate_now", None)  # a store that answers synchronously
    scope, apis = el.scope, spec.apis

    def limits_of(ctx: Any) -> list[Limit] | None:
        sub = subscription_id(ctx)
        if sub is None:
            trace(ctx, "rate-limit: no subscription, not limited")
            return None
        base = f"rl:{sub}:{scope_tag(scope, ctx)}"
        limits: list[Limit] = [(base, spec.calls, spec.renewal_period)]
        for suffix, lim in nested(apis, ctx):
            assert lim.calls is not None and lim.renewal_period is not None
            limits.append((f"{base}:{suffix}", lim.calls, lim.renewal_period))
        return limits

    admit_now: Any = getattr(store, "admit_now", None)  # ... and gives its verdict alone
    if usual(store, spec.calls, spec.renewal_period, 1) and not apis and quiet(spec.headers):
        calls, period = spec.calls, spec.renewal_period

        def run_counted(ctx: Any) -> None:  # the usual form: one limit, only a refusal acts
            limits = limits_of(ctx)
            if limits is not None and (ctx.Tracing or not admit_now(*limits[0])):
                finish(ctx, "rate-limit", [(limits[0], hit_now(*limits[0]))], spec.headers)
        step = c.step(el, path, run_counted, calls=calls, period=period, nested=0)
        api, operation = c.env.api_id, c.env.operation_id
        if api is not None and operation is not None:  # compiled for one operation
            key_of = subscription_keys(f":{scope_tag_of(scope, api, operation)}")

            def head_check(subscription: str | None, client_ip: bytes) -> bool:
                # run_counted before a Context exists: a refusal is left to it (uncounted)
                return not subscription or admit_now(key_of(subscription), calls, period)
            step.head_check = head_check
        return step

    if hit_now is not None:
        def run_now(ctx: Any) -> None:
            limits = limits_of(ctx)
            if limits is not None:
                finish(ctx, "rate-limit", [(lim, hit_now(*lim)) for lim in limits],
                       spec.headers)
        return c.step(el, path, run_now, calls=spec.calls, period=spec.renewal_period,
                      nested=len(apis))

    async def run(ctx: Any) -> None:
        limits = limits_of(ctx)
        if limits is None:
            return
        if len(limits) == 1:
            got = [await store.hit_rate(*limits[0], fail_mode=mode)]
        else:
            got = list(await asyncio.gather(*(store.hit_rate(k, n, p, fail_mode=mode)
                                              for k, n, p in limits)))
        finish(ctx, "rate-limit", list(zip(limits, got, strict=True)), spec.headers)

    later: Any = store if hasattr(store, "hit_rate_soon") else None  # answers via futures
    soon = None
    if later is not None:
        def finished(ctx: Any, _: Any, waited: tuple[list[Limit], list[Any]]) -> None:
            limits, futures = waited
            finish(ctx, "rate-limit", [(lim, later.rate_decision(f, lim[1], mode))
                                       for lim, f in zip(limits, futures, strict=True)],
                   spec.headers)

        def soon(ctx: Any) -> Wait | None:
            limits = limits_of(ctx)
            if limits is None:
                return None
            futures = [later.hit_rate_soon(*lim) for lim in limits]
            waited = futures[0] if len(futures) == 1 else asyncio.gather(
                *futures, return_exceptions=True)
            return Wait(waited, finished, (limits, futures))
    step = c.step(el, path, run, is_async=True, soon=soon, calls=spec.calls,
                  period=spec.renewal_period, nested=len(apis))
    api, operation = c.env.api_id, c.env.operation_id
    if later is not None and not apis and quiet(spec.headers) and api is not None \
            and operation is not None and valid_rate(spec.calls, spec.renewal_period, 1):
        key_of = subscription_keys(f":{scope_tag_of(scope, api, operation)}")
        step.head_check = waiting_head_check(
            later, mode, "rate-limit", (api, operation),
            lambda subscription, _: key_of(subscription) if subscription else True,
            spec.calls, spec.renewal_period, 1, spec.headers)
    return step


def subscription_keys(tail: str) -> Callable[[str], str]:
    """The rate-limit counter key of a subscription, ``"rl:" + id + tail``, made once
    per subscription (a bounded table, emptied when full) rather than per request."""
    made: dict[str, str] = {}

    def key_of(subscription: str) -> str:
        key = made.get(subscription)
        if key is None:
            key = "rl:" + subscription + tail
            if len(made) >= SUBSCRIPTION_KEYS_KEPT:
                made.clear()
            made[subscription] = key
        return key
    return key_of


def head_counter_key(counter_key: Any) -> Callable[[str | None, bytes], str | None] | None:
    """The counter key from the subscription and client address alone, for the
    counter-keys that need nothing else (a fixed text, the client's address, the
    subscription's id): ``(subscription, client_ip) -> "rlk:..."``, or None from it
    when only the expression can tell; None for any other counter-key."""
    if not isinstance(counter_key, Expression):
        if "{{" in counter_key:
            return None
        fixed = "rlk:" + counter_key
        return lambda subscription, client_ip: fixed
    source = "".join(counter_key.source.split())
    if source == "@(context.Request.IpAddress)":
        return lambda subscription, client_ip: "rlk:" + client_ip.decode("latin-1")
    if source == "@(context.Subscription.Id)":
        return lambda subscription, client_ip: None if not subscription else "rlk:" + subscription
    return None


@register("rate-limit-by-key", sections={"inbound"}, summary="limit calls per key (sliding)")
def compile_rate_limit_by_key(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    mode = fail_mode(el, c)
    spec = parse_spec(el, c, parse_rate_limit_by_key)
    if spec is None:
        return None
    store = counter_store(c)
    key_of = compiled(el, c, "counter-key", spec.counter_key)
    calls_of = compiled(el, c, "calls", spec.calls)
    period_of = compiled(el, c, "renewal-period", spec.renewal_period)
    count_of = compiled(el, c, "increment-count", spec.increment_count)
    cond = spec.increment_condition
    cond_of = compiled(el, c, "increment-condition", True if cond is None else cond)
    deferred = reads_response(cond, spec.increment_count)

    plain = cond is None and isinstance(spec.increment_count, int)
    fixed = (spec.calls, spec.renewal_period) if isinstance(spec.calls, int) and isinstance(
        spec.renewal_period, int) else None

    def counted(ctx: Any) -> int:
        if plain:
            return spec.increment_count  # type: ignore[return-value]
        if not as_bool(cond_of(ctx), "increment-condition"):
            return 0
        return as_int(count_of(ctx), "increment-count")

    hit_now: Any = getattr(store, "hit_rate_now", None)  # a store that answers synchronously

    def hit(ctx: Any) -> tuple[Limit, int]:
        key = "rlk:" + to_text(key_of(ctx))
        if fixed is not None:
            calls, period = fixed
        else:
            calls = as_int(calls_of(ctx), "calls")
            period = as_int(period_of(ctx), "renewal-period", 1, MAX_RATE_PERIOD)
        return (key, calls, period), 0 if deferred else counted(ctx)

    def decided(ctx: Any, limit: Limit, d: RateDecision) -> None:
        finish(ctx, "rate-limit-by-key", [(limit, d)], spec.headers)
        if deferred:
            after_response(ctx, count_after_response(store, limit, counted, mode))

    admit_now: Any = getattr(store, "admit_now", None)  # ... and gives its verdict alone
    if plain and fixed is not None and usual(store, *fixed, spec.increment_count) \
            and quiet(spec.headers) and not deferred:
        calls, period = fixed
        count = spec.increment_count

        def run_counted(ctx: Any) -> None:  # the usual form: count, and only a refusal acts
            value = key_of(ctx)
            key = "rlk:" + (value if value.__class__ is str else to_text(value))
            if ctx.Tracing or not admit_now(key, calls, period, count):
                finish(ctx, "rate-limit-by-key", [((key, calls, period),
                                                   hit_now(key, calls, period, count))],
                       spec.headers)
        step = c.step(el, path, run_counted)
        head_key = head_counter_key(spec.counter_key)
        if head_key is not None:
            def head_check(subscription: str | None, client_ip: bytes) -> bool:
                # run_counted before a Context exists: a refusal is left to it (uncounted)
                key = head_key(subscription, client_ip)
                return key is not None and admit_now(key, calls, period, count)
            step.head_check = head_check
        return step

    if hit_now is not None:
        def run_now(ctx: Any) -> None:
            limit, cost = hit(ctx)
            decided(ctx, limit, hit_now(*limit, cost))
        return c.step(el, path, run_now, deferred=deferred)

    async def run(ctx: Any) -> None:
        limit, cost = hit(ctx)
        decided(ctx, limit, await store.hit_rate(*limit, cost, fail_mode=mode))

    later: Any = store if hasattr(store, "hit_rate_soon") else None  # answers via futures
    soon = None
    if later is not None:
        def answered(ctx: Any, done: Any, limit: Limit) -> None:
            decided(ctx, limit, later.rate_decision(done, limit[1], mode))

        def soon(ctx: Any) -> Wait:
            limit, cost = hit(ctx)
            return Wait(later.hit_rate_soon(*limit, cost), answered, limit)
    step = c.step(el, path, run, is_async=True, soon=soon, deferred=deferred)
    key_at_head = head_counter_key(spec.counter_key)
    if later is not None and key_at_head is not None and plain and fixed is not None \
            and quiet(spec.headers) and not deferred and valid_rate(*fixed, spec.increment_count):
        key_or_none = key_at_head
        step.head_check = waiting_head_check(
            later, mode, "rate-limit-by-key",
            (c.env.api_id or "-", c.env.operation_id or "-"),
            lambda subscription, client_ip: key_or_none(subscription, client_ip) or False,
            *fixed, spec.increment_count, spec.headers)  # type: ignore[arg-type]
    return step
