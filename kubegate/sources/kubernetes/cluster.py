"""ClusterState: one Reflector per (kind, namespace) and indexes over their caches.

Namespaced kinds (services, endpointslices, configmaps) are watched in each
configured namespace, or in all namespaces when none are given; nodes are
cluster-scoped and watched only when asked for (nodeport mode needs them).
Indexes: services by (ns, name), EndpointSlices grouped by (ns, service) via the
`kubernetes.io/service-name` label, nodes by name, ConfigMaps by (ns, name).

Invariants: indexes change only through reflector callbacks (so they equal the
union of the reflector caches); subscribers are called after the index update
with (event type, kind, object); a failing subscriber is logged and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from kubegate.sources.kubernetes.reflector import Backoff, ListWatch, Reflector, Sleep
from kubegate.sources.kubernetes.resolve import SERVICE_LABEL, Obj

log = logging.getLogger("kubegate.kubernetes")
Listener = Callable[[str, str, Obj], None]
ALL_KINDS = ("services", "endpointslices", "nodes", "configmaps")


def _meta(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class ClusterState:
    def __init__(
        self,
        api: ListWatch,
        namespaces: Sequence[str] | None = None,
        kinds: Sequence[str] = ALL_KINDS,
        *,
        read_timeout: float = 300.0,
        backoff: Callable[[], Backoff] = Backoff,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.services: dict[tuple[str, str], Obj] = {}
        self.slices: dict[tuple[str, str], dict[str, Obj]] = {}
        self.nodes: dict[str, Obj] = {}
        self.configmaps: dict[tuple[str, str], Obj] = {}
        self._listeners: list[Listener] = []
        self.reflectors: list[Reflector] = []
        spaces: list[str | None] = list(namespaces) if namespaces else [None]
        for kind in kinds:
            for ns in spaces if kind != "nodes" else [None]:
                self.reflectors.append(
                    Reflector(
                        api,
                        kind,
                        ns,
                        self._on_event,
                        read_timeout=read_timeout,
                        backoff=backoff(),
                        sleep=sleep,
                    )
                )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @property
    def synced(self) -> bool:
        """Every reflector has listed at least once."""
        return all(r.synced.is_set() for r in self.reflectors)

    @property
    def available(self) -> bool:
        """Every reflector's last list/watch succeeded."""
        return all(r.connected for r in self.reflectors)

    def errors(self) -> dict[str, str]:
        return {
            f"{r.kind}/{r.namespace or '*'}": r.last_error for r in self.reflectors if r.last_error
        }

    async def wait_synced(self, timeout: float | None = None) -> bool:
        waits = [r.synced.wait() for r in self.reflectors]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        await asyncio.gather(*(r.run() for r in self.reflectors))

    def slices_for(self, namespace: str, service: str) -> list[Obj]:
        group = self.slices.get((namespace, service)) or {}
        return [group[k] for k in sorted(group)]

    def _on_event(self, type_: str, kind: str, obj: Obj) -> None:
        ns, name = _meta(obj)
        gone = type_ == "DELETED"
        if kind == "services":
            _put(self.services, (ns, name), obj, gone)
        elif kind == "configmaps":
            _put(self.configmaps, (ns, name), obj, gone)
        elif kind == "nodes":
            _put(self.nodes, name, obj, gone)
        elif kind == "endpointslices":
            svc = ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_LABEL)
            if not svc:
                return
            group = self.slices.setdefault((ns, svc), {})
            _put(group, name, obj, gone)
            if not group:
                del self.slices[(ns, svc)]
        for listener in list(self._listeners):
            try:
                listener(type_, kind, obj)
            except Exception:  # noqa: BLE001
                log.exception("kubernetes listener failed")


def _put(index: dict, key: object, obj: Obj, gone: bool) -> None:  # type: ignore[type-arg]
    if gone:
        index.pop(key, None)
    else:
        index[key] = obj
