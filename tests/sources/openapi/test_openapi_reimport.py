from __future__ import annotations

from kubegate.model.config import Api, Operation
from kubegate.sources.openapi.importer import reimport


def op(method: str, path: str, id_: str, name: str = "", policy: str | None = None) -> Operation:
    return Operation(method=method, path=path, id=id_, display_name=name or id_, policy=policy)


def test_policies_follow_operation_ids() -> None:
    old = Api(name="o", path="/o", backend="http://b", policy="api.xml", operations=[
        op("GET", "/a", "get-a", policy="a.xml"),
        op("GET", "/b", "get-b", policy="b.xml"),
        op("DELETE", "/c", "old-id", policy="c.xml"),
    ])  # fmt: skip
    new = Api(name="o", path="/o", backend="http://b2", operations=[
        op("GET", "/a2", "get-a"),            # same id, moved: keeps a.xml
        op("DELETE", "/c", "new-id"),         # id changed, same route: keeps c.xml
        op("POST", "/d", "post-d"),           # new
    ])  # fmt: skip
    report = reimport(old, new)
    assert report.added == ["post-d"]
    assert report.removed == ["get-b"]
    assert report.changed == ["get-a", "new-id"]
    assert [o.policy for o in report.api.operations or []] == ["a.xml", "c.xml", None]
    assert report.api.policy == "api.xml" and report.api.backend == "http://b2"


def test_unchanged_reimport_reports_nothing() -> None:
    api = Api(
        name="o", path="/o", backend="http://b", operations=[op("GET", "/a", "x", policy="p")]
    )
    report = reimport(api, api.model_copy(update={"operations": [op("GET", "/a", "x")]}))
    assert report.to_dict() == {"added": [], "removed": [], "changed": []}
    assert report.api.operations and report.api.operations[0].policy == "p"
