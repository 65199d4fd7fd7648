"""Access log: one JSON line per request, buffered, written off the hot path.

How it works: `AccessLog.log(...)` samples, then formats the line (an f-string:
the time's second is formatted once per second, names that need no JSON
escaping are used as they are) and appends it to a list. `run()` hands the list
to a worker thread every `interval` seconds, which joins and writes it, so a
slow disk or pipe never blocks the event loop. Formatting on the loop keeps the
thread's share of the GIL to a join and a write: a thread that formatted a
second's worth of lines at once would stall the loop for milliseconds.

Invariants: at most `max_buffer` lines wait; past that new records are dropped
and counted in `dropped` (reported as a field of the next line written,
`"dropped": N`), so memory is bounded. Sampling keeps a `sample` fraction of
requests; responses with status >= 500 are always kept when `keep_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

FIELDS = ("time", "request_id", "client_ip", "api", "operation", "subscription", "status",
          "bytes_in", "bytes_out", "duration_ms", "backend_ms")
_PLAIN = re.compile(r"^[A-Za-z0-9._:/+=@ \-]*$").match  # JSON strings needing no escapes


def json_string(value: str) -> str:
    return f'"{value}"' if _PLAIN(value) else json.dumps(value)


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
        self.buffer: list[str] = []
        self.dropped = 0
        self._second = -1
        self._stamp = ""
        self._names: dict[str, str] = {}  # api/operation name -> its JSON string
        self._lock = threading.Lock()  # flush from a thread vs. close from the loop

    def log(self, request_id: str, client_ip: str, api: str, operation: str,
            subscription: str | None, status: int, bytes_in: int, bytes_out: int,
            duration_s: float, backend_s: float) -> None:
        """Record one finished request: a sampling draw, one formatted line, an append."""
        if self.sample < 1.0 and not (self.keep_errors and status >= 500) \
                and self.rand() >= self.sample:
            return
        if len(self.buffer) >= self.max_buffer:
            self.dropped += 1
            return
        now = self.clock()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime('{"time":"%Y-%m-%dT%H:%M:%S', time.gmtime(second))
        names = self._names
        quoted_api = names.get(api)
        if quoted_api is None:
            quoted_api = self._quote(api)
        quoted_op = names.get(operation)
        if quoted_op is None:
            quoted_op = self._quote(operation)
        sub = "null" if subscription is None else json_string(subscription)
        self.buffer.append(
            f'{self._stamp}.{int(now * 1000) % 1000:03d}Z","request_id":'
            f'{json_string(request_id)},"client_ip":{json_string(client_ip)},"api":{quoted_api},'
            f'"operation":{quoted_op},"subscription":{sub},"status":{status},'
            f'"bytes_in":{bytes_in},"bytes_out":{bytes_out},'
            f'"duration_ms":{round(duration_s * 1000, 3)},'
            f'"backend_ms":{round(backend_s * 1000, 3)}}}\n')

    def _quote(self, name: str) -> str:
        if len(self._names) > 10_000:
            self._names.clear()
        quoted = self._names[name] = json_string(name)
        return quoted

    def take(self) -> tuple[list[str], int]:
        """Detach the buffer (on the event loop); returns (lines, dropped count)."""
        lines, self.buffer = self.buffer, []
        dropped, self.dropped = self.dropped, 0
        return lines, dropped

    def write(self, lines: list[str], dropped: int = 0) -> None:
        if not lines:
            return
        if dropped:
            lines[0] = f'{lines[0][:-2]},"dropped":{dropped}}}\n'
        text = "".join(lines)
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
                lines, dropped = self.take()
                if lines:
                    await asyncio.to_thread(self.write, lines, dropped)
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.flush()

    def close(self) -> None:
        self.flush()
        if self._own:
            self.stream.close()
