"""Initial schema: products, users, subscriptions, groups, memberships, audit log, changes.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kg_products",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("display_name", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("subscription_required", sa.Boolean, nullable=False),
        sa.Column("approval_required", sa.Boolean, nullable=False),
        sa.Column("apis", sa.JSON, nullable=False),
        sa.Column("created", _TZ, nullable=False),
    )
    op.create_table(
        "kg_users",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(300), nullable=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created", _TZ, nullable=False),
    )
    op.create_table(
        "kg_subscriptions",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("primary_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("secondary_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("owner_id", sa.String(100),
                  sa.ForeignKey("kg_users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created", _TZ, nullable=False),
        sa.Column("expires", _TZ, nullable=True),
        sa.Column("allow_tracing", sa.Boolean, nullable=False),
    )
    op.create_table(
        "kg_groups",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
    )
    op.create_table(
        "kg_memberships",
        sa.Column("group_name", sa.String(100),
                  sa.ForeignKey("kg_groups.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.String(100),
                  sa.ForeignKey("kg_users.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "kg_audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_kg_audit_log_at", "kg_audit_log", ["at"])
    changes = op.create_table(
        "kg_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(changes, [{"id": 1, "version": 0}])


def downgrade() -> None:
    for table in ("kg_changes", "kg_audit_log", "kg_memberships", "kg_groups",
                  "kg_subscriptions", "kg_users", "kg_products"):
        op.drop_table(table)
