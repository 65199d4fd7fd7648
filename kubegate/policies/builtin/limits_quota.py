"""quota and quota-by-key: fixed windows of calls and/or bandwidth.

``quota`` counts per subscription; its windows start at the subscription's
``StartDate`` (else ``CreatedDate``, else APIM's year-1 origin, i.e. UTC
midnight for daily periods). A request without a subscription is not limited.
The policy's own quota and every matching nested ``<api>``/``<operation>``
quota are separate counters; a nested quota without ``renewal-period`` uses the
enclosing element's. ``quota-by-key`` counts per evaluated
``counter-key``, anchored at ``first-period-start``.

Calls are checked and counted in inbound. Bandwidth (request + response body
bytes) is checked in inbound (``used >= bandwidth`` rejects) and added after the
backend's response. An ``increment-condition``/``increment-count`` reading
``context.Response`` defers the call increment to after the response; inbound
then only checks that one call is left. Over quota: 403 (Reason
``QuotaExceeded``), ``Retry-After`` unless the quota is for a lifetime
(``renewal-period="0"``); store unreachable under ``fail-closed``: 503.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from kubegate.model.policy import PolicyElement
from kubegate.services.counters import (
    QuotaDecision,
    parse_quota,
    parse_quota_by_key,
    quota_exceeded,
)
from kubegate.services.counters.base import ceil_s, window_end
from kubegate.services.counters.schema import APIM_EPOCH, QuotaByKeySpec

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._util import to_text
from .limits_common import (
    after_response,
    as_bool,
    as_int,
    compiled,
    counter_store,
    exchanged_bytes,
    fail_mode,
    nested,
    parse_spec,
    reads_response,
    rejected,
    scope_tag,
    subscription_id,
    unavailable,
)

Quota = tuple[str, int | None, int | None, int, float]  # key, calls, KB, period, anchor
_EPOCH_ANCHOR = QuotaByKeySpec(None, 1, 0, "", first_period_start=APIM_EPOCH).anchor


def subscription_anchor(ctx: Any) -> float:
    sub = ctx.Subscription
    for name in ("StartDate", "CreatedDate"):
        value = getattr(sub, name, None)
        if isinstance(value, datetime):
            return value.timestamp()
    return _EPOCH_ANCHOR


def exhausted(q: Quota, d: QuotaDecision, check_only: bool) -> bool:
    """A check-only hit (0 calls) passes the store with no call left; it must not."""
    return check_only and q[1] is not None and d.allowed and d.remaining_calls == 0


def finish(ctx: Any, policy: str, decisions: list[tuple[Quota, QuotaDecision]],
           check_only: bool) -> None:
    closed = next((d for _, d in decisions if d.unavailable and not d.allowed), None)
    if closed is not None:
        raise unavailable(ctx, policy, decisions[0][0][0], closed.message)
    now = ctx.now_seconds()
    denied: list[tuple[Quota, str, int]] = []
    for q, d in decisions:
        if not d.allowed:
            denied.append((q, d.exceeded or "calls", d.retry_after_s))
        elif exhausted(q, d, check_only):
            end = window_end(now, q[3], q[4])
            denied.append((q, "calls", 0 if end is None else ceil_s(end - now)))
    if not denied:
        trace(ctx, f"{policy} {decisions[0][0][0]}: within quota")
        return
    (key, calls, kb, period, _), exceeded, retry = max(denied, key=lambda x: x[2])
    resp = quota_exceeded(retry, exceeded, lifetime=period == 0)
    message = json.loads(resp.body)["message"]
    trace(ctx, f"{policy} {key}: {message}")
    limit = f"calls={calls} kb={kb} period={period}s"
    raise rejected(ctx, policy, key, limit, resp, "QuotaExceeded", message)


def add_bandwidth_after(ctx: Any, quotas: list[Quota], store: Any) -> None:
    with_kb = [q for q in quotas if q[2] is not None]
    if not with_kb:
        return
    done = False

    async def add(ctx: Any) -> None:
        nonlocal done
        if done:
            return
        done = True
        nbytes = exchanged_bytes(ctx)
        await asyncio.gather(*(store.add_bandwidth(k, nbytes, p, a) for k, _, _, p, a in with_kb))
    after_response(ctx, add)


PERIOD = "renewal-period"


def inherit_periods(el: PolicyElement) -> PolicyElement:
    """Nested ``<api>``/``<operation>`` quotas without ``renewal-period`` use the
    enclosing element's (APIM's policy statement and the policy toolkit's schema
    give them none: they count in the same windows as the product quota)."""
    period = el.attributes.get(PERIOD)
    if period is None or not el.children:
        return el
    children = []
    for child in el.children:
        if PERIOD not in child.attributes:
            child = replace(child, attributes={**child.attributes, PERIOD: period})
        children.append(inherit_periods(child))
    return replace(el, children=tuple(children))


@register("quota", sections={"inbound"}, summary="calls/bandwidth per subscription (fixed)")
def compile_quota(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    mode = fail_mode(el, c)
    spec = parse_spec(inherit_periods(el), c, parse_quota)
    if spec is None:
        return None
    store = counter_store(c)
    scope, apis = el.scope, spec.apis

    async def run(ctx: Any) -> None:
        sub = subscription_id(ctx)
        if sub is None:
            trace(ctx, "quota: no subscription, not limited")
            return
        anchor = subscription_anchor(ctx)
        base = f"q:{sub}:{scope_tag(scope, ctx)}"
        quotas: list[Quota] = [(base, spec.calls, spec.bandwidth, spec.renewal_period, anchor)]
        for suffix, lim in nested(apis, ctx):
            quotas.append((f"{base}:{suffix}", lim.calls, lim.bandwidth,
                           lim.renewal_period or 0, anchor))
        got = await asyncio.gather(*(store.hit_quota(k, n, kb, p, a, 1, fail_mode=mode)
                                     for k, n, kb, p, a in quotas))
        finish(ctx, "quota", list(zip(quotas, got, strict=True)), False)
        add_bandwidth_after(ctx, quotas, store)
    return c.step(el, path, run, is_async=True, calls=spec.calls, bandwidth=spec.bandwidth,
                  period=spec.renewal_period, nested=len(apis))


@register("quota-by-key", sections={"inbound"}, summary="calls/bandwidth per key (fixed)")
def compile_quota_by_key(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    mode = fail_mode(el, c)
    spec = parse_spec(el, c, parse_quota_by_key)
    if spec is None:
        return None
    store = counter_store(c)
    key_of = compiled(el, c, "counter-key", spec.counter_key)
    count_of = compiled(el, c, "increment-count", spec.increment_count)
    cond = spec.increment_condition
    cond_of = compiled(el, c, "increment-condition", True if cond is None else cond)
    deferred = reads_response(cond, spec.increment_count)
    anchor = spec.anchor

    def counted(ctx: Any) -> int:
        if not as_bool(cond_of(ctx), "increment-condition"):
            return 0
        return as_int(count_of(ctx), "increment-count")

    async def run(ctx: Any) -> None:
        q: Quota = ("qk:" + to_text(key_of(ctx)), spec.calls, spec.bandwidth,
                    spec.renewal_period, anchor)
        n = 0 if deferred else counted(ctx)
        d = await store.hit_quota(q[0], q[1], q[2], q[3], anchor, n, fail_mode=mode)
        finish(ctx, "quota-by-key", [(q, d)], n == 0)
        if not deferred:
            if n:
                add_bandwidth_after(ctx, [q], store)
            return
        done = False

        async def count_after(ctx: Any) -> None:
            nonlocal done
            k = 0 if done else counted(ctx)
            if k:
                done = True
                await store.hit_quota(q[0], q[1], q[2], q[3], anchor, k, fail_mode=mode)
                if q[2] is not None:
                    await store.add_bandwidth(q[0], exchanged_bytes(ctx), q[3], anchor)
                trace(ctx, f"quota-by-key {q[0]}: counted {k} after the response")
        after_response(ctx, count_after)
    return c.step(el, path, run, is_async=True, calls=spec.calls, bandwidth=spec.bandwidth,
                  period=spec.renewal_period, deferred=deferred)
