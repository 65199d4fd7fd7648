"""Discovery: annotated Services -> Apis with OpenAPI fetched from real local pods;
failures keep the last good Api and post an Event; policies from ConfigMaps."""

from __future__ import annotations

import asyncio

from kubegate.sources.kubernetes import ClusterState, Discovery, KubeApi, http_fetch

from .conftest import Tasks, eventually, no_sleep
from .fakeapi import FakeApiServer, configmap, endpoint_slice, service
from .pods import Pod, swagger

POLICY = (
    '<policies><inbound><base /><rate-limit calls="5" renewal-period="60" /></inbound>'
    "<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>"
)


def annotated(ns: str, name: str, path: str, **extra: str) -> dict:
    ann = {"kubegate.io/path": path, **{f"kubegate.io/{k}": v for k, v in extra.items()}}
    return service(ns, name, [{"name": "http", "port": 80, "targetPort": "web"}], annotations=ann)


async def setup(fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks, pods: list[Pod]) -> Discovery:
    for i, pod in enumerate(pods):
        name = f"svc{i}"
        fake_api.put(
            "endpointslices", endpoint_slice("shop", name, [(pod.host, True, False)], pod.port)
        )
    cluster = ClusterState(kube, ["shop"], sleep=no_sleep)
    discovery = Discovery(cluster, events=kube.post_event, resync=3600)
    tasks.start(cluster.run())
    assert await cluster.wait_synced(3)
    await discovery.refresh(everything=True)
    return discovery


async def test_discovers_and_follows_changes(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    pod0 = await Pod("127.0.0.2", swagger("Orders", ["/orders", "/orders/{id}"])).start()
    pod1 = await Pod("127.0.0.3", swagger("Stock", ["/items"]), "/openapi.json").start()
    fake_api.put(
        "services", annotated("shop", "svc0", "/orders", product="starter", policy="orders-policy")
    )
    fake_api.put("services", annotated("shop", "svc1", "/stock", openapi="/openapi.json"))
    fake_api.put("services", service("shop", "plain"))  # not annotated: ignored
    fake_api.put("configmaps", configmap("shop", "orders-policy", {"policy.xml": POLICY}))
    d = await setup(fake_api, kube, tasks, [pod0, pod1])
    apis = d.current()
    assert [(a.name, a.path, a.backend) for a in apis] == [
        ("shop-svc0", "/orders", "k8s://shop/svc0:http"),
        ("shop-svc1", "/stock", "k8s://shop/svc1:http"),
    ]
    assert [o.path for o in apis[0].operations or []] == ["/orders", "/orders/{id}"]
    assert apis[0].policy == POLICY and d.policies() == {"shop/orders-policy": POLICY}
    assert d.products() == {"starter": ["shop-svc0"]}
    assert pod0.hits == 1 and pod1.hits == 1

    changes: list[int] = []
    d.subscribe(lambda: changes.append(1))
    runner = tasks.start(d.run())
    # the spec changes; a new EndpointSlice (rollout) triggers a re-fetch
    pod1.spec = swagger("Stock", ["/items", "/items/{sku}"])
    fake_api.put(
        "endpointslices",
        endpoint_slice("shop", "svc1", [(pod1.host, True, False)], pod1.port, name="svc1-new"),
    )
    await eventually(lambda: len(d.current()[1].operations or []) == 2)
    # a bad policy keeps the old text and records why
    fake_api.put(
        "configmaps", configmap("shop", "orders-policy", {"policy.xml": "<policies><inbound>"})
    )
    await eventually(lambda: not d.status["shop/orders-policy"].ok)
    assert d.policies()["shop/orders-policy"] == POLICY
    await eventually(lambda: any(e["reason"] == "PolicyInvalid" for e in fake_api.events))
    # the Service is deleted: its API goes
    fake_api.delete("services", "shop", "svc0")
    await eventually(lambda: [a.name for a in d.current()] == ["shop-svc1"])
    assert changes and not runner.done()
    await pod0.stop()
    await pod1.stop()


async def test_failed_fetch_keeps_last_good_and_posts_event(
    fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks
) -> None:
    pod = await Pod("127.0.0.4", swagger("Orders", ["/orders"])).start()
    fake_api.put("services", annotated("shop", "svc0", "/orders"))
    d = await setup(fake_api, kube, tasks, [pod])
    good = d.current()
    assert len(good) == 1 and d.status["shop-svc0"].ok
    pod.spec = None  # the pod now answers 500
    await d.refresh(everything=True)
    assert d.current() == good
    status = d.status["shop-svc0"]
    assert (
        not status.ok and "OpenAPIFetchFailed" in status.message and "last good" in status.message
    )
    assert len(fake_api.events) == 1
    event = fake_api.events[0]
    assert event["reason"] == "OpenAPIFetchFailed" and event["type"] == "Warning"
    assert event["involvedObject"]["name"] == "svc0" and event["metadata"]["namespace"] == "shop"
    await d.refresh(everything=True)
    assert len(fake_api.events) == 1  # the same failure is reported once
    await pod.stop()
    await d.refresh(everything=True)  # connection refused: still the last good API
    assert d.current() == good and len(fake_api.events) == 2


async def test_replicas_converge(fake_api: FakeApiServer, kube: KubeApi, tasks: Tasks) -> None:
    pod = await Pod("127.0.0.5", swagger("Orders", ["/orders"])).start()
    for name in ("zeta", "alpha", "mid"):
        fake_api.put(
            "endpointslices", endpoint_slice("shop", name, [(pod.host, True, False)], pod.port)
        )
    fake_api.put("services", annotated("shop", "zeta", "/same"))
    fake_api.put("services", annotated("shop", "alpha", "/same"))  # path conflict: alpha wins
    fake_api.put("services", annotated("shop", "mid", "/mid", openapi="none"))
    results = []
    for _ in range(2):
        cluster = ClusterState(kube, ["shop"], sleep=no_sleep)
        d = Discovery(cluster, fetch=http_fetch)
        tasks.start(cluster.run())
        assert await cluster.wait_synced(3)
        await d.refresh(everything=True)
        results.append(d.current())
    assert results[0] == results[1]
    assert [(a.name, a.path) for a in results[0]] == [("shop-alpha", "/same"), ("shop-mid", "/mid")]
    assert results[0][1].operations is None
    await pod.stop()
    await asyncio.sleep(0)


async def test_controller_from_kubeconfig(fake_api: FakeApiServer, kubeconfig, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kubegate.sources.kubernetes import Controller, namespaces_from_env

    assert (
        namespaces_from_env(" shop, ,billing ") == ["shop", "billing"]
        and namespaces_from_env("") is None
    )
    monkeypatch.setenv("KUBEGATE_WATCH_NAMESPACES", "shop")
    pod = await Pod("127.0.0.6", swagger("Orders", ["/orders"])).start()
    fake_api.put(
        "endpointslices", endpoint_slice("shop", "svc0", [(pod.host, True, False)], pod.port)
    )
    fake_api.put("services", annotated("shop", "svc0", "/orders"))
    fake_api.put("services", annotated("other", "svc9", "/other"))  # not a watched namespace
    controller = Controller.from_environment(str(kubeconfig), nodes=False)
    task = asyncio.ensure_future(controller.run())
    try:
        assert controller.discovery is not None
        await eventually(lambda: [a.name for a in controller.discovery.current()] == ["shop-svc0"])  # type: ignore[union-attr]
        assert controller.endpoints.resolve("k8s://shop/svc0:http") == [(pod.host, pod.port)]
        assert not any("/nodes" in t for _, t in fake_api.requests)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await controller.close()
        await pod.stop()
