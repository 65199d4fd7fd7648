"""OpenTelemetry spans for proxied requests, exported over OTLP/HTTP.

Built only when `gateway.observability.tracing` is configured; otherwise the
data plane holds `None` and pays one attribute test per request. With tracing
on, each request gets one SERVER span: its parent is the caller's `traceparent`
(when valid), its id goes to the backend in a rewritten `traceparent`, and it
ends when the response is finished. Sampling is parent-based: a caller's
sampled flag is honoured, new traces are sampled at `sample_ratio`. An unsampled
span still gets a fresh span id for propagation but records and exports nothing.

Export runs in the SDK's batch processor thread (bounded queue: spans beyond it
are dropped, never blocking a request). Query strings are not recorded: they
may carry subscription keys.

Invariants: one `RequestTracer` per worker process, built after fork (the batch
processor owns a thread); `shutdown` flushes what is queued, once.
"""

from __future__ import annotations

import os
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode

from kubegate.model.config import Tracing

from .tracing import parse_traceparent


class RequestSpan:
    """One request's span and the `traceparent` value the backend receives."""

    __slots__ = ("span", "traceparent")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        sc = span.get_span_context()
        self.traceparent = b"00-%032x-%016x-%02x" % (sc.trace_id, sc.span_id, sc.trace_flags)

    def finish(self, status: int, attributes: dict[str, str | int | float],
               end_ns: int | None = None) -> None:
        span = self.span
        if span.is_recording():
            span.set_attributes(attributes)
            span.set_attribute("http.response.status_code", status)
            if status >= 500 or status == 0:
                span.set_status(Status(StatusCode.ERROR))
        span.end(end_ns)


class RequestTracer:
    def __init__(self, settings: Tracing, exporter: SpanExporter | None = None) -> None:
        sampler = ParentBased(TraceIdRatioBased(settings.sample_ratio))
        resource = Resource.create({"service.name": settings.service_name,
                                    "service.instance.id": f"{os.uname().nodename}-{os.getpid()}"})
        self.provider = TracerProvider(sampler=sampler, resource=resource)
        if exporter is None:
            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint,
                                        headers=dict(settings.headers), timeout=settings.timeout)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("kubegate")
        self._closed = False

    def start(self, method: str, route: str, incoming: bytes | str | None,
              attributes: dict[str, str | int | float]) -> RequestSpan:
        """A span for a request whose head was just parsed; `incoming` is its traceparent."""
        parent = None
        if incoming:
            text = incoming.decode("latin-1") if isinstance(incoming, bytes) else incoming
            parsed = parse_traceparent(text)
            if parsed is not None:
                trace_id, span_id, flags = parsed
                remote = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                                     trace_flags=trace.TraceFlags(int(flags, 16) & 1))
                parent = trace.set_span_in_context(NonRecordingSpan(remote))
        span = self.tracer.start_span(f"{method} {route}", context=parent, kind=SpanKind.SERVER,
                                      attributes=attributes, start_time=time.time_ns())
        return RequestSpan(span)

    def shutdown(self) -> None:
        if not self._closed:
            self._closed = True
            self.provider.shutdown()


def request_tracer(settings: Tracing | None) -> RequestTracer | None:
    """The tracer for a config's `observability.tracing` section, or None when it is absent."""
    return None if settings is None else RequestTracer(settings)
