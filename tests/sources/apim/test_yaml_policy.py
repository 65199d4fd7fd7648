"""The YAML policy syntax loads into the same model as APIM XML."""

from __future__ import annotations

import pytest

from kubegate.model.errors import ConfigError
from kubegate.model.policy import TEXT_KEY, PolicyDocument, PolicyElement, PolicyFragment
from kubegate.sources.apim.xml_loader import load_policy_xml
from kubegate.sources.apim.yaml_policy import (
    dump_policy_yaml,
    load_policy_yaml,
    policy_to_yaml_data,
)

YAML_DOC = """\
inbound:
  - base
  - set-header: {name: X-Foo, exists-action: override, value: bar}
  - rate-limit: {calls: 10, renewal-period: 60}
  - check-header:
      name: Authorization
      failed-check-httpcode: 401
      failed-check-error-message: Not authorized
      ignore-case: false
      value: [Bearer a, Bearer b]
  - choose:
      - when:
          condition: '@(context.Request.Method == "GET")'
          then:
            - set-method: POST
            - set-body: {template: liquid, text: "{{body.name}}"}
      - otherwise:
          - return-response:
              - set-status: {code: 405, reason: Method Not Allowed}
backend:
  - forward-request: {timeout: 30}
outbound: []
on-error:
"""

XML_DOC = """\
<policies>
  <inbound>
    <base />
    <set-header name="X-Foo" exists-action="override"><value>bar</value></set-header>
    <rate-limit calls="10" renewal-period="60" />
    <check-header name="Authorization" failed-check-httpcode="401"
                  failed-check-error-message="Not authorized" ignore-case="false">
      <value>Bearer a</value>
      <value>Bearer b</value>
    </check-header>
    <choose>
      <when condition="@(context.Request.Method == "GET")">
        <set-method>POST</set-method>
        <set-body template="liquid">{{body.name}}</set-body>
      </when>
      <otherwise>
        <return-response><set-status code="405" reason="Method Not Allowed" /></return-response>
      </otherwise>
    </choose>
  </inbound>
  <backend><forward-request timeout="30" /></backend>
  <outbound />
  <on-error></on-error>
</policies>
"""


def test_yaml_and_xml_give_equal_models() -> None:
    from_yaml = load_policy_yaml(YAML_DOC, "p.yaml")
    from_xml = load_policy_xml(XML_DOC, "p.xml")
    assert from_yaml == from_xml
    # ... and they differ as soon as one side changes
    assert load_policy_yaml(YAML_DOC.replace("calls: 10", "calls: 11")) != from_xml


def test_yaml_positions() -> None:
    doc = load_policy_yaml(YAML_DOC, "p.yaml")
    assert isinstance(doc, PolicyDocument) and doc.inbound is not None
    base, header, rate = doc.inbound[:3]
    assert (base.file, base.line, base.column) == ("p.yaml", 2, 5)
    assert (header.line, header.column) == (3, 5)
    assert header.positions["name"] == (3, 24)
    assert header.children[0].positions[TEXT_KEY] == (3, 63)
    assert rate.where("renewal-period")["column"] == 45
    when = doc.inbound[4].children[0]
    assert when.positions["condition"] == (13, 23)  # past the opening quote, at the @


def test_fragment_and_dump_round_trip() -> None:
    frag = load_policy_yaml("fragment:\n  - set-method: GET\n  - base\n")
    assert frag == PolicyFragment((PolicyElement("set-method", text="GET"), PolicyElement("base")))
    assert load_policy_yaml(dump_policy_yaml(frag)) == frag
    doc = load_policy_xml(XML_DOC)
    assert load_policy_yaml(dump_policy_yaml(doc)) == doc


def test_dump_uses_the_short_forms() -> None:
    doc = load_policy_yaml("inbound: [base, {set-method: GET}, {choose: [{otherwise: [base]}]}]")
    assert policy_to_yaml_data(doc) == {
        "inbound": ["base", {"set-method": "GET"}, {"choose": [{"otherwise": ["base"]}]}]
    }


def test_dump_refuses_unrepresentable_attributes() -> None:
    doc = PolicyDocument(inbound=(PolicyElement("x", {"children": "1"}, text="t"),))
    with pytest.raises(ValueError, match="no YAML form"):
        dump_policy_yaml(doc)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("inbound:\n  - set-header:\n    name: x\n", "indented under the name", 2),
        ("frontend: []\n", "unknown section", 1),
        ("inbound:\n  - set-header: {name: [a]}\n", "must be a scalar", 2),
        ("inbound:\n  - 'bad name'\n", "invalid element name", 2),
        ("inbound:\n  - x: {'a b': 1}\n", "invalid attribute name", 2),
        ("inbound: base\n", "must be a list", 1),
        ("inbound:\n  - set-header: {value: [{a: 1}]}\n", "list of scalars", 2),
        ("inbound:\n  - set-body: {text: [x]}\n", "text of <set-body>", 2),
        ("inbound:\n  - when: {condition: x, then: base}\n", "must be a list", 2),
        ("inbound:\n  - set-variable: {value: @(x)}\n", "cannot start any token", 2),
        ("- base\n", "mapping of sections", 1),
        ("fragment: []\ninbound: []\n", "only the `fragment` key", 1),
        ("inbound:\n  - 3\n", "found int", 2),
    ],
)
def test_errors(text: str, message: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy_yaml(text, "bad.yaml")
    problem = info.value.problems[0]
    assert message in problem.message
    assert (problem.file, problem.line) == ("bad.yaml", line)


def test_scalars_become_text() -> None:
    doc = load_policy_yaml("inbound:\n  - x: {a: true, b: 1.5, c: 007, d: ''}\n")
    assert isinstance(doc, PolicyDocument) and doc.inbound is not None
    assert doc.inbound[0].attributes == {"a": "true", "b": "1.5", "c": "7", "d": ""}
