from __future__ import annotations

from kubegate.sources.openapi.names import IdAllocator, id_from_route, normalise_id

from .helpers import spec_of


def test_normalise_like_apim() -> None:
    assert normalise_id("Orders_GetAll") == "orders-getall"
    assert normalise_id("  Create a Pet!! ") == "create-a-pet"
    assert normalise_id("a__--..b") == "a-b"
    assert normalise_id("x" * 100) == "x" * 76
    assert normalise_id("ab-" * 30)[-1] != "-"
    assert normalise_id("résumé") == "r-sum"


def test_missing_id_from_method_and_path() -> None:
    assert id_from_route("get", "/items/{id}") == "get-items-id"


def test_unique_suffixes() -> None:
    ids = IdAllocator()
    assert [ids.take("op") for _ in range(3)] == ["op", "op-1", "op-2"]
    full = IdAllocator()
    for _ in range(1000):
        assert full.take("x") is not None
    assert full.take("x") is None


def test_ids_summary_and_missing_ids_in_a_spec() -> None:
    ok = {"200": {"description": "ok"}}
    spec = spec_of({
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {"get": {"operationId": "Same", "summary": "First", "responses": ok},
                   "post": {"operationId": "same", "responses": ok}},
            "/b/{id}": {"delete": {"responses": ok}},
        },
    })  # fmt: skip
    assert [(o.id, o.display_name) for o in spec.operations] == [
        ("same", "First"),
        ("same-1", "same"),
        ("delete-b-id", "DELETE /b/{id}"),
    ]
