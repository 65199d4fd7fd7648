"""Persistence for products, subscriptions, users, groups and the audit log.

SQLite (default, a file) or PostgreSQL (several replicas), one schema, Alembic
migrations shipped in the package. See docs/subscriptions.md.
"""

from kubegate.store.engine import DEFAULT_URL
from kubegate.store.errors import Conflict, NotFound, SchemaError, StoreError, StoreUnavailable
from kubegate.store.keygen import generate_key, hash_key
from kubegate.store.migrate import migrate
from kubegate.store.records import (
    AuditEntry,
    Group,
    IssuedKeys,
    KeyEntry,
    Product,
    Subscription,
    User,
)
from kubegate.store.store import Store

__all__ = [
    "DEFAULT_URL", "AuditEntry", "Conflict", "Group", "IssuedKeys", "KeyEntry", "NotFound",
    "Product", "SchemaError", "Store", "StoreError", "StoreUnavailable", "Subscription", "User",
    "generate_key", "hash_key", "migrate",
]
