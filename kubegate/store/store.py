"""The store façade: one database and its repositories.

`Store(url)` opens (and, unless told otherwise, migrates) the database. It is a
synchronous API — call it from a thread (`asyncio.to_thread`) in async code; the
key index does. It also implements the key index's source protocol
(`key_entries`, `version`, `supports_notify`, `wait_for_change`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from sqlalchemy import select

from kubegate.store.database import Database
from kubegate.store.engine import DEFAULT_URL, redact
from kubegate.store.products import Products
from kubegate.store.records import AuditEntry, KeyEntry, Product, utc
from kubegate.store.schema import audit_log
from kubegate.store.subscriptions import Subscriptions
from kubegate.store.users import Groups, Users


class Store:
    def __init__(self, url: str = DEFAULT_URL, *, auto_migrate: bool = True,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = Database(url, auto_migrate=auto_migrate, clock=clock)
        self.products = Products(self.db)
        self.subscriptions = Subscriptions(self.db)
        self.users = Users(self.db)
        self.groups = Groups(self.db)

    def __repr__(self) -> str:
        return f"Store({redact(self.db.url)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @property
    def supports_notify(self) -> bool:
        return self.db.is_postgres

    def version(self) -> int:
        return self.db.version()

    def wait_for_change(self, timeout: float) -> bool:
        return self.db.wait_for_change(timeout)

    def key_entries(self) -> list[KeyEntry]:
        return self.subscriptions.key_entries()

    def product_entries(self) -> list[Product]:
        return self.products.list()

    def audit(self, limit: int = 100, target: str | None = None) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(audit_log.c.target == target)
        with self.db.read("read audit log") as conn:
            return [AuditEntry(r.id, utc(r.at) or r.at, r.actor, r.action, r.target,
                               dict(r.details or {})) for r in conn.execute(query)]
