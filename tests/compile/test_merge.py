"""Scope merging: `<base/>` inlines the parent scope's section."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from kubegate.compile.merge import MergedPolicy, Scope, merge_chain, merge_policies
from kubegate.model.errors import ConfigError
from kubegate.model.policy import PolicyDocument
from kubegate.sources.apim.xml_loader import load_policy_xml

GOLDEN = Path(__file__).parent / "golden"


def doc(body: str, name: str = "p.xml") -> PolicyDocument:
    return load_policy_xml(f"<policies>{body}</policies>", name)


def names(merged: MergedPolicy, section: str = "inbound") -> list[str]:
    return [f"{e.scope}:{e.name}" for e in merged.section(section)]


def test_nothing_gives_empty_sections() -> None:
    assert merge_policies() == MergedPolicy()


def test_base_at_global_scope_is_a_no_op() -> None:
    merged = merge_policies(doc("<inbound><base/><a/></inbound>"))
    assert names(merged) == ["global:a"]


def test_base_inlines_the_parent_where_it_stands() -> None:
    merged = merge_policies(
        doc("<inbound><g/></inbound>"),
        doc("<inbound><p1/><base/><p2/></inbound>"),
        doc("<inbound><base/><a/></inbound>"),
        doc("<inbound><o/><base/></inbound>"),
    )
    assert names(merged) == ["operation:o", "product:p1", "global:g", "product:p2", "api:a"]


def test_missing_base_cuts_inheritance() -> None:
    merged = merge_policies(doc("<inbound><g/></inbound>"), api=doc("<inbound><a/></inbound>"))
    assert names(merged) == ["api:a"]


def test_a_scope_without_document_inherits_entirely() -> None:
    g = doc("<inbound><g/></inbound><backend><forward-request/></backend>")
    merged = merge_policies(
        g, product=None, api=None, operation=doc("<inbound><base/><o/></inbound>")
    )
    assert names(merged) == ["global:g", "operation:o"]
    assert names(merged, "backend") == ["global:forward-request"]


def test_missing_section_inherits_empty_section_cuts() -> None:
    g = doc("<backend><forward-request/></backend><on-error><log/></on-error>")
    merged = merge_policies(g, api=doc("<inbound/><backend/>"))
    assert names(merged, "backend") == []
    assert names(merged, "on-error") == ["global:log"]


def test_product_is_optional() -> None:
    g = doc("<inbound><g/></inbound>")
    api = doc("<inbound><base/><a/></inbound>")
    with_product = merge_policies(g, doc("<inbound><base/><p/></inbound>"), api)
    assert names(with_product) == ["global:g", "product:p", "api:a"]
    assert names(merge_policies(g, None, api)) == ["global:g", "api:a"]


def test_scope_tags_and_positions_reach_nested_elements() -> None:
    api = load_policy_xml(
        "<policies>\n<inbound>\n  <choose><when condition='@(true)'><x/></when></choose>\n"
        "</inbound></policies>",
        "api.xml",
    )
    merged = merge_policies(api=api)
    nested = list(merged.inbound[0].walk())
    assert {e.scope for e in nested} == {"api"}
    x = nested[-1]
    assert (x.file, x.line, x.column) == ("api.xml", 3, 37)


def test_base_twice_is_an_error() -> None:
    bad = load_policy_xml("<policies><inbound><base/>\n<base/></inbound></policies>", "api.xml")
    with pytest.raises(ConfigError) as info:
        merge_policies(api=bad)
    p = info.value.problems[0]
    assert "more than once" in p.message and (p.file, p.line, p.column) == ("api.xml", 2, 1)


def test_nested_base_is_an_error() -> None:
    bad = doc("<outbound><choose><otherwise><base/></otherwise></choose></outbound>")
    with pytest.raises(ConfigError, match="only allowed directly inside a section"):
        merge_policies(operation=bad)


def test_merge_chain_accepts_other_scopes() -> None:
    merged = merge_chain(
        [
            (Scope.GLOBAL, doc("<inbound><g/></inbound>")),
            ("workspace", doc("<inbound><base/><w/></inbound>")),
            (Scope.API, doc("<inbound><base/><a/></inbound>")),
        ]
    )
    assert names(merged) == ["global:g", "workspace:w", "api:a"]


def _dump(data: object) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined,assignment]
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.glob("*.in.yaml")))
def test_golden(case: str) -> None:
    scopes = YAML(typ="safe", pure=True).load((GOLDEN / case).read_text(encoding="utf-8"))
    stem = case.removesuffix(".in.yaml")
    docs = {k: load_policy_xml(v, f"{stem}:{k}") for k, v in scopes.items()}
    merged = merge_policies(
        docs.get("global"), docs.get("product"), docs.get("api"), docs.get("operation")
    )
    text = _dump({"from": {k: v.file for k, v in docs.items()}, **merged.to_data()})
    out = GOLDEN / f"{stem}.out.yaml"
    if os.environ.get("KUBEGATE_REGEN_GOLDEN"):
        out.write_text(text, encoding="utf-8")
    assert out.exists(), f"{out.name} missing: run with KUBEGATE_REGEN_GOLDEN=1 and review"
    assert text == out.read_text(encoding="utf-8")
