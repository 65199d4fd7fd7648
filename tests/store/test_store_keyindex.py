"""The key index over a real store: loading, propagation between processes, database down."""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubegate.services.keys import KeyIndex, KeySource
from kubegate.store import Store, StoreUnavailable, generate_key

REPO = Path(__file__).resolve().parents[2]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until check() held; fails after timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def test_index_loads_from_the_store_and_follows_rotation(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        source: KeySource = store
        store.products.create("starter", apis=["echo"])
        issued = store.subscriptions.create("alice", "product:starter")
        index = KeyIndex(source)
        index.load()
        info = index.lookup(issued.primary_key or "")
        assert info is not None and info.product == "starter" and index.allows(info, "echo")
        assert index.lookup(issued.secondary_key or "").key == "secondary"  # type: ignore[union-attr]
        new = store.subscriptions.regenerate_key(info.id, "primary").primary_key or ""
        assert index.lookup(new) is None  # not yet reloaded: the index is a snapshot
        index.load()
        assert index.lookup(new) is not None and index.lookup(issued.primary_key or "") is None
        assert index.lookup(issued.secondary_key or "") is not None  # rotation without downtime
        store.subscriptions.suspend(info.id)
        index.load()
        assert index.lookup(new).state == "suspended"  # type: ignore[union-attr]


async def test_sqlite_changes_reach_the_index_by_polling(sqlite_url: str) -> None:
    with Store(sqlite_url) as store:
        index = KeyIndex(store, poll_interval=0.05)
        index.start()
        await eventually(lambda: index.version is not None)
        issued = await asyncio.to_thread(store.subscriptions.create, "a", "all")
        await eventually(lambda: index.lookup(issued.primary_key or "") is not None, 2.0)
        await index.stop()


async def test_postgres_changes_reach_the_index_by_notify(pg_migrated_url: str) -> None:
    """Polling every 30 s cannot explain a sub-second update: NOTIFY does it."""
    with Store(pg_migrated_url) as store:
        index = KeyIndex(store, poll_interval=30.0)
        index.start()
        await eventually(lambda: index.version is not None)
        await asyncio.sleep(0.2)  # the refresher is now waiting on LISTEN
        issued = await asyncio.to_thread(store.subscriptions.create, "a", "all")
        took = await eventually(lambda: index.lookup(issued.primary_key or "") is not None, 2.0)
        assert took < 1.5
        await index.stop()


CHILD = """
import asyncio, sys
from kubegate.services.keys import KeyIndex
from kubegate.store import Store

async def main() -> None:
    index = KeyIndex(Store(sys.argv[1]))
    index.start()
    while index.version is None:
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    key = (await asyncio.to_thread(sys.stdin.readline)).strip()
    while index.lookup(key) is None:
        await asyncio.sleep(0.005)
    print("found", flush=True)

asyncio.run(main())
"""


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


def test_a_key_created_by_one_process_reaches_another_within_2s(
        pg_migrated_url: str, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), pg_migrated_url], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert _readline(proc, 30) == "ready"
        key = generate_key()
        assert proc.stdin is not None
        proc.stdin.write(key + "\n")
        proc.stdin.flush()
        time.sleep(0.1)  # the child is now looking the key up
        with Store(pg_migrated_url) as store:
            store.subscriptions.create("cross", "all", primary_key=key)
            committed = time.monotonic()
            assert _readline(proc, 5) == "found"
            assert time.monotonic() - committed < 2.0
    finally:
        proc.kill()
        proc.wait()


async def test_postgres_down_serves_the_last_index_and_recovers(
        pg_migrated_url: str, forwarder: Callable[[tuple[str, int]], Any]) -> None:
    fwd = forwarder(("127.0.0.1", 5432))
    via = pg_migrated_url.replace("127.0.0.1:5432", f"127.0.0.1:{fwd.port}")
    with Store(pg_migrated_url) as direct, Store(via) as store:
        first = direct.subscriptions.create("a", "all").primary_key or ""
        index = KeyIndex(store, poll_interval=0.1, max_backoff=0.2)
        index.start()
        await eventually(lambda: index.lookup(first) is not None)
        fwd.stop()
        with pytest.raises(StoreUnavailable, match="unavailable.*nothing was changed"):
            await asyncio.to_thread(store.subscriptions.create, "b", "all")
        await eventually(lambda: not index.healthy)
        assert index.lookup(first) is not None and index.last_error
        second = direct.subscriptions.create("c", "all").primary_key or ""  # made meanwhile
        fwd.start()
        await eventually(lambda: index.lookup(second) is not None and index.healthy)
        assert index.lookup(first) is not None
        await index.stop()


async def test_sqlite_file_gone_serves_the_last_index_and_recovers(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    url = f"sqlite:///{folder}/kubegate.db"
    with Store(url) as store:
        first = store.subscriptions.create("a", "all").primary_key or ""
        index = KeyIndex(store, poll_interval=0.05, max_backoff=0.1)
        index.start()
        await eventually(lambda: index.lookup(first) is not None)
        folder.rename(tmp_path / "away")
        store.db.engine.dispose()  # drop open file handles, as a restarted volume would
        with pytest.raises(StoreUnavailable, match="unable to open database file"):
            store.subscriptions.create("b", "all")
        await eventually(lambda: not index.healthy)
        assert index.lookup(first) is not None
        (tmp_path / "away").rename(folder)
        with Store(url) as other:
            second = other.subscriptions.create("c", "all").primary_key or ""
        await eventually(lambda: index.lookup(second) is not None and index.healthy)
        await index.stop()


def test_sqlite_read_only_file_serves_keys_and_refuses_changes(tmp_path: Path) -> None:
    path = tmp_path / "kubegate.db"
    with Store(f"sqlite:///{path}") as writer:
        key = writer.subscriptions.create("a", "all").primary_key or ""
        with Store(f"sqlite:///file:{path}?mode=ro&uri=true", auto_migrate=False) as ro:
            index = KeyIndex(ro)
            index.load()
            assert index.lookup(key) is not None
            with pytest.raises(StoreUnavailable, match="readonly"):
                ro.subscriptions.create("b", "all")
            with pytest.raises(StoreUnavailable, match="readonly"):
                ro.subscriptions.suspend(index.lookup(key).id)  # type: ignore[union-attr]
        assert writer.subscriptions.list()[0].state == "active"


async def test_in_memory_sqlite_is_one_database_across_threads() -> None:
    with Store("sqlite://") as store:
        key = store.subscriptions.create("m", "all").primary_key or ""
        index = KeyIndex(store)
        assert await index.refresh() is True  # loads in a worker thread
        assert index.lookup(key) is not None
