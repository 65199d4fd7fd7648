from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from kubegate.store import SchemaError, Store, migrate
from kubegate.store.engine import make_engine
from kubegate.store.migrate import VERSION_TABLE, ensure_schema, head_revision
from kubegate.store.schema import metadata


def test_migrate_creates_schema_then_is_idempotent(url: str) -> None:
    assert migrate(url) == (None, head_revision())
    assert migrate(url) == (head_revision(), head_revision())
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} | {VERSION_TABLE} <= tables
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM kg_changes WHERE id = 1")).scalar() == 0
    finally:
        engine.dispose()


def test_migrations_match_the_schema_module(url: str) -> None:
    """schema.py (used by the code) and the Alembic scripts (used on disk) agree."""
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()


def test_without_auto_migrate_an_empty_store_is_refused(url: str) -> None:
    with pytest.raises(SchemaError, match="kubegate migrate"):
        Store(url, auto_migrate=False)
    migrate(url)
    Store(url, auto_migrate=False).close()


def test_a_newer_unknown_revision_is_refused(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
        with pytest.raises(SchemaError, match="9999.*upgrade kubegate"):
            ensure_schema(engine, url)
    finally:
        engine.dispose()


def test_replicas_migrating_together_do_not_collide(pg_url: str) -> None:
    results: list[object] = []

    def run() -> None:
        try:
            results.append(migrate(pg_url)[1])
        except Exception as e:  # collected and asserted below
            results.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [head_revision()] * 4
