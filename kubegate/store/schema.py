"""The one schema, shared by SQLite and PostgreSQL (SQLAlchemy Core).

Keys are never stored: only their SHA-256 hashes (`primary_hash`, `secondary_hash`,
64 hex characters). `kg_changes` holds a single row (id 1) whose `version` every
change increments in the same transaction, so readers can detect a change with
one cheap query. Migrations in `migrations/versions` must produce exactly this.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

products = Table(
    "kg_products",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("display_name", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("subscription_required", Boolean, nullable=False, default=True),
    Column("approval_required", Boolean, nullable=False, default=False),
    Column("apis", JSON, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

users = Table(
    "kg_users",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(300), nullable=True),
    Column("first_name", String(100), nullable=False, default=""),
    Column("last_name", String(100), nullable=False, default=""),
    Column("state", String(20), nullable=False, default="active"),
    Column("created", DateTime(timezone=True), nullable=False),
)

subscriptions = Table(
    "kg_subscriptions",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("scope", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("primary_hash", String(64), nullable=False, unique=True),
    Column("secondary_hash", String(64), nullable=False, unique=True),
    Column("owner_id", String(100), ForeignKey("kg_users.id", ondelete="SET NULL"), nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=True),
    Column("allow_tracing", Boolean, nullable=False, default=False),
)

groups = Table(
    "kg_groups",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("description", Text, nullable=False, default=""),
)

memberships = Table(
    "kg_memberships",
    metadata,
    Column("group_name", String(100), ForeignKey("kg_groups.name", ondelete="CASCADE"),
           primary_key=True),
    Column("user_id", String(100), ForeignKey("kg_users.id", ondelete="CASCADE"),
           primary_key=True),
)

audit_log = Table(
    "kg_audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(300), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_kg_audit_log_at", "at"),
)

changes = Table(
    "kg_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)
