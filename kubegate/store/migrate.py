"""Schema migrations (Alembic), runnable without an alembic.ini.

`migrate(url)` upgrades the database to the newest revision shipped in
`kubegate/store/migrations/versions`. It is idempotent. On PostgreSQL it holds an
advisory lock, so replicas starting together migrate once, one after the other.
`ensure_schema` is what a starting process calls: it upgrades ("safe": the
migrations only add) but refuses a database whose revision this program does not
know (a newer kubegate migrated it), instead of running against a schema it cannot read.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from kubegate.store.engine import make_engine, translated
from kubegate.store.errors import SchemaError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "kg_alembic_version"
_LOCK_ID = 0x6B67_6D69  # "kgmi": pg_advisory_lock key for migrations


def _config(conn: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def _known(revision: str) -> bool:
    script = ScriptDirectory.from_config(_config())
    return any(s.revision == revision for s in script.walk_revisions())


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to head; returns (revision before, revision after)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        before = ctx.get_current_revision()
        if before is not None and not _known(before):
            raise SchemaError(
                f"the database is at schema revision {before!r}, which this kubegate does not "
                f"know (newest known: {head_revision()!r}); upgrade kubegate"
            )
        command.upgrade(_config(conn), "head")
    return before, head_revision()


def migrate(url: str) -> tuple[str | None, str]:
    """Bring the store at `url` to the newest schema; returns (before, after) revisions."""
    engine = make_engine(url)
    try:
        with translated("migrate", url):
            return upgrade(engine)
    finally:
        engine.dispose()


def ensure_schema(engine: Engine, url: str, auto_migrate: bool = True) -> None:
    """Called at start: upgrade when allowed, else fail clearly if not at head."""
    with translated("check schema", url):
        if auto_migrate:
            upgrade(engine)
            return
        current = current_revision(engine)
    if current != head_revision():
        raise SchemaError(
            f"the store schema is at {current!r}, expected {head_revision()!r}: "
            "run `kubegate migrate`"
        )
