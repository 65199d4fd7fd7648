"""Fixtures: a SQLite file per test, a PostgreSQL schema per test (dropped after)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from kubegate.store import migrate
from kubegate.store.engine import make_engine
from kubegate.store.schema import changes, metadata

PG_ADMIN = os.environ.get("KUBEGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_schema_url(schema: str) -> str:
    return f"{PG_ADMIN}?options=-csearch_path%3D{schema}"


@contextmanager
def _pg_schema() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL at {PG_ADMIN} is not reachable: {e}")
    schema = f"kg_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield pg_schema_url(schema)
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty schema."""
    with _pg_schema() as url:
        yield url


@pytest.fixture(scope="session")
def _pg_session_url() -> Iterator[str]:
    with _pg_schema() as url:
        migrate(url)
        yield url


@pytest.fixture
def pg_migrated_url(_pg_session_url: str) -> str:
    """A migrated schema shared by the session, emptied before each test (faster)."""
    engine = make_engine(_pg_session_url)
    try:
        with engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
            conn.execute(changes.insert().values(id=1, version=0))
    finally:
        engine.dispose()
    return _pg_session_url


@pytest.fixture
def sqlite_url(tmp_path: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path}/kubegate.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest) -> str:
    """A database of each kind at the newest schema, with no rows but the change counter."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_migrated_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same algorithms, lowest cost: the production cost takes seconds on a busy CI box."""
    from kubegate.store import keygen

    if keygen._argon2 is not None:
        from argon2 import PasswordHasher

        monkeypatch.setattr(keygen, "_argon2",
                            PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(keygen, "_SCRYPT_N", 2**10)


class Forwarder:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen()
        self.port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._conns:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._conns.clear()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                client, _ = sock.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def forwarder() -> Iterator[Callable[[tuple[str, int]], Forwarder]]:
    """A TCP forwarder the test can cut and restore, to take a database "down"."""
    made: list[Forwarder] = []

    def make(target: tuple[str, int]) -> Forwarder:
        made.append(Forwarder(target))
        made[-1].start()
        return made[-1]

    yield make
    for f in made:
        f.stop()
