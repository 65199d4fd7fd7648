import time
from bisect import bisect_left

from prometheus_client.parser import text_string_to_metric_families

from kubegate.observability import RequestMetrics, merge, quantile, render, traffic_summary
from kubegate.observability.metrics import BUCKETS, bucket


def scrape(m: RequestMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(render(lambda: m).decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def known_sequence() -> RequestMetrics:
    m = RequestMetrics()
    for _ in range(3):
        m.observe("pets", "get-pet", 200, "alice", 0.004, 0.003)
    m.observe("pets", "get-pet", 503, "alice", 0.2, 0.19)
    m.observe("pets", "get-pet", 429, None, 0.0002, 0.0)
    m.observe("echo", "*", 404, "bob", 0.02, 0.01)
    m.reject("pets", "rate-limit")
    m.event("reload", "ok")
    m.event("reload", "error")
    m.event("jwks_fetch", "ok")
    m.set_pool("http://b:80", 3, 1)
    return m


def test_bucket_is_the_first_bound_not_exceeded() -> None:
    # the same answer as bisect_left on the bounds, at, between and beyond every bound
    values = [0.0, -1.0, 1e9, *BUCKETS, *(b * 0.999 for b in BUCKETS), *(b * 1.001 for b in BUCKETS)]
    for v in values:
        assert bucket(v) == bisect_left(BUCKETS, v), v
    assert bucket(BUCKETS[-1] + 1) == len(BUCKETS)  # +Inf


def test_scrape_after_known_sequence() -> None:
    s = scrape(known_sequence())
    lab = lambda **kw: tuple(sorted(kw.items()))  # noqa: E731
    assert s[("kubegate_requests_total", lab(api="pets", operation="get-pet",
                                             status_class="2xx", subscription="alice"))] == 3
    assert s[("kubegate_requests_total", lab(api="pets", operation="get-pet",
                                             status_class="5xx", subscription="alice"))] == 1
    assert s[("kubegate_requests_total", lab(api="pets", operation="get-pet",
                                             status_class="4xx", subscription="none"))] == 1
    assert s[("kubegate_responses_429_total", lab(api="pets", subscription="none"))] == 1
    assert s[("kubegate_request_duration_seconds_count", lab(api="pets", operation="get-pet"))] == 5
    assert s[("kubegate_request_duration_seconds_bucket",
              lab(api="pets", operation="get-pet", le="0.005"))] == 4
    assert s[("kubegate_request_duration_seconds_bucket",
              lab(api="pets", operation="get-pet", le="+Inf"))] == 5
    assert abs(s[("kubegate_backend_duration_seconds_sum",
                  lab(api="pets", operation="get-pet"))] - 0.199) < 1e-9
    assert abs(s[("kubegate_gateway_overhead_seconds_total",
                  lab(api="pets", operation="get-pet"))] - (0.2122 - 0.199)) < 1e-9
    assert s[("kubegate_limit_rejections_total", lab(api="pets", kind="rate-limit"))] == 1
    assert s[("kubegate_events_total", lab(event="reload", outcome="error"))] == 1
    assert s[("kubegate_upstream_connections", lab(backend="http://b:80", state="idle"))] == 3


def test_cardinality_is_bounded() -> None:
    m = RequestMetrics(max_series=10)
    for i in range(1000):
        m.observe(f"api{i}", "op", 200, f"sub{i}", 0.001, 0.0)
    assert len(m.series) <= 12
    assert sum(s[0] for s in m.series.values()) == 1000


def test_merge_sums_workers() -> None:
    a, b = known_sequence(), known_sequence()
    merged = merge([a.dump(), b.dump()])
    assert scrape(merged)[("kubegate_requests_total", tuple(sorted(dict(
        api="pets", operation="get-pet", status_class="2xx", subscription="alice").items())))] == 6


def test_quantile_and_summary() -> None:
    buckets = [0.0] * (len(BUCKETS) + 1)
    buckets[3] = 10  # all in (0.0025, 0.005]
    q = quantile(buckets, 0.5)
    assert q is not None and 0.0025 < q <= 0.005
    assert quantile([0.0] * len(buckets), 0.5) is None
    summary = traffic_summary(known_sequence())
    assert summary["apis"]["pets"]["requests"] == 5
    assert summary["apis"]["pets"]["errors"] == 1
    assert summary["apis"]["pets"]["throttled"] == 1
    assert summary["subscriptions"]["bob"]["requests"] == 1
    assert traffic_summary(known_sequence(), "alice")["total"]["requests"] == 4


def test_observe_is_cheap() -> None:
    m = RequestMetrics()
    n = 50_000
    start = time.perf_counter()
    for _ in range(n):
        m.observe("pets", "get-pet", 200, "alice", 0.004, 0.003)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 10e-6, per_call  # ~1 µs on a normal machine; generous for CI


def test_series_are_exact_through_interleaved_observations_and_reads() -> None:
    """observe keeps pending counts (and remembers the last labels by identity); every
    read of `series` must equal a plain model, whatever the order of series and reads."""
    import random

    m = RequestMetrics()
    model: dict[tuple[str, str, int, str], list[float]] = {}
    rng = random.Random(11)
    for i in range(3000):
        api = rng.choice(["orders", "pay"])
        if rng.random() < 0.2:
            api = "".join(list(api))  # an equal label that is another object
        op, status = rng.choice(["get", "list"]), rng.choice([200, 200, 201, 429, 503])
        sub = rng.choice([None, "s1", "s1", "s2"])
        total, backend = rng.random() * 0.03, rng.random() * 0.02
        m.observe(api, op, status, sub, total, backend)
        row = model.setdefault((api, op, status // 100, sub or "none"),
                               [0.0] * (4 + 2 * (len(BUCKETS) + 1)))
        row[0] += 1
        row[1] += status == 429
        row[2] += total
        row[3] += backend
        row[4 + bisect_left(BUCKETS, total)] += 1
        row[4 + len(BUCKETS) + 1 + bisect_left(BUCKETS, backend)] += 1
        if i % 97 == 0 or i == 2999:
            got = m.series
            assert got.keys() == model.keys()
            for key, want in model.items():
                assert got[key][:2] == want[:2] and got[key][4:] == want[4:], key
                assert abs(got[key][2] - want[2]) < 1e-9 and abs(got[key][3] - want[3]) < 1e-9
