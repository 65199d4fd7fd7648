"""APIM policy XML → model: structure, positions, errors, goldens, fuzzing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from kubegate.model.errors import ConfigError
from kubegate.model.policy import TEXT_KEY, PolicyDocument, PolicyElement, PolicyFragment
from kubegate.sources.apim.xml_loader import (
    load_fragment_xml,
    load_policy_xml,
    load_policy_xml_file,
    parse_policy_xml,
)

GOLDEN = Path(__file__).parent / "golden"


def dump_yaml(data: object) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined,assignment]
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def check_golden(out_path: Path, data: object) -> None:
    text = dump_yaml(data)
    if os.environ.get("KUBEGATE_REGEN_GOLDEN"):
        out_path.write_text(text, encoding="utf-8")
    assert out_path.exists(), (
        f"{out_path.name} missing: run with KUBEGATE_REGEN_GOLDEN=1 and review"
    )
    assert text == out_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.glob("*.in.xml")))
def test_golden(case: str) -> None:
    doc = load_policy_xml_file(GOLDEN / case)
    check_golden(GOLDEN / case.replace(".in.xml", ".out.yaml"), doc.to_data())


def pos(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of needle in text."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i) + 1
    return line, i - (text.rfind("\n", 0, i) + 1) + 1


DOC = """<policies>
  <inbound>
    <set-variable name="a" value="@(x == "<y>" && z)" /><set-header name="h" exists-action="override"><value>@("&")</value></set-header>
    <base/>
  </inbound>
  <outbound><set-body>@{
      return "}";
  }</set-body>  <set-status code="200"/></outbound>
</policies>"""


def test_structure_and_restored_values() -> None:
    doc = load_policy_xml(DOC, "d.xml")
    assert doc.backend is None and doc.on_error is None
    assert doc.inbound is not None and doc.outbound is not None
    assert [e.name for e in doc.inbound] == ["set-variable", "set-header", "base"]
    sv, sh, _ = doc.inbound
    assert sv.attributes == {"name": "a", "value": '@(x == "<y>" && z)'}
    assert list(sv.attributes) == ["name", "value"]
    assert sh.children == (PolicyElement("value", text='@("&")'),)
    assert doc.outbound[0].text == '@{\n      return "}";\n  }'


def test_positions_are_exact_after_masked_expressions() -> None:
    doc = load_policy_xml(DOC, "d.xml")
    assert doc.inbound is not None and doc.outbound is not None
    sv, sh, base = doc.inbound
    assert (sv.line, sv.column) == pos(DOC, "<set-variable")
    assert (sh.line, sh.column) == pos(DOC, "<set-header")
    assert (base.line, base.column) == pos(DOC, "<base/>")
    assert sv.positions["value"] == pos(DOC, "@(x")
    assert sv.positions["name"] == pos(DOC, 'a" value')
    assert sh.positions["exists-action"] == pos(DOC, "override")
    assert sh.children[0].positions[TEXT_KEY] == pos(DOC, '@("&")')
    status = doc.outbound[1]
    assert (status.line, status.column) == pos(DOC, "<set-status")
    assert status.where("code") == {"file": "d.xml", "line": 8, "column": pos(DOC, "200")[1]}
    assert doc.outbound[0].where(TEXT_KEY)["line"] == 6


def test_sections_empty_vs_missing_and_any_order() -> None:
    doc = load_policy_xml("<policies><on-error/><inbound></inbound></policies>")
    assert doc.on_error == () and doc.inbound == ()
    assert doc.backend is None and doc.outbound is None


def test_fragment_root() -> None:
    frag = parse_policy_xml("<fragment><set-method>GET</set-method></fragment>", "f.xml")
    assert isinstance(frag, PolicyFragment)
    assert frag.elements == (PolicyElement("set-method", text="GET"),)
    assert load_fragment_xml("<fragment/>").elements == ()
    with pytest.raises(ConfigError, match="expected a <policies> document"):
        load_policy_xml("<fragment/>")
    with pytest.raises(ConfigError, match="expected a <fragment>"):
        load_fragment_xml("<policies/>")


def test_bytes_with_bom_and_utf16() -> None:
    text = (
        '<?xml version="1.0" encoding="utf-16"?>\n<policies><inbound><base/></inbound></policies>'
    )
    a = parse_policy_xml(text.encode("utf-16"))
    b = parse_policy_xml(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert isinstance(a, PolicyDocument) and a == b
    assert a.inbound is not None and a.inbound[0].line == 2


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("<policies>\n  <inbound>\n    <x></y>\n  </inbound>\n</policies>", "malformed XML", 3, 10),
        ("<policies>\n  <frontend/>\n</policies>", "unknown section <frontend>", 2, 3),
        ("<policies><inbound/>\n<inbound/></policies>", "more than once", 2, 1),
        ("<set-header name='x'/>", "not a policy document", 1, 1),
        ("<policies><inbound>hello</inbound></policies>", "text is not allowed", 1, 20),
        ("<policies><inbound a='1'/></policies>", "takes no attributes", 1, 11),
        ('<policies>\n<inbound><x c="@(a("/></inbound></policies>', "not closed", 2, 16),
        ('<!DOCTYPE policies [<!ENTITY e "x">]><policies/>', "not allowed", 1, None),
        ("<!DOCTYPE policies><policies/>", "DOCTYPE", 1, None),
        ("<policies>&e;</policies>", "undefined entity", 1, 11),
        ("", "no element found", 1, 1),
    ],
)
def test_errors_have_positions(text: str, message: str, line: int, column: int | None) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy_xml(text, "bad.xml")
    problem = info.value.problems[0]
    assert message in problem.message
    assert problem.file == "bad.xml"
    assert problem.line == line
    if column is not None:
        assert problem.column == column


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy_xml("<policies><a/><b/><inbound/><inbound/></policies>")
    assert len(info.value.problems) == 3


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy_xml_file(tmp_path / "missing.xml")
    (tmp_path / "bad.xml").write_bytes(b"<policies>\xff</policies>")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_policy_xml_file(tmp_path / "bad.xml")


SEED = (GOLDEN / "expressions.in.xml").read_text(encoding="utf-8")
ALPHABET = st.sampled_from(
    list("<>&\"'(){}@$;/\\-! \n=x") + ["<!--", "-->", "<![CDATA[", "@(", "@{"]
)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_documents_only_raise_config_error(data: st.DataObject) -> None:
    text = SEED
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 20)))
        text = text[:i] + data.draw(st.lists(ALPHABET, max_size=4).map("".join)) + text[j:]
    try:
        doc = parse_policy_xml(text, "fuzz.xml")
    except ConfigError as exc:
        assert exc.problems and all(p.file == "fuzz.xml" for p in exc.problems)
        return
    assert isinstance(doc, PolicyDocument | PolicyFragment)


@settings(max_examples=150, deadline=2000)
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text_only_raises_config_error(text: str) -> None:
    try:
        parse_policy_xml(text)
    except ConfigError:
        pass


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_positions_with_any_line_ending(newline: str) -> None:
    text = newline.join(
        ["<policies>", "  <inbound>", '\t<a x="@(1 <\r\n 2)"/> <b/>', "  </inbound>", "</policies>"]
    )
    doc = load_policy_xml(text)
    assert doc.inbound is not None
    a, b = doc.inbound
    assert a.attributes["x"] == "@(1 <\r\n 2)"
    assert (a.line, a.column, a.positions["x"]) == (3, 2, (3, 8))
    assert (b.line, b.column) == (4, 8)
