"""Pure functions from Kubernetes objects (JSON dicts) to backend addresses.

`k8s://ns/svc:port` -> ready, non-terminating EndpointSlice endpoints with the
slice's port for that Service port (which resolves named targetPorts);
`nodeport://ns/svc:port` -> (InternalIP, nodePort) of every Ready node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Address = tuple[str, int]
SERVICE_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class BackendRef:
    scheme: str  # "k8s" or "nodeport"
    namespace: str
    service: str
    port: str  # a port name or a number, as written

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.service

    @property
    def dns_name(self) -> str:
        return f"{self.service}.{self.namespace}.svc"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.namespace}/{self.service}:{self.port}"


def parse_ref(ref: str) -> BackendRef:
    """`k8s://ns/svc:port` or `nodeport://ns/svc:port` (port optional: the only one)."""
    scheme, sep, rest = ref.partition("://")
    if not sep or scheme not in ("k8s", "nodeport"):
        raise ValueError(f"expected k8s://namespace/service:port or nodeport://..., got {ref!r}")
    rest = rest.rstrip("/")
    namespace, slash, svc_port = rest.partition("/")
    service, _, port = svc_port.partition(":")
    if not slash or not namespace or not service or "/" in svc_port:
        raise ValueError(f"expected {scheme}://namespace/service[:port], got {ref!r}")
    return BackendRef(scheme, namespace, service, port)


def service_port(service: Obj, port: str) -> Obj | None:
    """The Service's port entry named `port` or numbered `port` (or the only port)."""
    ports = (service.get("spec") or {}).get("ports") or []
    if not port:
        return ports[0] if len(ports) == 1 else None
    for entry in ports:
        if entry.get("name") == port or (port.isdigit() and entry.get("port") == int(port)):
            return entry
    return None


def _ready(endpoint: Obj) -> bool:
    cond = endpoint.get("conditions") or {}
    if cond.get("terminating"):
        return False
    return cond.get("ready") is not False  # nil means ready (API semantics)


def _slice_port(slice_: Obj, sp: Obj) -> int | None:
    name = sp.get("name") or ""
    for entry in slice_.get("ports") or []:
        if (entry.get("name") or "") == name and entry.get("port") is not None:
            return int(entry["port"])
    target = sp.get("targetPort", sp.get("port"))
    return target if isinstance(target, int) else None


def endpoint_addresses(service: Obj, slices: Iterable[Obj], port: str) -> list[Address]:
    """Ready endpoints of `service` for `port`, deduplicated and sorted."""
    sp = service_port(service, port)
    if sp is None:
        return []
    out: set[Address] = set()
    for slice_ in slices:
        number = _slice_port(slice_, sp)
        if number is None:
            continue
        for endpoint in slice_.get("endpoints") or []:
            if _ready(endpoint):
                out.update((addr, number) for addr in endpoint.get("addresses") or [])
    return sorted(out)


def node_ready(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def internal_ip(node: Obj) -> str | None:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return str(addr.get("address"))
    return None


def nodeport_addresses(service: Obj, nodes: Iterable[Obj], port: str) -> list[Address]:
    sp = service_port(service, port)
    if sp is None or not sp.get("nodePort"):
        return []
    node_port = int(sp["nodePort"])
    ips = {ip for n in nodes if node_ready(n) and (ip := internal_ip(n))}
    return sorted((ip, node_port) for ip in ips)


def dns_fallback(ref: BackendRef, service: Obj | None) -> list[Address]:
    """The Service's cluster DNS name with the Service port, when it can be known."""
    sp = service_port(service, ref.port) if service else None
    if sp is not None and sp.get("port"):
        return [(ref.dns_name, int(sp["port"]))]
    return [(ref.dns_name, int(ref.port))] if ref.port.isdigit() else []
