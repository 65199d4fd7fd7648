"""Controller mode: the worker watches Kubernetes itself.

How this works: a KubernetesWatch runs the controller (reflectors for Services,
EndpointSlices, Nodes, ConfigMaps; discovery of annotated Services) in the
worker's loop. Its endpoint table feeds the k8s:// and nodeport:// backend pools;
discovered APIs are added to the declared configuration at every load, and a
discovery change reloads the worker (which keeps serving the last good snapshot
if the new one fails). Several replicas watch independently and converge, since
discovery orders its result deterministically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubegate.model.config import Api

log = logging.getLogger("kubegate.kubernetes")


class KubernetesWatch:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        from kubegate.sources.kubernetes import Controller

        self.controller = Controller.from_environment(kubeconfig, context)
        self._task: asyncio.Task[None] | None = None

    def apis(self) -> list[Api]:
        discovery = self.controller.discovery
        return discovery.current() if discovery is not None else []

    def attach(self, worker: Any) -> None:
        worker.state.pools.endpoints = self.controller.endpoints
        discovery = self.controller.discovery
        if discovery is not None:
            discovery.subscribe(worker.reload)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await self.controller.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # the reflectors retry by themselves; this is a bug
            log.exception("the Kubernetes controller stopped")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.controller.close()
