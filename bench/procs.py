"""Processes the harness starts, and bounded readiness waits.

How it works: every long-running process (nginx, kubegate) is started through
one ``ProcessGroup`` in its own session, so a terminal Ctrl-C reaches only
the harness, which then stops them. ``stop_all`` signals each process by PID
(SIGTERM, bounded wait, SIGKILL), and also every descendant recorded while it
was alive, identified by (pid, start time) so a reused PID is never signalled.
Invariant: after ``stop_all`` returns, no process this group started is alive.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import cpu

HOST = "127.0.0.1"


@dataclass
class Managed:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    # (pid, starttime) of every process seen in this one's tree.
    tree: set[tuple[int, int]] = field(default_factory=set)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def remember_tree(self) -> None:
        for st in cpu.tree(self.proc.pid, cpu.all_stats()):
            self.tree.add((st.pid, st.starttime))

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ProcessGroup:
    def __init__(self) -> None:
        self.procs: list[Managed] = []

    def start(self, name: str, cmd: list[str], log: Path, cwd: Path | None = None) -> Managed:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
            )
        managed = Managed(name, proc, log)
        self.procs.append(managed)
        return managed

    def stop_all(self, grace_s: float = 5.0) -> None:
        for m in self.procs:
            with contextlib.suppress(OSError):
                m.remember_tree()
        for m in reversed(self.procs):
            if m.alive():
                with contextlib.suppress(ProcessLookupError):
                    m.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for m in self.procs:
            try:
                m.proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait(timeout=5)
        for m in self.procs:
            _kill_leftovers(m.tree)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def _kill_leftovers(tree: set[tuple[int, int]]) -> None:
    """SIGKILL descendants that outlived their parent, if still the same process."""
    for pid, start in tree:
        st = cpu.read_stat(pid)
        if st is not None and st.starttime == start and st.state != "Z":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def http_status(port: int, path: str, headers: dict[str, str] | None = None) -> int | None:
    """Status of one GET to 127.0.0.1:port, or ``None`` when nothing answers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_until(
    check: Callable[[], bool],
    timeout_s: float,
    alive: Callable[[], bool] = lambda: True,
    interval_s: float = 0.1,
) -> bool:
    """Poll ``check`` until true, ``timeout_s`` passes or ``alive`` turns false."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            return False
        time.sleep(interval_s)
    return check()
