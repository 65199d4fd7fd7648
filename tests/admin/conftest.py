from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kubegate.admin.app import AdminState, create_app
from kubegate.admin.auth import AdminAuth
from kubegate.admin.context import AdminContext
from kubegate.model.config import Config
from kubegate.observability import RequestMetrics
from kubegate.store import Store

TOKEN = "t0ken-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DECLARED = Config.model_validate({
    "apis": [{"name": "declared", "path": "/declared", "backend": "http://127.0.0.1:9"}],
    "named_values": {"env": "test"},
})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path / 'kg.db'}") as s:
        yield s


@pytest.fixture
def metrics() -> RequestMetrics:
    return RequestMetrics()


@pytest.fixture
def ctx(store: Store, tmp_path: Path, metrics: RequestMetrics) -> AdminContext:
    return AdminContext(store=store, declared=lambda: DECLARED, base_dir=tmp_path,
                        auth=AdminAuth(TOKEN), metrics=lambda: metrics)


@pytest.fixture
def client(ctx: AdminContext) -> Iterator[TestClient]:
    app = create_app(AdminState(lambda: {"mode": "test"}, lambda: True, ctx))
    with TestClient(app) as c:
        yield c
