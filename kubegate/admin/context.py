"""What the running gateway hands the admin app (all optional but the store)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubegate.admin.auth import AdminAuth
from kubegate.model.config import Config
from kubegate.observability import RequestMetrics
from kubegate.store import Store


async def _no_reload() -> dict[str, Any]:
    return {"reloaded": False, "reason": "no running gateway to reload"}


@dataclass
class AdminContext:
    """`declared` returns the declared configuration (YAML, openapi resolved) without
    the overlay; `reload` asks the gateway to rebuild its snapshot; `metrics`
    returns current request metrics (merged across workers); `checks` are extra
    named health checks for /status (e.g. Redis), each returning (ok, detail)."""

    store: Store
    declared: Callable[[], Config] = Config
    base_dir: Path = field(default_factory=Path.cwd)
    auth: AdminAuth = field(default_factory=AdminAuth.from_env)
    reload: Callable[[], Awaitable[dict[str, Any]]] = _no_reload
    metrics: Callable[[], RequestMetrics] = RequestMetrics
    gateway_url: str | None = None
    checks: dict[str, Callable[[], Awaitable[tuple[bool, str]]]] = field(default_factory=dict)
    specs: Callable[[Config], Mapping[str, Any]] = field(default=lambda config: {})
    """API name -> its imported OpenAPI document (validate-* policies compile against it)."""
    session_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    session_https_only: bool = False
