"""OpenTelemetry through the running gateway: spans reach a real OTLP/HTTP collector
(protobuf over HTTP on 127.0.0.1) and the backend sees the gateway's span as parent."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import Backend, Gateway, gateway_config, request, wait_until
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

pytestmark = pytest.mark.e2e
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


class Collector:
    """Accepts OTLP/HTTP trace exports and keeps the decoded spans."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.resources: list[dict[str, str]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers["Content-Length"]))
                req = ExportTraceServiceRequest()
                req.ParseFromString(data)
                with collector.lock:
                    for rs in req.resource_spans:
                        collector.resources.append(
                            {a.key: a.value.string_value for a in rs.resource.attributes})
                        for ss in rs.scope_spans:
                            collector.spans.extend(ss.spans)
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


def attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.string_value if v.HasField("string_value") else v.int_value \
            if v.HasField("int_value") else v.double_value
    return out


def seen_traceparent(response: Any) -> str:
    headers = {k.lower(): v for k, v in response.json()["headers"]}
    return str(headers["traceparent"])


@pytest.mark.parametrize("with_policy", [False, True])
def test_spans_exported_and_parent_propagated(backend: Backend, collector: Collector,
                                              make_gateway: Callable[..., Gateway],
                                              with_policy: bool) -> None:
    api: dict[str, Any] = {"name": "traced", "path": "/traced", "backend": backend.url,
                           "operations": [{"method": "GET", "path": "/items/{id}", "id": "item"}]}
    if with_policy:
        api["policy"] = ("<policies><inbound><set-header name=\"x-p\" exists-action=\"override\">"
                         "<value>1</value></set-header></inbound><backend><forward-request/>"
                         "</backend><outbound/><on-error/></policies>")
    config = gateway_config([api], observability={
        "tracing": {"otlp_endpoint": collector.url, "service_name": "gw-under-test"}})
    gw = make_gateway(config)

    continued = request(gw.port, "GET", "/traced/items/7?q=secret",
                        headers={"traceparent": CALLER})
    assert continued.status == 200
    sent = seen_traceparent(continued).split("-")
    assert sent[1] == CALLER_TRACE and sent[2] != "00f067aa0ba902b7" and int(sent[3], 16) & 1
    fresh = request(gw.port, "GET", "/traced/items/8")
    fresh_sent = seen_traceparent(fresh).split("-")
    assert fresh_sent[1] != CALLER_TRACE

    assert wait_until(lambda: len(collector.spans) >= 2, timeout=15), collector.spans
    by_span = {s.span_id.hex(): s for s in collector.spans}
    span = by_span[sent[2]]
    assert span.trace_id.hex() == CALLER_TRACE and span.parent_span_id.hex() == "00f067aa0ba902b7"
    assert span.name == "GET /traced/items/{id}"
    a = attrs(span)
    assert a["http.response.status_code"] == 200 and a["kubegate.api"] == "traced"
    assert a["url.path"] == "/traced/items/7" and a["kubegate.operation"] == "item"
    assert "secret" not in json.dumps(a)  # query strings (keys) are not recorded
    other = by_span[fresh_sent[2]]
    assert other.trace_id.hex() == fresh_sent[1] and not other.parent_span_id
    assert collector.resources[0]["service.name"] == "gw-under-test"


def test_tracing_off_passes_traceparent_through(backend: Backend,
                                                make_gateway: Callable[..., Gateway]) -> None:
    gw = make_gateway(gateway_config([{"name": "plain", "path": "/plain",
                                       "backend": backend.url}]))
    resp = request(gw.port, "GET", "/plain/x", headers={"traceparent": CALLER})
    assert seen_traceparent(resp) == CALLER


def test_dead_collector_costs_no_requests(backend: Backend,
                                          make_gateway: Callable[..., Gateway]) -> None:
    config = gateway_config([{"name": "t", "path": "/t", "backend": backend.url}], observability={
        "tracing": {"otlp_endpoint": "http://127.0.0.1:9/v1/traces", "timeout": 1}})
    gw = make_gateway(config)
    for i in range(20):
        assert request(gw.port, "GET", f"/t/{i}").status == 200
