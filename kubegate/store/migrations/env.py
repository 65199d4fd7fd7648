"""Alembic environment: always runs on a connection handed in by kubegate.store.migrate."""

from __future__ import annotations

from alembic import context

from kubegate.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic is run by hand
    raise RuntimeError("run migrations with `kubegate migrate` (kubegate.store.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table="kg_alembic_version",
)
with context.begin_transaction():
    context.run_migrations()
