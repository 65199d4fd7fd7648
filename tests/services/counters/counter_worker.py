"""A worker process for the cross-process tests (run as a script, prints JSON).

usage: counter_worker.py host|redis <socket path|redis url> <prefix> <key> <limit> <tasks> <now>
The worker connects, prints "ready", waits for a line on stdin, then fires all
tasks at once (so the processes contend together); every hit uses the same
``now`` so the window is deterministic.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def main(argv: list[str]) -> None:
    kind, target, prefix, key = argv[:4]
    limit, tasks = int(argv[4]), int(argv[5])
    now = float(argv[6])
    from kubegate.services.counters import HostCounterClient
    from kubegate.services.counters.redis_store import RedisCounterStore

    store: HostCounterClient | RedisCounterStore
    if kind == "host":
        store = HostCounterClient(target, timeout=2.0)
    else:
        store = RedisCounterStore.from_url(target, prefix=prefix, timeout=2.0)
    await store.hit_rate(f"{key}-warmup", 1, 1, now=now)  # connect before the race
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    decisions = await asyncio.gather(*(store.hit_rate(key, limit, 60, now=now) for _ in range(tasks)))
    quotas = await asyncio.gather(*(store.hit_quota(key, limit, None, 3600, 0.0, now=now)
                                    for _ in range(tasks)))
    print(json.dumps({
        "admitted": sum(d.allowed for d in decisions),
        "unavailable": sum(d.unavailable for d in decisions) + sum(q.unavailable for q in quotas),
        "retry": sorted({d.retry_after_s for d in decisions if not d.allowed}),
        "quota_admitted": sum(q.allowed for q in quotas),
        "round_trips": store.batcher.round_trips - 1,
        "requests": store.batcher.requests - 1,
    }))
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
