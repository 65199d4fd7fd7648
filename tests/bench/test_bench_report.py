import pytest

from bench.report import Row, compute_ratios, markdown, rows_table, summarize, verdict


def row(name: str, conns: int, rnd: int, rps: float, p99: float, cpu: float = 10.0) -> Row:
    return Row(name, conns, rnd, rps=rps, p50_ms=p99 / 3, p99_ms=p99, cpu_us_per_req=cpu, errors=0)


def test_ratio_uses_baseline_of_same_round_and_connections() -> None:
    rows = [
        row("nginx", 64, 1, 20000, 4.0),
        row("kg", 64, 1, 15000, 6.0),
        row("nginx", 256, 1, 10000, 20.0),
        row("kg", 256, 1, 9000, 30.0),
        row("nginx", 64, 2, 10000, 8.0),
        row("kg", 64, 2, 9000, 8.0),
    ]
    compute_ratios(rows, "nginx")
    assert [r.rps_ratio for r in rows] == pytest.approx([1.0, 0.75, 1.0, 0.9, 1.0, 0.9])
    assert [r.p99_ratio for r in rows] == pytest.approx([1.0, 1.5, 1.0, 1.5, 1.0, 1.0])
    assert [r.cpu_ratio for r in rows] == pytest.approx([1.0] * 6)


def test_failed_rows_and_missing_baseline_get_no_ratio() -> None:
    rows = [
        Row("nginx", 64, 1, failure="wrk exited 1"),
        row("kg", 64, 1, 15000, 6.0),
        row("nginx", 64, 2, 10000, 4.0),
        Row("kg", 64, 2, failure="process died"),
    ]
    compute_ratios(rows, "nginx")
    assert rows[1].rps_ratio is None and rows[3].rps_ratio is None
    assert rows[2].rps_ratio == 1.0


def test_summary_takes_medians_and_checks_targets() -> None:
    rows = [
        row("nginx", 64, 1, 20000, 4.0, cpu=30),
        row("kg", 64, 1, 15000, 6.0, cpu=50),
        row("nginx", 64, 2, 20000, 4.0, cpu=32),
        row("kg", 64, 2, 13000, 10.0, cpu=55),
        row("nginx", 64, 3, 20000, 4.0, cpu=31),
        row("kg", 64, 3, 16000, 7.0, cpu=70),
        Row("kg", 64, 4, failure="boom"),
    ]
    compute_ratios(rows, "nginx")
    s = {x.scenario: x for x in summarize(rows, {"kg": {"rps_ratio": 0.7, "p99_ratio": 2.0}})}
    assert s["kg"].runs == 3
    assert s["kg"].rps == 15000 and s["kg"].cpu_us_per_req == 55
    assert s["kg"].rps_ratio == pytest.approx(0.75)
    assert s["kg"].p99_ratio == pytest.approx(1.75)
    assert s["kg"].cpu_ratio == pytest.approx(55 / 32)  # median of per-round ratios
    assert s["kg"].verdict.startswith("pass")
    assert s["kg"].failures == ["boom"]
    assert s["nginx"].verdict == ""


def test_verdict_fails_on_either_bound() -> None:
    rows = [row("nginx", 64, 1, 100, 1.0), row("kg", 64, 1, 90, 3.0)]
    compute_ratios(rows, "nginx")
    (kg,) = [x for x in summarize(rows) if x.scenario == "kg"]
    assert verdict(kg, {"rps_ratio": 0.8}).startswith("pass")
    assert verdict(kg, {"rps_ratio": 0.95}).startswith("FAIL")
    assert verdict(kg, {"p99_ratio": 2.0}).startswith("FAIL")


def test_scenario_without_data_says_so() -> None:
    (s,) = summarize([Row("kg", 64, 1, failure="could not start")], {"kg": {"rps_ratio": 0.7}})
    assert s.verdict == "no data" and s.rps is None


def test_markdown_tables() -> None:
    rows = [row("nginx", 64, 1, 20000, 4.0), Row("kg", 64, 1, failure="exit 1 | bad\nconfig")]
    compute_ratios(rows, "nginx")
    table = rows_table(rows)
    lines = table.splitlines()
    assert lines[2] == "| nginx | 64 | 1 | 20,000 | 1.33 | 4.00 | 10.0 | 0 | 1.00 | 1.00 | 1.00 |"
    assert "FAILED: exit 1 / bad config" in lines[3]
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    md = markdown("t", {"cpu": "x"}, rows, summarize(rows), "nginx")
    assert md.startswith("## t\n\n- cpu: x\n") and "ratios to `nginx`" in md
