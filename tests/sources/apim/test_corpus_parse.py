"""Every APIM policy XML in ../shared/corpora/apim-policies loads into the model.

Each `*.xml` listed in MANIFEST.tsv is classified:
  policies  – a `<policies>` document
  fragment  – a `<fragment>` document
  snippet   – bare policy elements without a root (copy-paste samples); they load
              once wrapped in `<fragment>`
  broken    – fails; only the documents listed in KNOWN_BROKEN may, with a reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest

from kubegate.model.errors import ConfigError
from kubegate.model.policy import PolicyDocument, PolicyElement, PolicyFragment
from kubegate.sources.apim.xml_loader import decode_source, parse_policy_xml, parse_xml_tree
from kubegate.sources.apim.yaml_policy import dump_policy_yaml, load_policy_yaml

CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora" / "apim-policies"

KNOWN_BROKEN = {
    "Azure__api-management-policy-snippets/examples/"
    "Call out to an HTTP endpoint and cache the response.policy.xml":
    # The upstream file is mangled (`ContainsKey("latlong="""))`, a rewrite-uri
    # template whose string literal runs over a line end): not valid C#, and not
    # well-formed XML either, masked or not.
    "policy expression is not closed",
}


@dataclass
class Outcome:
    kind: str
    doc: PolicyDocument | PolicyFragment | None = None
    error: ConfigError | None = None


def _files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        pytest.skip(f"corpus not found at {CORPUS} (../shared/corpora is not checked out)")
    rows = [line.split("\t")[0] for line in manifest.read_text(encoding="utf-8").splitlines()[1:]]
    return sorted(p for p in rows if p.endswith(".xml"))


def _classify(path: str) -> Outcome:
    data = (CORPUS / path).read_bytes()
    try:
        doc = parse_policy_xml(data, path)
    except ConfigError as exc:
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", decode_source(data))
        try:
            snippet = parse_policy_xml(f"<fragment>{text}</fragment>", path)
        except ConfigError:
            return Outcome("broken", error=exc)
        return Outcome("snippet", snippet, exc)
    return Outcome("policies" if isinstance(doc, PolicyDocument) else "fragment", doc)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    return {path: _classify(path) for path in _files()}


def test_every_policy_document_parses(outcomes: dict[str, Outcome]) -> None:
    counts = Counter(o.kind for o in outcomes.values())
    print(f"\napim-policies corpus: {len(outcomes)} XML files: {dict(sorted(counts.items()))}")
    broken = {p: o for p, o in outcomes.items() if o.kind == "broken"}
    for o in broken.values():
        print(f"  broken: {o.error}")
    assert set(broken) == set(KNOWN_BROKEN)
    for path, o in broken.items():
        assert o.error is not None and KNOWN_BROKEN[path] in str(o.error)
        assert o.error.problems[0].line is not None
    assert counts["policies"] > 100 and counts["fragment"] > 0


def test_snippets_are_bare_elements(outcomes: dict[str, Outcome]) -> None:
    for o in outcomes.values():
        if o.kind == "snippet":
            assert o.error is not None
            msg = str(o.error)
            assert "not a policy document" in msg or "junk after document element" in msg


def _same(expected: object, got: PolicyElement, path: str) -> None:
    def norm(s: str | None) -> str:
        return " ".join((s or "").split())

    tag = expected.tag  # type: ignore[attr-defined]
    if tag.startswith("{"):  # namespaced content (xsl-transform): not compared
        return
    assert tag == got.name, path
    attrib = expected.attrib  # type: ignore[attr-defined]
    assert list(attrib) == list(got.attributes), path
    for key, value in attrib.items():
        assert norm(value) == norm(got.attributes[key]), (path, key)
    kids = list(expected)  # type: ignore[call-overload]
    text = "".join(t for t in [expected.text, *(k.tail for k in kids)] if t)  # type: ignore[attr-defined]
    assert norm(text) == norm(got.text), (path, tag)
    assert len(kids) == len(got.children), (path, tag)
    for a, b in zip(kids, got.children, strict=True):
        _same(a, b, path)


def test_well_formed_documents_match_a_plain_xml_parser(outcomes: dict[str, Outcome]) -> None:
    """Where a document is already well-formed XML, masking changes nothing."""
    compared = 0
    for path in outcomes:
        try:
            root = SafeET.parse(CORPUS / path).getroot()
        except SafeET.ParseError:
            continue
        _same(root, parse_xml_tree((CORPUS / path).read_bytes(), path), path)
        compared += 1
    assert compared > 50


def test_yaml_round_trip_of_the_corpus(outcomes: dict[str, Outcome]) -> None:
    for o in outcomes.values():
        if o.doc is not None:
            assert load_policy_yaml(dump_policy_yaml(o.doc)) == o.doc


def test_expressions_come_back_whole(outcomes: dict[str, Outcome]) -> None:
    """Every restored expression is balanced and contains no placeholder."""
    from kubegate.sources.apim.masking import expression_end

    seen = 0
    for o in outcomes.values():
        if o.doc is None:
            continue
        roots = (
            o.doc.elements
            if isinstance(o.doc, PolicyFragment)
            else [
                e
                for name in ("inbound", "backend", "outbound", "on-error")
                for e in (o.doc.section(name) or ())
            ]
        )
        for root in roots:
            for el in root.walk():
                for value in [*el.attributes.values(), el.text or ""]:
                    if value.startswith(("@(", "@{")):
                        assert expression_end(value, 0) == len(value), value
                        assert "kgexpr" not in value
                        seen += 1
    assert seen > 300
