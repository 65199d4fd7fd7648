"""Redis counter store: exact across replicas (atomic Lua scripts, see ``lua``).

Every decision runs in a script that checks and updates in one step, so no
check-then-act race exists between workers or replicas.  Keys are
``<prefix>:{<key>}:rz|rh|q``: the user key is the hash tag, so a key's entries
live in one Redis Cluster slot while different keys spread over the cluster.

Concurrent calls from one process go through a ``Coalescer``: the calls that
queue while a round trip is in flight are sent as one EVALSHA of the BATCH
script (non-cluster mode: one command, one script run, each operation's error
kept to itself) or concurrently per node (cluster mode: keys of different
slots cannot share a script). For ``redis://`` and ``unix://`` URLs the BATCH
call goes over ``resp.RespClient``, one lean connection (redis.asyncio spends
about 500 Python calls per round trip); TLS, Sentinel and Cluster use redis-py.  EVALSHA falls back to EVAL on
NOSCRIPT (a restarted or failed-over server), which also re-caches the script.
Every round trip is bounded by ``timeout``; a broken connection is dropped by
the pool and a new one is opened on the next call (automatic reconnection).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError

from . import lua
from .base import (
    DEFAULT_FAIL_MODE,
    STORE_FAILURES,
    CounterUnavailable,
    FailMode,
    FailureStats,
    QuotaDecision,
    RateDecision,
    ceil_s,
    check_quota_args,
    check_rate_args,
    closed_quota,
    closed_rate,
    failed,
    guarded,
    open_quota,
    open_rate,
    soon_decision,
)
from .batch import Coalescer, Verdict
from .redis_client import make_redis_client
from .resp import ReplyError, RespClient

_SCRIPTS = {"rate": lua.RATE, "quota": lua.QUOTA, "batch": lua.BATCH}
_KIND = {"rate": "r", "quota": "q"}
_SHAS = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in _SCRIPTS.items()}

Op = tuple[str, list[str], list[Any]]  # script name, keys, args
KEYS_KEPT = 65536  # counter keys whose Redis key names are kept ready (keys_for)


def _rate(answer: Any, limit: int) -> RateDecision:
    """The decision of the RATE script's answer (allowed, total, retry in ms)."""
    allowed, total, retry_ms = answer
    retry = 0 if allowed else ceil_s(int(retry_ms) / 1000)
    return RateDecision(bool(allowed), max(0, limit - int(total)), retry, limit)


def merged_rate_hits(ops: list[Op]) -> tuple[list[Op], list[tuple[int, int]] | None]:
    """`ops` with runs of identical rate hits (same keys and arguments, cost > 0, no
    other hit on that key between them) sent as one RATE operation of n hits (its
    fifth argument), so the outcome is that of `ops` in order; and per original
    operation its (index in the sent list, place among the identical hits, or -1 for
    an operation sent as it is); None for the places when nothing was merged."""
    first: dict[tuple[Any, ...], int] = {}  # a run's hit -> its index in `sent`
    runs: dict[str, tuple[Any, ...]] = {}  # a rate key -> the hit of its open run
    sent: list[Op] = []
    places: list[tuple[int, int]] = []
    counts: list[int] = []
    last: Op | None = None  # the operation before, when its run is still open
    at = 0  # ... and that run's index in `sent`
    for op in ops:
        name, op_keys, args = op
        if last is not None and args == last[2] and op_keys[0] == last[1][0] and name == "rate":
            places.append((at, counts[at]))  # the same hit again (the usual batch)
            counts[at] += 1
            continue
        last = None
        place = -1
        if name == "rate":
            z = op_keys[0]
            ident = (z, *args) if args[2] > 0 else None
            run = runs.get(z)
            if run is not None and run != ident:  # another hit on the key ends the run
                del first[run], runs[z]
            if ident is not None:
                i = first.get(ident)
                if i is not None:
                    places.append((i, counts[i]))
                    counts[i] += 1
                    last, at = op, i
                    continue
                first[ident], runs[z] = len(sent), ident
                place = 0
                last, at = op, len(sent)
        places.append((len(sent), place))
        sent.append(op)
        counts.append(1)
    if len(sent) == len(ops):
        return ops, None
    return [(name, op_keys, [*args, counts[i]]) if counts[i] > 1 else (name, op_keys, args)
            for i, (name, op_keys, args) in enumerate(sent)], places


