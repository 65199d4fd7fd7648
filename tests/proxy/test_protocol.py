"""The data plane's protocol, bytes in and bytes out, without sockets."""

from __future__ import annotations

import json

import pytest

from tests.proxy.conftest import Rig, make_rig

GET = b"GET /api/items/1?x=1 HTTP/1.1\r\nHost: gw.example\r\nAccept: */*\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n", "chunked body must end with an empty trailer"
            return out
        out, rest = out + rest[:size], rest[size + 2 :]


def head_of(data: bytes) -> tuple[list[str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode().split("\r\n"), body


@pytest.mark.parametrize("piecewise", [False, True])
def test_get_is_forwarded_and_answered(rig: Rig, piecewise: bool) -> None:
    rig.send(GET, piecewise)
    lines, body = head_of(rig.upstream_sent())
    assert lines[0] == "GET /base/items/1?x=1 HTTP/1.1"
    assert "host: 10.9.9.9:9000" in lines
    assert "Accept: */*" in lines
    assert "x-forwarded-for: 192.0.2.7" in lines
    assert "x-forwarded-proto: http" in lines
    assert "x-forwarded-host: gw.example" in lines
    assert body == b""
    rig.reply(OK, piecewise=piecewise)
    lines, body = head_of(rig.ct.take())
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Length: 2" in lines and "Content-Type: text/plain" in lines
    assert body == b"ok"
    assert not rig.ct.closed
    assert len(rig.pool.idle) == 2  # the connection went back to the pool


def test_keep_alive_reuses_the_upstream_connection(rig: Rig) -> None:
    for _ in range(3):
        rig.send(GET)
        assert rig.upstream_sent().startswith(b"GET /base/items/1")
        rig.reply(OK)
        assert rig.ct.take().endswith(b"ok")
    assert rig.upstreams[0][0].uses == 3


def test_pipelined_requests_are_answered_in_order(rig: Rig) -> None:
    rig.send(GET.replace(b"items/1", b"items/A") + GET.replace(b"items/1", b"items/B"))
    assert rig.upstream_sent(0).startswith(b"GET /base/items/A")
    assert rig.upstream_sent(1) == b""  # the second waits for the first response
    assert rig.ct.paused  # and reading pauses meanwhile
    rig.reply(OK.replace(b"ok", b"AA"), 0)
    # the second request was sent on the connection the pool handed out next: the same one
    assert rig.upstream_sent(0).startswith(b"GET /base/items/B")
    rig.reply(OK.replace(b"ok", b"BB"), 0)
    out = rig.ct.take()
    assert out.index(b"AA") < out.index(b"BB")
    assert not rig.ct.paused


def test_chunked_request_is_rechunked_and_chunked_response_streams(rig: Rig) -> None:
    rig.send(b"POST /api/items HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", piecewise=True)
    sent = rig.upstream_sent()
    lines, body = head_of(sent)
    assert "transfer-encoding: chunked" in lines
    assert not any(x.lower().startswith("content-length") for x in lines)
    assert dechunk(body) == b"hello world"
    rig.reply(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    lines, body = head_of(rig.ct.take())
    assert lines[0] == "HTTP/1.1 201 Created"
    assert "transfer-encoding: chunked" in lines
    assert body == b"3\r\nabc\r\n0\r\n\r\n"


def test_http10_client_gets_close_delimited_body(rig: Rig) -> None:
    rig.send(b"GET /api/items/1 HTTP/1.0\r\n\r\n")
    rig.upstream_sent()
    rig.reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    lines, body = head_of(rig.ct.take())
    assert "connection: close" in lines
    assert not any("transfer-encoding" in x for x in lines)
    assert body == b"abc"
    assert rig.ct.closed


def test_close_delimited_upstream_response_completes_on_eof(rig: Rig) -> None:
    rig.send(GET)
    rig.upstream_sent()
    rig.reply(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial-and-")
    rig.reply(b"rest")
    rig.upstreams[0][0].connection_lost(None)
    lines, body = head_of(rig.ct.take())
    assert "transfer-encoding: chunked" in lines
    assert body == b"c\r\npartial-and-\r\n4\r\nrest\r\n0\r\n\r\n"
    assert not rig.ct.closed


def test_hop_by_hop_headers_are_removed_both_ways(rig: Rig) -> None:
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\n"
             b"X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: x\r\n"
             b"X-Kept: yes\r\n\r\n")
    lines, _ = head_of(rig.upstream_sent())
    names = {line.split(":")[0].lower() for line in lines[1:]}
    assert names.isdisjoint({"connection", "x-secret", "keep-alive", "te", "proxy-authorization"})
    assert "x-kept" in names
    rig.reply(b"HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=1\r\n"
              b"Content-Length: 0\r\n\r\n")
    lines, _ = head_of(rig.ct.take())
    names = {line.split(":")[0].lower() for line in lines[1:]}
    assert names.isdisjoint({"connection", "x-hop", "keep-alive"})


def test_head_response_completes_without_body(rig: Rig) -> None:
    rig.send(GET.replace(b"GET", b"HEAD", 1))
    assert rig.upstream_sent().startswith(b"HEAD /base/items/1")
    rig.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
    lines, body = head_of(rig.ct.take())
    assert "Content-Length: 1234" in lines and body == b""
    rig.send(GET)  # the same upstream connection is usable again
    assert rig.upstream_sent().startswith(b"GET")
    rig.reply(OK)
    assert rig.ct.take().endswith(b"ok")


def test_expect_100_continue_is_answered_by_the_gateway(rig: Rig) -> None:
    rig.send(b"POST /api/items HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    assert rig.ct.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
    rig.send(b"abcd")
    lines, body = head_of(rig.upstream_sent())
    assert not any(x.lower().startswith("expect") for x in lines)
    assert "content-length: 4" in lines and body == b"abcd"
    rig.reply(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 200 OK") and out.count(b"HTTP/1.1") == 1


def error_of(data: bytes) -> tuple[int, dict[str, object]]:
    lines, body = head_of(data)
    return int(lines[0].split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /api/items HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /api/items HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400),
        (b"POST /api/items HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
        (b"POST /api/items HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /api/items HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400),
        (b"POST /api/items HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET /api/items/1 HTTP/1.1\r\n\r\n", 400),
        (b"GET /api/items/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET /api/items/1 HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET /api/items/1 HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 400),
        (b"GET /api/items/1 HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400),
        (b"GET /api/../../etc HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /api/items/1 HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(30)) + b"\r\n", 431),
        (b"GET /api/items/1 HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 5000 + b"\r\n\r\n", 431),
        (b"POST /api/items HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"GET /api/items/1 HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n", 417),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400),
    ],
)
def test_untrustworthy_requests_are_refused_and_the_connection_closed(
    rig: Rig, request_bytes: bytes, status: int
) -> None:
    rig.send(request_bytes + GET)  # a smuggled follow-up must never be forwarded
    assert rig.upstream_sent() == b""
    got, body = error_of(rig.ct.take())
    assert got == status and body["statusCode"] == status
    assert rig.ct.closed


def test_unknown_route_is_404_and_keeps_the_connection(rig: Rig) -> None:
    rig.send(b"GET /nope HTTP/1.1\r\nHost: h\r\n\r\n")
    status, body = error_of(rig.ct.take())
    assert (status, body) == (404, {"statusCode": 404, "message": "Resource not found"})
    assert not rig.ct.closed
    rig.send(b"DELETE /api/items/1 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert error_of(rig.ct.take())[0] == 404
    rig.send(GET)
    assert rig.upstream_sent().startswith(b"GET /base/items/1")


def test_chunked_body_over_the_limit_is_413_and_upstream_dropped(rig: Rig) -> None:
    rig.send(b"POST /api/items HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        rig.send(b"190\r\n" + b"x" * 400 + b"\r\n")
    status, _ = error_of(rig.ct.take())
    assert status == 413
    assert rig.upstreams[0][1].aborted and rig.ct.closed


def test_backend_closing_before_response_gives_502(rig: Rig) -> None:
    rig.send(b"POST /api/items HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab")
    rig.upstreams[0][0].connection_lost(ConnectionResetError())
    status, body = error_of(rig.ct.take())
    assert status == 502 and "Backend" in str(body["message"])


def test_backend_dying_mid_response_aborts_the_client(rig: Rig) -> None:
    rig.send(GET)
    rig.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part")
    rig.upstreams[0][0].connection_lost(ConnectionResetError())
    assert rig.ct.aborted


def test_garbage_from_backend_gives_502(rig: Rig) -> None:
    rig.send(GET)
    rig.reply(b"\x00\x01 not http at all\r\n\r\n")
    status, _ = error_of(rig.ct.take())
    assert status == 502


def test_slow_client_pauses_the_backend(rig: Rig) -> None:
    rig.send(GET)
    rig.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
    rig.client.pause_writing()
    assert rig.upstreams[0][1].paused
    rig.client.resume_writing()
    assert not rig.upstreams[0][1].paused
    rig.reply(b"67890")
    assert rig.ct.take().endswith(b"1234567890")


def test_backend_backpressure_pauses_the_client(rig: Rig) -> None:
    rig.send(b"POST /api/items HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345")
    rig.upstreams[0][0].pause_writing()
    assert rig.ct.paused
    rig.upstreams[0][0].resume_writing()
    assert not rig.ct.paused


def test_websocket_upgrade_is_tunnelled(rig: Rig) -> None:
    rig.send(b"GET /api/chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             b"Sec-WebSocket-Key: x\r\n\r\nEARLY")
    lines, _ = head_of(rig.upstream_sent())
    assert "connection: upgrade" in lines and "upgrade: websocket" in lines
    rig.reply(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nHELLO")
    out = rig.ct.take()
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols") and out.endswith(b"HELLO")
    assert rig.upstream_sent() == b"EARLY"
    rig.send(b"\x81\x05frame")
    assert rig.upstream_sent() == b"\x81\x05frame"
    rig.reply(b"\x81\x03bye")
    assert rig.ct.take() == b"\x81\x03bye"


def test_reload_does_not_change_a_request_in_flight(rig: Rig) -> None:
    from kubegate.compile.snapshot import build_snapshot
    from kubegate.model.config import Config

    rig.send(GET)
    rig.state.install(build_snapshot(Config.model_validate({"apis": []})))
    rig.reply(OK)
    assert rig.ct.take().endswith(b"ok")
    rig.send(GET)
    assert error_of(rig.ct.take())[0] == 404


def test_slowloris_head_is_cut_at_the_header_timeout() -> None:
    r = make_rig()
    r.send(b"GET /api/items/1 HTTP/1.1\r\nHost: h\r\n")  # the head never completes
    deadline = r.client.deadline
    r.state.sweep(now=deadline - 0.1)
    assert not r.ct.closed
    r.state.sweep(now=deadline + 0.1)
    assert r.ct.closed


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(rig: Rig) -> None:
    rig.send(GET)
    rig.reply(OK)
    idle_deadline = rig.client.deadline
    assert idle_deadline - rig.state.now == pytest.approx(rig.state.idle_timeout)
    rig.state.sweep(now=idle_deadline + 0.1)
    assert rig.ct.closed and not rig.ct.aborted


def test_waiting_on_a_backend_is_not_a_client_timeout(rig: Rig) -> None:
    rig.send(GET)
    rig.upstreams[0][0].deadline = float("inf")
    rig.state.sweep(now=rig.state.now + 10_000)
    assert not rig.ct.closed


def test_silent_backend_times_out_with_504() -> None:
    r = make_rig()
    r.send(GET)
    up = r.upstreams[0][0]
    up.deadline = -1.0
    r.state.sweep()
    status, _ = error_of(r.ct.take())
    assert status == 504


def test_a_head_trickling_in_beyond_the_limit_is_refused(rig: Rig) -> None:
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: h\r\nX: ")
    for _ in range(200):
        if rig.ct.closed:
            break
        rig.send(b"v" * 100)
    assert rig.ct.closed
    assert error_of(rig.ct.take())[0] == 431


def test_long_request_line_is_414(rig: Rig) -> None:
    rig.send(b"GET /api/items/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    assert error_of(rig.ct.take())[0] == 414


def test_a_connection_paused_for_a_slow_client_reads_again_when_reused(rig: Rig) -> None:
    rig.send(GET)
    rig.upstream_sent()
    rig.client.pause_writing()  # the client stops reading while the response arrives
    assert rig.upstreams[0][1].paused
    rig.reply(OK)  # the whole response was already read: the exchange finishes
    rig.ct.take()
    assert not rig.upstreams[0][1].paused  # back in the pool, reading again
    rig.client.resume_writing()
    rig.send(GET)
    assert rig.upstream_sent().startswith(b"GET /base/items/1")


# -- the HTTP version, read off the chunk when the request line starts it ---------------
# (ClientConnection.http_version): a Host-less request is refused on HTTP/1.1 only, so
# the answer tells which version the gateway saw.
@pytest.mark.parametrize("chunks", [
    [b"GET /api/items/1 HTTP/1.0\r\n\r\n"],
    [b"GET /api/items/1 HTTP/1.0\r\n", b"\r\n"],
    [b"G", b"ET /api/items/1 HTTP/1.0\r\n\r\n"],
    # the next chunk starts with what looks like an HTTP/1.1 request line: a header value
    [b"GET /api/items/1 HTTP/1.0\r\nX-A: ", b"GET /api/items/1 HTTP/1.1\r\n\r\n"],
], ids=["one-chunk", "head-split", "line-split", "lookalike-value"])
def test_http10_request_is_seen_as_http10(chunks: list[bytes]) -> None:
    rig = make_rig()
    for chunk in chunks:
        rig.send(chunk)
    assert rig.upstream_sent().startswith(b"GET /base/items/1 HTTP/1.1\r\n")
    assert rig.ct.take() == b""


def test_http10_pipelined_after_http11_in_one_chunk_is_seen_as_http10(rig: Rig) -> None:
    rig.send(GET + b"GET /api/items/1 HTTP/1.0\r\n\r\n")
    rig.reply(OK)
    assert rig.upstream_sent().count(b"GET /base/items/1") == 2  # the 2nd reuses the connection
    rig.reply(OK)
    out = rig.ct.take()
    assert out.count(b"HTTP/1.1 200 OK") == 2, out
    assert rig.ct.closed  # an HTTP/1.0 request without keep-alive ends the connection


@pytest.mark.parametrize("request_line, status", [
    (b"GET /api/items/1 HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET /api/items/1 HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"GET /api/items/1 HTTP/0.9\r\nHost: h\r\n\r\n", 505),
])
def test_http_version_from_the_chunk_start(request_line: bytes, status: int) -> None:
    rig = make_rig()
    rig.send(request_line)
    assert rig.ct.take().startswith(b"HTTP/1.1 %d " % status)


def test_an_empty_host_is_forwarded_without_x_forwarded_host(rig: Rig) -> None:
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: \r\n\r\n")
    sent = rig.upstream_sent()
    assert sent.startswith(b"GET /base/items/1 HTTP/1.1\r\nhost: 10.9.9.9:9000\r\n")
    assert b"x-forwarded-host" not in sent.lower()
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: gw.example\r\n\r\n")  # a known Host: its line
    rig.reply(OK)
    assert b"x-forwarded-host: gw.example\r\n" in rig.upstream_sent()


def test_each_request_gets_its_own_host_line_on_one_connection(rig: Rig) -> None:
    for host in (b"a.example", b"a.example", b"b.example:8080", b"a.example"):
        rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        assert b"\r\nx-forwarded-host: " + host + b"\r\n" in rig.upstream_sent()
        rig.reply(OK)
        assert rig.ct.take().startswith(b"HTTP/1.1 200")
    rig.send(b"GET /api/items/1 HTTP/1.1\r\nHost: a b\r\n\r\n")  # checked, not remembered
    assert rig.ct.take().startswith(b"HTTP/1.1 400")
