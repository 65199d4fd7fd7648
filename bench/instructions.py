"""CPU instructions per request of one kubegate worker, counted by callgrind.

    python bench/instructions.py [--scenario kubegate-1w ...] [--requests 3000]

Throughput ratios move with whatever else the machine does; instruction counts
do not. For each kubegate scenario of bench/scenarios.py (one worker) this runs
`kubegate run` under `valgrind --tool=callgrind --instr-atstart=no` in front of
the nginx backend, warms it up, switches instrumentation on, sends `--requests`
GETs over `--connections` keep-alive connections, and prints the instructions
executed per request: user space only (Python, uvloop, httptools, hiredis), not
the kernel. Two runs of the same commit agree to within a few hundred
instructions, so it is the measure for comparing two versions of the data plane:
run it from each checkout. Needs valgrind (Debian package).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import procs  # noqa: E402
from bench.harness import Bench, ensure_tools  # noqa: E402
from bench.scenarios import SCENARIOS, Scenario, load, select  # noqa: E402

DEFAULT_SCENARIOS = ["kubegate-1w", "kubegate-ratelimit-memory", "kubegate-key-auth",
                     "kubegate-key-ratelimit-memory", "kubegate-jwt", "kubegate-ratelimit-redis"]


def send(port: int, sc: Scenario, requests: int, connections: int) -> None:
    """`requests` GETs of the scenario's path, spread over keep-alive connections."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in sc.headers.items())
    raw = f"GET {sc.path} HTTP/1.1\r\nHost: {procs.HOST}:{port}\r\n{extra}\r\n".encode()
    failures: list[str] = []

    def client(count: int) -> None:
        with socket.create_connection((procs.HOST, port), timeout=60) as s:
            for _ in range(count):
                s.sendall(raw)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        failures.append("connection closed")
                        return
                    data += chunk
                    head, sep, body = data.partition(b"\r\n\r\n")
                    if sep:
                        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                                       if line.lower().startswith(b"content-length:")), 0)
                        if len(body) >= length:
                            break
                if not head.startswith(b"HTTP/1.1 200"):
                    failures.append(head.split(b"\r\n", 1)[0].decode())
                    return

    threads = [threading.Thread(target=client, args=(requests // connections,))
               for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{sc.name}: {failures[0]}")


def count(bench: Bench, sc: Scenario, requests: int, connections: int,
          keep: Path | None = None) -> int:
    """Instructions per request of `sc`'s kubegate process; its callgrind dump is
    copied to `keep`/<scenario>.callgrind when `keep` is given."""
    target = bench.start_target(sc)
    if target.failure or target.managed is None:
        raise RuntimeError(f"{sc.name}: {target.failure}")
    pid = str(target.managed.proc.pid)
    send(target.port, sc, 200, connections)  # warm up: caches, pools, JIT-free steady state
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
    send(target.port, sc, requests, connections)
    subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    dumps = sorted(bench.workdir.glob(f"cg.{pid}.*"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise RuntimeError(f"{sc.name}: callgrind wrote no dump")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dumps[-1], keep / f"{sc.name}.callgrind")
    for line in dumps[-1].read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]) // (requests // connections * connections)
    raise RuntimeError(f"{sc.name}: no totals in {dumps[-1]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", help="a kubegate scenario (repeatable)")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="copy each callgrind dump here (read it with callgrind_annotate)")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is needed: apt-get install valgrind", file=sys.stderr)
        return 2
    scenarios = select(load(SCENARIOS), args.scenario or DEFAULT_SCENARIOS)
    tools = ensure_tools()
    with Bench(tools, ready_timeout_s=600) as bench:
        bench.kubegate_cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                              f"--callgrind-out-file={bench.workdir}/cg.%p",
                              sys.executable, "-m", "kubegate"]
        bench.start_backend()
        print("| scenario | instructions/request |\n| --- | ---: |")
        for sc in scenarios:
            if sc.kind != "kubegate" or sc.workers != 1:
                continue
            print(f"| {sc.name} | {count(bench, sc, args.requests, args.connections, args.keep):,} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
