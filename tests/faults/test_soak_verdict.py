"""bench/soak.py's verdict and table (pure functions; the soak itself is `make soak`)."""

from __future__ import annotations

from bench.soak import Sample, table, verdict


def steady(n: int, rss: float = 200.0, fds: int = 150, p99: float = 10.0) -> list[Sample]:
    return [Sample(i + 1, 3000.0, 2.0, p99, 0, rss, fds) for i in range(n)]


def test_flat_run_passes() -> None:
    assert verdict(steady(10)) == []


def test_errors_rss_growth_fd_growth_and_p99_spikes_fail() -> None:
    runs = steady(10)
    runs[4].errors = 3
    assert verdict(runs) == ["interval 5: 3 errors"]
    growing = [Sample(s.index, s.rps, s.p50_ms, s.p99_ms, 0, 200.0 + 10 * i, s.fds)
               for i, s in enumerate(steady(10))]
    assert any("RSS grew" in p for p in verdict(growing))
    leaking = [Sample(s.index, s.rps, s.p50_ms, s.p99_ms, 0, s.rss_mb, 150 + 20 * i)
               for i, s in enumerate(steady(10))]
    assert any("open fds grew" in p for p in verdict(leaking, connections=64))
    spiky = steady(10)
    spiky[6].p99_ms = 500.0
    assert any("p99 unstable" in p for p in verdict(spiky))


def test_first_interval_is_warm_up() -> None:
    runs = steady(6)
    runs[0].rss_mb, runs[0].fds = 50.0, 10  # before the pools and caches filled
    assert verdict(runs) == []


def test_table_has_one_row_per_interval() -> None:
    text = table(steady(3))
    assert text.count("\n") == 4 and "| 3 | 3000 |" in text
