"""One database: engine, read and change transactions, the change counter, LISTEN.

Invariants:
* every change runs in one transaction that (1) increments `kg_changes.version`
  first — which also takes SQLite's write lock up front, so the busy timeout
  applies instead of a deadlock error — (2) makes the change, (3) appends one
  audit row, and on PostgreSQL (4) `pg_notify`s the new version, which is
  delivered only if the transaction commits. A failed change changes nothing.
* driver errors leave as StoreUnavailable / Conflict / StoreError (engine.translated).
"""

from __future__ import annotations

import os
import select as _select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, insert, select, text, update

from kubegate.store.engine import is_postgres, make_engine, redact, translated
from kubegate.store.errors import StoreUnavailable
from kubegate.store.migrate import ensure_schema
from kubegate.store.schema import audit_log, changes

CHANNEL = "kubegate_changes"


@dataclass
class Change:
    conn: Connection
    target: str
    details: dict[str, Any] = field(default_factory=dict)


class Database:
    def __init__(self, url: str, *, auto_migrate: bool = True,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.url = url
        self.clock = clock
        self.is_postgres = is_postgres(url)
        self.engine = make_engine(url)
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()  # close() wakes a thread blocked in LISTEN
        os.set_blocking(self._wake_r, False)
        ensure_schema(self.engine, url, auto_migrate)

    def close(self) -> None:
        if self._wake_w < 0:
            return
        os.write(self._wake_w, b"x")
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
        self.engine.dispose()

    @contextmanager
    def read(self, what: str) -> Iterator[Connection]:
        with translated(what, self.url), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def change(self, what: str, actor: str, action: str, target: str) -> Iterator[Change]:
        with translated(what, self.url), self.engine.connect() as plain, \
                plain.execution_options(sqlite_immediate=True).begin() as transaction:
            conn = transaction.connection
            version = conn.execute(
                update(changes).where(changes.c.id == 1)
                .values(version=changes.c.version + 1).returning(changes.c.version)
            ).scalar_one()
            change = Change(conn, target)
            yield change
            conn.execute(insert(audit_log).values(
                at=self.clock(), actor=actor, action=action, target=change.target,
                details=change.details,
            ))
            if self.is_postgres:
                conn.execute(text("SELECT pg_notify(:ch, :v)"), {"ch": CHANNEL, "v": str(version)})

    def version(self) -> int:
        with self.read("read change counter") as conn:
            return int(conn.execute(select(changes.c.version).where(changes.c.id == 1)).scalar_one())

    def wait_for_change(self, timeout: float) -> bool:
        """PostgreSQL: block up to `timeout` s for a NOTIFY; True if one came.

        The LISTEN connection is opened on first use and reopened after a failure,
        which is reported as StoreUnavailable. Notifications sent while no
        connection listened are lost: callers also poll `version()`. `close()`
        ends a wait at once (it writes to a pipe the wait selects on).
        """
        if not self.is_postgres:
            raise NotImplementedError("change notifications need PostgreSQL")
        with self._listen_lock:
            if self._wake_r < 0:
                raise StoreUnavailable("the store is closed")
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = self._connect_listener()
                conn = self._listener
                if any(True for _ in conn.notifies(timeout=0)):  # already buffered
                    return True
                ready, _, _ = _select.select([conn.fileno(), self._wake_r], [], [], timeout)
                if self._wake_r in ready:
                    return False
                return bool(ready) and any(True for _ in conn.notifies(timeout=0))
            except psycopg.Error as e:
                if self._listener is not None:
                    self._listener.close()
                self._listener = None
                raise StoreUnavailable(
                    f"listen for changes: store {redact(self.url)} is unavailable ({e})"
                ) from e

    def _connect_listener(self) -> psycopg.Connection[Any]:
        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn
