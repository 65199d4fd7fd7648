"""Requests through a real gateway process to real backends: framing, keep-alive,
pipelining, backend failures, slow clients and tunnels."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Backend, Gateway, Reader, read_response, request

pytestmark = pytest.mark.e2e


class Rig:
    def __init__(self, gw: Gateway, backend: Backend, slow: Backend) -> None:
        self.gw = gw
        self.backend = backend
        self.slow = slow


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    backend, slow = Backend(), Backend()
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    folder: Path = tmp_path_factory.mktemp("proxy")
    config = {
        "gateway": {"timeouts": {"response": 1}, "limits": {"max_body_size": 0}},
        "apis": [
            {"name": "echo", "path": "/echo", "backend": backend.url + "/base"},
            {"name": "ops", "path": "/ops", "backend": backend.url,
             "operations": [{"method": "GET", "path": "/items/{id}"},
                            {"method": "POST", "path": "/items"}]},
            {"name": "slow", "path": "/slow", "backend": slow.url},
            {"name": "refused", "path": "/refused",
             "backend": f"http://127.0.0.1:{refused.getsockname()[1]}"},
        ],
    }
    gw = Gateway(folder, config)
    try:
        yield Rig(gw, backend, slow)
    finally:
        gw.stop()
        backend.close()
        slow.close()
        refused.close()


def test_get_and_post_pass_through(rig: Rig) -> None:
    r = request(rig.gw.port, "GET", "/echo/hello/world?a=1&b=2", headers={"X-Test": "yes"})
    assert r.status == 200
    seen = r.json()
    assert (seen["method"], seen["path"], seen["query"]) == ("GET", "/base/hello/world", "a=1&b=2")
    sent = {k.lower(): v for k, v in seen["headers"]}
    assert sent["x-test"] == "yes"
    assert sent["x-forwarded-for"] == "127.0.0.1"
    assert sent["x-forwarded-proto"] == "http"

    body = json.dumps({"item": "mouse", "quantity": 3}).encode()
    r = request(rig.gw.port, "POST", "/ops/items", body=body,
                headers={"Content-Type": "application/json"})
    assert r.status == 200
    assert (r.json()["method"], r.json()["body_length"]) == ("POST", len(body))
    assert request(rig.gw.port, "GET", "/ops/items/42").json()["path"] == "/items/42"


def test_unknown_route_is_apim_404(rig: Rig) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", "/ops/items/1")):
        r = request(rig.gw.port, method, path)
        assert r.status == 404
        assert r.json() == {"statusCode": 404, "message": "Resource not found"}


def test_keep_alive_reuses_upstream_connections(rig: Rig) -> None:
    before, before_requests = rig.backend.connections, rig.backend.requests
    conn = http.client.HTTPConnection("127.0.0.1", rig.gw.port, timeout=5)
    for i in range(20):
        conn.request("GET", f"/echo/ka?i={i}")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["query"] == f"i={i}"
    conn.close()
    for i in range(10):  # fresh client connections still share the upstream pool
        assert request(rig.gw.port, "GET", f"/echo/fresh?i={i}").status == 200
    opened = rig.backend.connections - before
    assert rig.backend.requests - before_requests == 30
    assert opened <= 1, f"backend saw {opened} new connections for 30 sequential requests"


def test_pipelined_requests_answered_in_order(rig: Rig) -> None:
    sock = rig.gw.connect()
    reqs = []
    for i in range(6):
        if i == 3:
            reqs.append(b"POST /echo/p?i=3 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        else:
            reqs.append(b"GET /echo/p?i=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i)
    sock.sendall(b"".join(reqs))  # all at once, in one segment
    reader = Reader(sock)
    got = [read_response(reader) for _ in range(6)]
    sock.close()
    assert [r.status for r in got] == [200] * 6
    assert [r.json()["query"] for r in got] == [f"i={i}" for i in range(6)]
    assert got[3].json()["body_length"] == 5


def test_refused_backend_gives_502_json(rig: Rig) -> None:
    r = request(rig.gw.port, "GET", "/refused/anything")
    assert r.status == 502
    body = r.json()
    assert body["statusCode"] == 502 and isinstance(body["message"], str)
    assert request(rig.gw.port, "GET", "/echo/after").status == 200


def test_silent_backend_gives_504(rig: Rig) -> None:
    started = time.monotonic()
    r = request(rig.gw.port, "GET", "/slow/silent?sleep=4")
    elapsed = time.monotonic() - started
    assert r.status == 504
    assert r.json()["statusCode"] == 504
    assert 0.7 <= elapsed < 3.0


@pytest.mark.parametrize("chunked", [False, True])
def test_backend_death_mid_stream_aborts_then_recovers(rig: Rig, chunked: bool) -> None:
    sock = rig.gw.connect(timeout=5)
    query = "die=300000" + ("&chunked=1" if chunked else "")
    sock.sendall(b"GET /echo/die?%s HTTP/1.1\r\nHost: t\r\n\r\n" % query.encode())
    reader = Reader(sock)
    head = reader.head()
    assert head is not None and head[0].startswith("HTTP/1.1 200")
    hmap = {k.lower(): v for k, v in head[1]}
    with pytest.raises((ConnectionError, ValueError)):
        reader.body(hmap)  # the body never completes: the gateway aborts the connection
    sock.close()
    r = request(rig.gw.port, "GET", "/echo/next")
    assert r.status == 200 and r.json()["path"] == "/base/next"


def test_slow_reading_client_does_not_block_others(rig: Rig) -> None:
    lazy = socket.socket()
    lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.settimeout(10)
    lazy.connect(("127.0.0.1", rig.gw.port))
    size = 30 * 1024 * 1024
    lazy.sendall(b"GET /echo/big?size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % size)
    time.sleep(0.3)  # the lazy client reads nothing: its response backs up
    started = time.monotonic()
    for i in range(30):
        r = request(rig.gw.port, "GET", f"/echo/other?i={i}", timeout=3)
        assert r.status == 200 and r.json()["query"] == f"i={i}"
    assert time.monotonic() - started < 5
    reader = Reader(lazy)
    head = reader.head()
    assert head is not None and head[0].startswith("HTTP/1.1 200")
    assert reader.body({k.lower(): v for k, v in head[1]}) == size
    lazy.close()


def test_upgrade_is_tunnelled(rig: Rig) -> None:
    sock = rig.gw.connect(timeout=5)
    sock.sendall(b"GET /echo/chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                 b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    reader = Reader(sock)
    head = reader.head()
    assert head is not None and head[0].startswith("HTTP/1.1 101"), rig.gw.log_text()[-3000:]
    assert {k.lower(): v.lower() for k, v in head[1]}["upgrade"] == "websocket"
    echoed = reader.rest()
    for msg in (b"\x81\x05hello", b"\x00" * 70000, b"bye"):
        sock.sendall(msg)
        while len(echoed) < len(msg):
            data = sock.recv(65536)
            assert data, "tunnel closed early"
            echoed += data
        assert echoed == msg
        echoed = b""
    sock.close()


def test_concurrent_clients(rig: Rig) -> None:
    failures: list[str] = []

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", rig.gw.port, timeout=5)
        try:
            for i in range(25):
                conn.request("POST", f"/echo/c{n}?i={i}", body=b"z" * (i * 100))
                resp = conn.getresponse()
                data = json.loads(resp.read())
                if resp.status != 200 or data["body_length"] != i * 100:
                    failures.append(f"{n}/{i}: {resp.status}")
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"{n}: {exc!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not failures


def test_head_chunked_expect_and_http10(rig: Rig) -> None:
    sock = rig.gw.connect(timeout=5)
    reader = Reader(sock)
    sock.sendall(b"HEAD /echo/h HTTP/1.1\r\nHost: t\r\n\r\n")
    head = read_response(reader, head_request=True)
    assert head.status == 200 and int(head.header("content-length") or 0) > 0
    sock.sendall(b"POST /echo/c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert read_response(reader).json()["body_length"] == 11
    sock.sendall(b"POST /echo/e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    interim = reader.head()
    assert interim is not None and interim[0].startswith("HTTP/1.1 100")
    sock.sendall(b"body")
    final = read_response(reader)
    assert final.status == 200 and final.json()["body_length"] == 4
    sock.close()

    old = rig.gw.connect(timeout=5)
    old.sendall(b"GET /echo/old HTTP/1.0\r\n\r\n")
    reader = Reader(old)
    r = read_response(reader)
    assert r.status == 200 and r.json()["path"] == "/base/old"
    assert old.recv(100) == b""  # HTTP/1.0 without keep-alive: closed after the response
    old.close()
