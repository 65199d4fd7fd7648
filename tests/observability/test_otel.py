"""RequestTracer: parent-based sampling, traceparent continuation, what a span records."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kubegate.model.config import Config, Tracing
from kubegate.model.errors import ConfigError
from kubegate.observability.otel import RequestTracer, request_tracer
from kubegate.observability.tracing import parse_traceparent

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def tracer(ratio: float = 1.0) -> tuple[RequestTracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    settings = Tracing(otlp_endpoint="http://127.0.0.1:1/v1/traces", sample_ratio=ratio)
    t = RequestTracer(settings, exporter)
    return t, exporter


def finished(t: RequestTracer, exporter: InMemorySpanExporter) -> list:  # type: ignore[type-arg]
    t.provider.force_flush()
    return list(exporter.get_finished_spans())


def test_continues_the_callers_trace_with_a_new_span() -> None:
    t, exporter = tracer()
    span = t.start("GET", "/pets/{id}", CALLER.encode(), {"kubegate.api": "pets"})
    trace_id, span_id, flags = parse_traceparent(span.traceparent.decode()) or ("", "", "")
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span_id != "00f067aa0ba902b7" and int(flags, 16) & 1
    span.finish(200, {"kubegate.request_id": "r1"})
    [recorded] = finished(t, exporter)
    assert recorded.name == "GET /pets/{id}" and recorded.kind == SpanKind.SERVER
    assert recorded.parent is not None and recorded.parent.span_id == 0x00f067aa0ba902b7
    assert f"{recorded.context.span_id:016x}" == span_id
    assert recorded.attributes["http.response.status_code"] == 200
    assert recorded.attributes["kubegate.api"] == "pets"
    assert recorded.attributes["kubegate.request_id"] == "r1"
    assert recorded.status.status_code == StatusCode.UNSET
    assert recorded.resource.attributes["service.name"] == "kubegate"


def test_new_trace_without_or_with_an_invalid_traceparent() -> None:
    t, exporter = tracer()
    for incoming in (None, b"garbage", b"-", b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01"):
        span = t.start("GET", "/x", incoming, {})
        parsed = parse_traceparent(span.traceparent.decode())
        assert parsed is not None and int(parsed[2], 16) & 1  # ratio 1: sampled
        span.finish(502, {})
    spans = finished(t, exporter)
    assert len(spans) == 4 and all(s.parent is None for s in spans)
    assert len({s.context.trace_id for s in spans}) == 4
    assert all(s.status.status_code == StatusCode.ERROR for s in spans)


def test_unsampled_caller_is_propagated_not_exported() -> None:
    t, exporter = tracer(ratio=1.0)
    unsampled = CALLER[:-2] + "00"
    span = t.start("GET", "/x", unsampled, {})
    assert span.traceparent.startswith(b"00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert not int(span.traceparent[-2:], 16) & 1
    span.finish(200, {})
    assert finished(t, exporter) == []


def test_ratio_zero_records_no_new_trace_but_honours_a_sampled_caller() -> None:
    t, exporter = tracer(ratio=0.0)
    t.start("GET", "/x", None, {}).finish(200, {})
    assert finished(t, exporter) == []
    t.start("GET", "/x", CALLER, {}).finish(200, {})
    assert len(finished(t, exporter)) == 1


def test_off_by_default_and_endpoint_checked() -> None:
    assert Config.model_validate({}).gateway.observability.tracing is None
    assert request_tracer(None) is None
    with pytest.raises((ConfigError, ValueError)):
        Tracing(otlp_endpoint="collector:4318")
