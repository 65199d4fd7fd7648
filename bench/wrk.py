"""Drive wrk and parse its results.

wrk runs with a small Lua ``done`` script that prints one ``WRK_JSON {...}``
line (requests, duration, error counters, latency percentiles in µs). When
that line is missing (no Lua support, script error) the plain ``--latency``
text output is parsed instead, so both paths yield the same ``WrkResult``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

JSON_MARK = "WRK_JSON "

DONE_SCRIPT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.2f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    status_errors: int
    timeouts: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        """Socket errors (connect/read/write/timeout) plus HTTP status >= 400."""
        return self.socket_errors + self.status_errors


VARY_SCRIPT = r"""
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end
init = function(args)
  math.randomseed(os.time() * 100 + (thread_no or 0))
end
request = function()
  return wrk.format(nil, PREFIX .. math.random(1, 2000000000))
end
"""


def write_script(directory: Path, vary_prefix: str | None = None, name: str = "wrk_done") -> Path:
    """The Lua script for wrk; with `vary_prefix`, each request's path is the prefix
    plus a random number (one seed per wrk thread)."""
    path = directory / f"{name}.lua"
    text = DONE_SCRIPT
    if vary_prefix is not None:
        text = f"PREFIX = {json.dumps(vary_prefix)}\n" + VARY_SCRIPT + text
    path.write_text(text)
    return path


def command(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    wrk: str = "wrk",
) -> list[str]:
    threads = max(1, min(threads, connections))
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s"]
    cmd += ["--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    return cmd


def parse_output(text: str) -> WrkResult:
    """Parse wrk's stdout; the JSON line wins over the human-readable text."""
    for line in text.splitlines():
        if line.startswith(JSON_MARK):
            return _from_json(json.loads(line[len(JSON_MARK) :]))
    return _from_text(text)


def _from_json(d: dict[str, float]) -> WrkResult:
    return WrkResult(
        requests=int(d["requests"]),
        duration_s=d["duration_us"] / 1e6,
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        socket_errors=int(d["connect"] + d["read"] + d["write"] + d["timeout"]),
        status_errors=int(d["status"]),
        timeouts=int(d["timeout"]),
    )


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"
_RE_TOTAL = re.compile(r"(\d+) requests in " + _DURATION)
_RE_PCT = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+" + _DURATION + r"\s*$", re.M)
_RE_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_RE_STATUS = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def _from_text(text: str) -> WrkResult:
    total = _RE_TOTAL.search(text)
    if total is None:
        raise ValueError("wrk output has neither a WRK_JSON line nor 'N requests in T'")
    pct = {m.group(1): _ms(m.group(2), m.group(3)) for m in _RE_PCT.finditer(text)}
    if "50" not in pct or "99" not in pct:
        raise ValueError("wrk output has no latency distribution (run with --latency)")
    sock = _RE_SOCKET.search(text)
    connect, read, write, timeout = (int(g) for g in sock.groups()) if sock else (0, 0, 0, 0)
    status = _RE_STATUS.search(text)
    return WrkResult(
        requests=int(total.group(1)),
        duration_s=_ms(total.group(2), total.group(3)) / 1000,
        p50_ms=pct["50"],
        p99_ms=pct["99"],
        socket_errors=connect + read + write + timeout,
        status_errors=int(status.group(1)) if status else 0,
        timeouts=timeout,
    )
