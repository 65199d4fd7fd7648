"""rate-limit, rate-limit-by-key, quota, quota-by-key as policies (fake clock, fake backend)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.context import ApiInfo, OperationInfo, SubscriptionInfo
from kubegate.policies.state import PolicyContext
from kubegate.services.counters import (
    FailMode,
    FailureStats,
    MemoryCounterStore,
    QuotaDecision,
    RateDecision,
)
from kubegate.services.counters.base import (
    CounterUnavailable,
    closed_quota,
    closed_rate,
    guarded,
    open_quota,
    open_rate,
)
from kubegate.services.counters.redis_store import RedisCounterStore
from kubegate.sources.yaml_config import load_config_text

from .helpers import FakeBackend, doc, err, execute, pipeline

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Rig:
    """One memory store and clock shared by every request of a test."""

    def __init__(self, xml: str, *, services: dict[str, Any] | None = None,
                 status: int = 200, body: bytes = b"backend", store: Any = None) -> None:
        self.clock = Clock()
        self.store = store or MemoryCounterStore(clock=self.clock)
        self.pipe = pipeline(xml, CompileEnv(services={"counters": self.store, **(services or {})}))
        self.backend = FakeBackend(status=status, body=body)

    async def call(self, *, headers: list[tuple[str, str]] | None = None, method: str = "GET",
                   sub: str | None = None, api: str = "orders", op: str = "get-order",
                   body: bytes | None = None, created: datetime | None = None) -> PolicyContext:
        ctx = cast(PolicyContext, PolicyContext.for_request(
            method, "/api/orders/1", "", headers or [], "10.0.0.1", "https", "gw.example.com",
            ApiInfo(Id=api, Name=api, Path="api"), OperationInfo(Id=op, Name=op, Method=method),
            body, clock=self.clock))
        if sub is not None:
            ctx.Subscription = SubscriptionInfo(Id=sub, Name=sub, CreatedDate=created)
        await execute(self.pipe, ctx, self.backend)
        return ctx


def status(ctx: PolicyContext) -> int:
    return int(ctx.Response.StatusCode)


def header(ctx: PolicyContext, name: str) -> str | None:
    return ctx.Response.Headers.get(name)


def message(ctx: PolicyContext) -> str:
    return str(json.loads(ctx.Response.Body.content or b"{}")["message"])


def rlk(attrs: str) -> str:
    return doc(inbound=f"<rate-limit-by-key {attrs}/>")


# -- rate-limit-by-key ---------------------------------------------------------------
async def test_sliding_window_admits_calls_then_429_with_retry_after() -> None:
    rig = Rig(rlk('calls="2" renewal-period="10" counter-key="k"'))
    assert status(await rig.call()) == 200
    rig.clock.t += 5
    assert status(await rig.call()) == 200
    rig.clock.t += 4  # t=9: both hits still in the window
    ctx = await rig.call()
    assert status(ctx) == 429 and header(ctx, "Retry-After") == "1"
    assert message(ctx) == "Rate limit is exceeded. Try again in 1 seconds."
    assert err(ctx).Reason == "RateLimitExceeded" and err(ctx).Source == "rate-limit-by-key"
    rig.clock.t += 1  # t=10: the first hit left the window, the second (t=5) has not
    assert status(await rig.call()) == 200
    assert status(await rig.call()) == 429
    assert len(rig.backend.calls) == 3


async def test_counter_key_from_a_header_separates_clients() -> None:
    rig = Rig(rlk('calls="1" renewal-period="60" '
                  'counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;,&quot;anon&quot;))"'))
    assert status(await rig.call(headers=[("X-Client", "a")])) == 200
    assert status(await rig.call(headers=[("X-Client", "b")])) == 200
    assert status(await rig.call(headers=[("X-Client", "a")])) == 429
    assert status(await rig.call()) == 200  # "anon"
    assert status(await rig.call()) == 429


async def test_headers_and_variables_when_configured() -> None:
    xml = doc(inbound='<rate-limit-by-key calls="2" renewal-period="30" counter-key="k" '
                      'retry-after-header-name="X-Wait" retry-after-variable-name="wait" '
                      'remaining-calls-header-name="X-Left" remaining-calls-variable-name="left" '
                      'total-calls-header-name="X-Total"/>')
    rig = Rig(xml)
    ctx = await rig.call()
    assert (header(ctx, "X-Left"), header(ctx, "X-Total"), ctx.Variables["left"]) == ("1", "2", 1)
    ctx = await rig.call()
    assert header(ctx, "X-Left") == "0"
    rig.clock.t += 10
    ctx = await rig.call()
    assert status(ctx) == 429 and header(ctx, "X-Wait") == "20" and header(ctx, "Retry-After") is None
    assert ctx.Variables["wait"] == 20 and header(ctx, "X-Left") == "0"


async def test_increment_condition_on_the_request_is_counted_inbound() -> None:
    rig = Rig(rlk('calls="1" renewal-period="60" counter-key="k" '
                  'increment-condition="@(context.Request.Method == &quot;GET&quot;)"'))
    for _ in range(3):
        assert status(await rig.call(method="POST")) == 200  # not counted
    assert status(await rig.call()) == 200
    assert status(await rig.call(method="POST")) == 429  # not counted, but still throttled


async def test_increment_condition_on_the_response_counts_after_the_backend() -> None:
    rig = Rig(rlk('calls="2" renewal-period="60" counter-key="k" '
                  'increment-condition="@(context.Response.StatusCode == 200)"'), status=500)
    for _ in range(4):
        assert status(await rig.call()) == 500  # failures are not counted
    rig.backend.status = 200
    assert status(await rig.call()) == 200
    assert status(await rig.call()) == 200
    before = len(rig.backend.calls)
    assert status(await rig.call()) == 429
    assert len(rig.backend.calls) == before  # rejected in inbound, backend not called


async def test_increment_count_and_expression_limits() -> None:
    rig = Rig(rlk('calls="@(5)" renewal-period="@(60)" counter-key="k" increment-count="2"'))
    assert [status(await rig.call()) for _ in range(3)] == [200, 200, 429]


async def test_renewal_period_expression_out_of_range_is_an_expression_error() -> None:
    rig = Rig(rlk('calls="5" renewal-period="@(301)" counter-key="k"'))
    ctx = await rig.call()
    assert status(ctx) == 500 and err(ctx).Reason == "ExpressionValueEvaluationFailure"


async def test_a_null_counter_key_is_the_empty_text_not_none() -> None:
    """Key values are turned into text as C# does: null is "", so it never shares a
    counter with a client sending the word "None"."""
    rig = Rig(rlk('calls="1" renewal-period="60" '
                  'counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-K&quot;))"'))
    assert status(await rig.call(headers=[("X-K", "None")])) == 200
    assert status(await rig.call()) == 200
    assert status(await rig.call()) == 429


async def test_rejection_is_logged_with_api_operation_key_and_limit(
        caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(rlk('calls="1" renewal-period="60" counter-key="client-7"'))
    with caplog.at_level(logging.INFO, logger="kubegate.limits"):
        await rig.call(sub="s1")
        assert not caplog.records
        await rig.call(sub="s1")
    line = caplog.records[-1].getMessage()
    for part in ("rate-limit-by-key", "api=orders", "operation=get-order", "subscription=s1",
                 "key=rlk:client-7", "limit=1/60s", "status=429"):
        assert part in line


# -- rate-limit (per subscription) -------------------------------------------------------
RL_NESTED = doc(inbound="""
<rate-limit calls="5" renewal-period="60">
  <api name="orders" calls="3" renewal-period="60">
    <operation name="delete-order" calls="1" renewal-period="60"/>
  </api>
