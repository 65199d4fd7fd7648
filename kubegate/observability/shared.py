"""Metrics across worker processes: each worker dumps, the admin process merges.

How it works: with `--workers N`, every worker runs `MetricsDumper.run()`, which
every `interval` seconds writes its RequestMetrics dump to
`<dir>/worker-<pid>.json` (write to a temporary file, then `os.replace`, so a
reader never sees a partial file). The admin app calls `MetricsDir.merged()`,
which sums every file (plus, optionally, its own process's metrics).

Invariants: a dead worker's file stays, so its counters keep counting in the
totals (Prometheus counters must not go down); its gauges (pool state) are
dropped, since they describe a process that no longer exists. Scrapes lag the
data plane by at most `interval` seconds. The directory comes from
`KUBEGATE_METRICS_DIR` (or `PROMETHEUS_MULTIPROC_DIR`); the supervisor creates a
fresh one per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from kubegate.observability.metrics import RequestMetrics, merge

ENV_VARS = ("KUBEGATE_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR")


def metrics_dir_from_env() -> Path | None:
    for name in ENV_VARS:
        if os.environ.get(name):
            return Path(os.environ[name])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MetricsDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def write(self, metrics: RequestMetrics | dict[str, Any], pid: int | None = None) -> None:
        """Write one process's metrics (or a dump taken on its event loop)."""
        pid = os.getpid() if pid is None else pid
        data = metrics.dump() if isinstance(metrics, RequestMetrics) else metrics
        target = self.path / f"worker-{pid}.json"
        tmp = self.path / f".worker-{pid}.json.tmp"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, target)

    def dumps(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for f in sorted(self.path.glob("worker-*.json")):
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            with contextlib.suppress(ValueError):
                if not _alive(int(f.stem.removeprefix("worker-"))):
                    data["gauges"] = []
            out.append(data)
        return out

    def merged(self, local: RequestMetrics | None = None) -> RequestMetrics:
        dumps = self.dumps()
        if local is not None:
            dumps.append(local.dump())
        return merge(dumps)


class MetricsDumper:
    """The worker side: dump this process's metrics every `interval` seconds."""

    def __init__(self, metrics: RequestMetrics, directory: MetricsDir,
                 interval: float = 1.0) -> None:
        self.metrics = metrics
        self.directory = directory
        self.interval = interval

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                await asyncio.to_thread(self.directory.write, self.metrics.dump())
        finally:
            with contextlib.suppress(OSError):
                self.directory.write(self.metrics)
