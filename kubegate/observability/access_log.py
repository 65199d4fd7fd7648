"""Access log: one JSON line per request, buffered, written off the hot path.

How it works: `AccessLog.log(...)` samples, then appends a tuple to a list (no
formatting, no I/O). `flush()` formats the buffered tuples as JSON lines and
writes them in one call; `run()` flushes every `interval` seconds in a worker
thread (`asyncio.to_thread`), so a slow disk or pipe never blocks the event loop.

Invariants: at most `max_buffer` records wait; past that new records are
dropped and counted in `dropped` (reported as a field of the next line written,
`"dropped": N`), so memory is bounded. Sampling keeps a `sample` fraction of
requests; responses with status >= 500 are always kept when `keep_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

Record = tuple[float, str, str, str, str, str | None, int, int, int, float, float]
FIELDS = ("time", "request_id", "client_ip", "api", "operation", "subscription", "status",
          "bytes_in", "bytes_out", "duration_ms", "backend_ms")


class AccessLog:
    def __init__(self, target: str | IO[str] = "-", *, sample: float = 1.0,
                 keep_errors: bool = True, interval: float = 1.0, max_buffer: int = 100_000,
                 clock: Callable[[], float] = time.time,
                 rand: Callable[[], float] = random.random) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"sample must be between 0 and 1, not {sample}")
        self._own = isinstance(target, str) and target != "-"
        if isinstance(target, str):
            self.stream: IO[str] = (sys.stdout if target == "-"
                                    else open(target, "a", encoding="utf-8"))  # noqa: SIM115
        else:
            self.stream = target
        self.sample = sample
        self.keep_errors = keep_errors
        self.interval = interval
        self.max_buffer = max_buffer
        self.clock = clock
        self.rand = rand
        self.buffer: list[Record] = []
        self.dropped = 0
        self._lock = threading.Lock()  # flush from a thread vs. close from the loop

    def log(self, request_id: str, client_ip: str, api: str, operation: str,
            subscription: str | None, status: int, bytes_in: int, bytes_out: int,
            duration_s: float, backend_s: float) -> None:
        """Record one finished request (cheap: a sampling draw and a list append)."""
        if self.sample < 1.0 and not (self.keep_errors and status >= 500) \
                and self.rand() >= self.sample:
            return
        if len(self.buffer) >= self.max_buffer:
            self.dropped += 1
            return
        self.buffer.append((self.clock(), request_id, client_ip, api, operation, subscription,
                            status, bytes_in, bytes_out, duration_s * 1000, backend_s * 1000))

    def format(self, records: list[Record], dropped: int = 0) -> str:
        lines: list[str] = []
        for r in records:
            entry: dict[str, Any] = dict(zip(FIELDS, r, strict=True))
            entry["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(r[0])) + \
                f".{int(r[0] * 1000) % 1000:03d}Z"
            entry["duration_ms"] = round(r[9], 3)
            entry["backend_ms"] = round(r[10], 3)
            if dropped:
                entry["dropped"] = dropped
                dropped = 0
            lines.append(json.dumps(entry, separators=(",", ":")))
        return "".join(line + "\n" for line in lines)

    def take(self) -> tuple[list[Record], int]:
        """Detach the buffer (on the event loop); returns (records, dropped count)."""
        records, self.buffer = self.buffer, []
        dropped, self.dropped = self.dropped, 0
        return records, dropped

    def write(self, records: list[Record], dropped: int = 0) -> None:
        if not records:
            return
        text = self.format(records, dropped)
        with self._lock:
            self.stream.write(text)
            self.stream.flush()

    def flush(self) -> None:
        self.write(*self.take())

    async def run(self) -> None:
        """Flush every `interval` seconds until cancelled; flushes once more at the end."""
        try:
            while True:
                await asyncio.sleep(self.interval)
                records, dropped = self.take()
                if records:
                    await asyncio.to_thread(self.write, records, dropped)
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.flush()

    def close(self) -> None:
        self.flush()
        if self._own:
            self.stream.close()
