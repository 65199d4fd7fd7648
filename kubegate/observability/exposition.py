"""RequestMetrics -> Prometheus text format (prometheus_client's exposition).

Series: `kubegate_requests_total` by api/operation/status_class/subscription;
histograms `kubegate_request_duration_seconds` (total) and
`kubegate_backend_duration_seconds` by api/operation; gateway overhead as the
counter `kubegate_gateway_overhead_seconds_total` (total minus backend time);
limit rejections, events (reloads, JWKS fetches), upstream pool gauges and LLM
tokens (`kubegate_llm_tokens_total`, see llm_tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from kubegate.observability.metrics import BUCKETS, STATUS_CLASSES, RequestMetrics, histogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _status_class(n: int) -> str:
    return STATUS_CLASSES[n - 1] if 1 <= n <= 5 else "other"


def _cumulative(counts: list[float]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    acc = 0.0
    for bound, n in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
        acc += n
        out.append((bound, acc))
    return out


class RequestCollector(Collector):
    """A prometheus_client collector over a function returning current metrics."""

    def __init__(self, source: Callable[[], RequestMetrics]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        m = self.source()
        requests = CounterMetricFamily(
            "kubegate_requests", "Requests handled, by API, operation, status class and "
            "subscription", labels=["api", "operation", "status_class", "subscription"])
        throttled = CounterMetricFamily(
            "kubegate_responses_429", "429 responses, by API and subscription",
            labels=["api", "subscription"])
        hist: dict[tuple[str, str], list[list[float]]] = {}
        t429: dict[tuple[str, str], float] = {}
        for (api, op, cls, sub), s in m.series.items():
            requests.add_metric([api, op, _status_class(cls), sub], s[0])
            if s[1]:
                t429[(api, sub)] = t429.get((api, sub), 0) + s[1]
            h = hist.setdefault((api, op), [[0.0] * (len(BUCKETS) + 1),
                                            [0.0] * (len(BUCKETS) + 1), [0.0, 0.0]])
            for i, v in enumerate(histogram(s)):
                h[0][i] += v
            for i, v in enumerate(histogram(s, backend=True)):
                h[1][i] += v
            h[2][0] += s[2]
            h[2][1] += s[3]
        for (api, sub), v in t429.items():
            throttled.add_metric([api, sub], v)
        total = HistogramMetricFamily("kubegate_request_duration_seconds",
                                      "Time from request received to response written",
                                      labels=["api", "operation"])
        backend = HistogramMetricFamily("kubegate_backend_duration_seconds",
                                        "Time spent waiting for the backend",
                                        labels=["api", "operation"])
        overhead = CounterMetricFamily("kubegate_gateway_overhead_seconds",
                                       "Total time minus backend time, summed",
                                       labels=["api", "operation"])
        for (api, op), (tb, bb, sums) in hist.items():
            total.add_metric([api, op], _cumulative(tb), sums[0])
            backend.add_metric([api, op], _cumulative(bb), sums[1])
            overhead.add_metric([api, op], max(0.0, sums[0] - sums[1]))
        yield from (requests, throttled, total, backend, overhead)
        rejections = CounterMetricFamily("kubegate_limit_rejections",
                                         "Requests refused by rate-limit, quota or concurrency "
                                         "limits", labels=["api", "kind"])
        for (api, kind), v in m.rejections.items():
            rejections.add_metric([api, kind], v)
        events = CounterMetricFamily("kubegate_events", "Reloads, JWKS fetches and other "
                                     "events, by outcome", labels=["event", "outcome"])
        for (name, outcome), v in m.events.items():
            events.add_metric([name, outcome], v)
        pools = GaugeMetricFamily("kubegate_upstream_connections",
                                  "Upstream pool connections by backend and state",
                                  labels=["backend", "state"])
        for (b, state), v in m.gauges.items():
            pools.add_metric([b, state], v)
        yield from (rejections, events, pools)
        if m.tokens.series:
            labels, rows = m.tokens.samples()
            tokens = CounterMetricFamily("kubegate_llm_tokens", "LLM tokens by namespace, kind "
                                         "and the dimensions of llm-emit-token-metric",
                                         labels=labels)
            for values, n in rows:
                tokens.add_metric(values, n)
            yield tokens


def render(source: Callable[[], RequestMetrics]) -> bytes:
    """Prometheus text exposition of the metrics `source()` returns."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RequestCollector(source))
    return generate_latest(registry)
