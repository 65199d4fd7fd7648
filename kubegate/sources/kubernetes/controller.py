"""Controller: the Kubernetes pieces wired together for `kubegate run --kubernetes`.

One KubeApi (lightkube client), one ClusterState (reflectors), one EndpointTable
(k8s:// and nodeport:// resolution) and, when `discover` is set, one Discovery
posting Events through the same client. `run()` runs until cancelled;
`close()` releases the HTTP client.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from kubegate.sources.kubernetes.client import KubeApi, load_config, make_client
from kubegate.sources.kubernetes.cluster import ALL_KINDS, ClusterState
from kubegate.sources.kubernetes.discovery import Discovery, Fetch, http_fetch
from kubegate.sources.kubernetes.endpoints import EndpointTable

NAMESPACES_ENV = "KUBEGATE_WATCH_NAMESPACES"


def namespaces_from_env(value: str | None = None) -> list[str] | None:
    """`KUBEGATE_WATCH_NAMESPACES` ("a,b"; empty = all namespaces) -> list or None."""
    text = os.environ.get(NAMESPACES_ENV, "") if value is None else value
    names = [n.strip() for n in text.split(",") if n.strip()]
    return names or None


class Controller:
    def __init__(
        self,
        api: KubeApi,
        namespaces: Sequence[str] | None = None,
        *,
        nodes: bool = True,
        discover: bool = True,
        fetch: Fetch = http_fetch,
        resync: float = 300.0,
        read_timeout: float = 300.0,
    ) -> None:
        kinds = [k for k in ALL_KINDS if nodes or k != "nodes"]
        self.api = api
        self.cluster = ClusterState(api, namespaces, kinds, read_timeout=read_timeout)
        self.endpoints = EndpointTable(self.cluster)
        self.discovery = (
            Discovery(self.cluster, self.endpoints, fetch, events=api.post_event, resync=resync)
            if discover
            else None
        )

    @classmethod
    def from_environment(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespaces: Sequence[str] | None = None,
        **options: object,
    ) -> Controller:
        """In-cluster service account when running in a pod, else the kubeconfig."""
        api = KubeApi(make_client(load_config(kubeconfig, context)))
        spaces = namespaces if namespaces is not None else namespaces_from_env()
        return cls(api, spaces, **options)  # type: ignore[arg-type]

    async def run(self) -> None:
        jobs = [self.cluster.run()]
        if self.discovery is not None:
            jobs.append(self.discovery.run())
        await asyncio.gather(*jobs)

    async def close(self) -> None:
        await self.api.close()
