"""Machine description and result files (bench/results/, bench/RESULTS.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench import report

BENCH = Path(__file__).resolve().parent
RESULTS_DIR = BENCH / "results"
RECORD = BENCH / "RESULTS.md"


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info(tools: dict[str, str]) -> dict[str, str]:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu_model(info)} × {os.cpu_count()} logical CPUs",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "nginx": _first_line([tools.get("nginx", "nginx"), "-v"]),
        "wrk": _first_line([tools.get("wrk", "wrk"), "--version"]).split(" Copyright")[0],
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "kubegate commit": _first_line(["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"]),
    }


def write(
    kind: str,
    meta: dict[str, Any],
    rows: list[report.Row],
    summaries: list[report.Summary],
    markdown: str,
    record: bool,
) -> list[Path]:
    """Write ``<kind>-<stamp>.json`` and ``.md`` under bench/results/; append to RESULTS.md."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    js = RESULTS_DIR / f"{kind}-{stamp}.json"
    md = RESULTS_DIR / f"{kind}-{stamp}.md"
    js.write_text(json.dumps(report.to_json(meta, rows, summaries), indent=2) + "\n")
    md.write_text(markdown)
    written = [js, md]
    if record:
        head = "" if RECORD.exists() else "# kubegate benchmark results\n\nAppended by `--record`.\n"
        with RECORD.open("a") as f:
            f.write(head + "\n" + markdown)
        written.append(RECORD)
    return written
