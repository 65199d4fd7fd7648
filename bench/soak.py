"""Bounded soak run: steady wrk load through kubegate with policies on.

How it works: a small uvloop backend and `kubegate run --workers N` are started
through one `procs.ProcessGroup` (stopped by PID at the end, whatever happens).
The run is cut into intervals; each interval is one wrk run of `--interval`
seconds, after which the gateway's process tree is sampled: summed VmRSS and open
file descriptors of the supervisor and its workers. A table of the intervals is
printed; the verdict checks that nothing failed, RSS and fds stayed flat after
the first (warm-up) interval and p99 stayed stable. `--record` appends the table
to bench/RESULTS.md. Exit status 0 = pass, 1 = fail, 2 = could not run.

    python -m bench.soak --minutes 10 --record
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import cpu, procs, wrk
from bench.output import RECORD

BACKEND = r"""
import asyncio, sys, uvloop
BODY = b'{"ok":true}'
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.t.write(HEAD + BODY)
async def main():
    srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]))
    await srv.serve_forever()
uvloop.run(main())
"""
POLICY = ('<policies><inbound><check-header name="X-Client" failed-check-httpcode="401" '
          'failed-check-error-message="no" ignore-case="true"><value>soak</value></check-header>'
          '<set-header name="X-Via" exists-action="override"><value>@(context.Request.Method + '
          '"-" + context.Operation.Id)</value></set-header>{limit}<base /></inbound><backend>'
          '<base /></backend><outbound><set-header name="X-Out" exists-action="override">'
          '<value>1</value></set-header><base /></outbound><on-error><base /></on-error></policies>')
LIMIT = ('<rate-limit-by-key calls="100000000" renewal-period="60" '
         'counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;,&quot;&quot;))" />')


@dataclass
class Sample:
    index: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mb: float
    fds: int


def tree_usage(root: int) -> tuple[float, int]:
    rss_kb, fds = 0, 0
    for st in cpu.tree(root, cpu.all_stats()):
        try:
            for line in Path(f"/proc/{st.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{st.pid}/fd"))
        except OSError:
            continue
    return rss_kb / 1024, fds


def verdict(samples: list[Sample], connections: int = 64) -> list[str]:
    """Problems found; the first interval is warm-up for RSS/fd/p99 baselines. Open fds
    move with how connections spread over workers, so only growth beyond that counts."""
    problems = [f"interval {s.index}: {s.errors} errors" for s in samples if s.errors]
    steady = samples[1:] if len(samples) > 2 else samples
    if steady:
        base, last = steady[0], steady[-1]
        if last.rss_mb - base.rss_mb > max(20.0, 0.10 * base.rss_mb):
            problems.append(f"RSS grew {base.rss_mb:.1f} -> {last.rss_mb:.1f} MB")
        third = max(1, len(steady) // 3)
        early, late = max(s.fds for s in steady[:third]), max(s.fds for s in steady[-third:])
        if late - early > 16 + connections // 4:
            problems.append(f"open fds grew {early} -> {late}")
        median = statistics.median(s.p99_ms for s in steady)
        worst = max(steady, key=lambda s: s.p99_ms)
        if worst.p99_ms > 3 * median + 5:
            problems.append(f"p99 unstable: {worst.p99_ms:.1f} ms vs median {median:.1f} ms")
    return problems


def table(samples: list[Sample]) -> str:
    lines = ["| interval | req/s | p50 ms | p99 ms | errors | RSS MB | fds |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {s.index} | {s.rps:.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.errors} | "
              f"{s.rss_mb:.1f} | {s.fds} |" for s in samples]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    wrk_bin = shutil.which("wrk")
    if wrk_bin is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    import kubegate.policies.builtin  # noqa: F401 - registers the built-in policies
    from kubegate.policies.registry import lookup

    limit = LIMIT if lookup("rate-limit-by-key") else ""
    work = Path(tempfile.mkdtemp(prefix="kubegate-soak-"))
    backend_port, port, admin = procs.free_port(), procs.free_port(), procs.free_port()
    config = {"apis": [{"name": "soak", "path": "/soak", "backend": f"http://127.0.0.1:{backend_port}",
                        "policy": POLICY.replace("{limit}", limit)}]}
    (work / "kubegate.json").write_text(json.dumps(config))
    intervals = max(2, int(args.minutes * 60 // args.interval))
    samples: list[Sample] = []
    with procs.ProcessGroup() as group:
        be = group.start("backend", [sys.executable, "-c", BACKEND, str(backend_port)],
                         work / "backend.log")
        gw = group.start("kubegate", [sys.executable, "-m", "kubegate", "run", "-c",
                                      str(work / "kubegate.json"), "--listen", f"127.0.0.1:{port}",
                                      "--admin", f"127.0.0.1:{admin}", "--workers", str(args.workers)],
                         work / "kubegate.log", cwd=Path(__file__).resolve().parents[1])
        headers = {"X-Client": "soak"}
        if not procs.wait_until(lambda: procs.http_status(port, "/soak/x", headers) == 200, 60,
                                lambda: gw.alive() and be.alive()):
            print(f"gateway did not come up:\n{gw.log_tail()}", file=sys.stderr)
            return 2
        script = wrk.write_script(work)
        print(f"soak: {intervals} x {args.interval:.0f}s, {args.connections} connections, "
              f"{args.workers} workers, rate limit {'on' if limit else 'off (not registered)'}")
        for i in range(intervals):
            cmd = wrk.command(f"http://127.0.0.1:{port}/soak/items?i=1", connections=args.connections,
                              duration_s=args.interval, threads=2, headers=headers,
                              script=script, wrk=wrk_bin)
            load = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    text=True)
            time.sleep(args.interval / 2)  # sample in the middle of the steady load
            rss, fds = tree_usage(gw.proc.pid)
            try:
                out, _ = load.communicate(timeout=args.interval + 60)
            except subprocess.TimeoutExpired:
                load.kill()  # our own wrk, by its Popen handle
                out, _ = load.communicate()
            res = wrk.parse_output(out)
            samples.append(Sample(i + 1, res.rps, res.p50_ms, res.p99_ms, res.errors, rss, fds))
            s = samples[-1]
            print(f"  {s.index:3d}  {s.rps:8.0f} req/s  p99 {s.p99_ms:7.2f} ms  errors {s.errors}"
                  f"  RSS {s.rss_mb:6.1f} MB  fds {s.fds}", flush=True)
            if not gw.alive():
                print(f"gateway died:\n{gw.log_tail()}", file=sys.stderr)
                break
    problems = verdict(samples, args.connections)
    text = table(samples)
    print(text)
    print("verdict: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
    if args.record:
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        head = "" if RECORD.exists() else "# kubegate benchmark results\n\nAppended by `--record`.\n"
        with RECORD.open("a") as f:
            f.write(f"{head}\n## Soak {stamp}: {args.minutes:g} min, {args.connections} connections, "
                    f"{args.workers} workers, policies on\n\n{text}\n\nVerdict: "
                    f"{'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}\n")
    return 0 if not problems else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="total duration (bounded)")
    p.add_argument("--interval", type=float, default=30.0, help="seconds per sample")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = p.parse_args(argv)
    if not 0 < args.minutes <= 240 or args.interval < 5:
        p.error("--minutes must be in (0, 240] and --interval >= 5")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
