"""Request metrics recorded by the data plane: plain in-process aggregates.

How it works: `RequestMetrics.observe` finds the series of (api, operation,
status class, subscription) (the last one's labels are compared by identity
first, then a dict look-up by the tuple) and bumps its pending counters (count,
429 count, two histograms as bucket counters + sums), plain C numbers in the
compiled module; reading `series` adds them up into new lists. Nothing is
formatted, locked or allocated per request once a series exists. Prometheus
text is produced only when scraped (`kubegate.observability.exposition`).

Invariants:
* cardinality is bounded: at most `max_series` series; a new label combination
  past that is recorded under subscription "other" and, if still new, under
  (api "other", operation "other"), so memory stays bounded whatever clients send;
* counters only grow within a process (a worker's totals are cumulative), so
  summing the dumps of every worker gives correct totals (`merge`);
* single-threaded: the data plane records from its event loop only.
"""

from __future__ import annotations

from typing import Any, Final

from kubegate.observability.llm_tokens import TOKENS, TokenMetrics

#: Histogram upper bounds in seconds (the +Inf bucket is implicit).
# Final: the compiled module (kubegate/native.py) reads these as C constants, not
# module-dict look-ups
BUCKETS: Final[tuple[float, ...]] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                              0.5, 1.0, 2.5, 5.0, 10.0)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
NO_SUBSCRIPTION: Final = "none"
OTHER: Final = "other"
# A series: [count, count_429, total_sum, backend_sum, *total_buckets, *backend_buckets]
_N: Final = len(BUCKETS) + 1
_T0: Final = 4
_B0: Final = 4 + _N
_SIZE: Final = 4 + 2 * _N

SeriesKey = tuple[str, str, int, str]


def bucket(seconds: float) -> int:
    """The histogram bucket of a duration: the first bound it does not exceed (len(BUCKETS)
    for +Inf). A scan from the smallest bound, where most requests land; compiled, it
    costs a fraction of `bisect_left`'s generic call and object comparisons."""
    i = 0
    for bound in BUCKETS:
        if seconds <= bound:
            return i
        i += 1
    return i


class _Pending:
    """One series' counts as observed by this process: plain C ints and floats, where a
    list's items are Python objects (see `RequestMetrics.series`)."""

    __slots__ = ("count", "throttled", "total_sum", "backend_sum", "buckets")

    def __init__(self) -> None:
        self.count = 0
        self.throttled = 0
        self.total_sum = 0.0
        self.backend_sum = 0.0
        self.buckets: list[int] = [0] * (2 * _N)  # total's buckets, then backend's

    def added_to(self, row: list[float]) -> list[float]:
        """A new list: `row` plus these counts (nothing here changes)."""
        out = list(row)
        out[0] += self.count
        out[1] += self.throttled
        out[2] += self.total_sum
        out[3] += self.backend_sum
        buckets = self.buckets
        for i in range(2 * _N):
            out[_T0 + i] += buckets[i]
        return out


