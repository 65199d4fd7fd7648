"""A recording backend and raw-socket client helpers for hostile-input tests.

How this works: `RecordingBackend` listens on 127.0.0.1:0, one thread per
connection, and parses what it receives with a *strict* httptools parser. For
every request head it checks framing (never Content-Length together with
Transfer-Encoding, Transfer-Encoding only `chunked`, at most one
Content-Length, no CR/LF inside a header value) and records the request; for
every complete request it answers `200` with an empty body. Bytes it cannot
parse (a second request smuggled inside a body, garbage after a message) are
recorded as `errors`. Records are appended under a lock, so a test takes
`mark()` before sending and `since(mark)` after.

Invariant: the backend never closes a connection on its own except after a
parse error or an upgrade, so what it records is exactly what the gateway sent.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

import httptools

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Backend: recorded\r\n\r\n"


@dataclass
class Seen:
    """One request the backend received."""

    method: bytes
    url: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    complete: bool = False
    problems: list[str] = field(default_factory=list)

    def header(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n == name.lower()]


class _Parse:
    def __init__(self, backend: RecordingBackend, conn: socket.socket) -> None:
        self.backend = backend
        self.conn = conn
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.current: Seen | None = None
        self.parser = httptools.HttpRequestParser(self)

    def on_message_begin(self) -> None:
        self.url, self.headers = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        names = [n for n, _ in self.headers]
        problems = []
        if b"content-length" in names and b"transfer-encoding" in names:
            problems.append("both Content-Length and Transfer-Encoding")
        te = [v for n, v in self.headers if n == b"transfer-encoding"]
        if te not in ([], [b"chunked"]):
            problems.append(f"Transfer-Encoding {te!r}")
        if names.count(b"content-length") > 1:
            problems.append("several Content-Length")
        if any(b"\r" in v or b"\n" in v for _, v in self.headers):
            problems.append("CR/LF inside a header value")
        self.current = Seen(self.parser.get_method(), self.url, self.headers, problems=problems)
        self.backend.add(self.current)

    def on_body(self, body: bytes) -> None:
        if self.current is not None:
            self.current.body += body

    def on_message_complete(self) -> None:
        if self.current is not None:
            self.current.complete = True
        with contextlib.suppress(OSError):
            self.conn.sendall(OK)


class RecordingBackend:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.errors: list[str] = []
        self.open: set[socket.socket] = set()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def add(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)

    def mark(self) -> tuple[int, int]:
        with self.lock:
            return len(self.seen), len(self.errors)

    def since(self, mark: tuple[int, int], settle: float = 0.15,
              limit: float = 1.5) -> tuple[list[Seen], list[str]]:
        """What arrived after `mark`, once nothing new arrived for `settle` seconds: a head
        the gateway streams may reach us after the client already has its answer."""
        deadline = time.monotonic() + limit
        last = (-1, -1, -1)
        while True:
            with self.lock:
                now = (len(self.seen), len(self.errors), sum(s.complete for s in self.seen))
                seen, errors = self.seen[mark[0]:], self.errors[mark[1]:]
            if now == last or time.monotonic() > deadline:
                return seen, errors
            last = now
            time.sleep(settle)

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.open.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        state = _Parse(self, conn)
        try:
            while data := conn.recv(65536):
                try:
                    state.parser.feed_data(data)
                except httptools.HttpParserUpgrade:
                    return
                except httptools.HttpParserError as exc:
                    with self.lock:
                        self.errors.append(f"{exc}: {data[:200]!r}")
                    return
        except OSError:
            return
        finally:
            with self.lock:
                self.open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self.stopped = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self.lock:
            for conn in list(self.open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


@dataclass
class Answer:
    """What a raw client saw: every byte, and whether the gateway closed."""

    data: bytes
    closed: bool

    @property
    def statuses(self) -> list[int]:
        out = []
        for line in self.data.split(b"\r\n"):
            if line.startswith(b"HTTP/1.1 ") and line[9:12].isdigit():
                out.append(int(line[9:12]))
        return out


def exchange(port: int, raw: bytes, quiet: float = 0.25, limit: float = 4.0) -> Answer:
    """Send `raw` on a new connection; read until closed, or `quiet` s of silence."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=limit)
    data, closed = b"", False
    deadline = time.monotonic() + limit
    try:
        with contextlib.suppress(OSError):
            sock.sendall(raw)
        sock.settimeout(quiet)
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    finally:
        sock.close()
    return Answer(data, closed)
