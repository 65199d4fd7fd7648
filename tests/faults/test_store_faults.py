"""The subscription store failing under the gateway: PostgreSQL cut and restored
(through a TCP forwarder we control; the machine's PostgreSQL server keeps
running), and a SQLite store on a read-only file or a full disk.

Properties: requests keep being served from the in-memory key index while the
store is unreachable, changes made meanwhile are picked up once it is back, and
a write the store cannot make fails with a clear StoreError and corrupts nothing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import Backend, Gateway, wait_until
from faults_support import Forwarder, Load

from kubegate.store import Store
from kubegate.store.errors import StoreError

pytestmark = pytest.mark.e2e
PG = os.environ.get("KUBEGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {PG} is not reachable: {exc}")
    schema = f"kg_faults_{os.getpid()}_{secrets.token_hex(4)}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def _url(port: int, schema: str) -> str:
    return (f"postgresql://postgres@127.0.0.1:{port}/test"
            f"?options=-csearch_path%3D{schema}&connect_timeout=2")


def _keyed(store_url: str, backend: Backend) -> dict[str, object]:
    return {"gateway": {"store": store_url},
            "apis": [{"name": "paid", "path": "/paid", "backend": backend.url,
                      "subscription_required": True}]}


def test_postgres_cut_and_restored_under_load(
        pg_schema: str, make_backend: Callable[[], Backend],
        make_gateway: Callable[..., Gateway]) -> None:
    direct = Store(_url(5432, pg_schema))
    forwarder = Forwarder(("127.0.0.1", 5432))
    try:
        direct.products.create("gold", apis=["paid"])
        k1 = str(direct.subscriptions.create("one", "product:gold").primary_key)
        backend = make_backend()
        gw = make_gateway(_keyed(_url(forwarder.port, pg_schema), backend))
        assert wait_until(lambda: gw.get("/paid/x", headers={
            "Ocp-Apim-Subscription-Key": k1}).status == 200, 10)
        load = Load(gw.port, "/paid/x", threads=4, max_seconds=40,
                    headers={"Ocp-Apim-Subscription-Key": k1})
        try:
            assert load.wait_for(40, 10)
            forwarder.cut()
            cut = time.monotonic()
            k2 = str(direct.subscriptions.create("two", "product:gold").primary_key)  # while cut
            time.sleep(2.0)
            during = load.between(cut, time.monotonic())
            assert gw.get("/paid/x", headers={"Ocp-Apim-Subscription-Key": "x" * 32}).status == 401
            forwarder.restore()
            assert wait_until(lambda: gw.get("/paid/x", headers={
                "Ocp-Apim-Subscription-Key": k2}, timeout=3).status == 200, 40), gw.log_text()[-2000:]
        finally:
            outcomes = load.stop()
        assert during and all(o.status == 200 for o in during)
        bad = [o for o in outcomes if o.status != 200]
        assert not bad, bad[:5]
        assert "cannot refresh" in gw.log_text()  # the outage was noticed and logged
    finally:
        forwarder.close()
        direct.close()


def test_gateway_serves_from_a_read_only_sqlite_store(
        tmp_path: Path, make_backend: Callable[[], Backend],
        make_gateway: Callable[..., Gateway]) -> None:
    db = tmp_path / "ro" / "kubegate.db"
    db.parent.mkdir()
    url = f"sqlite:///{db}"
    with contextlib.closing(Store(url)) as store:
        store.products.create("gold", apis=["paid"])
        key = str(store.subscriptions.create("one", "product:gold").primary_key)
    os.chmod(db, 0o444)
    os.chmod(db.parent, 0o555)
    try:
        backend = make_backend()
        gw = make_gateway(_keyed(url, backend))
        assert gw.get("/paid/x", headers={"Ocp-Apim-Subscription-Key": key}).status == 200
        assert gw.get("/paid/x").status == 401
    finally:
        os.chmod(db.parent, 0o755)
        os.chmod(db, 0o644)


def _integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def test_sqlite_write_to_read_only_file_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "kubegate.db"
    url = f"sqlite:///{db}"
    with contextlib.closing(Store(url)) as store:
        store.products.create("gold")
        store.subscriptions.create("one", "product:gold")
    before = db.read_bytes()
    os.chmod(db, 0o444)
    try:
        # root ignores file modes: make the file immutable instead, if we can
        if os.access(db, os.W_OK) and subprocess.run(
                ["chattr", "+i", str(db)], capture_output=True).returncode:
            pytest.skip("running as root on a filesystem without chattr: cannot deny writes")
        with contextlib.closing(Store(url)) as store:
            with pytest.raises(StoreError) as info:
                store.subscriptions.create("two", "product:gold")
            assert "read" in str(info.value).lower() or "write" in str(info.value).lower(), info.value
            assert [s.name for s in store.subscriptions.list()] == ["one"]
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)
        os.chmod(db, 0o644)
    assert db.read_bytes() == before
    assert _integrity(db) == "ok"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB loop-mounted ext2 filesystem, when this sandbox allows mounting."""
    image, mount = tmp_path / "disk.img", tmp_path / "mnt"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mkfs.ext2"):
        pytest.skip("needs root and mkfs.ext2 for a loop-mounted tiny filesystem")
    with image.open("wb") as f:
        f.truncate(1024 * 1024)
    subprocess.run(["mkfs.ext2", "-q", "-F", str(image)], check=True, capture_output=True)
    done = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"loop mount not permitted here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_sqlite_disk_full_is_a_clear_error_without_corruption(tiny_disk: Path) -> None:
    db = tiny_disk / "kubegate.db"
    url = f"sqlite:///{db}"
    filler = tiny_disk / "filler"
    with contextlib.closing(Store(url)) as store:
        store.products.create("gold")
        store.subscriptions.create("keep", "product:gold")
        # fill the rest of the disk
        with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
            for _ in range(2048):
                f.write(b"\0" * 1024)
        errors = 0
        for i in range(200):  # bounded: until a write fails
            try:
                store.subscriptions.create(f"s{i}", "product:gold", allow_tracing=True)
            except StoreError as exc:
                errors += 1
                assert "disk" in str(exc).lower() or "full" in str(exc).lower() or "write" in str(
                    exc).lower(), exc
                break
        assert errors, "the disk never filled up"
        names = {s.name for s in store.subscriptions.list()}
    assert "keep" in names
    filler.unlink()
    assert _integrity(db) == "ok"
    with contextlib.closing(Store(url)) as store:
        store.subscriptions.create("after", "product:gold")  # writable again once space is back
        assert "after" in {s.name for s in store.subscriptions.list()}
