"""Continuous load and small controllable servers for fault-injection tests.

How this works: `Load` runs N client threads against the gateway, each on its
own keep-alive connection (re-opened after an error), and records every
request's outcome (monotonic time, status or the exception text). It stops when
told, or after `max_seconds` / `max_requests`, whichever comes first, so every
test loop is bounded. `Forwarder` is a TCP proxy on 127.0.0.1:0 in front of a
real server that a test can cut (close every connection and refuse new ones)
and restore. `RedisServer` is a redis-server process of our own on a free port,
stopped and restarted by its PID.

Invariant: outcomes are appended under a lock; `failures()` are the outcomes
that are not a 2xx (or not in the accepted set).
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from e2e_support import free_port, wait_until


@dataclass
class Outcome:
    at: float
    status: int | None
    error: str | None


class Load:
    def __init__(self, port: int, path: str = "/", threads: int = 4, *, max_seconds: float = 30,
                 max_requests: int = 100_000, headers: dict[str, str] | None = None,
                 timeout: float = 10.0) -> None:
        self.port, self.path, self.headers, self.timeout = port, path, headers or {}, timeout
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.max_requests = max_requests
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _more(self) -> bool:
        return (not self.stop_event.is_set() and time.monotonic() < self.deadline
                and len(self.outcomes) < self.max_requests)

    def _run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while self._more():
            c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            conn = c
            try:
                c.request("GET", self.path, headers=self.headers)
                resp = c.getresponse()
                resp.read()
                outcome = Outcome(time.monotonic(), resp.status, None)
                if resp.will_close:
                    c.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                outcome = Outcome(time.monotonic(), None, f"{type(exc).__name__}: {exc}")
                c.close()
                conn = None
                time.sleep(0.01)
            with self.lock:
                self.outcomes.append(outcome)
        if conn is not None:
            conn.close()

    def stop(self) -> list[Outcome]:
        self.stop_event.set()
        for t in self.threads:
            t.join(self.timeout + 5)
        return self.outcomes

    def count(self) -> int:
        with self.lock:
            return len(self.outcomes)

    def wait_for(self, n: int, timeout: float) -> bool:
        return wait_until(lambda: self.count() >= n, timeout)

    def failures(self, ok: frozenset[int] = frozenset({200})) -> list[Outcome]:
        with self.lock:
            return [o for o in self.outcomes if o.status not in ok]

    def between(self, start: float, end: float) -> list[Outcome]:
        with self.lock:
            return [o for o in self.outcomes if start <= o.at <= end]


class Forwarder:
    """TCP forwarder 127.0.0.1:<port> -> target; `cut()` drops everything, `restore()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.cut()


class RedisServer:
    """Our own redis-server on a free port (no persistence)."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server not installed")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(self.ping, 10):
            raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL by PID: an abrupt outage
            self.proc.wait(5)
        self.proc = None
