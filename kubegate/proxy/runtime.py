"""Run one data-plane process: listeners, sweep, reload, graceful stop.

How this works: `Worker.run()` installs the snapshot, opens the listeners and
waits for a stop signal. SIGHUP (or `reload()`) loads and compiles the
configuration again; a load that fails leaves the running snapshot serving and
logs every problem. SIGTERM/SIGINT stop accepting, let in-flight requests finish
within the grace period, then return.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from kubegate.compile.snapshot import Snapshot
from kubegate.model.config import Config
from kubegate.model.errors import ConfigError
from kubegate.observability import MetricsDir, MetricsDumper, metrics_dir_from_env
from kubegate.proxy.kubernetes import KubernetesWatch
from kubegate.proxy.server import Listeners, ServerState
from kubegate.proxy.services import WorkerServices

log = logging.getLogger("kubegate")
Loader = Callable[[], tuple[Config, Snapshot]]


class Worker:
    def __init__(self, loader: Loader, config: Config, snapshot: Snapshot, *,
                 reuse_port: bool = True, services: WorkerServices | None = None,
                 kubernetes: KubernetesWatch | None = None) -> None:
        self.loader = loader
        self.config = config
        self.state = ServerState(snapshot, config.gateway)
        self.services = services
        if services is not None:
            services.bind(lambda: self.state)
        self.kubernetes = kubernetes
        if kubernetes is not None:
            kubernetes.attach(self)
        self.listeners = Listeners(self.state)
        self.reuse_port = reuse_port
        self.stopping = asyncio.Event()
        self.reloads = 0
        self.reload_errors = 0

    def reload(self) -> bool:
        try:
            config, snapshot = self.loader()
        except ConfigError as exc:
            self.reload_errors += 1
            log.error("reload failed, still serving snapshot %d:\n%s", self.state.snapshot.version, exc)
            return False
        except Exception:  # never let a reload take the data plane down
            self.reload_errors += 1
            log.exception("reload failed, still serving snapshot %d", self.state.snapshot.version)
            return False
        self.config = config
        if self.services is not None:
            self.services.reconfigure(config)
        self.state.install(snapshot)
        self.reloads += 1
        settle_heap()
        log.info("serving snapshot %d", snapshot.version)
        return True

    async def run(self, on_started: Callable[[Worker], Awaitable[None]] | None = None) -> None:
        loop = asyncio.get_running_loop()
        if self.services is not None:
            await self.services.start()
        if self.kubernetes is not None:
            await self.kubernetes.start()
        await self.listeners.start(self.config.gateway.listeners, self.reuse_port)
        settle_heap()
        sweeper = loop.create_task(self.state.sweeper())
        background = [sweeper]
        if self.state.access_log is not None:
            background.append(loop.create_task(self.state.access_log.run()))
        metrics_dir = metrics_dir_from_env()
        if metrics_dir is not None:  # a worker of several: the supervisor merges the dumps
            dumper = MetricsDumper(self.state.metrics, MetricsDir(metrics_dir))
            background.append(loop.create_task(dumper.run()))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            if on_started is not None:
                await on_started(self)
            await self.stopping.wait()
            log.info("stopping: draining %d connections", len(self.state.connections))
            self.listeners.stop_accepting()
            await self.state.drain(self.config.gateway.timeouts.shutdown_grace)
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if self.services is not None:
                await self.services.close()
            if self.kubernetes is not None:
                await self.kubernetes.close()
            if self.state.tracer is not None:  # flush queued spans, bounded
                flush = loop.run_in_executor(None, self.state.tracer.shutdown)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(flush), 5)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)


def settle_heap() -> None:
    """Move what is alive now (config, snapshot, modules) out of the cyclic collector's
    reach. Without this every full collection walks the whole compiled configuration
    while requests wait: tens of milliseconds on the policy path, where each request
    allocates enough containers to trigger collections. Called at start and after a
    reload; `unfreeze` + `collect` first, so cycles of a replaced snapshot are freed
    instead of being kept forever."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class FileWatcher:
    """Polls files' modification times; calls `changed` once per change burst."""

    def __init__(self, files: Callable[[], list[Path]], changed: Callable[[], object],
                 interval: float = 1.0) -> None:
        self.files = files
        self.changed = changed
        self.interval = interval
        self._seen = self._stamp()

    def _stamp(self) -> dict[Path, float | None]:
        out: dict[Path, float | None] = {}
        for path in self.files():
            try:
                out[path] = os.stat(path).st_mtime_ns
            except OSError:
                out[path] = None
        return out

    def poll(self) -> bool:
        stamp = self._stamp()
        if stamp != self._seen:
            self._seen = stamp
            self.changed()
            self._seen = self._stamp()  # the reload may have added files to watch
            return True
        return False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.poll()
