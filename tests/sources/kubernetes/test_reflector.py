"""The reflector against the fake API server through the real lightkube client."""

from __future__ import annotations

import asyncio

from kubegate.sources.kubernetes import Backoff, ClusterState, KubeApi, Reflector

from .conftest import Tasks, eventually, no_sleep
from .fakeapi import FakeApiServer, node, service


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, type_: str, kind: str, obj: dict) -> None:
        self.events.append((type_, obj["metadata"]["name"]))


async def start(
    tasks: Tasks,
    api: KubeApi,
    kind: str = "services",
    ns: str | None = "shop",
    read_timeout: float = 5.0,
):
    rec = Recorder()
    reflector = Reflector(api, kind, ns, rec, read_timeout=read_timeout, sleep=no_sleep)
    task = tasks.start(reflector.run())
    await asyncio.wait_for(reflector.synced.wait(), 3)
    return reflector, rec, task


async def test_list_then_watch(fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks) -> None:
    fake_api.put("services", service("shop", "a"))
    fake_api.put("services", service("other", "x"))  # another namespace: not seen
    reflector, rec, task = await start(tasks, kube)
    assert rec.events == [("ADDED", "a")]
    await eventually(lambda: len(fake_api.watches) == 1)
    fake_api.put("services", service("shop", "b"))
    fake_api.put("services", service("shop", "a", type_="NodePort"))
    fake_api.delete("services", "shop", "b")
    await eventually(lambda: len(rec.events) == 4)
    assert rec.events[1:] == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert set(reflector.cache) == {"shop/a"}
    assert reflector.resource_version == str(fake_api.rv)
    watch_query = [t for m, t in fake_api.requests if "watch=1" in t][0]
    assert "allowWatchBookmarks=true" in watch_query and "resourceVersion=" in watch_query


async def test_bookmark_moves_resource_version(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    reflector, rec, task = await start(tasks, kube)
    await eventually(lambda: len(fake_api.watches) == 1)
    fake_api.bookmark()
    await eventually(lambda: reflector.resource_version == str(fake_api.rv))
    assert rec.events == []
    # a clean end of stream re-watches from the bookmark's version
    fake_api.end_streams()
    await eventually(
        lambda: any(f"resourceVersion={fake_api.rv}" in t for _, t in fake_api.requests)
    )
    assert reflector.relists == 1


async def test_gone_error_event_relists_and_diffs(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    fake_api.put("services", service("shop", "keep"))
    fake_api.put("services", service("shop", "change"))
    fake_api.put("services", service("shop", "drop"))
    reflector, rec, task = await start(tasks, kube)
    await eventually(lambda: len(fake_api.watches) == 1)
    fake_api.silent = True  # changes happen without events reaching us
    fake_api.put("services", service("shop", "change", type_="NodePort"))
    fake_api.delete("services", "shop", "drop")
    fake_api.put("services", service("shop", "new"))
    fake_api.silent = False
    fake_api.gone_as_event = True
    fake_api.compact()
    fake_api.send_gone()
    await eventually(lambda: reflector.relists == 2)
    assert sorted(rec.events[3:]) == [("ADDED", "new"), ("DELETED", "drop"), ("MODIFIED", "change")]
    assert set(reflector.cache) == {"shop/keep", "shop/change", "shop/new"}


async def test_http_410_on_watch_relists(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    fake_api.put("services", service("shop", "a"))
    reflector, rec, task = await start(tasks, kube)
    await eventually(lambda: len(fake_api.watches) == 1)
    fake_api.silent = True
    fake_api.put("services", service("shop", "b"))
    fake_api.compact()  # the next watch from our version gets HTTP 410
    fake_api.end_streams()
    await eventually(lambda: ("ADDED", "b") in rec.events)
    assert fake_api.gone_served == 1
    assert reflector.relists == 2


async def test_dropped_stream_relists(fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks) -> None:
    reflector, rec, task = await start(tasks, kube, "nodes", None)
    await eventually(lambda: len(fake_api.watches) == 1)
    fake_api.silent = True
    fake_api.put("nodes", node("n1", "10.0.0.1"))
    fake_api.silent = False
    fake_api.drop_streams()
    await eventually(lambda: rec.events == [("ADDED", "n1")])
    assert reflector.relists == 2


async def test_silent_stream_is_noticed(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    reflector, rec, task = await start(tasks, kube, read_timeout=0.3)
    await eventually(lambda: len(fake_api.watches) == 1)
    fake_api.silent = True
    fake_api.put("services", service("shop", "late"))
    await eventually(lambda: rec.events == [("ADDED", "late")], timeout=3)
    assert reflector.relists >= 2


async def test_api_server_gone_and_back(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    fake_api.put("services", service("shop", "a"))
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0.01)

    rec = Recorder()
    reflector = Reflector(
        kube,
        "services",
        "shop",
        rec,
        read_timeout=5,
        backoff=Backoff(initial=1, maximum=8),
        sleep=sleep,
    )
    task = tasks.start(reflector.run())
    await asyncio.wait_for(reflector.synced.wait(), 3)
    await eventually(lambda: len(fake_api.watches) == 1)
    await fake_api.stop()
    await eventually(lambda: len(sleeps) >= 5)
    assert not task.done() and not reflector.connected and reflector.last_error
    assert set(reflector.cache) == {"shop/a"}  # last state kept
    assert rec.events == [("ADDED", "a")]
    assert all(0.5 <= s <= 8 for s in sleeps) and max(sleeps) > 2  # exponential, capped, jittered
    fake_api.put("services", service("shop", "b"))
    await fake_api.start()  # same port
    await eventually(lambda: ("ADDED", "b") in rec.events, timeout=5)
    assert reflector.connected


async def test_list_errors_back_off_without_crash(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    fake_api.list_failures = 3
    fake_api.put("services", service("shop", "a"))
    reflector, rec, task = await start(tasks, kube)
    assert rec.events == [("ADDED", "a")] and reflector.relists == 1
    assert fake_api.list_failures == 0 and reflector.backoff.attempt == 3


async def test_cluster_state_namespaces_and_indexes(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    fake_api.put("services", service("a", "s1"))
    fake_api.put("services", service("b", "s2"))
    fake_api.put("services", service("c", "s3"))
    fake_api.put("nodes", node("n1", "10.0.0.1"))
    cluster = ClusterState(kube, ["a", "b"], sleep=no_sleep)
    tasks.start(cluster.run())
    assert await cluster.wait_synced(3)
    assert sorted(cluster.services) == [("a", "s1"), ("b", "s2")]
    assert list(cluster.nodes) == ["n1"]
    assert cluster.available and not cluster.errors()


def test_backoff_is_exponential_with_jitter() -> None:
    import random

    b = Backoff(initial=1, maximum=10, rng=random.Random(1))
    values = [b.next() for _ in range(8)]
    for i, v in enumerate(values):
        ceiling = min(10, 2**i)
        assert ceiling / 2 <= v <= ceiling
    assert len(set(values)) == len(values)
    b.reset()
    assert b.next() <= 1
