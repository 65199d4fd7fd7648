"""Metrics, access log and correlation headers for the data plane and the admin app.

See docs/observability.md. The data plane records through `RequestMetrics`
(cheap in-process aggregates) and `AccessLog` (buffered JSON lines); the admin
app renders `/metrics` with `exposition.render` and, with several workers,
merges their dumps with `shared.MetricsDir`.
"""

from kubegate.observability.access_log import AccessLog
from kubegate.observability.exposition import CONTENT_TYPE, render
from kubegate.observability.metrics import BUCKETS, RequestMetrics, merge, quantile
from kubegate.observability.shared import MetricsDir, MetricsDumper, metrics_dir_from_env
from kubegate.observability.summary import traffic_summary
from kubegate.observability.tracing import (
    REQUEST_ID_HEADER,
    parse_traceparent,
    request_id,
    traceparent_for,
)

__all__ = [
    "BUCKETS", "CONTENT_TYPE", "REQUEST_ID_HEADER", "AccessLog", "MetricsDir", "MetricsDumper",
    "RequestMetrics", "merge", "metrics_dir_from_env", "parse_traceparent", "quantile", "render",
    "request_id", "traceparent_for", "traffic_summary",
]