</rate-limit>""")


async def test_rate_limit_counts_per_subscription() -> None:
    rig = Rig(doc(inbound='<rate-limit calls="2" renewal-period="60"/>'))
    assert [status(await rig.call(sub="a")) for _ in range(3)] == [200, 200, 429]
    assert status(await rig.call(sub="b")) == 200


async def test_rate_limit_without_a_subscription_has_no_effect() -> None:
    rig = Rig(doc(inbound='<rate-limit calls="1" renewal-period="60"/>'))
    assert [status(await rig.call()) for _ in range(5)] == [200] * 5


async def test_nested_api_and_operation_limits_apply_independently() -> None:
    """Each limit counts on its own: a request rejected by one still counts on the others."""
    rig = Rig(RL_NESTED)
    assert status(await rig.call(sub="a", op="delete-order")) == 200  # outer 1, api 1, op 1
    assert status(await rig.call(sub="a", op="delete-order")) == 429  # op full; outer 2, api 2
    assert status(await rig.call(sub="a")) == 200  # outer 3, api 3
    assert status(await rig.call(sub="a")) == 429  # api full; outer 4
    assert status(await rig.call(sub="a", api="billing")) == 200  # only the outer: 5
    assert status(await rig.call(sub="a", api="billing")) == 429
    assert status(await rig.call(sub="b")) == 200


# -- the same through Redis (on the lane, checks wait on futures: Paused, then resumed) ----
async def test_redis_rate_limit_by_key_admits_exactly_then_429(
        redis_counters: RedisCounterStore) -> None:
    rig = Rig(rlk('calls="2" renewal-period="60" counter-key="k"'), store=redis_counters)
    got = [await rig.call() for _ in range(3)]
    assert [status(c) for c in got] == [200, 200, 429]
    assert header(got[2], "Retry-After") == "60" and len(rig.backend.calls) == 2


async def test_redis_nested_limits_apply_independently(redis_counters: RedisCounterStore) -> None:
    rig = Rig(RL_NESTED, store=redis_counters)
    calls = [("a", "orders", "delete-order"), ("a", "orders", "delete-order"),
             ("a", "orders", "get-order"), ("a", "orders", "get-order"),
             ("a", "billing", "get-order"), ("a", "billing", "get-order"),
             ("b", "orders", "get-order")]
    got = [status(await rig.call(sub=sub, api=api, op=op)) for sub, api, op in calls]
    assert got == [200, 429, 200, 429, 200, 429, 200]


# -- fail modes ----------------------------------------------------------------------------
class DownStore:
    """Every call fails as an unreachable shared store does."""

    def __init__(self) -> None:
        self.stats = FailureStats()
        self.modes: list[str] = []

    async def _fail(self) -> Any:
        raise CounterUnavailable("connection refused")

    async def hit_rate(self, key: str, limit: int, period_s: int, cost: int = 1, *,
                       now: float | None = None, fail_mode: FailMode = "fail-open") -> RateDecision:
        self.modes.append(fail_mode)
        return await guarded(self._fail, fail_mode, self.stats, "rate-limit",
                             lambda: open_rate(limit), lambda m: closed_rate(limit, m))

    async def hit_quota(self, key: str, calls: int | None, bandwidth_kb: int | None,
                        period_s: int, anchor: float = 0.0, count_calls: int = 1, *,
                        now: float | None = None, fail_mode: FailMode = "fail-open"
                        ) -> QuotaDecision:
        self.modes.append(fail_mode)
        return await guarded(self._fail, fail_mode, self.stats, "quota",
                             lambda: open_quota(calls, bandwidth_kb), closed_quota)

    async def add_bandwidth(self, *a: Any, **kw: Any) -> None:
        return None

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("policy", [
    '<rate-limit-by-key calls="1" renewal-period="60" counter-key="k"{fm}/>',
    '<quota-by-key calls="1" renewal-period="60" counter-key="k"{fm}/>',
    '<rate-limit calls="1" renewal-period="60"{fm}/>',
    '<quota calls="1" renewal-period="60"{fm}/>',
])
@pytest.mark.parametrize(("default", "attr", "expect"), [
    (None, "", 200), ("fail-closed", "", 503), ("fail-closed", "fail-open", 200),
    ("fail-open", "fail-closed", 503),
])
async def test_store_unavailable_follows_the_fail_mode(policy: str, default: str | None,
                                                       attr: str, expect: int) -> None:
    store = DownStore()
    services: dict[str, Any] = {"counters": store}
    if default:
        services["fail_mode"] = default
    fm = f' fail-mode="{attr}"' if attr else ""
    pipe = pipeline(doc(inbound=policy.replace("{fm}", fm)), CompileEnv(services=services))
    rig_ctx = await Rig(doc()).call(sub="s")  # a finished context to reuse the builder
    ctx = cast(PolicyContext, PolicyContext.for_request(
        "GET", "/api/orders/1", "", [], "10.0.0.1", "https", "gw", rig_ctx.Api, rig_ctx.Operation))
    ctx.Subscription = SubscriptionInfo(Id="s")
    backend = FakeBackend()
    await pipe.execute(ctx, backend)
    assert status(ctx) == expect and store.stats.errors == 1
    if expect == 503:
        assert message(ctx).startswith("Rate limit and quota store is unavailable")
        assert err(ctx).Reason == "CounterStoreUnavailable" and not backend.calls


# -- quota ---------------------------------------------------------------------------------
async def test_quota_fixed_window_anchored_at_the_subscription_start() -> None:
    rig = Rig(doc(inbound='<quota calls="2" renewal-period="3600"/>'))
    created = datetime.fromtimestamp(T0 - 600, UTC)  # window: [T0-600, T0+3000)
    assert status(await rig.call(sub="s", created=created)) == 200
    assert status(await rig.call(sub="s", created=created)) == 200
    ctx = await rig.call(sub="s", created=created)
    assert status(ctx) == 403 and header(ctx, "Retry-After") == "3000"
    assert message(ctx) == "Out of call volume quota. Quota will be replenished in 00:50:00."
    assert err(ctx).Reason == "QuotaExceeded"
    rig.clock.t += 2999
    assert status(await rig.call(sub="s", created=created)) == 403
    rig.clock.t += 1  # the next window
    assert status(await rig.call(sub="s", created=created)) == 200


async def test_quota_bandwidth_counts_request_and_response_after_the_response() -> None:
    rig = Rig(doc(inbound='<quota bandwidth="1" renewal-period="60"/>'), body=b"r" * 800)
    assert status(await rig.call(sub="s", method="POST", body=b"q" * 200)) == 200  # 1000 bytes
    assert status(await rig.call(sub="s")) == 200  # 1000 < 1024: admitted, now 1800
    ctx = await rig.call(sub="s")
    assert status(ctx) == 403 and message(ctx).startswith("Out of bandwidth quota.")
    assert len(rig.backend.calls) == 2


async def test_lifetime_quota_has_no_retry_after() -> None:
    rig = Rig(doc(inbound='<quota calls="1" renewal-period="0"/>'))
    assert status(await rig.call(sub="s")) == 200
    rig.clock.t += 10 * 365 * 86400
    ctx = await rig.call(sub="s")
    assert status(ctx) == 403 and header(ctx, "Retry-After") is None
    assert message(ctx) == "Out of call volume quota."


async def test_nested_quota_for_an_operation() -> None:
    rig = Rig(doc(inbound='<quota calls="10" renewal-period="60"><api name="orders" calls="5" '
                          'renewal-period="60"><operation name="get-order" calls="1" '
                          'renewal-period="60"/></api></quota>'))
    assert status(await rig.call(sub="s")) == 200
    assert status(await rig.call(sub="s")) == 403
    assert status(await rig.call(sub="s", op="list-orders")) == 200


async def test_quota_by_key_first_period_start_and_window_boundaries() -> None:
    start = datetime.fromtimestamp(T0 + 30, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rig = Rig(doc(inbound=f'<quota-by-key calls="1" renewal-period="60" counter-key="k" '
                          f'first-period-start="{start}"/>'))
    assert status(await rig.call()) == 200  # window [T0-30, T0+30)
    ctx = await rig.call()
    assert status(ctx) == 403 and header(ctx, "Retry-After") == "30"
    rig.clock.t += 30
    assert status(await rig.call()) == 200
    rig.clock.t += 59
    assert status(await rig.call()) == 403


async def test_quota_by_key_condition_on_the_response_is_deferred() -> None:
    rig = Rig(doc(inbound='<quota-by-key calls="1" renewal-period="60" counter-key="k" '
                          'increment-condition="@(context.Response.StatusCode &lt; 400)"/>'),
              status=404)
    assert [status(await rig.call()) for _ in range(3)] == [404, 404, 404]
    rig.backend.status = 200
    assert status(await rig.call()) == 200
    ctx = await rig.call()  # default first-period-start (year 1): windows start on the minute
    assert status(ctx) == 403 and header(ctx, "Retry-After") == str(60 - int(T0) % 60)


async def test_offline_compilation_uses_a_memory_store() -> None:
    key = f"offline-test-key-{uuid.uuid4().hex}"  # the store outlives the test
    pipe = pipeline(rlk(f'calls="1" renewal-period="60" counter-key="{key}"'))
    got = []
    for _ in range(2):
        ctx = await Rig(doc()).call()
        await pipe.execute(ctx, FakeBackend())
        got.append(status(ctx))
    assert got == [200, 429]


# -- compile errors ------------------------------------------------------------------------
@pytest.mark.parametrize(("xml", "needle"), [
    (rlk('calls="5" renewal-period="301" counter-key="k"'), "between 1 and 300"),
    (rlk('calls="5" renewal-period="60"'), "counter-key"),
    (doc(inbound='<rate-limit calls="5" renewal-period="60" colour="x"/>'), "colour"),
    (doc(inbound='<rate-limit calls="@(5)" renewal-period="60"/>'), "not allowed"),
    (doc(inbound='<quota renewal-period="60"/>'), "calls, bandwidth, or both"),
    (doc(inbound='<quota-by-key calls="1" renewal-period="60" counter-key="k" '
                 'first-period-start="yesterday"/>'), "ISO 8601"),
    (rlk('calls="5" renewal-period="60" counter-key="k" fail-mode="maybe"'), "fail-open"),
    (doc(outbound='<rate-limit calls="5" renewal-period="60"/>'), "not allowed in <outbound>"),
    (rlk('calls="5" renewal-period="60" counter-key="@(context.Nope)"'), "expression"),
])
def test_compile_errors_name_the_element(xml: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        pipeline(xml, CompileEnv(services={"counters": MemoryCounterStore()}))
    text = str(info.value)
    assert needle in text and "test.xml" in text


# -- bench scenarios -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["kubegate-ratelimit-memory", "kubegate-ratelimit-redis",
                                  "kubegate-key-ratelimit-memory",
                                  "kubegate-key-ratelimit-redis"])
def test_bench_scenarios_are_valid_and_never_reject(name: str, tmp_path: Path) -> None:
    from bench import scenarios

    (sc,) = scenarios.select(scenarios.load(scenarios.SCENARIOS), [name])
    values = {"listen": "127.0.0.1:8000", "admin": "127.0.0.1:8001",
              "backend": "http://127.0.0.1:8002", "backend_port": "8002",
              "workdir": str(tmp_path)}
    cfg = load_config_text(scenarios.render(sc.config, values), "bench.yaml")
    assert cfg.gateway.counters.store == name.rsplit("-", 1)[1]
    xml = scenarios.render(sc.files["limits.xml"], values)
    assert cfg.apis[0].policy == f"{tmp_path}/limits.xml"
    step = pipeline(xml, CompileEnv(services={"counters": MemoryCounterStore()})).inbound[0]
    assert step.name == ("rate-limit" if "-key-" in name else "rate-limit-by-key")
    if "-key-" in name:  # counted per subscription: the key must be required and sent
        assert cfg.apis[0].subscription_required and sc.headers
    assert 'calls="100000000" renewal-period="1"' in xml  # > any benchmark's requests per second


def test_subscription_keys_are_made_once_and_the_table_stays_bounded() -> None:
    from kubegate.policies.builtin.limits import SUBSCRIPTION_KEYS_KEPT, subscription_keys

    key_of = subscription_keys(":api:orders:get")
    first = key_of("sub-1")
    assert first == "rl:sub-1:api:orders:get"
    assert key_of("sub-1") is first  # the same object: its hash is computed once
    for i in range(2 * SUBSCRIPTION_KEYS_KEPT + 5):
        assert key_of(f"s{i}") == f"rl:s{i}:api:orders:get"
    # the table: a closure cell in Python (compiled, the function keeps it natively)
    tables = [c.cell_contents for c in getattr(key_of, "__closure__", None) or ()
              if isinstance(c.cell_contents, dict)]
    assert all(len(t) <= SUBSCRIPTION_KEYS_KEPT for t in tables)
