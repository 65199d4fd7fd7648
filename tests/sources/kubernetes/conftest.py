from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import yaml

from kubegate.sources.kubernetes import KubeApi, load_config, make_client

from .fakeapi import FakeApiServer


def write_kubeconfig(path: Path, server: str, token: str | None = None) -> Path:
    user = {"token": token} if token else {}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "test",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "test", "context": {"cluster": "fake", "user": "u", "namespace": "default"}}
        ],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApiServer]:
    server = await FakeApiServer(token="t0ken").start()
    yield server
    await server.stop()


@pytest.fixture
def kubeconfig(fake_api: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return write_kubeconfig(tmp_path / "kubeconfig", fake_api.url, "t0ken")


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[KubeApi]:
    api = KubeApi(make_client(load_config(str(kubeconfig)), timeout=2.0), timeout=2.0)
    yield api
    await api.close()


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait (polling the event loop) until `check()` holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


Sleep = Callable[[float], Awaitable[None]]


class Tasks:
    def __init__(self) -> None:
        self.items: list[asyncio.Task[object]] = []

    def start(self, coro: Awaitable[object]) -> asyncio.Task[object]:
        task = asyncio.ensure_future(coro)
        self.items.append(task)
        return task


@pytest.fixture
async def tasks(kube: KubeApi) -> AsyncIterator[Tasks]:
    """Background tasks, cancelled (and awaited) before the client closes."""
    holder = Tasks()
    yield holder
    for task in holder.items:
        task.cancel()
    await asyncio.gather(*holder.items, return_exceptions=True)
