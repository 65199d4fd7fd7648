import asyncio
from pathlib import Path

from kubegate.observability import MetricsDir, MetricsDumper, RequestMetrics


def test_dir_merges_workers_and_drops_dead_gauges(tmp_path: Path) -> None:
    d = MetricsDir(tmp_path)
    a, b = RequestMetrics(), RequestMetrics()
    a.observe("x", "op", 200, None, 0.01, 0.0)
    b.observe("x", "op", 200, None, 0.01, 0.0)
    b.set_pool("http://b", 5, 0)
    d.write(a, pid=1)  # pid 1 is alive (init)
    d.write(b, pid=2 ** 22 + 12345)  # no such process: its gauges are dropped
    local = RequestMetrics()
    local.observe("x", "op", 500, None, 0.01, 0.0)
    merged = d.merged(local)
    assert sum(s[0] for s in merged.series.values()) == 3
    assert merged.gauges == {}


async def test_dumper_writes_periodically(tmp_path: Path) -> None:
    m = RequestMetrics()
    d = MetricsDir(tmp_path)
    task = asyncio.create_task(MetricsDumper(m, d, interval=0.01).run())
    m.observe("x", "op", 200, None, 0.01, 0.0)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if d.dumps():
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sum(s[0] for s in d.merged().series.values()) == 1
