"""Sliding-window and fixed-window semantics, identical for memory, host and Redis.

Every call passes ``now=`` explicitly: no sleeping, no real clock.
"""

from __future__ import annotations

import random

from kubegate.services.counters import CounterStore, MemoryCounterStore

T0 = 1_700_000_000.0


async def test_sliding_window_admits_n_then_rejects_with_retry_after(store: CounterStore) -> None:
    got = [await store.hit_rate("k", 3, 10, now=T0 + t) for t in (0, 1, 2, 3)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.remaining for d in got] == [2, 1, 0, 0]
    assert all(d.total == 3 for d in got)
    assert got[3].retry_after_s == 7  # the hit at T0 leaves the window at T0+10
    # exactly at T0+10 the first hit is out of the window (window is (now-10, now])
    assert (await store.hit_rate("k", 3, 10, now=T0 + 10)).allowed
    late = await store.hit_rate("k", 3, 10, now=T0 + 10.5)
    assert not late.allowed and late.retry_after_s == 1  # 0.5 s rounds up to 1


async def test_window_slides_rather_than_resets(store: CounterStore) -> None:
    assert (await store.hit_rate("s", 2, 10, now=T0 + 9)).allowed
    assert (await store.hit_rate("s", 2, 10, now=T0 + 9.5)).allowed
    # a fixed window [T0+10, T0+20) would admit this; a sliding one must not
    assert not (await store.hit_rate("s", 2, 10, now=T0 + 10.1)).allowed
    assert not (await store.hit_rate("s", 2, 10, now=T0 + 18.9)).allowed
    assert (await store.hit_rate("s", 2, 10, now=T0 + 19.01)).allowed


async def test_rejected_hits_do_not_count_and_keys_are_separate(store: CounterStore) -> None:
    assert (await store.hit_rate("a", 1, 5, now=T0)).allowed
    for i in range(5):
        assert not (await store.hit_rate("a", 1, 5, now=T0 + 1 + i * 0.5)).allowed
    assert (await store.hit_rate("b", 1, 5, now=T0)).allowed
    assert (await store.hit_rate("a", 1, 5, now=T0 + 5)).allowed


async def test_cost_counts_units(store: CounterStore) -> None:
    first = await store.hit_rate("c", 5, 60, cost=3, now=T0)
    assert first.allowed and first.remaining == 2
    second = await store.hit_rate("c", 5, 60, cost=3, now=T0 + 1)
    assert not second.allowed and second.remaining == 2 and second.retry_after_s == 59
    assert (await store.hit_rate("c", 5, 60, cost=2, now=T0 + 2)).allowed
    never = await store.hit_rate("c", 5, 60, cost=6, now=T0 + 3)
    assert not never.allowed and never.retry_after_s == 60


async def test_random_sequence_matches_brute_force_model(store: CounterStore) -> None:
    rng = random.Random(6)
    limit, period = 7, 5
    admitted: list[tuple[float, int]] = []
    now = T0
    for _ in range(150):
        now += rng.choice([0.0, 0.01, 0.3, 0.7, 1.5, 4.0])
        cost = rng.choice([1, 1, 1, 2, 3])
        in_window = sum(c for t, c in admitted if t > now - period)
        d = await store.hit_rate("m", limit, period, cost=cost, now=now)
        assert d.allowed == (in_window + cost <= limit), (now, cost, in_window)
        if d.allowed:
            admitted.append((now, cost))
        else:  # retry_after is the earliest time the hit could pass
            wait = d.retry_after_s
            later = sum(c for t, c in admitted if t > now + wait - period)
            assert later + cost <= limit
    # invariant: no window of `period` seconds holds more than `limit` units
    for t, _ in admitted:
        assert sum(c for u, c in admitted if t - period < u <= t) <= limit


