"""Engines from store URLs, and translation of driver errors into store errors.

`sqlite:///path` (the default, `sqlite:///kubegate.db`) opens a file in WAL mode
with a busy timeout, so readers never block the writer and concurrent writers
wait instead of failing. `postgresql://...` selects psycopg 3. Connections are
pinged before use, so a database that went away and came back is picked up
again without a restart.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from kubegate.store.errors import Conflict, StoreError, StoreUnavailable

DEFAULT_URL = "sqlite:///kubegate.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 3


def normalize_url(url: str) -> str:
    """Pick our driver for a plain `postgresql://` or `postgres://` URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_postgres(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "postgresql"


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):  # one shared connection, or each
            engine = create_engine(url, poolclass=StaticPool,  # thread sees its own database
                                   connect_args={"check_same_thread": False})
        else:
            engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        args: dict[str, Any] = {}
        if "connect_timeout" not in parsed.query:
            args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        return create_engine(url, pool_pre_ping=True, connect_args=args)
    raise StoreError(f"unsupported store URL {redact(url)!r}: use sqlite:///FILE or postgresql://...")


def _sqlite_begin(conn: Any) -> None:
    """Changes start with BEGIN IMMEDIATE: a writer takes the write lock before it
    reads, so a read-modify-write (the admin overlay, the change counter) always
    reads the latest committed state and concurrent changes serialize, none lost.
    Reads start a plain (deferred) transaction."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and dbapi.in_transaction:
        return  # the in-memory store shares one connection: already inside a transaction
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN, not pysqlite
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    with contextlib.suppress(sqlite3.DatabaseError):  # read-only files keep their mode
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


@contextlib.contextmanager
def translated(what: str, url: str) -> Iterator[None]:
    """Turn driver errors into StoreUnavailable / Conflict with a clear message."""
    try:
        yield
    except exc.IntegrityError as e:
        raise Conflict(f"{what}: {_first_line(e.orig)}") from e
    except (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError) as e:
        raise StoreUnavailable(
            f"{what}: store {redact(url)} is unavailable ({_first_line(getattr(e, 'orig', e))}); "
            "nothing was changed, retry when the database is back"
        ) from e
    except exc.DBAPIError as e:
        raise StoreError(f"{what}: {_first_line(e.orig or e)}") from e


def _first_line(e: object) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
