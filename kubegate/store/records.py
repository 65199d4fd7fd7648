"""What the store returns: plain frozen records, detached from any connection."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

SUBSCRIPTION_STATES = ("submitted", "active", "suspended", "cancelled", "expired")
USER_STATES = ("active", "blocked", "pending", "deleted")


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything the store returns is UTC-aware."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def jsonable(record: Any) -> dict[str, Any]:
    out = asdict(record)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
        elif isinstance(v, tuple):
            out[k] = list(v)
    return out


@dataclass(frozen=True)
class Product:
    name: str
    display_name: str
    description: str = ""
    subscription_required: bool = True
    approval_required: bool = False
    apis: tuple[str, ...] = ()
    created: datetime | None = None


@dataclass(frozen=True)
class Subscription:
    id: str
    name: str
    scope: str
    state: str
    owner_id: str | None = None
    created: datetime | None = None
    expires: datetime | None = None
    allow_tracing: bool = False


@dataclass(frozen=True)
class KeyEntry:
    """One subscription as the key index needs it: hashes, never keys."""

    id: str
    name: str
    scope: str
    state: str
    owner_id: str | None
    expires: datetime | None
    allow_tracing: bool
    primary_hash: str
    secondary_hash: str


@dataclass(frozen=True)
class IssuedKeys:
    """The only place a key appears in full: the result of create or regenerate."""

    subscription: Subscription
    primary_key: str | None = None
    secondary_key: str | None = None


@dataclass(frozen=True)
class User:
    id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    state: str = "active"
    created: datetime | None = None


@dataclass(frozen=True)
class Group:
    name: str
    description: str = ""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)
