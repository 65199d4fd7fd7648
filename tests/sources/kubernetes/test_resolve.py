"""Pure resolution rules on Kubernetes JSON objects."""

from __future__ import annotations

import pytest

from kubegate.sources.kubernetes.resolve import (
    dns_fallback,
    endpoint_addresses,
    nodeport_addresses,
    parse_ref,
)

from .fakeapi import node, service


def slice_(endpoints: list[dict], ports: list[dict]) -> dict:
    return {"metadata": {"name": "s"}, "endpoints": endpoints, "ports": ports}


def test_conditions_decide_readiness() -> None:
    svc = service("ns", "a", [{"port": 80, "targetPort": 8080}])  # one unnamed port
    eps = [
        {"addresses": ["10.0.0.1"], "conditions": {}},  # nil ready = ready
        {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
        {"addresses": ["10.0.0.3"], "conditions": {"serving": True, "terminating": True}},
        {"addresses": ["10.0.0.4", "10.0.0.5"], "conditions": {"ready": True}},
    ]
    got = endpoint_addresses(
        svc, [slice_(eps, [{"port": 8080}]), slice_(eps[:1], [{"port": 8080}])], ""
    )
    assert got == [("10.0.0.1", 8080), ("10.0.0.4", 8080), ("10.0.0.5", 8080)]
    assert endpoint_addresses(svc, [slice_(eps, [{"port": 8080}])], "80") == got
    # no port on the slice: a numeric targetPort still works, a named one cannot
    assert endpoint_addresses(svc, [slice_(eps[:1], [])], "80") == [("10.0.0.1", 8080)]
    named = service("ns", "a", [{"name": "http", "port": 80, "targetPort": "web"}])
    assert endpoint_addresses(named, [slice_(eps[:1], [])], "http") == []


def test_nodeport_needs_ready_nodes_with_internal_ip() -> None:
    svc = service("ns", "a", [{"name": "http", "port": 80, "nodePort": 30001}], type_="NodePort")
    no_ip = {
        "metadata": {"name": "x"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    nodes = [
        node("n1", "10.0.0.9"),
        node("n2", "10.0.0.8", ready=False),
        no_ip,
        node("n3", "10.0.0.7"),
    ]
    assert nodeport_addresses(svc, nodes, "http") == [("10.0.0.7", 30001), ("10.0.0.9", 30001)]
    assert nodeport_addresses(service("ns", "b"), nodes, "http") == []  # ClusterIP: no nodePort


def test_refs_and_dns_fallback() -> None:
    ref = parse_ref("k8s://shop/orders:http")
    assert (ref.scheme, ref.namespace, ref.service, ref.port) == ("k8s", "shop", "orders", "http")
    assert str(ref) == "k8s://shop/orders:http" and ref.dns_name == "orders.shop.svc"
    assert dns_fallback(ref, service("shop", "orders")) == [("orders.shop.svc", 80)]
    assert parse_ref("nodeport://shop/orders").port == ""
    for bad in ("http://x/y", "k8s://orders", "k8s:///orders:80", "k8s://a/b/c:1"):
        with pytest.raises(ValueError):
            parse_ref(bad)
