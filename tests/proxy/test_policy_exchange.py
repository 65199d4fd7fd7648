"""Operations with policies: the data plane runs the pipeline and its `send`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from kubegate.compile.router import Router
from kubegate.compile.snapshot import RouteTarget, Snapshot
from kubegate.policies.context import Response
from kubegate.policies.errors import BackendError
from tests.proxy.conftest import Rig, make_rig


class StubPipeline:
    """Stands in for a compiled pipeline: adds a header, forwards, edits the response."""

    needs_request_body = True
    needs_response_body = True

    def __init__(self, short_circuit: bool = False) -> None:
        self.short_circuit = short_circuit
        self.seen_body: bytes | None = None

    async def execute(self, ctx: Any, send: Any) -> None:
        self.seen_body = ctx.Request.Body.content
        if self.short_circuit:
            ctx.Response = Response(403, "Forbidden", [("Content-Type", "text/plain")], b"no")
            return
        ctx.Request.Headers.set("X-Policy", "on")
        try:
            await send(ctx)
        except BackendError as exc:
            ctx.Response = Response(exc.status, "", [], json.dumps({"e": exc.message}).encode())
            return
        ctx.Response.Headers.set("X-Out", str(ctx.Response.StatusCode))


def with_pipeline(rig: Rig, pipeline: Any) -> None:
    old = rig.state.snapshot
    router: Router[RouteTarget] = Router()
    for api in old.config.apis:
        trie = router.api(api.path)
        for op in api.operations or ():
            found = old.router.lookup(op.method, [s for s in (api.path + op.path.replace("{", "").replace("}", "")).split("/") if s])
            assert found is not None
            trie.add(op.method, op.path, replace(found.target, pipeline=pipeline))
    rig.state.install(Snapshot(old.version + 1, old.config, router, old.backends))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_pipeline_sees_the_request_and_edits_both_ways() -> None:
    rig = make_rig()
    stub = StubPipeline()
    with_pipeline(rig, stub)
    rig.send(b"POST /api/items?a=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello")
    await settle()
    sent = rig.upstream_sent()
    head, _, body = sent.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /base/items?a=1 HTTP/1.1\r\n")
    assert b"X-Policy: on" in head and b"content-length: 5" in head and body == b"hello"
    assert stub.seen_body == b"hello"
    rig.reply(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    await settle()
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b"X-Out: 201" in out and b"content-length: 2" in out and out.endswith(b"\r\n\r\nok")
    assert len(rig.pool.idle) == 2  # the connection went back to the pool


async def test_pipeline_can_answer_without_the_backend() -> None:
    rig = make_rig()
    with_pipeline(rig, StubPipeline(short_circuit=True))
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
    await settle()
    assert rig.upstream_sent() == b""
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 403 Forbidden\r\n") and out.endswith(b"no")


async def test_backend_failure_reaches_the_pipeline_as_backend_error() -> None:
    rig = make_rig()
    with_pipeline(rig, StubPipeline())
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
    await settle()
    rig.upstreams[0][0].connection_lost(ConnectionResetError())
    await settle()
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 502 ") and b"closed before a complete response" in out


async def test_pipelined_policy_requests_stay_in_order() -> None:
    rig = make_rig()
    with_pipeline(rig, StubPipeline(short_circuit=True))
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n\r\n" * 3)
    for _ in range(5):
        await settle()
    assert rig.ct.take().count(b"HTTP/1.1 403 Forbidden") == 3


class TracingStub(StubPipeline):
    def __init__(self, allow: bool) -> None:
        super().__init__(short_circuit=True)
        self.allow = allow

    async def execute(self, ctx: Any, send: Any) -> None:
        if ctx.trace is not None:
            ctx.trace.append("step one")
        ctx.trace_allowed = self.allow
        await super().execute(ctx, send)


async def test_live_trace_is_refused_to_remote_callers_without_permission() -> None:
    for allow, expected in ((False, False), (True, True)):
        rig = make_rig()  # the fake client is 192.0.2.7, not loopback
        with_pipeline(rig, TracingStub(allow))
        rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nx-kubegate-trace: true\r\n\r\n")
        await settle()
        out = rig.ct.take()
        assert out.startswith(b"HTTP/1.1 403")
        assert (b'x-kubegate-trace: ["step one"]' in out) is expected


def compiled_rig(policy: str, services: dict[str, Any] | None = None) -> Rig:
    """The rig with one operation whose policy is `policy`, compiled with `services`."""
    return installed_rig({"apis": [{
        "name": "orders", "path": "/api", "backend": "http://10.9.9.9:9000/base",
        "policy": policy, "operations": [{"method": "GET", "path": "/items/{id}"}]}]}, services)


def installed_rig(config: dict[str, Any], services: dict[str, Any] | None = None) -> Rig:
    """The rig serving `config` (one backend, at the rig's address) compiled with
    `services`, its upstream connections in that backend's pool."""
    from kubegate.compile.snapshot import build_snapshot as build
    from kubegate.model.config import Config

    rig = make_rig()
    snapshot = build(Config.model_validate(config), services=services)
    rig.state.install(snapshot)
    pool = rig.state.pools.get(snapshot.backends[0])
    pool.idle[:] = [up for up, _ in reversed(rig.upstreams)]
    for up, _ in rig.upstreams:
        up.pool = pool
    return rig


INBOUND_ONLY = ("<policies><inbound><set-header name=\"X-In\" exists-action=\"override\">"
                "<value>1</value></set-header></inbound><backend><forward-request /></backend>"
                "<outbound /><on-error /></policies>")


async def test_inbound_only_pipeline_streams_the_response() -> None:
    rig = compiled_rig(INBOUND_ONLY)
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
    await settle()
    sent = rig.upstream_sent()
    assert sent.startswith(b"GET /base/items/1 HTTP/1.1") and b"X-In: 1" in sent
    rig.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
    first = rig.ct.take()
    assert first.startswith(b"HTTP/1.1 200 OK") and first.endswith(b"first")  # not buffered
    rig.reply(b"-half")
    assert rig.ct.take() == b"-half"
    rig.send(b"GET /api/items/2 HTTP/1.1\r\nHost: gw\r\n\r\n")  # the connection goes on
    await settle()
    assert rig.upstream_sent().startswith(b"GET /base/items/2")


async def test_outbound_policies_get_the_whole_response() -> None:
    rig = compiled_rig(INBOUND_ONLY.replace(
        "<outbound />", "<outbound><set-header name=\"X-Out\" exists-action=\"override\">"
        "<value>2</value></set-header></outbound>"))
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\n\r\n")
    await settle()
    rig.upstream_sent()
    rig.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
    await settle()
    assert rig.ct.take() == b""  # held until outbound ran
    rig.reply(b"-half")
    await settle()
    out = rig.ct.take()
    assert b"X-Out: 2" in out and out.endswith(b"first-half")


def policy_with(inbound: str) -> str:
    return (f"<policies><inbound>{inbound}</inbound><backend><forward-request /></backend>"
            "<outbound /><on-error /></policies>")


REQUEST = (b"GET /api/items/1?q=1 HTTP/1.1\r\nHost: gw.example\r\nX-Secret: s\r\n"
           b"Accept: a/b\r\nX-Forwarded-For: 203.0.113.9\r\nX-Request-Id: r-1\r\n\r\n")


def head_lines(sent: bytes) -> list[bytes]:
    head, _, body = sent.partition(b"\r\n\r\n")
    assert body == b""
    return head.split(b"\r\n")


async def test_a_request_the_policies_left_alone_goes_up_as_the_plain_path_sends_it() -> None:
    plain = make_rig()
    plain.send(REQUEST)
    expected = head_lines(plain.upstream_sent())
    rig = compiled_rig(policy_with('<set-variable name="v" value="1" />'))
    rig.send(REQUEST)
    await settle()
    assert head_lines(rig.upstream_sent()) == expected
    assert expected[0] == b"GET /base/items/1?q=1 HTTP/1.1"
    assert b"x-forwarded-for: 203.0.113.9, 192.0.2.7" in expected
    assert b"x-forwarded-host: gw.example" in expected and b"X-Request-Id: r-1" in expected


async def test_deleted_headers_leave_the_received_head_and_nothing_else_does() -> None:
    rig = compiled_rig(policy_with('<set-header name="x-secret" exists-action="delete" />'))
    rig.send(REQUEST)
    await settle()
    lines = head_lines(rig.upstream_sent())
    assert not any(line.lower().startswith(b"x-secret") for line in lines)
    assert b"Accept: a/b" in lines and b"x-forwarded-for: 203.0.113.9, 192.0.2.7" in lines


async def test_two_deleted_headers_both_leave_the_received_head() -> None:
    rig = compiled_rig(policy_with('<set-header name="x-secret" exists-action="delete" />'
                                   '<set-header name="ACCEPT" exists-action="delete" />'))
    rig.send(REQUEST)
    await settle()
    lines = head_lines(rig.upstream_sent())
    assert not any(line.lower().startswith((b"x-secret", b"accept")) for line in lines)
    assert b"x-forwarded-for: 203.0.113.9, 192.0.2.7" in lines and b"X-Request-Id: r-1" in lines


@pytest.mark.parametrize("inbound", [
    '<set-header name="X-New" exists-action="override"><value>n</value></set-header>',
    '<rewrite-uri template="/items/2" />',
    '<set-method>POST</set-method>',
    '<set-query-parameter name="q" exists-action="override"><value>2</value></set-query-parameter>',
    '<set-header name="X-Forwarded-For" exists-action="delete" />',
])
async def test_a_changed_request_is_written_anew_with_the_same_gateway_headers(
        inbound: str) -> None:
    rig = compiled_rig(policy_with(inbound))
    rig.send(REQUEST)
    await settle()
    lines = head_lines(rig.upstream_sent())
    names = [line.split(b":")[0].lower() for line in lines[1:]]
    assert names.count(b"x-forwarded-for") == 1 and b"x-forwarded-host: gw.example" in lines
    assert b"x-forwarded-proto: http" in lines and b"X-Request-Id: r-1" in lines
    if "X-New" in inbound:
        assert b"X-New: n" in lines and b"X-Secret: s" in lines
        assert b"x-forwarded-for: 203.0.113.9, 192.0.2.7" in lines
    elif "rewrite-uri" in inbound:
        assert lines[0] == b"GET /base/items/2?q=1 HTTP/1.1"
    elif "set-method" in inbound:
        assert lines[0] == b"POST /base/items/1?q=1 HTTP/1.1" and b"content-length: 0" in lines
    elif "set-query" in inbound:
        assert lines[0] == b"GET /base/items/1?q=2 HTTP/1.1"
    else:  # the chain the client sent is gone with the header: only the client is named
        assert b"x-forwarded-for: 192.0.2.7" in lines


async def test_a_streamed_answer_to_a_closing_client_is_written_before_the_close() -> None:
    rig = compiled_rig(policy_with('<set-variable name="v" value="1" />'))
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
    await settle()
    assert rig.upstream_sent().startswith(b"GET /base/items/1")
    assert not rig.ct.closed  # the pipeline finished at once, the response has not come
    rig.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"ok")
    assert b"connection: close" in out.lower() and rig.ct.closed


@pytest.mark.parametrize("policies", [False, True])
async def test_the_live_trace_header_never_reaches_the_backend(policies: bool) -> None:
    rig = compiled_rig(policy_with('<set-variable name="v" value="1" />')) if policies \
        else make_rig()
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nx-kubegate-trace: false\r\n"
             b"Accept: a/b\r\n\r\n")
    await settle()
    sent = rig.upstream_sent()
    assert b"Accept: a/b" in sent and b"kubegate-trace" not in sent.lower()