async def test_quota_fixed_windows_aligned_to_anchor(store: CounterStore) -> None:
    anchor = T0 + 50  # windows are [T0+50, T0+150), [T0+150, T0+250), ...
    got = [await store.hit_quota("q", 3, None, 100, anchor, now=T0 + 60 + i) for i in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.remaining_calls for d in got] == [2, 1, 0, 0]
    assert got[3].exceeded == "calls" and got[3].retry_after_s == 87  # T0+150 - (T0+63)
    assert got[0].remaining_kb is None
    assert not (await store.hit_quota("q", 3, None, 100, anchor, now=T0 + 149.9)).allowed
    fresh = await store.hit_quota("q", 3, None, 100, anchor, now=T0 + 150)
    assert fresh.allowed and fresh.remaining_calls == 2


async def test_quota_count_calls(store: CounterStore) -> None:
    assert (await store.hit_quota("n", 10, None, 60, T0, count_calls=6, now=T0)).allowed
    d = await store.hit_quota("n", 10, None, 60, T0, count_calls=6, now=T0 + 1)
    assert not d.allowed and d.remaining_calls == 4
    assert (await store.hit_quota("n", 10, None, 60, T0, count_calls=4, now=T0 + 2)).allowed


async def test_bandwidth_counted_after_response(store: CounterStore) -> None:
    d = await store.hit_quota("bw", None, 2, 100, T0, now=T0 + 1)
    assert d.allowed and d.remaining_kb == 2 and d.remaining_calls is None
    await store.add_bandwidth("bw", 1500, 100, T0, now=T0 + 1)
    d = await store.hit_quota("bw", None, 2, 100, T0, now=T0 + 2)
    assert d.allowed and d.remaining_kb == 0  # 2048 - 1500 = 548 bytes left
    await store.add_bandwidth("bw", 600, 100, T0, now=T0 + 2)
    d = await store.hit_quota("bw", None, 2, 100, T0, now=T0 + 3)
    assert not d.allowed and d.exceeded == "bandwidth" and d.retry_after_s == 97
    assert (await store.hit_quota("bw", None, 2, 100, T0, now=T0 + 100)).allowed  # new window


async def test_calls_and_bandwidth_together(store: CounterStore) -> None:
    assert (await store.hit_quota("cb", 5, 1, 100, T0, now=T0)).allowed
    await store.add_bandwidth("cb", 1024, 100, T0, now=T0)
    d = await store.hit_quota("cb", 5, 1, 100, T0, now=T0 + 1)
    assert not d.allowed and d.exceeded == "bandwidth" and d.remaining_calls == 4


async def test_lifetime_quota_never_renews(store: CounterStore) -> None:
    assert (await store.hit_quota("life", 2, None, 0, T0, now=T0)).allowed
    assert (await store.hit_quota("life", 2, None, 0, T0, now=T0 + 1)).allowed
    d = await store.hit_quota("life", 2, None, 0, T0, now=T0 + 10**8)
    assert not d.allowed and d.retry_after_s == 0 and d.remaining_calls == 0


async def test_default_apim_anchor_year_one(store: CounterStore) -> None:
    anchor = -62135596800.0  # 0001-01-01T00:00:00Z, APIM's default first-period-start
    day = 86400
    start = T0 - (T0 - anchor) % day  # start of the current UTC day
    assert start % day == 0
    assert (await store.hit_quota("d", 1, None, day, anchor, now=start + 10)).allowed
    d = await store.hit_quota("d", 1, None, day, anchor, now=start + 20)
    assert not d.allowed and d.retry_after_s == day - 20
    assert (await store.hit_quota("d", 1, None, day, anchor, now=start + day)).allowed


async def test_memory_store_uses_its_clock_when_now_is_omitted() -> None:
    t = [T0]
    store = MemoryCounterStore(clock=lambda: t[0])
    assert (await store.hit_rate("x", 1, 10)).allowed
    assert not (await store.hit_rate("x", 1, 10)).allowed
    t[0] += 10
    assert (await store.hit_rate("x", 1, 10)).allowed


