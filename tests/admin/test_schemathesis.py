"""Property-based run against the admin API's own OpenAPI document: never a 5xx."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from kubegate.admin.app import AdminState, create_app
from kubegate.admin.auth import AdminAuth
from kubegate.admin.context import AdminContext
from kubegate.store import Store

from .conftest import AUTH, DECLARED, TOKEN


@pytest.fixture(scope="module")
def admin_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    path: Path = tmp_path_factory.mktemp("st") / "kg.db"
    with Store("sqlite://") as store:  # in memory: fast
        ctx = AdminContext(store=store, declared=lambda: DECLARED, base_dir=path.parent,
                           auth=AdminAuth(TOKEN))
        app = create_app(AdminState(dict, lambda: True, ctx))
        yield schemathesis.openapi.from_asgi("/admin/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("admin_schema")


@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(headers=AUTH)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
