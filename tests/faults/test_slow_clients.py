"""Slow and idle clients against a real gateway: slowloris heads, slow readers and
10,000 idle keep-alive connections. Memory is the gateway's VmRSS from /proc;
other clients must keep being served quickly throughout."""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Backend, Gateway, request, rss_kb

pytestmark = pytest.mark.e2e
IDLE_TARGET = 10_000


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    backend = Backend()
    config = {"gateway": {"timeouts": {"header": 1.5, "idle": 60}},
              "apis": [{"name": "ok", "path": "/ok", "backend": backend.url}]}
    gw = Gateway(tmp_path_factory.mktemp("slow"), config)
    try:
        yield {"gw": gw, "backend": backend}
    finally:
        gw.stop()
        backend.close()


def served_quickly(port: int, n: int = 10, budget: float = 3.0) -> bool:
    start = time.monotonic()
    for i in range(n):
        if request(port, "GET", f"/ok/probe?i={i}", timeout=budget).status != 200:
            return False
    return time.monotonic() - start < budget


def test_slowloris_heads_are_cut_at_the_header_timeout(rig: dict[str, Any]) -> None:
    gw: Gateway = rig["gw"]
    socks = []
    for i in range(300):  # bounded: 300 connections, each trickling its head
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(b"GET /ok/slow%d HTTP/1.1\r\nHost: t\r\n" % i)
        socks.append(s)
    silent = [socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(50)]
    started = time.monotonic()
    try:
        while time.monotonic() - started < 3.0:  # keep trickling past the 1.5 s budget
            for s in socks:
                with contextlib.suppress(OSError):
                    s.send(b"X-a: b\r\n")
            assert served_quickly(gw.port, 3, 1.5), "a normal client waited behind slowloris"
            time.sleep(0.3)
        closed = 0
        for s in socks + silent:
            s.settimeout(2)
            try:
                data = s.recv(65536)
                closed += (not data) or data.startswith(b"HTTP/1.1 408")
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed == len(socks) + len(silent), f"{closed} of {len(socks) + len(silent)} cut"
    finally:
        for s in socks + silent:
            s.close()
    assert served_quickly(gw.port)


def test_slow_readers_keep_memory_bounded(rig: dict[str, Any]) -> None:
    gw: Gateway = rig["gw"]
    before = rss_kb(gw.pid)
    lazy = []
    size = 16 * 1024 * 1024
    for _ in range(20):  # 20 clients x 16 MiB responses they never read
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5)
        s.connect(("127.0.0.1", gw.port))
        s.sendall(b"GET /ok/big?size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % size)
        lazy.append(s)
    try:
        time.sleep(1.5)
        assert served_quickly(gw.port)
        grown = rss_kb(gw.pid) - before
        assert grown < 64 * 1024, f"RSS grew {grown} KiB for 20 slow readers of 16 MiB each"
    finally:
        for s in lazy:
            s.close()


def _gateway_nofile(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return 1024


def test_ten_thousand_idle_keepalive_connections(rig: dict[str, Any]) -> None:
    gw: Gateway = rig["gw"]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    target = min(IDLE_TARGET, hard - 500, _gateway_nofile(gw.pid) - 500)
    if target < IDLE_TARGET:
        print(f"only {target} idle connections possible here (RLIMIT_NOFILE)")
    assert target >= 1000, f"RLIMIT_NOFILE too low for this test: {hard}"
    before = rss_kb(gw.pid)
    socks: list[socket.socket] = []
    sel = selectors.DefaultSelector()
    try:
        deadline = time.monotonic() + 60
        for _ in range(target):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
            # a local 404 keeps the connection alive without touching the backend
            s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
        answered = 0
        while answered < target and time.monotonic() < deadline:
            for key, _ in sel.select(1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(4096)
                assert data.startswith(b"HTTP/1.1 404"), data[:60]
                sel.unregister(sock)
                answered += 1
        assert answered == target
        time.sleep(0.5)
        held = rss_kb(gw.pid) - before
        per_conn = held * 1024 / target
        print(f"{target} idle keep-alive connections: +{held} KiB RSS ({per_conn:.0f} B each)")
        assert per_conn < 16 * 1024, f"{per_conn:.0f} bytes of RSS per idle connection"
        assert served_quickly(gw.port)
        for s in socks[:100]:  # the idle ones are still usable
            s.setblocking(True)
            s.settimeout(5)
            s.sendall(b"GET /ok/again HTTP/1.1\r\nHost: t\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        sel.close()
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