def test_sweep_drops_idle_keys() -> None:
    from kubegate.services.counters.core import CounterCore

    core = CounterCore()
    core.hit_rate("r", 1, 10, 1, T0)
    core.hit_quota("q", 1, None, 10, T0, 1, T0)
    core.hit_quota("life", 1, None, 0, T0, 1, T0)
    assert len(core) == 3
    core.sweep(T0 + 5)
    assert len(core) == 3
    core.sweep(T0 + 10)
    assert len(core) == 1  # only the lifetime quota stays


async def test_cost_zero_checks_room_without_recording(store: CounterStore) -> None:
    peek = await store.hit_rate("p", 2, 10, cost=0, now=T0)
    assert peek.allowed and peek.remaining == 2
    assert (await store.hit_rate("p", 2, 10, now=T0 + 1)).allowed
    assert (await store.hit_rate("p", 2, 10, cost=0, now=T0 + 2)).allowed
    assert (await store.hit_rate("p", 2, 10, now=T0 + 3)).allowed
    full = await store.hit_rate("p", 2, 10, cost=0, now=T0 + 4)
    assert not full.allowed and full.retry_after_s == 7  # the hit at T0+1 leaves at T0+11


def test_admit_is_hit_rates_verdict_with_the_same_recording() -> None:
    """CounterCore.admit (the usual rate limits' path) and hit_rate, fed the same
    random sequence, agree on every verdict and leave the same logs behind."""
    rng = random.Random(7)
    by_admit, by_hit = MemoryCounterStore().core, MemoryCounterStore().core
    now = T0
    for _ in range(3000):
        now += rng.choice((0.0, 0.01, 0.3, 1.7))
        key, limit, period, cost = (rng.choice("abc"), rng.choice((1, 3, 5)),
                                    rng.choice((1, 2, 10)), rng.choice((0, 1, 1, 2)))
        assert by_admit.admit(key, limit, period, cost, now) \
            == by_hit.hit_rate(key, limit, period, cost, now).allowed
    for key in "abc":
        assert list(by_admit._logs[key].entries()) == list(by_hit._logs[key].entries())
        assert by_admit._logs[key].total == by_hit._logs[key].total


async def test_futures_of_hits_decide_like_awaited_hits(store: CounterStore) -> None:
    """The stores that answer through futures (host, Redis): hit_rate_soon's futures,
    read by rate_decision and rate_admitted, decide as hit_rate does."""
    soon = getattr(store, "hit_rate_soon", None)
    if soon is None:
        assert isinstance(store, MemoryCounterStore)  # answers in the caller instead
        return
    futures = [soon("f-soon", 3, 10, now=T0 + t) for t in (0, 1, 2, 3)]
    awaited = [await store.hit_rate("f-awaited", 3, 10, now=T0 + t) for t in (0, 1, 2, 3)]
    for future in futures:
        await future
    decided = [store.rate_decision(f, 3) for f in futures]  # type: ignore[attr-defined]
    assert decided == awaited
    assert [store.rate_admitted(f) for f in futures] == [True, True, True, False]  # type: ignore[attr-defined]


def test_a_busy_key_log_stays_exact_and_bounded_as_it_drops_old_hits() -> None:
    """The log reads its lists from a head index and cuts the dropped prefix now and
    then: through thousands of hits the sum, the window and the memory stay right."""
    from kubegate.services.counters.core import COMPACT_AFTER, CounterCore

    core = CounterCore()
    limit, period = 100, 10
    admitted: list[tuple[float, int]] = []  # a plain model of the window
    rng = random.Random(7)
    t = 1000.0
    for _ in range(5000):
        t += rng.choice((0.01, 0.05, 0.2, 3.0))
        cost = rng.choice((0, 1, 1, 2))
        admitted = [(ts, c) for ts, c in admitted if ts > t - period]
        expected = sum(c for _, c in admitted) + (cost or 1) <= limit
        assert core.admit("k", limit, period, cost, t) is expected
        if expected and cost:
            admitted.append((t, cost))
        log = core._logs["k"]
        assert list(log.entries()) == admitted
        assert log.total == sum(c for _, c in admitted)
        assert len(log.times) <= 2 * len(admitted) + COMPACT_AFTER + 1
