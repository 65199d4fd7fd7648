from __future__ import annotations

from kubegate.sources.openapi.importer import load_spec
from kubegate.sources.openapi.validate import RequestData, compile_validator

from .helpers import SPECS


def validators(name: str) -> dict[str, object]:
    spec = load_spec(str(SPECS / name))
    return {op.id: compile_validator(op, spec) for op in spec.operations}


def test_openapi30_body_with_nullable() -> None:
    check = validators("petstore-30.yaml")["create-a-pet"]
    ok = RequestData(content_type="application/json", body=b'{"id": 1, "name": "Rex", "tag": null}')
    assert check(ok) == []  # type: ignore[operator]
    bad = RequestData(content_type="application/json", body=b'{"id": "x"}')
    errors = check(bad)  # type: ignore[operator]
    assert any("'name' is a required property" in e for e in errors)
    assert any(e.startswith("body/id") for e in errors)
    assert check(RequestData()) == ["request body is required"]  # type: ignore[operator]
    assert "not valid JSON" in check(RequestData(body=b"{"))[0]  # type: ignore[operator,index]


def test_parameters_are_coerced_and_checked() -> None:
    check = validators("petstore-30.yaml")["listpets-1"]
    assert check(RequestData(path_params={"petId": "3"})) == []  # type: ignore[operator]
    assert check(RequestData(path_params={"petId": "0"}))  # type: ignore[operator]
    assert check(RequestData(path_params={"petId": "abc"}))  # type: ignore[operator]
    assert check(RequestData()) == ["path parameter 'petId' is required"]  # type: ignore[operator]


def test_recursive_schema_validates() -> None:
    check = validators("petstore-30.yaml")[
        "this-operation-id-is-much-longer-than-seventy-six-characters-so-apim-truncat"
    ]
    good = b'{"name": "a", "children": [{"name": "b", "children": []}]}'
    bad = b'{"name": "a", "children": [{"children": []}]}'
    base = {"path_params": {"treeId": "oak"}, "content_type": "application/json"}
    assert check(RequestData(body=good, **base)) == []  # type: ignore[operator,arg-type]
    assert check(RequestData(body=bad, **base))  # type: ignore[operator,arg-type]
    assert check(RequestData(path_params={"treeId": "OAK1"}))  # type: ignore[operator]


def test_swagger2_body_and_header() -> None:
    checks = validators("swashbuckle-orders.json")
    post = checks["post-api-orders"]
    assert post(RequestData(body=b'{"item": "book", "note": null}')) == []  # type: ignore[operator]
    assert post(RequestData(body=b'{"item": ""}'))  # type: ignore[operator]


def test_openapi31_type_arrays() -> None:
    check = validators("split-31/main.yaml")["getperson"]
    assert check(RequestData(path_params={"id": "12"})) == []  # type: ignore[operator]
    assert check(RequestData(path_params={"id": "x"}))  # type: ignore[operator]
