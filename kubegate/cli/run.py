"""`kubegate run` and `kubegate validate`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import click

from kubegate.compile.load import (
    Overrides,
    SpecCache,
    api_specs,
    load,
    resolve_openapi,
    watched_files,
)
from kubegate.model.errors import ConfigError
from kubegate.native import is_compiled
from kubegate.observability import MetricsDir
from kubegate.proxy.kubernetes import KubernetesWatch
from kubegate.proxy.runtime import FileWatcher, Worker
from kubegate.proxy.services import COUNTER_SOCKET_ENV, WorkerServices, open_store
from kubegate.proxy.workers import Supervisor
from kubegate.sources.yaml_config import load_config

log = logging.getLogger("kubegate")
METRICS_ENV = "KUBEGATE_METRICS_DIR"


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        click.echo(f"error: {problem}", err=True)


@click.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="kubegate.yaml")
@click.option("--json", "as_json", is_flag=True, help="print problems as JSON")
def validate(config_path: str, as_json: bool) -> None:
    """Check a configuration; print every problem with file, line and field."""
    try:
        _, snapshot = load(config_path)
    except ConfigError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "problems": [p.as_dict() for p in exc.problems]}))
        else:
            print_problems(exc)
            click.echo(f"{len(exc.problems)} problem(s) in {config_path}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"ok": True, **snapshot.describe()}))
    else:
        ops = sum(len(a.operations or ()) for a in snapshot.config.apis)
        click.echo(f"{config_path}: OK ({len(snapshot.config.apis)} APIs, {ops} operations)")


@click.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--workers", type=click.IntRange(1, 256), help="data-plane processes (overrides config)")
@click.option("--listen", multiple=True, metavar="HOST:PORT", help="data-plane listener (repeatable)")
@click.option("--admin", metavar="HOST:PORT", help="admin listener (overrides config)")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--kubernetes", is_flag=True,
              help="watch Kubernetes: k8s:// backends, discovery of annotated Services")
@click.option("--kubeconfig", type=click.Path(dir_okay=False),
              help="kubeconfig file (default: in-cluster service account, then ~/.kube/config)")
@click.option("--worker-slot", type=int, hidden=True)
@click.option("--ready-fd", type=int, hidden=True)
def run(config_path: str, workers: int | None, listen: tuple[str, ...], admin: str | None,
        log_level: str, kubernetes: bool, kubeconfig: str | None, worker_slot: int | None,
        ready_fd: int | None) -> None:
    """Serve the APIs of a configuration."""
    setup_logging(log_level)
    overrides = Overrides(listen=listen, admin=admin, workers=workers)
    try:
        declared = overrides.apply(load_config(config_path))
        supervising = worker_slot is None and declared.gateway.workers > 1
        store = open_store(declared)
        services = None if supervising else WorkerServices(declared, store)
        kube = KubernetesWatch(kubeconfig) if kubernetes and not supervising else None
        overlay = partial(apply_overlay, store) if store is not None else None
        loader = partial(load, config_path, overrides, SpecCache(),
                         services.mapping if services else None, kube.apis if kube else None,
                         overlay)
        config, snapshot = loader()
    except ConfigError as exc:
        print_problems(exc)
        sys.exit(2)
    use_uvloop()
    if worker_slot is not None:
        asyncio.run(_worker_main(loader, config, snapshot, ready_fd, services, kube))
    elif not supervising:
        asyncio.run(serve_single(config_path, loader, config, snapshot, services=services,
                                 kubernetes=kube, store=store, overrides=overrides))
    else:
        extra = ["--kubernetes"] if kubernetes else []
        extra += ["--kubeconfig", kubeconfig] if kubeconfig else []
        argv = partial(_worker_argv, config_path, listen, log_level, extra)
        with host_counters(config), metrics_folder():
            asyncio.run(_supervisor_main(config_path, loader, config, argv, store, overrides))


def apply_overlay(store: Any, declared: Any) -> Any:
    from kubegate.admin.overlay import overlay_config

    return overlay_config(declared, store)


def admin_context(store: Any, config_path: str, overrides: Overrides, config: Any,
                  reload: Callable[[], Any], metrics: Callable[[], Any]) -> Any:
    """The admin API, portal and console need the store; without one only health,
    status and metrics are served."""
    if store is None:
        return None
    from kubegate.admin.context import AdminContext

    base = Path(config_path).resolve().parent
    cache = SpecCache()  # the declared APIs' imports, kept for `specs`

    def declared() -> Any:
        return resolve_openapi(overrides.apply(load_config(config_path)), base, cache)

    async def do_reload() -> dict[str, Any]:
        ok = reload()
        return {"reloaded": bool(ok)}

    listener = config.gateway.listeners[0]
    host, port = listener.host_port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    scheme = "https" if listener.tls else "http"
    return AdminContext(store, declared=declared, base_dir=base, reload=do_reload,
                        metrics=metrics, gateway_url=f"{scheme}://{shown}:{port}",
                        specs=lambda config: api_specs(config, base, cache))


async def watch_overlay(store: Any, changed: Callable[[], object], interval: float = 1.0) -> None:
    """Admin API changes (kept in the store) reach this gateway: reload on a new revision.
    Every replica polls the same store, so each converges within `interval`."""
    from kubegate.admin.overlay import config_revision

    seen: tuple[int, int] | None = None
    while True:
        try:
            revision = await asyncio.to_thread(config_revision, store)
        except Exception as exc:  # the store is down: keep serving what we have
            log.warning("cannot read the admin overlay revision: %s", exc)
        else:
            if seen is not None and revision != seen:
                changed()
            seen = revision
        await asyncio.sleep(interval)


@contextlib.contextmanager
def metrics_folder() -> Iterator[None]:
    """Workers dump their metrics here; the supervisor's admin app merges them."""
    folder = tempfile.mkdtemp(prefix="kubegate-metrics-")
    os.environ[METRICS_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(METRICS_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def host_counters(config: Any) -> Iterator[None]:
    """With several workers and memory counters, the supervisor holds the counters."""
    if config.gateway.counters.store != "memory":
        yield
        return
    from kubegate.services.counters import start_host_counter_server

    folder = tempfile.mkdtemp(prefix="kubegate-")
    path = os.path.join(folder, "counters.sock")
    server = start_host_counter_server(path)
    os.environ[COUNTER_SOCKET_ENV] = path
    try:
        yield
    finally:
        os.environ.pop(COUNTER_SOCKET_ENV, None)
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


def _worker_argv(config_path: str, listen: tuple[str, ...], log_level: str, extra: list[str],
                 slot: int, ready_fd: int) -> list[str]:
    args = [sys.executable, "-m", "kubegate", "run", "-c", config_path, "--workers", "1",
            "--log-level", log_level, "--worker-slot", str(slot), "--ready-fd", str(ready_fd),
            *extra]
    for address in listen:
        args += ["--listen", address]
    return args


async def _worker_main(loader: Any, config: Any, snapshot: Any, ready_fd: int | None,
                       services: WorkerServices | None, kube: KubernetesWatch | None) -> None:
    worker = Worker(loader, config, snapshot, reuse_port=True, services=services, kubernetes=kube)

    async def started(_: Worker) -> None:
        if ready_fd is not None:
            os.write(ready_fd, b"R")
            os.close(ready_fd)

    await worker.run(started)


def _listening(addresses: list[tuple[str, int]], admin: str) -> None:
    built = "compiled" if is_compiled() else "Python sources"  # kubegate/native.py
    for host, port in addresses:
        shown = f"[{host}]" if ":" in host else host
        log.info("data plane listening on http://%s:%d (%s)", shown, port, built)
    log.info("admin listening on http://%s", admin)


async def serve_single(config_path: str, loader: Any, config: Any, snapshot: Any,
                       announce: Callable[[Worker], None] | None = None, *,
                       services: WorkerServices | None = None,
                       kubernetes: KubernetesWatch | None = None, store: Any = None,
                       overrides: Overrides | None = None) -> None:
    """One process: data plane, admin app and config file watcher on one loop."""
    from kubegate.admin.app import AdminState, create_app
    from kubegate.admin.server import start_admin

    worker = Worker(loader, config, snapshot, reuse_port=False, services=services,
                    kubernetes=kubernetes)

    def status() -> dict[str, Any]:
        state = worker.state
        return {"mode": "single", "snapshot": state.snapshot.describe(), "requests": state.requests,
                "connections": len(state.connections), "reloads": worker.reloads,
                "reload_errors": worker.reload_errors, "pools": state.pools.stats()}

    overrides = overrides or Overrides()
    context = admin_context(store, config_path, overrides, config, worker.reload,
                            lambda: worker.state.metrics)
    admin_state = AdminState(status, lambda: not worker.stopping.is_set(), context=context,
                             metrics=lambda: worker.state.metrics)
    tasks: list[asyncio.Task[None]] = []
    # made now, so its baseline is the files as loaded: a change written while the
    # listeners and the admin app start is seen as a change, not as the baseline
    watcher = FileWatcher(lambda: watched_files(config_path, worker.config), worker.reload)

    async def started(w: Worker) -> None:
        server, _ = await start_admin(create_app(admin_state), w.config.gateway.admin)
        tasks.append(asyncio.get_running_loop().create_task(watcher.run()))
        if store is not None:
            tasks.append(asyncio.get_running_loop().create_task(watch_overlay(store, w.reload)))
        (announce or (lambda w: _listening(w.listeners.addresses, w.config.gateway.admin)))(w)

    await worker.run(started)


async def _supervisor_main(config_path: str, loader: Any, config: Any, argv: Any, store: Any,
                           overrides: Overrides) -> None:
    from kubegate.admin.app import AdminState, create_app
    from kubegate.admin.server import start_admin

    current = {"config": config}

    def validate_config() -> bool:
        try:
            current["config"], _ = loader()
            return True
        except ConfigError as exc:
            log.error("reload refused, workers keep the running configuration:\n%s", exc)
            return False

    supervisor = Supervisor(argv, config.gateway.workers, config.gateway.timeouts.shutdown_grace,
                            validate_config)

    def status() -> dict[str, Any]:
        return {"mode": "workers", "workers": supervisor.pids(), "ready": supervisor.ready,
                "restarts": supervisor.restarts}

    tasks: list[asyncio.Task[None]] = []
    # made now, so its baseline is the files as loaded (see serve_single)
    watcher = FileWatcher(lambda: watched_files(config_path, current["config"]), supervisor.reload)

    metrics_dir = MetricsDir(Path(os.environ[METRICS_ENV]))

    async def started() -> None:
        def reload() -> bool:
            supervisor.reload()
            return True

        context = admin_context(store, config_path, overrides, config, reload, metrics_dir.merged)
        admin = AdminState(status, supervisor.is_ready, context=context, metrics=metrics_dir.merged)
        await start_admin(create_app(admin), config.gateway.admin)
        tasks.append(asyncio.get_running_loop().create_task(watcher.run()))
        if store is not None:
            tasks.append(asyncio.get_running_loop().create_task(
                watch_overlay(store, supervisor.reload)))
        log.info("supervising %d workers", config.gateway.workers)
        _listening([lst.host_port for lst in config.gateway.listeners], config.gateway.admin)

    await supervisor.run(started)
