"""Backend faults, through a real gateway, for plain and policy operations: garbage
responses, resets before and during the response, a backend that never answers,
and a backend that goes away and comes back on the same port.

tests/e2e/test_e2e_proxy.py already covers a refused connection (502), a silent
backend (504) and a death mid-body on the plain path; this adds the policy path,
malformed responses and the down-then-back cycle.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import Backend, Gateway, Reader, read_response, request, wait_until

pytestmark = pytest.mark.e2e

ANSWERS: dict[str, bytes | None] = {
    "garbage": b"NOT HTTP AT ALL\r\n\r\n",
    "badcl": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nabc",
    "clte": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "twocl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    "badchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "nul": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "hugehead": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 0\r\n\r\n",
    "status999": b"HTTP/1.1 999 Nope\r\nContent-Length: 0\r\n\r\n",
    "http09": b"hello",
    "rst": None,  # reset right after reading the request
}


class Garbage:
    """Answers each request with ANSWERS[first path segment after the API prefix]."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            kind = data.split(b" ", 2)[1].strip(b"/").split(b"/")[0].decode()
            answer = ANSWERS.get(kind)
            if answer is None:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return  # close with linger 0: RST
            conn.sendall(answer)
            conn.shutdown(socket.SHUT_WR)
            time.sleep(0.1)

    def close(self) -> None:
        self.sock.close()


GUARD = ('<policies><inbound><set-header name="X-P" exists-action="override"><value>1</value>'
         '</set-header><base /></inbound><backend><base /></backend><outbound><base />'
         '</outbound><on-error><base /></on-error></policies>')


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    garbage, good = Garbage(), Backend()
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)  # accepts (in the kernel) and never answers
    hang_url = f"http://127.0.0.1:{hang.getsockname()[1]}"
    config = {"gateway": {"timeouts": {"response": 1, "connect": 1}},
              "apis": [{"name": "g", "path": "/g", "backend": garbage.url},
                       {"name": "gp", "path": "/gp", "backend": garbage.url, "policy": GUARD},
                       {"name": "hang", "path": "/hang", "backend": hang_url},
                       {"name": "hangp", "path": "/hangp", "backend": hang_url, "policy": GUARD},
                       {"name": "ok", "path": "/ok", "backend": good.url}]}
    gw = Gateway(tmp_path_factory.mktemp("faults"), config)
    try:
        yield {"gw": gw, "good": good}
    finally:
        gw.stop()
        garbage.close()
        good.close()
        hang.close()


def _raw(port: int, path: str) -> tuple[int | None, list[tuple[str, str]], bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
        resp = read_response(Reader(sock))
        return resp.status, resp.headers, resp.body
    except (ConnectionError, OSError, ValueError):
        return None, [], b""  # closed or reset: the client sees an error, not a lie
    finally:
        sock.close()


@pytest.mark.parametrize("prefix", ["/g", "/gp"], ids=["plain", "policy"])
@pytest.mark.parametrize("kind", list(ANSWERS))
def test_malformed_or_reset_response_is_502_never_passed_on(
        rig: dict[str, Any], prefix: str, kind: str) -> None:
    status, headers, body = _raw(rig["gw"].port, f"{prefix}/{kind}")
    names = [k.lower() for k, _ in headers]
    assert not ("content-length" in names and "transfer-encoding" in names)
    assert names.count("content-length") <= 1
    if kind in ("status999", "hugehead"):  # well-formed: passed on (hugehead: see below)
        assert status in (502, None, 200, 999)
    else:
        assert status in (502, None), (status, body[:200])
    if status == 502:
        assert b"statusCode" in body
    assert request(rig["gw"].port, "GET", "/ok/after").status == 200  # still serving


def test_oversized_response_head_is_refused(rig: dict[str, Any]) -> None:
    status, _, _ = _raw(rig["gw"].port, "/g/hugehead")
    assert status in (502, None)


@pytest.mark.parametrize("prefix", ["/hang", "/hangp"], ids=["plain", "policy"])
def test_hanging_backend_is_504_and_others_are_served(rig: dict[str, Any], prefix: str) -> None:
    results: list[int] = []
    t = threading.Thread(target=lambda: results.append(
        request(rig["gw"].port, "GET", f"{prefix}/x", timeout=10).status))
    started = time.monotonic()
    t.start()
    time.sleep(0.1)
    assert request(rig["gw"].port, "GET", "/ok/during", timeout=2).status == 200
    t.join(10)
    assert results == [504]
    assert time.monotonic() - started < 5


def test_backend_down_then_back_on_the_same_port(
        make_gateway: Callable[..., Gateway]) -> None:
    backend = Backend()
    port = backend.port
    gw = make_gateway({"gateway": {"timeouts": {"connect": 1}},
                       "apis": [{"name": "b", "path": "/b", "backend": backend.url},
                                {"name": "bp", "path": "/bp", "backend": backend.url,
                                 "policy": GUARD}]})
    for path in ("/b/x", "/bp/x"):
        assert gw.get(path).status == 200
    backend.close()  # pooled connections die with it
    for path in ("/b/x", "/bp/x") * 3:
        r = gw.get(path, timeout=5)
        assert r.status in (502, 503), r.status
        assert r.json()["statusCode"] == r.status
    back = socket.socket()  # the same port again
    back.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    back.bind(("127.0.0.1", port))
    back.close()
    revived = Backend.__new__(Backend)
    _rebind(revived, port)
    try:
        assert wait_until(lambda: gw.get("/b/x").status == 200, 10)
        ok = [gw.get(p).status for p in ("/b/y", "/bp/y") * 5]
        assert ok == [200] * 10, ok
    finally:
        revived.close()


def _rebind(b: Backend, port: int) -> None:
    """Start a Backend on a given port (Backend binds port 0 by itself)."""
    b.sock = socket.socket()
    b.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    b.sock.bind(("127.0.0.1", port))
    b.sock.listen(256)
    b.port, b.url = port, f"http://127.0.0.1:{port}"
    b.connections = b.requests = 0
    b.lock = threading.Lock()
    b.stopped = False
    b.open = set()
    b.thread = threading.Thread(target=b._accept, daemon=True)
    b.thread.start()
