"""The policy document model: equality ignores positions, helpers."""

from __future__ import annotations

import pytest

from kubegate.model.policy import TEXT_KEY, PolicyDocument, PolicyElement, PolicyFragment


def el(name: str, **kw: object) -> PolicyElement:
    return PolicyElement(name, **kw)  # type: ignore[arg-type]


def test_equality_ignores_positions_and_scope() -> None:
    a = el(
        "set-method",
        text="GET",
        line=3,
        column=5,
        file="a.xml",
        scope="api",
        positions={TEXT_KEY: (3, 17)},
    )
    b = el("set-method", text="GET", line=9, column=1, file="b.yaml")
    assert a == b
    assert a != el("set-method", text="POST")
    assert el("x", attributes={"a": "1"}) != el("x", attributes={"a": "2"})
    assert el("x", children=(el("y"),)) != el("x")


def test_where_points_at_values_when_known() -> None:
    e = el(
        "rate-limit",
        attributes={"calls": "x"},
        line=4,
        column=9,
        file="p.xml",
        positions={"calls": (4, 28)},
    )
    assert e.where() == {"file": "p.xml", "line": 4, "column": 9}
    assert e.where("calls") == {"file": "p.xml", "line": 4, "column": 28}
    assert e.where("renewal-period") == {"file": "p.xml", "line": 4, "column": 9}


def test_walk_child_and_with_scope() -> None:
    tree = el("choose", children=(el("when", children=(el("set-status"),)), el("otherwise")))
    assert [e.name for e in tree.walk()] == ["choose", "when", "set-status", "otherwise"]
    assert tree.child("otherwise") == el("otherwise")
    assert tree.child("missing") is None
    scoped = tree.with_scope("product")
    assert {e.scope for e in scoped.walk()} == {"product"}
    assert tree.scope is None


def test_document_sections() -> None:
    doc = PolicyDocument.from_sections({"inbound": (el("base"),), "on-error": ()}, "f.xml")
    assert doc.section("inbound") == (el("base"),)
    assert doc.section("on-error") == ()
    assert doc.section("backend") is None
    with pytest.raises(KeyError):
        doc.section("frontend")
    assert doc.to_data(positions=False) == {"inbound": [{"base": {}}], "on-error": []}
    assert PolicyFragment((el("x"),)).to_data() == {"fragment": [{"x": {}}]}


def test_to_data_is_complete() -> None:
    e = el(
        "x",
        attributes={"a": "1"},
        text="t",
        children=(el("y"),),
        line=1,
        column=2,
        scope="global",
        positions={"a": (1, 5)},
    )
    assert e.to_data() == {
        "x": {
            "at": "1:2",
            "scope": "global",
            "attributes": {"a": "1"},
            "value-at": {"a": "1:5"},
            "text": "t",
            "children": [{"y": {}}],
        }
    }
