"""One-shot NodePort resolution for a gateway (or a person) outside the cluster:
the Service's nodePort and the InternalIP of every Ready node, from one list of
Services and one list of Nodes (no watch)."""

from __future__ import annotations

import asyncio

from kubegate.sources.kubernetes.client import KubeApi, load_config, make_client
from kubegate.sources.kubernetes.resolve import Address, nodeport_addresses, service_port


class NodePortError(LookupError):
    """The Service, its port or a nodePort could not be found."""


async def resolve_nodeport_async(
    api: KubeApi, namespace: str, service: str, port: str = ""
) -> list[Address]:
    services, _ = await api.list("services", namespace)
    found = next((s for s in services if (s.get("metadata") or {}).get("name") == service), None)
    if found is None:
        raise NodePortError(f"service {namespace}/{service} not found")
    sp = service_port(found, port)
    if sp is None:
        names = [
            str(p.get("name") or p.get("port"))
            for p in (found.get("spec") or {}).get("ports") or []
        ]
        which = f"port {port!r}" if port else "a single port (it has several; pass --port)"
        raise NodePortError(
            f"service {namespace}/{service} has no {which}; ports: {', '.join(names)}"
        )
    if not sp.get("nodePort"):
        kind = (found.get("spec") or {}).get("type", "ClusterIP")
        raise NodePortError(
            f"service {namespace}/{service} is {kind}: no nodePort (use type NodePort)"
        )
    nodes, _ = await api.list("nodes")
    return nodeport_addresses(found, nodes, port)


def resolve_nodeport(
    namespace: str,
    service: str,
    port: str = "",
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> list[Address]:
    """[(node InternalIP, nodePort)] for every Ready node; raises NodePortError or
    client.ApiUnavailable. Synchronous (runs its own event loop)."""

    async def go() -> list[Address]:
        api = KubeApi(make_client(load_config(kubeconfig, context)))
        try:
            return await resolve_nodeport_async(api, namespace, service, port)
        finally:
            await api.close()

    return asyncio.run(go())


def parse_service_ref(text: str) -> tuple[str, str, str]:
    """`ns/name[:port]` -> (ns, name, port)."""
    ns, slash, rest = text.partition("/")
    name, _, port = rest.partition(":")
    if not slash or not ns or not name:
        raise ValueError(f"expected NAMESPACE/SERVICE[:PORT], got {text!r}")
    return ns, name, port
