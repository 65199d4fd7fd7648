"""Traffic summaries for the console and the portal: per API and per subscription."""

from __future__ import annotations

from typing import Any

from kubegate.observability.metrics import BUCKETS, RequestMetrics, histogram, quantile


def _row() -> dict[str, Any]:
    return {"requests": 0, "errors": 0, "throttled": 0, "buckets": [0] * (len(BUCKETS) + 1)}


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    b = row.pop("buckets")
    for q in (50, 95, 99):
        v = quantile(b, q / 100)
        row[f"p{q}_ms"] = None if v is None else round(v * 1000, 3)
    return row


def traffic_summary(m: RequestMetrics, subscription: str | None = None) -> dict[str, Any]:
    """{"apis": {api: row}, "subscriptions": {sub: row}, "total": row}; a row holds
    requests, errors (5xx), throttled (429) and latency percentiles p50/p95/p99 in ms.
    With `subscription`, only that subscription's requests count."""
    apis: dict[str, dict[str, Any]] = {}
    subs: dict[str, dict[str, Any]] = {}
    total = _row()
    for (api, _op, cls, sub), s in m.series.items():
        if subscription is not None and sub != subscription:
            continue
        for row in (apis.setdefault(api, _row()), subs.setdefault(sub, _row()), total):
            row["requests"] += int(s[0])
            row["errors"] += int(s[0]) if cls == 5 else 0
            row["throttled"] += int(s[1])
            for i, v in enumerate(histogram(s)):
                row["buckets"][i] += v
    return {"apis": {k: _finish(v) for k, v in sorted(apis.items())},
            "subscriptions": {k: _finish(v) for k, v in sorted(subs.items())},
            "total": _finish(total)}
