"""100 MB bodies through the gateway in both directions with bounded memory, and
long-running streams under a short backend response timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from e2e_support import Backend, Gateway, Reader, rss_kb

pytestmark = pytest.mark.e2e

SIZE = 100 * 1024 * 1024
MAX_GROWTH_KB = 32 * 1024  # well below the 100 MB body


class RssSampler:
    """Samples a process's VmRSS every 20 ms in a thread, until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.base = rss_kb(pid)
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_kb(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.peak = max(self.peak, rss_kb(self.pid))

    @property
    def growth_kb(self) -> int:
        return self.peak - self.base


@pytest.fixture(scope="module")
def stream_backend() -> Iterator[Backend]:
    b = Backend()
    yield b
    b.close()


@contextmanager
def module_gateway(factory: pytest.TempPathFactory, config: dict[str, Any]) -> Iterator[Gateway]:
    gw = Gateway(factory.mktemp("stream"), config)
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def streaming_gateway(stream_backend: Backend,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = {"gateway": {"limits": {"max_body_size": 0}},
              "apis": [{"name": "big", "path": "/big", "backend": stream_backend.url}]}
    with module_gateway(tmp_path_factory, config) as gw:
        # warm up: imports, pools and buffers settle before the baseline is taken
        for _ in range(3):
            assert gw.get("/big/warm?size=300000").status == 200
        yield gw


def test_100mb_request_body_streams_with_bounded_memory(streaming_gateway: Gateway) -> None:
    gw = streaming_gateway
    sock = gw.connect(timeout=30)
    block = b"u" * (1024 * 1024)
    with RssSampler(gw.pid) as rss:
        # the backend reads slowly, so the gateway must push back on the client
        sock.sendall(b"POST /big/upload?slowread=0.002 HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Length: %d\r\n\r\n" % SIZE)
        for _ in range(SIZE // len(block)):
            sock.sendall(block)
        reader = Reader(sock)
        head = reader.head()
        assert head is not None
        body = reader.body({k.lower(): v for k, v in head[1]}, keep=True)
    sock.close()
    assert head[0].startswith("HTTP/1.1 200")
    assert b'"body_length": %d' % SIZE in body
    assert rss.growth_kb < MAX_GROWTH_KB, f"gateway RSS grew by {rss.growth_kb} kB"


def test_100mb_response_body_streams_with_bounded_memory(streaming_gateway: Gateway) -> None:
    gw = streaming_gateway
    sock = gw.connect(timeout=30)
    with RssSampler(gw.pid) as rss:
        sock.sendall(b"GET /big/download?size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % SIZE)
        reader = Reader(sock)
        head = reader.head()
        assert head is not None and head[0].startswith("HTTP/1.1 200")
        hmap = {k.lower(): v for k, v in head[1]}
        assert hmap["content-length"] == str(SIZE)
        # the client reads more slowly than the backend writes
        received = reader.body(hmap, pause=0.002)
    sock.close()
    assert received == SIZE
    assert rss.growth_kb < MAX_GROWTH_KB, f"gateway RSS grew by {rss.growth_kb} kB"


@pytest.fixture(scope="module")
def short_timeout_gateway(stream_backend: Backend,
                          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = {"gateway": {"timeouts": {"response": 1}, "limits": {"max_body_size": 0}},
              "apis": [{"name": "s", "path": "/s", "backend": stream_backend.url}]}
    with module_gateway(tmp_path_factory, config) as gw:
        yield gw


# timeouts.response is the backend's silence, not the exchange's duration:
# streams longer than it complete as long as bytes keep flowing.


def test_trickling_response_longer_than_response_timeout_completes(
        short_timeout_gateway: Gateway) -> None:
    # 16 pieces of 64 kB, one every 0.15 s: never silent for 1 s, 2.4 s in all
    size = 16 * 65536
    sock = short_timeout_gateway.connect(timeout=10)
    sock.sendall(b"GET /s/trickle?size=%d&trickle=0.15 HTTP/1.1\r\nHost: t\r\n\r\n" % size)
    reader = Reader(sock)
    head = reader.head()
    assert head is not None and head[0].startswith("HTTP/1.1 200")
    try:
        assert reader.body({k.lower(): v for k, v in head[1]}) == size
    finally:
        sock.close()


def test_slow_upload_longer_than_response_timeout_completes(
        short_timeout_gateway: Gateway) -> None:
    piece, count = b"p" * 65536, 20  # one piece every 0.1 s: 2 s of upload
    sock = short_timeout_gateway.connect(timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"POST /s/upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                 % (len(piece) * count))
    try:
        for _ in range(count):
            sock.sendall(piece)
            time.sleep(0.1)
    except OSError:
        pass  # the gateway gave up on the request; the response says why
    reader = Reader(sock)
    head = reader.head()
    sock.close()
    assert head is not None
    assert head[0].startswith("HTTP/1.1 200"), head[0]