class RequestMetrics:
    """Per-process request aggregates; see the module docstring.

    Invariants: a series' value is its list in ``_series`` (zeros, or what `merge` put
    there) plus its ``_Pending`` counts, which only `observe` changes; reading
    ``series`` builds new lists and writes nothing, so a reader on another thread (the
    admin app's) never races the data plane into losing a count. ``observe``
    remembers the last series' labels (by identity) and its counts, so a run of
    requests to one operation skips the key's look-up."""

    __slots__ = ("_series", "_pending", "_last", "_last_labels", "max_series",
                 "rejections", "gauges", "events", "tokens")

    def __init__(self, max_series: int = 5000, tokens: TokenMetrics | None = None) -> None:
        self.tokens = TOKENS if tokens is None else tokens  # LLM tokens (see llm_tokens)
        self._series: dict[SeriesKey, list[float]] = {}
        self._pending: dict[SeriesKey, _Pending] = {}
        self._last: _Pending | None = None
        self._last_labels: tuple[str, str, int, str | None] = ("", "", -1, None)
        self.max_series = max_series
        self.rejections: dict[tuple[str, str], int] = {}  # (api, kind) -> count
        self.gauges: dict[tuple[str, str], float] = {}  # (backend, state) -> value
        self.events: dict[tuple[str, str], int] = {}  # (event, outcome) -> count

    @property
    def series(self) -> dict[SeriesKey, list[float]]:
        """Every series, as new lists: (api, operation, status class, subscription) ->
        [count, count_429, total_sum, backend_sum, *total_buckets, *backend_buckets]."""
        out = dict(self._series)
        for key, pending in list(self._pending.items()):
            out[key] = pending.added_to(self._series[key])
        return out

    def observe(self, api: str, operation: str, status: int, subscription: str | None,
                total_s: float, backend_s: float) -> None:
        """Record one finished request (`backend_s` 0 when no backend was called)."""
        cls = status // 100
        last = self._last
        labels = self._last_labels
        if (last is None or labels[0] is not api or labels[1] is not operation
                or labels[2] != cls or labels[3] is not subscription):
            last = self._pending_of((api, operation, cls, subscription or NO_SUBSCRIPTION))
            self._last = last
            self._last_labels = (api, operation, cls, subscription)
        last.count += 1
        if status == 429:
            last.throttled += 1
        last.total_sum += total_s
        last.backend_sum += backend_s
        buckets = last.buckets
        buckets[bucket(total_s)] += 1
        buckets[_N + bucket(backend_s)] += 1

    def _pending_of(self, key: SeriesKey) -> _Pending:
        pending = self._pending.get(key)
        if pending is None:
            if len(self._series) >= self.max_series:
                key = (key[0], key[1], key[2], OTHER)
                if key not in self._series and len(self._series) >= self.max_series:
                    key = (OTHER, OTHER, key[2], OTHER)
            pending = self._pending.get(key)
            if pending is None:
                if key not in self._series:
                    self._series[key] = [0] * _SIZE
                pending = self._pending[key] = _Pending()
        return pending

    def reject(self, api: str, kind: str) -> None:
        """A request refused by a limit: kind is "rate-limit", "quota" or "concurrency"."""
        k = (api, kind)
        self.rejections[k] = self.rejections.get(k, 0) + 1

    def event(self, name: str, outcome: str = "ok") -> None:
        """Count an event: ("reload", "ok"|"error"), ("jwks_fetch", "ok"|"error")..."""
        k = (name, outcome)
        self.events[k] = self.events.get(k, 0) + 1

    def set_pool(self, backend: str, idle: int, busy: int) -> None:
        """Upstream connection pool state of one backend (a gauge; last value wins)."""
        self.gauges[(backend, "idle")] = idle
        self.gauges[(backend, "busy")] = busy

    def dump(self) -> dict[str, Any]:
        """A JSON-able copy (what a worker writes for the admin process to merge)."""
        return {
            "series": [[*k, *v] for k, v in self.series.items()],
            "rejections": [[*k, v] for k, v in self.rejections.items()],
            "gauges": [[*k, v] for k, v in self.gauges.items()],
            "events": [[*k, v] for k, v in self.events.items()],
            "tokens": self.tokens.dump(),
        }


def merge(dumps: list[dict[str, Any]]) -> RequestMetrics:
    """Sum several processes' dumps into one RequestMetrics (gauges are summed too)."""
    out = RequestMetrics(max_series=1 << 62, tokens=TokenMetrics(max_series=1 << 62))
    for d in dumps:
        out.tokens.load(d.get("tokens", []))
        for row in d.get("series", ()):
            key = (str(row[0]), str(row[1]), int(row[2]), str(row[3]))
            s = out._series.setdefault(key, [0] * _SIZE)
            for i, v in enumerate(row[4:4 + _SIZE]):
                s[i] += v
        for name, table in (("rejections", out.rejections), ("gauges", out.gauges),
                            ("events", out.events)):
            for a, b, v in d.get(name, ()):
                table[(a, b)] = table.get((a, b), 0) + v
    return out


def histogram(series: list[float], backend: bool = False) -> list[float]:
    """The bucket counters (not cumulative) of a series' total or backend histogram."""
    start = _B0 if backend else _T0
    return series[start:start + _N]


def quantile(buckets: list[float], q: float) -> float | None:
    """Estimate a quantile from bucket counters (linear within a bucket, as PromQL does)."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0.0
    for i, n in enumerate(buckets):
        if seen + n >= rank and n > 0:
            lower = BUCKETS[i - 1] if i > 0 else 0.0
            upper = BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1]
            return lower + (upper - lower) * ((rank - seen) / n)
        seen += n
    return BUCKETS[-1]