def run_answers(answer: Any, n: int, cost: int) -> list[Any]:
    """The RATE answers of n identical hits sent as one, as if each had been sent alone,
    in order: (allowed, total after it, retry_ms) each."""
    if isinstance(answer, BaseException):
        return [answer] * n
    admitted, total, retry_ms = answer  # integer replies
    return [[1, total - (admitted - 1 - k) * cost, 0] if k < admitted else [0, total, retry_ms]
            for k in range(n)]


def answers_of(ops: list[Op], sent: list[Op], places: list[tuple[int, int]],
               answers: list[Any]) -> list[Any]:
    """Each of `ops`' answer from the answers to `sent` (see merged_rate_hits)."""
    if len(sent) == 1:  # one run: every operation was the same hit
        return run_answers(answers[0], len(ops), ops[0][2][2])
    per_run = [run_answers(answer, args[4] if len(args) > 4 else 1, args[2])
               if name == "rate" else None
               for (name, _, args), answer in zip(sent, answers, strict=True)]
    return [answers[i] if k < 0 else per_run[i][k] for i, k in places]  # type: ignore[index]


class RedisCounterStore:
    def __init__(
        self, client: Redis | RedisCluster, *, prefix: str = "kg", timeout: float = 0.25,
        max_batch: int = 512, direct: RespClient | None = None,
    ) -> None:
        self.client = client
        self._cluster = isinstance(client, RedisCluster)  # (a slow isinstance: a Protocol)
        self.direct = direct  # the lean connection for BATCH calls (resp.py), when the URL allows
        self.prefix = prefix
        self.stats = FailureStats()
        self.batcher: Coalescer[Op] = Coalescer(self._flush, timeout=timeout, max_batch=max_batch)
        self._keys: dict[str, tuple[str, str, str]] = {}  # recent keys_for results

    @classmethod
    def from_url(
        cls, url: str, *, cluster: bool = False, timeout: float = 0.25, prefix: str = "kg",
        max_connections: int = 64,
    ) -> RedisCounterStore:
        client = make_redis_client(url, cluster=cluster, timeout=timeout,
                                   max_connections=max_connections)
        direct = None if cluster else RespClient.from_url(url, timeout)
        return cls(client, prefix=prefix, timeout=timeout, direct=direct)

    def keys_for(self, key: str) -> tuple[str, str, str]:
        found = self._keys.get(key)
        if found is None:
            base = f"{self.prefix}:{{{key}}}"
            found = (f"{base}:rz", f"{base}:rh", f"{base}:q")
            if len(self._keys) >= KEYS_KEPT:
                self._keys.clear()
            self._keys[key] = found
        return found

    async def _flush(self, ops: list[Op]) -> list[Any]:
        if self._cluster:
            results = list(await asyncio.gather(*(self._eval_one(op) for op in ops),
                                                return_exceptions=True))
        else:
            results = await self._batch(ops)
        return [CounterUnavailable(f"Redis error: {r}") if isinstance(r, BaseException) else r
                for r in results]

    async def _batch(self, ops: list[Op]) -> list[Any]:
        """All queued operations as one BATCH script call (one command, one round trip).
        Identical rate hits (one key, limit, period, cost and time: one subscription's
        requests) go as one operation of n hits, answered per hit by `merged`."""
        sent, places = merged_rate_hits(ops)
        keys: list[str] = []
        argv: list[Any] = [len(sent)]
        for name, op_keys, args in sent:
            keys += op_keys
            argv += (_KIND[name], len(op_keys), len(args), *args)
        answers = await self._batch_call(keys, argv)
        return answers if places is None else answers_of(ops, sent, places, answers)

    async def _batch_call(self, keys: list[str], argv: list[Any]) -> list[Any]:
        direct = self.direct
        if direct is not None:
            try:
                results = await direct.call("EVALSHA", _SHAS["batch"], len(keys), *keys, *argv)
            except ReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
                results = await direct.call("EVAL", _SCRIPTS["batch"], len(keys), *keys, *argv)
            return list(results)
        try:
            results = await self.client.evalsha(_SHAS["batch"], len(keys), *keys, *argv)
        except NoScriptError:
            results = await self.client.eval(_SCRIPTS["batch"], len(keys), *keys, *argv)
        return list(results)

    async def _eval_one(self, op: Op) -> Any:
        name, keys, args = op
        try:
            return await self.client.evalsha(_SHAS[name], len(keys), *keys, *args)
        except NoScriptError:
            return await self.client.eval(_SCRIPTS[name], len(keys), *keys, *args)

    async def hit_rate(
        self, key: str, limit: int, period_s: int, cost: int = 1, *,
        now: float | None = None, fail_mode: FailMode = DEFAULT_FAIL_MODE,
    ) -> RateDecision:
        future = self.hit_rate_soon(key, limit, period_s, cost, now=now)
        try:  # (guarded's logic, without a closure per request: this is the hot path)
            answer = await future
        except STORE_FAILURES as exc:
            return self._rate_failed(exc, limit, fail_mode)
        return _rate(answer, limit)

    def hit_rate_soon(self, key: str, limit: int, period_s: int, cost: int = 1, *,
                      now: float | None = None, to: Verdict | None = None) -> Any:
        """`hit_rate` without awaiting: the future of the raw answer (it always
        completes, within about two timeouts), or `to` answered; `rate_decision`
        reads it once done."""
        check_rate_args(limit, period_s, cost)
        z, h, _ = self.keys_for(key)
        op: Op = ("rate", [z, h], [limit, period_s, cost,
                                   "-1" if now is None else repr(float(now))])
        return self.batcher.enqueue(op) if to is None else self.batcher.enqueue_to(op, to)

    def rate_decision(self, done: asyncio.Future[Any], limit: int,
                      fail_mode: FailMode = DEFAULT_FAIL_MODE) -> RateDecision:
        """The decision of a finished `hit_rate_soon` future, as `hit_rate` returns it."""
        return soon_decision(done, limit, fail_mode, self.stats, lambda a: _rate(a, limit))

    @staticmethod
    def rate_admitted(done: asyncio.Future[Any]) -> bool:
        """Whether a finished `hit_rate_soon` future admitted its hit (the common
        answer, read without making a decision; False: ask `rate_decision`)."""
        return done.exception() is None and done.result()[0] == 1

    def _rate_failed(self, exc: BaseException, limit: int, fail_mode: FailMode) -> RateDecision:
        return failed(exc, fail_mode, self.stats, "rate-limit", lambda: open_rate(limit),
                      lambda m: closed_rate(limit, m))

    async def hit_quota(
        self, key: str, calls: int | None, bandwidth_kb: int | None, period_s: int,
        anchor: float = 0.0, count_calls: int = 1, *,
        now: float | None = None, fail_mode: FailMode = DEFAULT_FAIL_MODE,
    ) -> QuotaDecision:
        check_quota_args(calls, bandwidth_kb, period_s)
        args = [-1 if calls is None else calls, -1 if bandwidth_kb is None else bandwidth_kb,
                period_s, repr(float(anchor)), count_calls, _now(now), "hit"]
        op: Op = ("quota", [self.keys_for(key)[2]], args)

        async def call() -> QuotaDecision:
            allowed, c, b, retry_ms, exceeded = (int(x) for x in await self.batcher.submit(op))
            rem_calls = None if calls is None else max(0, calls - c)
            rem_kb = None if bandwidth_kb is None else max(0, bandwidth_kb * 1024 - b) // 1024
            if allowed:
                return QuotaDecision(True, rem_calls, rem_kb, 0)
            retry = ceil_s(retry_ms / 1000) if period_s else 0
            return QuotaDecision(False, rem_calls, rem_kb, retry,
                                 "calls" if exceeded == 1 else "bandwidth")
        return await guarded(call, fail_mode, self.stats, "quota",
                             lambda: open_quota(calls, bandwidth_kb), closed_quota)

    async def add_bandwidth(
        self, key: str, nbytes: int, period_s: int, anchor: float = 0.0, *,
        now: float | None = None,
    ) -> None:
        if nbytes < 0 or period_s < 0:
            raise ValueError("bytes and period must not be negative")
        args = [-1, -1, period_s, repr(float(anchor)), nbytes, _now(now), "bw"]
        op: Op = ("quota", [self.keys_for(key)[2]], args)

        async def call() -> None:
            await self.batcher.submit(op)
        await guarded(call, DEFAULT_FAIL_MODE, self.stats, "bandwidth", lambda: None, lambda m: None)

    async def close(self) -> None:
        await self.batcher.close()
        if self.direct is not None:
            await self.direct.aclose()
        await self.client.aclose()


def _now(now: float | None) -> str:
    return "-1" if now is None else repr(float(now))


__all__ = ["RedisCounterStore", "make_redis_client", "RedisError"]
