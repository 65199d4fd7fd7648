from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubegate.model.errors import ConfigError
from kubegate.sources.openapi.importer import load_spec
from kubegate.sources.openapi.refs import Resolver

from .helpers import SPECS


def body_spec(schemas: dict[str, Any], ref: str = "#/components/schemas/A") -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/a": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"$ref": ref}}}},
            "responses": {"200": {"description": "ok"}},
        }}},
        "components": {"schemas": schemas},
    }  # fmt: skip


def write(tmp_path: Path, doc: dict[str, Any], name: str = "spec.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def body_of(spec_path: str, **kw: Any) -> Any:
    spec = load_spec(spec_path, **kw)
    assert spec.operations[0].request_body is not None
    return spec, spec.operations[0].request_body.content["application/json"]


def test_plain_refs_are_inlined(tmp_path: Path) -> None:
    doc = body_spec({"A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
                     "B": {"type": "string"}})  # fmt: skip
    spec, body = body_of(write(tmp_path, doc))
    assert body == {"type": "object", "properties": {"b": {"type": "string"}}}
    assert spec.defs == {}


def test_mutual_recursion_stays_a_reference(tmp_path: Path) -> None:
    doc = body_spec({
        "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
        "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
    })  # fmt: skip
    spec, body = body_of(write(tmp_path, doc))
    assert body == {"$ref": "#/$defs/A"}
    assert spec.defs["A"]["properties"]["b"] == {"$ref": "#/$defs/B"}
    assert spec.defs["B"]["properties"]["a"] == {"$ref": "#/$defs/A"}


def test_pure_reference_cycle_terminates(tmp_path: Path) -> None:
    doc = body_spec(
        {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}
    )
    spec, body = body_of(write(tmp_path, doc))
    assert body["$ref"].startswith("#/$defs/")


def test_relative_files_and_cross_file_cycle() -> None:
    spec = load_spec(str(SPECS / "split-31" / "main.yaml"))
    assert [o.id for o in spec.operations] == ["getperson", "post-people"]
    person = spec.defs["person.yaml"]
    assert person["properties"]["manager"] == {"$ref": "#/$defs/person.yaml"}
    assert spec.defs["Team"]["properties"]["lead"] == {"$ref": "#/$defs/person.yaml"}


def test_unresolvable_ref_is_a_warning_with_pointer(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, body_spec({}, "#/components/schemas/Missing")))
    assert len(spec.operations) == 1
    (problem,) = spec.warnings
    assert problem.field == "/paths/~1a/post/requestBody/content/application~1json/schema/$ref"
    assert "target not found" in problem.message


def test_remote_ref_needs_the_flag(tmp_path: Path) -> None:
    path = write(tmp_path, body_spec({}, "https://schemas.example/a.json"))
    spec = load_spec(path, fetch=lambda url, t: pytest.fail("fetched without the flag"))
    assert "pass --allow-remote-refs" in spec.warnings[0].message

    seen: list[str] = []

    def fetch(url: str, timeout: float) -> tuple[bytes, str]:
        seen.append(url)
        return b'{"type": "integer"}', url

    spec, body = body_of(path, allow_remote_refs=True, fetch=fetch)
    assert body == {"type": "integer"} and seen == ["https://schemas.example/a.json"]


def test_legacy_swagger2_name_ref() -> None:
    doc = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {},
           "definitions": {"Error": {"type": "object"}}}  # fmt: skip
    resolver = Resolver(doc, "/mem/x.json")
    resolver.legacy_names = True
    assert resolver.inline({"$ref": "Error"}, "/mem/x.json") == {"type": "object"}


def test_not_a_spec_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an OpenAPI or Swagger document"):
        load_spec(write(tmp_path, {"type": "object"}))
    with pytest.raises(ConfigError, match="unsupported OpenAPI version"):
        load_spec(write(tmp_path, {"openapi": "4.0.0", "info": {}}))
