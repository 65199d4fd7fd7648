"""Exactness across real processes: host counter server and Redis.

Several worker processes (each with many concurrent tasks) share one key; the
total admitted must equal the limit exactly, with no per-worker multiplication.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from kubegate.services.counters import (
    HostCounterClient,
    MemoryCounterStore,
    start_host_counter_server,
)

WORKER = Path(__file__).with_name("counter_worker.py")
ROOT = Path(__file__).resolve().parents[3]
NOW = 1_700_000_000.0


async def run_workers(kind: str, target: str, prefix: str, limit: int, procs: int,
                      tasks: int) -> list[dict[str, object]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), kind, target, prefix, "shared-key", str(limit),
            str(tasks), repr(NOW), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT)
        for _ in range(procs)
    ]
    try:
        for child in children:  # barrier: every worker has imported and connected
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            assert line == b"ready\n", line
        results = []
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"go\n")
        for child in children:
            out, err = await asyncio.wait_for(child.communicate(), 30)
            assert child.returncode == 0, err.decode()
            results.append(json.loads(out))
        return results
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()  # only the processes this test started, by handle
                await child.wait()


async def test_memory_store_exact_under_many_tasks() -> None:
    store = MemoryCounterStore(clock=lambda: NOW)
    got = await asyncio.gather(*(store.hit_rate("k", 100, 60) for _ in range(1000)))
    assert sum(d.allowed for d in got) == 100
    quota = await asyncio.gather(*(store.hit_quota("k", 37, None, 60) for _ in range(500)))
    assert sum(q.allowed for q in quota) == 37


async def test_host_client_batches_concurrent_calls(sock_path: str) -> None:
    server = start_host_counter_server(sock_path)
    client = HostCounterClient(sock_path)
    try:
        got = await asyncio.gather(*(client.hit_rate("b", 50, 60, now=NOW) for _ in range(300)))
        assert sum(d.allowed for d in got) == 50
        assert client.batcher.requests == 300
        assert client.batcher.round_trips <= 3  # not one round trip per call
    finally:
        await client.close()
        server.close()


async def test_host_server_exact_across_processes(sock_path: str) -> None:
    server = start_host_counter_server(sock_path)
    try:
        results = await run_workers("host", sock_path, "-", limit=37, procs=3, tasks=100)
    finally:
        server.close()
    assert sum(r["admitted"] for r in results) == 37  # type: ignore[misc]
    assert sum(r["quota_admitted"] for r in results) == 37  # type: ignore[misc]
    assert all(r["unavailable"] == 0 for r in results)
    assert all(r["retry"] in ([], [60]) for r in results)  # every hit at NOW: wait a full period
    assert sum(r["round_trips"] for r in results) < 600  # type: ignore[misc]


async def test_redis_exact_across_processes(redis_url: str, redis_prefix: str) -> None:
    results = await run_workers("redis", redis_url, redis_prefix, limit=53, procs=3, tasks=150)
    assert sum(r["admitted"] for r in results) == 53  # type: ignore[misc]
    assert sum(r["quota_admitted"] for r in results) == 53  # type: ignore[misc]
    assert all(r["unavailable"] == 0 for r in results)
    assert all(r["retry"] in ([], [60]) for r in results)
    # 900 checks in total went in far fewer pipelines
    assert sum(r["round_trips"] for r in results) < 100  # type: ignore[misc]



def _forked_worker(sock_path: str, listen_fds: list[int], wfd: int) -> None:
    async def run() -> int:
        client = HostCounterClient(sock_path, timeout=2.0)
        got = await asyncio.gather(*(client.hit_rate("forked", 25, 60, now=NOW) for _ in range(60)))
        await client.close()
        return sum(d.allowed for d in got)

    code = 1
    try:
        inherited_open = 0
        for fd in listen_fds:
            try:
                os.fstat(fd)
                inherited_open += 1
            except OSError:
                pass
        os.write(wfd, json.dumps([asyncio.run(run()), inherited_open]).encode())
        code = 0
    finally:
        os._exit(code)


def test_forked_workers_share_the_supervisor_counters(sock_path: str) -> None:
    """The `--workers` shape: supervisor starts the server, then forks workers."""
    server = start_host_counter_server(sock_path)
    pids, pipes = [], []
    try:
        for _ in range(3):
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child
                os.close(rfd)
                _forked_worker(sock_path, server._listen_fds, wfd)
            os.close(wfd)
            pids.append(pid)
            pipes.append(rfd)
        results = []
        for pid, rfd in zip(pids, pipes, strict=True):
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            with os.fdopen(rfd, "rb") as f:
                results.append(json.loads(f.read()))
    finally:
        server.close()
    assert sum(admitted for admitted, _ in results) == 25
    assert all(inherited == 0 for _, inherited in results)  # listening socket closed in children
