"""End-to-end helpers: real backends and a real gateway process on 127.0.0.1.

How this works: `Backend` is a threaded HTTP/1.1 server written on plain sockets
so tests control every byte: it echoes the request (line, headers, body length)
as JSON and takes behaviours from the query string (`sleep`, `size`, `die`,
`trickle`, `slowread`), and tunnels `Upgrade` requests as a byte echo after a
101. It counts the TCP connections it accepted. `Gateway` runs
`python -m kubegate run` as a subprocess with free ports, waits for the admin
readiness endpoint, and is stopped in the fixture's finalizer by its PID (and
its workers by theirs). Every wait is bounded in time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHUNK = b"x" * 65536


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


# -- backend -------------------------------------------------------------------------
class Backend:
    """A small HTTP/1.1 server on 127.0.0.1:0; one thread per connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.stopped = False
        self.open: set[socket.socket] = set()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.open.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.stopped = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self.lock:
            for conn in list(self.open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()

    def _serve(self, conn: socket.socket) -> None:
        reader = Reader(conn)
        try:
            while not self.stopped:
                head = reader.head()
                if head is None:
                    return
                if not self._handle(conn, reader, *head):
                    return
        except OSError:
            return
        finally:
            with self.lock:
                self.open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _handle(self, conn: socket.socket, reader: Reader, line: str,
                headers: list[tuple[str, str]]) -> bool:
        with self.lock:
            self.requests += 1
        method, target, _ = line.split(" ", 2)
        path, _, query = target.partition("?")
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        hmap = {k.lower(): v for k, v in headers}
        if hmap.get("upgrade"):
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + hmap["upgrade"].encode()
                         + b"\r\nConnection: Upgrade\r\n\r\n")
            pending = reader.rest()
            if pending:
                conn.sendall(pending)
            while data := conn.recv(65536):
                conn.sendall(data)
            return False
        slowread = float(q.get("slowread", 0))
        received = reader.body(hmap, slowread)
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        if "die" in q:  # promise twice the bytes, send half, vanish
            half = int(q["die"])
            if q.get("chunked"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             + b"%x\r\n" % (2 * half) + b"d" * half)
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (2 * half)
                             + b"d" * half)
            time.sleep(0.05)
            conn.shutdown(socket.SHUT_RDWR)
            return False
        if "size" in q:
            size = int(q["size"])
            trickle = float(q.get("trickle", 0))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n\r\n" % size)
            left = size
            while left > 0:
                piece = CHUNK[: min(left, len(CHUNK))]
                conn.sendall(piece)
                left -= len(piece)
                if trickle:
                    time.sleep(trickle)
            return True
        body = json.dumps({"method": method, "path": path, "query": query, "headers": headers,
                           "body_length": received, "connection": id(conn)}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + (b"" if method == "HEAD" else body))
        return hmap.get("connection", "").lower() != "close"


class Reader:
    """Reads HTTP messages from a blocking socket (both sides use it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _more(self) -> bool:
        data = self.sock.recv(262144)
        self.buf += data
        return bool(data)

    def rest(self) -> bytes:
        out, self.buf = self.buf, b""
        return out

    def head(self) -> tuple[str, list[tuple[str, str]]] | None:
        while b"\r\n\r\n" not in self.buf:
            if not self._more():
                return None
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        line, *rest = raw.decode("latin-1").split("\r\n")
        headers = [(k.strip(), v.strip()) for k, v in (h.split(":", 1) for h in rest)]
        return line, headers

    def exactly(self, n: int, keep: bool = True, pause: float = 0.0) -> tuple[int, bytes]:
        got = 0
        kept = []
        while got < n:
            if not self.buf and not self._more():
                raise ConnectionError(f"closed after {got} of {n} body bytes")
            take = self.buf[: n - got]
            self.buf = self.buf[len(take):]
            got += len(take)
            if keep:
                kept.append(take)
            if pause:
                time.sleep(pause)
        return got, b"".join(kept)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._more():
                raise ConnectionError("closed inside a chunk header")
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out

    def body(self, hmap: dict[str, str], pause: float = 0.0, keep: bool = False) -> Any:
        """Read a request/response body; returns its length (or bytes when keep)."""
        if "chunked" in hmap.get("transfer-encoding", "").lower():
            total, parts = 0, []
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():
                        pass
                    break
                n, data = self.exactly(size, keep, pause)
                total += n
                parts.append(data)
                self.line()
            return b"".join(parts) if keep else total
        n, data = self.exactly(int(hmap.get("content-length", "0")), keep, pause)
        return data if keep else n


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


def read_response(reader: Reader, head_request: bool = False) -> Response:
    head = reader.head()
    if head is None:
        raise ConnectionError("connection closed before a response")
    line, headers = head
    status = int(line.split(" ")[1])
    hmap = {k.lower(): v for k, v in headers}
    if head_request or status in (101, 204, 304):
        return Response(status, headers, b"")
    return Response(status, headers, reader.body(hmap, keep=True))


def request(port: int, method: str, path: str, body: bytes = b"", timeout: float = 10.0,
            headers: dict[str, str] | None = None) -> Response:
    """One request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# -- gateway -------------------------------------------------------------------------
class Gateway:
    """`python -m kubegate run` in a subprocess, on free ports."""

    def __init__(self, folder: Path, config: dict[str, Any], workers: int | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.config_path = folder / "kubegate.yaml"
        self.port = free_port()
        self.admin_port = free_port()
        self.write_config(config)
        self.log_path = folder / "gateway.log"
        args = [sys.executable, "-m", "kubegate", "run", "-c", str(self.config_path),
                "--listen", f"127.0.0.1:{self.port}", "--admin", f"127.0.0.1:{self.admin_port}"]
        if workers is not None:
            args += ["--workers", str(workers)]
        args += extra_args
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.worker_pids: set[int] = set()
        if not wait_until(self.ready, 30):
            text = self.log_text()
            self.stop()
            raise RuntimeError(f"gateway did not become ready (exit {self.proc.poll()}):\n{text}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def write_config(self, config: dict[str, Any] | str) -> None:
        text = config if isinstance(config, str) else json.dumps(config, indent=1)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    def admin(self, path: str) -> Response:
        return request(self.admin_port, "GET", path, timeout=2)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            return self.admin("/health/ready").status == 200
        except OSError:
            return False

    def status(self) -> Any:
        data = self.admin("/status").json()
        self.worker_pids.update(p for p in data.get("workers", []) if p)
        return data

    def get(self, path: str, **kw: Any) -> Response:
        return request(self.port, "GET", path, **kw)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def log_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in self.worker_pids:  # orphans, if the supervisor died first
            with contextlib.suppress(OSError):
                if b"--worker-slot" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
        self.log.close()


def gateway_config(apis: list[dict[str, Any]], **gateway: Any) -> dict[str, Any]:
    return {"gateway": gateway, "apis": apis}
