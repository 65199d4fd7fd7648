"""llm-token-limit / azure-openai-token-limit and the emit-token-metric policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubegate.model.errors import ConfigError
from kubegate.observability.exposition import render
from kubegate.observability.llm_tokens import TOKENS
from kubegate.observability.metrics import RequestMetrics, merge
from kubegate.policies.builtin.llm_usage import estimate_prompt
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.pipeline import Pipeline
from kubegate.services.counters import MemoryCounterStore

from .helpers import FakeBackend, doc, make_ctx, pipeline

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z, a Tuesday
CHAT = json.dumps({"messages": [{"role": "user", "content": "x" * 400}]}).encode()


def usage_body(total: int, prompt: int = 0) -> bytes:
    return json.dumps({"choices": [], "usage": {"prompt_tokens": prompt,
                                                "completion_tokens": total - prompt,
                                                "total_tokens": total}}).encode()


class Rig:
    def __init__(self, policy: str) -> None:
        self.clock = [NOW]
        self.store = MemoryCounterStore(clock=lambda: self.clock[0])
        self.pipe: Pipeline = pipeline(doc(inbound=policy),
                                       CompileEnv(services={"counters": self.store}))

    async def call(self, used: int, body: bytes = CHAT) -> Any:
        ctx = make_ctx(method="POST", body=body, headers=[("Content-Type", "application/json")])
        ctx._clock = lambda: self.clock[0]
        backend = FakeBackend(body=usage_body(used, 10),
                              headers=[("Content-Type", "application/json")])
        await self.pipe.execute(ctx, backend)
        return ctx


async def test_tokens_per_minute_counts_the_reported_usage() -> None:
    rig = Rig('<llm-token-limit counter-key="k" tokens-per-minute="100" '
              'estimate-prompt-tokens="false" remaining-tokens-variable-name="left" '
              'tokens-consumed-header-name="x-used" />')
    first = await rig.call(60)
    assert first.Response.StatusCode == 200 and first.Variables["left"] == 100
    assert first.Response.Headers.get("x-used") == "60"
    second = await rig.call(60)  # room before the call; the usage fills the minute
    assert second.Response.StatusCode == 200 and second.Variables["left"] == 40
    third = await rig.call(1)
    assert third.Response.StatusCode == 429
    assert json.loads(third.Response.Body.content)["message"].startswith("Token limit is exceeded")
    assert int(third.Response.Headers.get("Retry-After") or 0) > 0
    rig.clock[0] += 61
    assert (await rig.call(1)).Response.StatusCode == 200


async def test_estimated_prompt_is_charged_before_the_backend() -> None:
    assert estimate_prompt(CHAT) == 3 + 3 + 100
    rig = Rig('<azure-openai-token-limit counter-key="k" tokens-per-minute="150" '
              'estimate-prompt-tokens="true" retry-after-header-name="x-retry" '
              'retry-after-variable-name="wait" tokens-consumed-variable-name="used" />')
    ok = await rig.call(100)
    assert ok.Response.StatusCode == 200 and ok.Variables["used"] == 100
    refused = await rig.call(100)  # 106 estimated > 50 left: refused without a backend call
    assert refused.Response.StatusCode == 429 and refused.Variables["wait"] > 0
    assert refused.Response.Headers.get("x-retry") is not None


async def test_daily_token_quota_is_403_and_resets_at_midnight() -> None:
    rig = Rig('<llm-token-limit counter-key="@(context.Request.IpAddress)" estimate-prompt-token="false" '
              'token-quota="100" token-quota-period="day" '
              'remaining-quota-tokens-header-name="x-quota-left" />')
    assert (await rig.call(100)).Response.StatusCode == 200
    over = await rig.call(1)
    assert over.Response.StatusCode == 403
    assert over.Response.Headers.get("x-quota-left") == "0"
    assert "Out of token quota" in json.loads(over.Response.Body.content)["message"]
    rig.clock[0] = 1_700_006_400.0  # next UTC midnight
    assert (await rig.call(1)).Response.StatusCode == 200


@pytest.mark.parametrize("xml, needle", [
    ('<llm-token-limit counter-key="k" tokens-per-minute="5" />', "estimate-prompt-tokens"),
    ('<llm-token-limit counter-key="k" estimate-prompt-tokens="false" />', "either"),
    ('<llm-token-limit counter-key="k" estimate-prompt-tokens="false" tokens-per-minute="5" '
     'token-quota="5" token-quota-period="Daily" />', "not both"),
    ('<llm-token-limit counter-key="k" estimate-prompt-tokens="false" token-quota="5" '
     'token-quota-period="Fortnightly" />', "Hourly, Daily"),
])
def test_token_limit_configuration_errors(xml: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        pipeline(doc(inbound=xml))


async def test_emit_token_metric_records_prometheus_counters() -> None:
    before = {k: list(v) for k, v in TOKENS.series.items()}
    xml = doc(inbound='<llm-emit-token-metric namespace="llm-test"><dimension name="API ID" />'
                      '<dimension name="Team" value="@(&quot;blue&quot;)" />'
                      '</llm-emit-token-metric>')
    backend = FakeBackend(body=usage_body(30, 12), headers=[("Content-Type", "application/json")])
    await pipeline(xml).execute(make_ctx(method="POST", body=CHAT), backend)
    key = ("llm-test", (("api_id", "orders"), ("team", "blue")))
    old = before.get(key, [0, 0, 0])
    assert [a - b for a, b in zip(TOKENS.series[key], old, strict=True)] == [12, 18, 30]
    text = render(lambda: RequestMetrics()).decode()
    assert 'kubegate_llm_tokens_total{api_id="orders",kind="total",namespace="llm-test",' \
           'team="blue"}' in text
    merged = merge([RequestMetrics().dump(), RequestMetrics().dump()])
    assert merged.tokens.series[key][2] == 2 * TOKENS.series[key][2]


async def test_streamed_response_counts_estimated_tokens() -> None:
    xml = doc(inbound='<azure-openai-emit-token-metric namespace="stream-test">'
                      '<dimension name="Operation ID" /></azure-openai-emit-token-metric>')
    sse = (b'data: {"choices":[{"delta":{"content":"abcdefgh"}}]}\n\n'
           b'data: {"choices":[{"delta":{"content":"ijkl"}}]}\n\ndata: [DONE]\n\n')
    backend = FakeBackend(body=sse, headers=[("Content-Type", "text/event-stream")])
    body = json.dumps({"stream": True, "messages": [{"role": "user", "content": "x" * 8}]})
    await pipeline(xml).execute(make_ctx(method="POST", body=body.encode()), backend)
    series = [v for (ns, _), v in TOKENS.series.items() if ns == "stream-test"]
    assert series == [[8, 3, 11]]


def test_dimension_without_value_must_be_a_default_one() -> None:
    with pytest.raises(ConfigError, match="needs a value"):
        pipeline(doc(inbound='<llm-emit-token-metric><dimension name="Operation" />'
                             '</llm-emit-token-metric>'))
