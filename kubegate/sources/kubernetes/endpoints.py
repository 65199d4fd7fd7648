"""EndpointTable: current addresses for `k8s://` and `nodeport://` backend refs.

How it works: it reads the ClusterState indexes on demand and memoises each
ref's answer until the next change. `version` increases by one on every change
to services, EndpointSlices or nodes; subscribers are called after the bump.

Resolution rules (k8s://ns/svc:port):
* Service and its EndpointSlices known -> ready, non-terminating endpoints
  (address, slice port), sorted; an empty list means "no ready pod".
* Nothing known about the Service yet (not synced) or the API unavailable and
  the Service unknown -> its cluster DNS name `svc.ns.svc:port`.
* Service known but no slices listed yet (not synced) -> DNS name too.
* API unavailable but the Service known -> the last known endpoints are kept.
nodeport://ns/svc:port -> [(InternalIP, nodePort)] for every Ready node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kubegate.sources.kubernetes.cluster import ClusterState
from kubegate.sources.kubernetes.resolve import (
    Address,
    BackendRef,
    Obj,
    dns_fallback,
    endpoint_addresses,
    nodeport_addresses,
    parse_ref,
    service_port,
)

log = logging.getLogger("kubegate.kubernetes")


class EndpointTable:
    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.version = 0
        self._memo: dict[str, list[Address]] = {}
        self._refs: dict[str, BackendRef] = {}
        self._subscribers: list[Callable[[int], None]] = []
        cluster.subscribe(self._on_change)

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """`callback(version)` after every change; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _on_change(self, type_: str, kind: str, obj: Obj) -> None:
        if kind == "configmaps":
            return
        self.version += 1
        self._memo.clear()
        for callback in list(self._subscribers):
            try:
                callback(self.version)
            except Exception:  # noqa: BLE001
                log.exception("endpoint subscriber failed")

    def ref(self, ref: str) -> BackendRef:
        parsed = self._refs.get(ref)
        if parsed is None:
            parsed = self._refs[ref] = parse_ref(ref)
        return parsed

    def resolve(self, ref: str) -> list[Address]:
        """Current addresses for `ref` (raises ValueError for a malformed ref)."""
        found = self._memo.get(ref)
        if found is None:
            found = self._memo[ref] = self._resolve(self.ref(ref))
        return list(found)

    def _resolve(self, ref: BackendRef) -> list[Address]:
        c = self.cluster
        service = c.services.get(ref.key)
        if ref.scheme == "nodeport":
            return nodeport_addresses(service, c.nodes.values(), ref.port) if service else []
        if service is None:
            known_absent = c.synced and c.available
            return [] if known_absent else dns_fallback(ref, None)
        if not c.synced:
            return dns_fallback(ref, service)
        return endpoint_addresses(service, c.slices_for(*ref.key), ref.port)

    def target_port(self, ref: str) -> int | str | None:
        """The Service port's targetPort (number or name) for a k8s:// ref."""
        parsed = self.ref(ref)
        service = self.cluster.services.get(parsed.key)
        sp = service_port(service, parsed.port) if service else None
        return None if sp is None else sp.get("targetPort", sp.get("port"))
