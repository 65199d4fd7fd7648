"""EndpointTable + Balancer over the fake API, with real "pods" on 127.0.0.x."""

from __future__ import annotations

import asyncio

import pytest

from kubegate.sources.kubernetes import Balancer, ClusterState, EndpointTable, KubeApi, NoAddress

from .conftest import Tasks, eventually, no_sleep
from .fakeapi import FakeApiServer, endpoint_slice, node, service
from .pods import Pod, get

REF = "k8s://shop/orders:http"


async def table_for(
    tasks: Tasks, kube: KubeApi, namespaces: list[str] | None = None
) -> EndpointTable:
    cluster = ClusterState(kube, namespaces or ["shop"], sleep=no_sleep)
    table = EndpointTable(cluster)
    tasks.start(cluster.run())
    assert await cluster.wait_synced(3)
    return table


async def test_scale_up_and_down_under_load_without_failures(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    pods = [await Pod(f"127.0.0.{i}").start() for i in (2, 3, 4)]
    port = pods[0].port
    for p in pods[1:]:
        await p.stop()
        await p.start(port)  # every pod listens on the same container port
    svc = service("shop", "orders", [{"name": "http", "port": 80, "targetPort": "web"}])
    fake_api.put("services", svc)
    fake_api.put(
        "endpointslices",
        endpoint_slice("shop", "orders", [("127.0.0.2", True, False)], port, port_name="http"),
    )
    table = await table_for(tasks, kube)
    assert table.resolve(REF) == [("127.0.0.2", port)]  # named targetPort via the slice's port
    balancer = Balancer(table.resolve(REF), "least-requests")
    table.subscribe(lambda _v: balancer.update(table.resolve(REF)))
    failures: list[BaseException] = []
    seen: set[str] = set()
    stop = asyncio.Event()
    count = [0]

    async def client() -> None:
        while not stop.is_set():
            count[0] += 1
            addr = balancer.pick()
            try:
                seen.add(await get(*addr))
            except OSError as exc:
                failures.append(exc)
            finally:
                balancer.release(addr)

    load = [asyncio.create_task(client()) for _ in range(4)]
    three = [(f"127.0.0.{i}", True, False) for i in (2, 3, 4)]
    fake_api.put("endpointslices", endpoint_slice("shop", "orders", three, port))
    await eventually(lambda: len(table.resolve(REF)) == 3)
    await eventually(lambda: seen == {"127.0.0.2", "127.0.0.3", "127.0.0.4"})
    # scale down: pod .4 terminates (still serving while it drains), then goes away
    draining = [("127.0.0.2", True, False), ("127.0.0.3", True, False), ("127.0.0.4", False, True)]
    fake_api.put("endpointslices", endpoint_slice("shop", "orders", draining, port))
    await eventually(lambda: ("127.0.0.4", port) not in table.resolve(REF))
    await eventually(lambda: balancer.inflight.get(("127.0.0.4", port), 0) == 0)
    await pods[2].stop()
    before = count[0]
    await eventually(lambda: count[0] > before + 20)
    stop.set()
    await asyncio.gather(*load)
    assert failures == [] and count[0] > 20
    assert table.version >= 3
    for p in pods[:2]:
        await p.stop()


async def test_refusing_pod_is_taken_out_briefly() -> None:
    now = [100.0]
    b = Balancer([("127.0.0.2", 80), ("127.0.0.3", 80)], clock=lambda: now[0], fail_timeout=5)
    b.mark_failed(("127.0.0.2", 80))
    assert {b.pick() for _ in range(4)} == {("127.0.0.3", 80)}
    now[0] += 5.1
    assert {b.pick() for _ in range(4)} == {("127.0.0.2", 80), ("127.0.0.3", 80)}
    b.mark_failed(("127.0.0.2", 80), now[0])
    b.mark_failed(("127.0.0.3", 80), now[0])
    assert b.pick() in b.addresses  # all failed: still try one
    with pytest.raises(NoAddress):
        Balancer([]).pick()
    with pytest.raises(ValueError):
        Balancer([], "random")


async def test_least_requests_prefers_idle_and_round_robin_rotates() -> None:
    a, b_, c = ("10.0.0.1", 1), ("10.0.0.2", 1), ("10.0.0.3", 1)
    rr = Balancer([c, a, b_])
    assert [rr.pick() for _ in range(4)] == [a, b_, c, a]
    lr = Balancer([a, b_, c], "least-requests")
    first = lr.pick()
    second = lr.pick()
    assert first != second
    lr.release(first)
    third = lr.pick()
    assert third != second
    lr.update([b_])  # draining: in-flight still released safely
    lr.release(first)
    lr.release(third)
    assert lr.pick() == b_


async def test_service_deleted_and_recreated(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    fake_api.put("services", service("shop", "orders"))
    fake_api.put(
        "endpointslices", endpoint_slice("shop", "orders", [("10.1.0.1", True, False)], 8080)
    )
    table = await table_for(tasks, kube)
    assert table.resolve(REF) == [("10.1.0.1", 8080)]
    assert table.resolve("k8s://shop/orders:80") == [("10.1.0.1", 8080)]
    assert table.resolve("k8s://shop/orders:9999") == []
    seen: list[int] = []
    table.subscribe(seen.append)
    fake_api.delete("endpointslices", "shop", "orders-abc")
    fake_api.delete("services", "shop", "orders")
    await eventually(lambda: table.resolve(REF) == [])
    fake_api.put(
        "services", service("shop", "orders", [{"name": "http", "port": 80, "targetPort": 9090}])
    )
    fake_api.put(
        "endpointslices", endpoint_slice("shop", "orders", [("10.1.0.2", True, False)], 9090)
    )
    await eventually(lambda: table.resolve(REF) == [("10.1.0.2", 9090)])
    assert seen == sorted(seen) and len(seen) >= 4
    assert table.target_port(REF) == 9090


async def test_dns_fallback_when_nothing_known(fake_api: FakeApiServer, kube: KubeApi) -> None:
    await fake_api.stop()
    cluster = ClusterState(kube, ["shop"], sleep=no_sleep)
    table = EndpointTable(cluster)
    assert table.resolve("k8s://shop/orders:8080") == [("orders.shop.svc", 8080)]
    assert table.resolve("k8s://shop/orders:http") == []  # a port name cannot be guessed
    with pytest.raises(ValueError):
        table.resolve("k8s://orders")


async def test_api_gone_keeps_last_endpoints(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    fake_api.put("services", service("shop", "orders"))
    fake_api.put(
        "endpointslices", endpoint_slice("shop", "orders", [("10.1.0.1", True, False)], 8080)
    )
    table = await table_for(tasks, kube)
    await fake_api.stop()
    await eventually(lambda: not table.cluster.available)
    assert table.resolve(REF) == [("10.1.0.1", 8080)]
    assert table.resolve("k8s://shop/unknown:8080") == [("unknown.shop.svc", 8080)]


async def test_nodeport_follows_nodes_and_port(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    ports = [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]
    fake_api.put("services", service("shop", "orders", ports, type_="NodePort"))
    fake_api.put("nodes", node("n1", "10.0.0.1"))
    fake_api.put("nodes", node("n2", "10.0.0.2"))
    fake_api.put("nodes", node("n3", "10.0.0.3", ready=False))
    table = await table_for(tasks, kube)
    ref = "nodeport://shop/orders:http"
    assert table.resolve(ref) == [("10.0.0.1", 30080), ("10.0.0.2", 30080)]
    fake_api.put("nodes", node("n2", "10.0.0.2", ready=False))
    await eventually(lambda: table.resolve(ref) == [("10.0.0.1", 30080)])
    ports[0]["nodePort"] = 31000
    fake_api.put("services", service("shop", "orders", ports, type_="NodePort"))
    await eventually(lambda: table.resolve(ref) == [("10.0.0.1", 31000)])
    fake_api.put("nodes", node("n3", "10.0.0.3"))
    await eventually(lambda: table.resolve(ref) == [("10.0.0.1", 31000), ("10.0.0.3", 31000)])
