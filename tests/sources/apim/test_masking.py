"""Masking of `@(...)`/`@{...}` expressions before XML parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.model.errors import ConfigError
from kubegate.sources.apim.masking import decode_xml, expression_end, mask


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("@(a)", "@(a)"),
        ("@(f(x)[1]) tail", "@(f(x)[1])"),
        ('@(")" + x) tail', '@(")" + x)'),
        ('@("a\\")b") tail', '@("a\\")b")'),
        ('@(@"C:\\" + ")") tail', '@(@"C:\\" + ")")'),
        ('@(@"say ""hi)""") tail', '@(@"say ""hi)""")'),
        ('@($"{a.B("}")}") tail', '@($"{a.B("}")}")'),
        ('@($"{{literal}} {x}") tail', '@($"{{literal}} {x}")'),
        ('@($@"{x}\\\\ ""q""") tail', '@($@"{x}\\\\ ""q""")'),
        ("@(s.Split(')')) tail", "@(s.Split(')'))"),
        ("@(s.Split('\\'')) tail", "@(s.Split('\\''))"),
        ("@{ // )\n return 1; } tail", "@{ // )\n return 1; }"),
        ("@{ /* } */ return 1; } tail", "@{ /* } */ return 1; }"),
        ("@{ if (a) { return b; } return c; }}", "@{ if (a) { return b; } return c; }"),
    ],
)
def test_expression_end(source: str, expected: str) -> None:
    end = expression_end(source, 0)
    assert end is not None and source[:end] == expected


@pytest.mark.parametrize(
    "source", ["@(a", "@(a]", '@("abc)', '@("a\nb")', "@{ /* }", "x(a)", "@[a]"]
)
def test_expression_end_rejects_unbalanced(source: str) -> None:
    assert expression_end(source, 0) is None


def test_deep_nesting_does_not_recurse_forever() -> None:
    deep = "@(" + '$"{' * 2000 + "x" + '}"' * 2000 + ")"
    assert expression_end(deep, 0) is None


def test_decode_xml() -> None:
    assert decode_xml("a &lt;&gt;&amp;&quot;&apos;&#65;&#x42;") == "a <>&\"'AB"
    assert decode_xml("a && b") is None
    assert decode_xml("a < b") is None
    assert decode_xml("&#99999999999;") is None


def test_attribute_and_text_expressions_are_masked_and_restored() -> None:
    text = "<a x=\"@(b == \"<c>\")\" y='@(d.Split('/'))'>@(e.As<string>())</a>"
    m = mask(text)
    assert [e.value for e in m.expressions] == [
        '@(b == "<c>")',
        "@(d.Split('/'))",
        "@(e.As<string>())",
    ]
    assert "<c>" not in m.text and m.text.count("<") == 2
    for e in m.expressions:
        assert text[e.start : e.end] == e.value
    assert m.restore(m.text) == text


def test_escaped_expressions_are_decoded_like_xml() -> None:
    m = mask('<a x="@(&quot;)&quot; + b &amp;&amp; c &lt; d)">@(x.As&lt;string&gt;())</a>')
    assert [e.value for e in m.expressions] == ['@(")" + b && c < d)', "@(x.As<string>())"]


def test_raw_ampersands_stay_raw() -> None:
    m = mask('<a x="@(a &amp;&amp; b == &quot;x&quot; || c && d)"/>')
    assert m.expressions[0].value == "@(a &amp;&amp; b == &quot;x&quot; || c && d)"


def test_only_values_that_start_with_an_expression_are_masked() -> None:
    m = mask('<a x="mail@(x)" y=" @(z)">text @(y) <b/></a>')
    assert m.expressions == [] and m.text == '<a x="mail@(x)" y=" @(z)">text @(y) <b/></a>'


def test_comments_cdata_and_declarations_are_skipped() -> None:
    text = "<?pi @(x?><!-- @(unclosed --><![CDATA[@( ]]><a>@(1)</a>"
    m = mask(text)
    assert [e.value for e in m.expressions] == ["@(1)"]


def test_marker_never_collides_with_the_document() -> None:
    text = '<a x="kgexprx0_" y="kgexpr1&#120;" z="@(1)"/>'
    m = mask(text)
    assert m.marker not in text and m.marker not in "kgexpr1x"
    assert m.restore("kgexprx0_") == "kgexprx0_"


def test_positions_map_back_to_the_original() -> None:
    text = '<a>\n  <b c="@(x ==\n "<")" d="1"/><e/>\n</a>'
    m = mask(text)
    masked_e = m.text.index("<e/>")
    assert m.position(masked_e) == (3, text.split("\n")[2].index("<e/>") + 1)
    assert (m.expressions[0].line, m.expressions[0].column) == (2, 9)


def test_comment_dashes_are_blanked_without_moving_anything() -> None:
    text = "<!-- a -- b <!-- c --->\n<a/>"
    m = mask(text)
    assert len(m.text) == len(text) and "--" not in m.text[4:-8]


def test_unclosed_expression_is_a_config_error_with_position() -> None:
    with pytest.raises(ConfigError) as info:
        mask('<p>\n  <a x="@(f("/>\n</p>', "p.xml")
    assert (info.value.problems[0].line, info.value.problems[0].column) == (2, 9)


@settings(max_examples=200, deadline=1000)
@given(st.text(alphabet=st.sampled_from(list("<>@(){}\"'$/*\\ \nax=-!&;")), max_size=200))
def test_mask_round_trips_or_raises_config_error(text: str) -> None:
    try:
        m = mask(text)
    except ConfigError:
        return
    decoded_any = any(text[e.start : e.end] != e.value for e in m.expressions)
    if not decoded_any and "--" not in text:
        assert m.restore(m.text) == text
