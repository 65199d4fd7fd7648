"""Result rows, ratios to the baseline, medians and markdown/JSON rendering.

Each measurement is a ``Row``. A row's ratios compare it with the baseline
scenario's row (normally ``nginx``) of the same round and connection count,
so a noisy round affects both sides alike. A failed measurement keeps its
place in the table with ``error`` set and no numbers.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    scenario: str
    connections: int
    round: int
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_us_per_req: float | None = None
    errors: int | None = None
    socket_errors: int | None = None  # connect/read/write/timeout (part of ``errors``)
    timeouts: int | None = None  # part of ``socket_errors``
    requests: int | None = None
    rps_ratio: float | None = None
    p99_ratio: float | None = None
    cpu_ratio: float | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.rps is not None


@dataclass
class Summary:
    scenario: str
    connections: int
    runs: int
    rps: float | None
    p50_ms: float | None
    p99_ms: float | None
    cpu_us_per_req: float | None
    errors: int
    rps_ratio: float | None
    p99_ratio: float | None
    cpu_ratio: float | None
    verdict: str = ""
    failures: list[str] = field(default_factory=list)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def compute_ratios(rows: list[Row], baseline: str) -> None:
    """Fill the ``*_ratio`` fields of every row from the same round's baseline row."""
    base = {(r.round, r.connections): r for r in rows if r.scenario == baseline and r.ok}
    for row in rows:
        ref = base.get((row.round, row.connections))
        if not row.ok or ref is None:
            row.rps_ratio = row.p99_ratio = row.cpu_ratio = None
            continue
        row.rps_ratio = _ratio(row.rps, ref.rps)
        row.p99_ratio = _ratio(row.p99_ms, ref.p99_ms)
        row.cpu_ratio = _ratio(row.cpu_us_per_req, ref.cpu_us_per_req)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def verdict(s: Summary, target: dict[str, float]) -> str:
    """``pass``/``FAIL`` against ``rps_ratio`` (minimum) and ``p99_ratio`` (maximum)."""
    if not target:
        return ""
    checks: list[bool] = []
    if "rps_ratio" in target:
        checks.append(s.rps_ratio is not None and s.rps_ratio >= target["rps_ratio"])
    if "p99_ratio" in target:
        checks.append(s.p99_ratio is not None and s.p99_ratio <= target["p99_ratio"])
    wanted = ", ".join(
        f"{'≥' if k == 'rps_ratio' else '≤'}{v:g}× {k.split('_')[0]}" for k, v in target.items()
    )
    return f"{'pass' if all(checks) else 'FAIL'} ({wanted})"


def summarize(
    rows: list[Row], targets: dict[str, dict[str, float]] | None = None
) -> list[Summary]:
    """Medians per (scenario, connections), in first-seen order."""
    keys: list[tuple[str, int]] = []
    for r in rows:
        if (r.scenario, r.connections) not in keys:
            keys.append((r.scenario, r.connections))
    out = []
    for name, conns in keys:
        group = [r for r in rows if r.scenario == name and r.connections == conns]
        good = [r for r in group if r.ok]
        s = Summary(
            scenario=name,
            connections=conns,
            runs=len(good),
            rps=_median([r.rps for r in good]),
            p50_ms=_median([r.p50_ms for r in good]),
            p99_ms=_median([r.p99_ms for r in good]),
            cpu_us_per_req=_median([r.cpu_us_per_req for r in good]),
            errors=sum(r.errors or 0 for r in good),
            rps_ratio=_median([r.rps_ratio for r in good]),
            p99_ratio=_median([r.p99_ratio for r in good]),
            cpu_ratio=_median([r.cpu_ratio for r in good]),
            failures=sorted({r.failure for r in group if r.failure}),
        )
        s.verdict = verdict(s, (targets or {}).get(name, {})) if good else "no data"
        out.append(s)
    return out


def _f(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def rows_table(rows: list[Row]) -> str:
    lines = [
        "| scenario | conns | round | rps | p50 ms | p99 ms | CPU µs/req | errors "
        "| rps × base | p99 × base | CPU × base |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if not r.ok:
            lines.append(
                f"| {r.scenario} | {r.connections} | {r.round} | FAILED: {_cell(r.failure)} "
                "| | | | | | | |"
            )
            continue
        lines.append(
            f"| {r.scenario} | {r.connections} | {r.round} | {_f(r.rps, ',.0f')} "
            f"| {_f(r.p50_ms, '.2f')} | {_f(r.p99_ms, '.2f')} | {_f(r.cpu_us_per_req, '.1f')} "
            f"| {r.errors} | {_f(r.rps_ratio, '.2f')} | {_f(r.p99_ratio, '.2f')} "
            f"| {_f(r.cpu_ratio, '.2f')} |"
        )
    return "\n".join(lines)


def summary_table(summaries: list[Summary]) -> str:
    lines = [
        "| scenario | conns | runs | median rps | p50 ms | p99 ms | CPU µs/req | errors "
        "| rps × base | p99 × base | CPU × base | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in summaries:
        target = s.verdict
        if s.failures:
            target = (target + "; " if target else "") + "failed: " + _cell("; ".join(s.failures))
        lines.append(
            f"| {s.scenario} | {s.connections} | {s.runs} | {_f(s.rps, ',.0f')} "
            f"| {_f(s.p50_ms, '.2f')} | {_f(s.p99_ms, '.2f')} | {_f(s.cpu_us_per_req, '.1f')} "
            f"| {s.errors} | {_f(s.rps_ratio, '.2f')} | {_f(s.p99_ratio, '.2f')} "
            f"| {_f(s.cpu_ratio, '.2f')} | {target} |"
        )
    return "\n".join(lines)


def _cell(text: str | None) -> str:
    flat = " ".join((text or "").split()).replace("|", "/")
    return flat[:160] + ("…" if len(flat) > 160 else "")


def markdown(
    title: str, meta: dict[str, str], rows: list[Row], summaries: list[Summary], baseline: str
) -> str:
    info = "\n".join(f"- {k}: {v}" for k, v in meta.items())
    return (
        f"## {title}\n\n{info}\n\n"
        f"### Summary (medians; ratios to `{baseline}` in the same round)\n\n"
        f"{summary_table(summaries)}\n\n### All runs\n\n{rows_table(rows)}\n"
    )


def to_json(meta: dict[str, Any], rows: list[Row], summaries: list[Summary]) -> dict[str, Any]:
    return {
        "meta": meta,
        "rows": [asdict(r) for r in rows],
        "summary": [asdict(s) for s in summaries],
    }
