"""Hypothesis fuzzing of the config-side parsers of untrusted text (bounded for CI;
`make fuzz` runs more examples and the atheris harness): the YAML config loader,
the APIM policy XML loader and the policy expression compiler raise only their
documented errors, finish within a budget, and never execute what they read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzz_targets import budget, expression_target, xml_target, yaml_target
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubegate.model.errors import ConfigError
from kubegate.sources.apim.xml_loader import load_policy_xml

EXAMPLES = int(os.environ.get("KUBEGATE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="KUBEGATE_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PER_INPUT = 5.0

# -- YAML ---------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
                    st.sampled_from(["/api", "http://127.0.0.1:1", "k8s://ns/svc:80", "${X}",
                                     "<policies/>", "0.0.0.0:0", "product:p", "*"]))
KEYS = ["gateway", "apis", "products", "subscriptions", "policy", "named_values", "name",
        "path", "backend", "operations", "method", "listeners", "address", "limits", "workers",
        "counters", "store", "scope", "primary_key", "timeouts", "openapi", "!!python/object"]
trees = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.sampled_from(KEYS), kids, max_size=5)),
    max_leaves=25)


def _yaml_dump(node: object, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(node, dict):
        return "".join(f"{pad}{k}:\n{_yaml_dump(v, indent + 2)}" for k, v in node.items()) or f"{pad}{{}}\n"
    if isinstance(node, list):
        return "".join(f"{pad}-\n{_yaml_dump(v, indent + 2)}" for v in node) or f"{pad}[]\n"
    return f"{pad}{node!r}\n" if isinstance(node, str) else f"{pad}{node}\n"


@FUZZ
@given(st.text(max_size=400))
def test_yaml_loader_random_text(text: str) -> None:
    with budget(PER_INPUT):
        yaml_target(text)


@FUZZ
@given(trees)
def test_yaml_loader_structured(tree: object) -> None:
    with budget(PER_INPUT):
        yaml_target(_yaml_dump(tree))




@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['touch /tmp/kubegate-pwned']\n",
    "a: !custom ['x']\n",
    "a: !!python/object/apply:os.system\n  - touch /tmp/kubegate-pwned\n",
    "a: !!python/object/apply:os.system {x: 1}\n",
    "!!python/object/new:os.system [echo pwned]\n",
    "a: &a [*a, *a, *a]\n",
    "a: &a ['x','x']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
    "\ufeffgateway: {workers: 99999}\n",
])
def test_yaml_loader_refuses_tags_and_bombs(text: str, tmp_path: Path) -> None:
    with budget(PER_INPUT), pytest.raises(ConfigError):
        yaml_target_strict(text)
    assert not Path("/tmp/kubegate-pwned").exists()


def yaml_target_strict(text: str) -> None:
    from kubegate.sources.yaml_config import load_config_text

    load_config_text(text, "fuzz.yaml", env={})


# -- policy XML ---------------------------------------------------------------------
ELEMENTS = ["policies", "inbound", "backend", "outbound", "on-error", "base", "set-header",
            "value", "choose", "when", "otherwise", "check-header", "return-response",
            "set-body", "rate-limit", "fragment", "include-fragment"]
ATTRS = st.dictionaries(st.sampled_from(["name", "condition", "exists-action", "calls",
                                         "failed-check-httpcode", "fragment-id", "x"]),
                        st.sampled_from(['@(context.Request.Method == "GET")', "1", "override",
                                         "@{ return 1; }", "&amp;", "<", '"', "{{nv}}", ""]),
                        max_size=3)


@st.composite
def xml_docs(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(ELEMENTS))
    attrs = "".join(f' {k}="{v}"' for k, v in draw(ATTRS).items())
    if depth > 3 or draw(st.booleans()):
        text = draw(st.sampled_from(["", "@(1+1)", "text", "@{ var x = 1; return x; }", "]]>",
                                    "<![CDATA[x]]>", "&lt;"]))
        return f"<{name}{attrs}>{text}</{name}>" if text else f"<{name}{attrs} />"
    kids = "".join(draw(st.lists(xml_docs(depth + 1), max_size=3)))
    return f"<{name}{attrs}>{kids}</{name}>"


@FUZZ
@given(st.text(max_size=400))
def test_policy_xml_random_text(text: str) -> None:
    with budget(PER_INPUT):
        xml_target(text)


@FUZZ
@given(xml_docs(), st.integers(min_value=0, max_value=400), st.text(max_size=5))
def test_policy_xml_structured_and_mutated(doc: str, cut: int, noise: str) -> None:
    with budget(PER_INPUT):
        xml_target(doc)
        xml_target(doc[:cut] + noise + doc[cut:])


@pytest.mark.parametrize("text", [
    '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<policies><inbound>&x;</inbound></policies>",
    '<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><policies><inbound>&c;</inbound></policies>',
    '<!DOCTYPE policies SYSTEM "http://127.0.0.1:9/evil.dtd"><policies/>',
    '<!DOCTYPE p [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/x">%ext;]><policies/>',
    "<policies><inbound>&undefined;</inbound></policies>",
], ids=["xxe-file", "billion-laughs", "external-dtd", "parameter-entity", "undefined-entity"])
def test_policy_xml_doctype_and_entities_rejected(text: str) -> None:
    with budget(PER_INPUT), pytest.raises(ConfigError) as info:
        load_policy_xml(text, "evil.xml")
    assert "root:" not in str(info.value)  # /etc/passwd never read into the message


# -- expressions --------------------------------------------------------------------
TOKENS = ["context", ".", "Request", "Headers", "GetValueOrDefault", "(", ")", '"a"', ",", "+",
          "==", "?", ":", "new", "System", "IO", "File", "ReadAllText", "typeof", "GetType",
          "Invoke", "__class__", "__import__", "import", "os", "eval", "{", "}", "return", ";",
          "var", "x", "=", "1", "1e309", "int.MaxValue", "AsJwt", "Subject", "??", "!", "[",
          "]", "0", "-", "*", "/", "%", "@", "'c'", "\"\\u0000\"", "string.Join", "Split",
          "Substring", "Length", "=>", "Select", "for", "while", "true"]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30), st.sampled_from(["@(", "@{"]))
def test_expression_compiler_token_soup(tokens: list[str], opener: str) -> None:
    closer = ")" if opener == "@(" else "}"
    with budget(PER_INPUT):
        expression_target(opener + " ".join(tokens) + closer)


def _no_unicode_digits(text: str) -> bool:
    return all(c.isascii() or not c.isdigit() for c in text)


@pytest.mark.parametrize("source", ["@(\u00b2)", "@(1\u00b2)", "@(2\u00b3 + 1)"])
def test_expression_compiler_unicode_digits(source: str) -> None:
    expression_target(source)


@FUZZ
@given(st.text(max_size=200))
def test_expression_compiler_random_text(text: str) -> None:
    with budget(PER_INPUT):
        expression_target("@(" + text + ")")
        expression_target("@{" + text + "}")
        expression_target(text)


@pytest.mark.parametrize("source", [
    '@(System.IO.File.ReadAllText("/etc/passwd"))',
    '@(__import__("os").system("id"))',
    '@(context.GetType().Assembly)',
    '@(typeof(System.Diagnostics.Process))',
    '@{ return System.Environment.GetEnvironmentVariable("HOME"); }',
    '@(context.__class__.__mro__)',
    '@(((((((((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))))))))',
    "@(" + "1+" * 5000 + "1)",
    "@(" + "(" * 2000 + "1" + ")" * 2000 + ")",
])
def test_expression_compiler_refuses_escapes_and_deep_input(source: str) -> None:
    from kubegate.sources.apim.expressions import ExpressionCompileError, compile_expression

    with budget(PER_INPUT):
        try:
            compiled = compile_expression(source)
        except ExpressionCompileError:
            return
    # compiled: only arithmetic on constants may compile; it must not reach the OS
    assert "System" not in source and "__" not in source and "GetType" not in source
    assert compiled is not None
