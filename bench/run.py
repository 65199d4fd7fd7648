"""kubegate vs nginx: throughput, latency and CPU per request on 127.0.0.1.

    python bench/run.py [--duration 10] [--rounds 3] [--connections 64,256] [--quick]

See docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness, output, report, scenarios  # noqa: E402

DEFAULT_KUBEGATE_CMD = f"{sys.executable} -m kubegate"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(
    argv: list[str] | None, defaults: dict[str, Any] | None = None
) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, help="seconds per wrk run (default 10)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    p.add_argument("--connections", default="64,256", help="comma-separated (default 64,256)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per target (default 3)")
    p.add_argument("--quick", action="store_true", help="defaults of 3 s runs, 1 round, 1 s warm-up")
    p.add_argument("--scenario", action="append", help="run only these scenarios (repeatable)")
    p.add_argument("--scenarios", type=Path, help="YAML file with extra scenarios to add")
    p.add_argument("--baseline", default="nginx", help="scenario the ratios refer to")
    p.add_argument("--record", action="store_true", help="append the markdown to bench/RESULTS.md")
    p.add_argument(
        "--kubegate-cmd",
        default=DEFAULT_KUBEGATE_CMD,
        help="how to start kubegate (default: this python -m kubegate, run from the repo root)",
    )
    p.add_argument("--ready-timeout", type=float, default=30, help="seconds to wait for a target")
    p.set_defaults(**(defaults or {}))
    args = p.parse_args(argv)
    fallback = (3, 1, 1) if args.quick else (10, 3, 3)
    for name, value in zip(("duration", "rounds", "warmup"), fallback, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.connections = [int(c) for c in str(args.connections).split(",") if c.strip()]
    if not args.connections or min(args.connections) < 1 or not 1 <= args.rounds <= 100:
        p.error("need ≥1 connection count, all ≥ 1, and 1..100 rounds")
    if not 1 <= args.duration <= 600:
        p.error("--duration must be between 1 and 600 seconds")
    return args


def main(
    argv: list[str] | None = None,
    kind: str = "proxy",
    dicts: list[dict[str, Any]] | None = None,
    defaults: dict[str, Any] | None = None,
) -> int:
    """Run the scenarios (``dicts``, default ``scenarios.SCENARIOS``); exit status."""
    args = parse_args(argv, defaults)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background
    all_dicts = list(dicts if dicts is not None else scenarios.SCENARIOS)
    if args.scenarios:
        all_dicts += scenarios.load_file(args.scenarios)
    chosen = scenarios.select(scenarios.load(all_dicts), args.scenario)
    try:
        tools = harness.ensure_tools()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"error: cannot get nginx and wrk: {e}", file=sys.stderr)
        return 2
    load1 = os.getloadavg()[0]
    if load1 > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load1:.2f} — other work on this machine skews the numbers")
    rows: list[report.Row] = []
    interrupted = False
    try:
        kg_cmd = shlex.split(args.kubegate_cmd)
        with harness.Bench(tools, args.ready_timeout, kg_cmd) as bench:
            harness.run_matrix(
                bench,
                chosen,
                rounds=args.rounds,
                connections=args.connections,
                duration_s=args.duration,
                warmup_s=args.warmup,
                rows=rows,
            )
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted; all started processes stopped", file=sys.stderr)
    return finish(kind, args, chosen, rows, tools, interrupted)


def data_plane(command: str) -> str:
    """Whether the kubegate this checkout starts runs its data plane compiled (mypyc)."""
    if command != DEFAULT_KUBEGATE_CMD:
        return "see the kubegate log of a target (custom command)"
    from kubegate.native import is_compiled  # noqa: PLC0415  (this checkout's kubegate)
    return "compiled (mypyc)" if is_compiled() else "Python sources (not compiled)"


def finish(
    kind: str,
    args: argparse.Namespace,
    chosen: list[scenarios.Scenario],
    rows: list[report.Row],
    tools: dict[str, str],
    interrupted: bool,
) -> int:
    if not rows:
        return 130 if interrupted else 1
    report.compute_ratios(rows, args.baseline)
    summaries = report.summarize(rows, {s.name: s.target for s in chosen})
    meta = output.machine_info(tools)
    meta["kubegate command"] = args.kubegate_cmd  # which interpreter ran it (docs/benchmark.md)
    meta["data plane"] = data_plane(args.kubegate_cmd)
    meta["settings"] = (
        f"{args.duration:g} s per run, {args.rounds} round(s), connections "
        f"{','.join(map(str, args.connections))}, wrk 2 threads, warm-up {args.warmup:g} s"
        + (" (interrupted)" if interrupted else "")
    )
    title = f"{kind} benchmark, {meta['date']}"
    md = report.markdown(title, meta, rows, summaries, args.baseline)
    print("\n" + md)
    for path in output.write(kind, meta, rows, summaries, md, args.record and not interrupted):
        print(f"wrote {path}")
    if interrupted:
        return 130
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
