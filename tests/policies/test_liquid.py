"""set-body template="liquid": the Liquid subset and what templates see."""

from __future__ import annotations

import json

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.liquid import LiquidError, LiquidSyntaxError, Template

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)


def render(source: str, **variables: object) -> str:
    return Template(source).render(dict(variables))


@pytest.mark.parametrize("source, expected", [
    ("{{ 'abc' | Upcase }}", "ABC"),
    ("{{ 'ABC' | Downcase }}", "abc"),
    ("{{ x | Default: 'none' }}", "none"),
    ("{{ '' | Default: 'none' }}", "none"),
    ("{{ l | Size }} {{ l.size }} {{ 'abc' | Size }}", "3 3 3"),
    ("{{ l | Join: ', ' }}", "3, 1, 2"),
    ("{{ l | Sort | Join: '' }}", "123"),
    ("{{ 'a-b-a' | Replace: 'a', 'x' }} {{ 'a-b-a' | ReplaceFirst: 'a', 'x' }}", "x-b-x x-b-a"),
    ("{{ 'a,b' | Split: ',' | Last }}", "b"),
    ("{{ 10 | DividedBy: 3 }} {{ -7 | DividedBy: 2 }} {{ 7.0 | DividedBy: 2 }}", "3 -3 3.5"),
    ("{{ -7 | Modulo: 3 }} {{ 4 | Plus: '2' }} {{ 4 | Minus: 6 }} {{ 3 | Times: 2.5 }}",
     "-1 6 -2 7.5"),
    ("{{ 2.5 | Round }} {{ 3.14159 | Round: 2 }} {{ -4 | Abs }}", "3 3.14 4"),
    ("{{ 5 | AtLeast: 7 }} {{ 5 | AtMost: 3 }}", "7 3"),
    ("{{ 'hello world' | Capitalize }} {{ '  x ' | Strip }}|", "Hello world x|"),
    ("{{ 'a b&c' | UrlEncode }} {{ 'a+b%26c' | UrlDecode }}", "a+b%26c a b&c"),
    ("{{ '<b>\"x\"</b>' | Escape }}", "&lt;b&gt;&quot;x&quot;&lt;/b&gt;"),
    ("{{ '<p>hi</p>' | StripHtml }}", "hi"),
    ("{{ 'abcdefghij' | Truncate: 6 }}", "abc..."),
    ("{{ 'one two three' | TruncateWords: 2 }}", "one two..."),
    ("{{ 'abcdef' | Slice: 1, 3 }} {{ 'abcdef' | Slice: -2 }}", "bcd e"),
    ("{{ '2024-03-01T10:05:00Z' | Date: 'yyyyMMddTHH:mm:ssZ' }}", "20240301T10:05:00Z"),
    ("{{ 1234.5 | Currency }}", "$1,234.50"),
    ("{{ items | Map: 'n' | Join: '' }}", "ab"),
    ("{{ dup | Uniq | Join: '' }} {{ holes | Compact | Size }}", "ab 1"),
    ("{{ 'x' | Append: 'y' | Prepend: 'w' }}", "wxy"),
    ("{{ 'a\nb' | NewlineToBr }}", "a<br />\nb"),
])
def test_filters(source: str, expected: str) -> None:
    assert render(source, l=[3, 1, 2], items=[{"n": "a"}, {"n": "b"}], dup=["a", "b", "a"],
                  holes=[None, 1]) == expected


def test_tags_and_whitespace_control() -> None:
    src = ("{% assign n = 3 | Plus: 1 %}{% if n > 3 and m == nil %}big{% elsif n > 1 %}mid"
           "{% else %}small{% endif %}|{% unless n == 4 %}no{% else %}yes{% endunless %}|"
           "{% case k %}{% when 1, 2 %}low{% when 3 %}three{% else %}other{% endcase %}|"
           "{% for i in (1..6) offset:1 limit:4 %}{% if i == 4 %}{% continue %}{% endif %}"
           "{{ i }}{% if forloop.last %}.{% endif %}{% endfor %}|"
           "{% for i in l reversed %}{% if i == 1 %}{% break %}{% endif %}{{ i }}{% endfor %}|"
           "{% for x in empty_list %}x{% else %}none{% endfor %}|"
           "{% capture c %}[{{ n }}]{% endcapture %}{{ c }}|"
           "{% comment %}hidden {{ n }}{% endcomment %}{% raw %}{{ n }}{% endraw %}|"
           "  {{- 'trim' -}}  |{% if s contains 'ell' %}in{% endif %}"
           "{% if e == empty %}E{% endif %}{% if b == blank %}B{% endif %}")
    out = render(src, k=2, l=[3, 1, 2], empty_list=[], s="hello", e=[], b="  ")
    assert out == "big|yes|low|235.|2|none|[4]|{{ n }}|trim|inEB"


def test_members_indexes_and_dictionary_iteration() -> None:
    data = {"a": {"b": [{"c": "deep"}]}, "key with space": 1}
    assert render("{{ d.a.b[0].c }} {{ d['key with space'] }} {{ d.a.b.first.c }} {{ d.x.y }}|",
                  d=data) == "deep 1 deep |"
    assert render("{% for p in d %}{{ p.Key }}={{ p.Value }};{% endfor %}",
                  d={"x": 1, "y": 2}) == "x=1;y=2;"


@pytest.mark.parametrize("source, needle", [
    ("{{ x | upcase }}", "Pascal case: Upcase"),
    ("{{ x | NoSuch }}", "unknown filter 'NoSuch'"),
    ("{% if x %}open", "not closed"),
    ("{% frobnicate %}", "unknown or misplaced tag"),
    ("{% break %}", "outside a for loop"),
    ("{% assign = 1 %}", "assign name = value"),
])
def test_syntax_errors(source: str, needle: str) -> None:
    with pytest.raises(LiquidSyntaxError, match=needle):
        Template(source)


def test_render_errors_and_bounds() -> None:
    with pytest.raises(LiquidError, match="division by zero"):
        render("{{ 1 | DividedBy: 0 }}")
    with pytest.raises(LiquidError, match="too long"):
        render("{% for i in (1..1000000000) %}{% endfor %}")


def test_no_attribute_access_on_arbitrary_objects() -> None:
    class Secret:
        password = "hunter2"
    assert render("{{ s.password }}{{ s.__class__ }}", s=Secret()) == ""


# -- set-body -------------------------------------------------------------------------
def liquid(body: str, section: str = "inbound") -> str:
    el = f'<set-body template="liquid">{body}</set-body>'
    return doc(**{section: el})


async def test_json_body_headers_and_matched_parameters() -> None:
    xml = liquid('{"id": "{{body.customer.id}}", "ua": "{{context.Request.Headers["User-Agent"]}}",'
                 ' "p": "{{context.Request.MatchedParameters["emailAddress"]}}",'
                 ' "m": "{{context.Request.Method}}", "path": "{{context.Request.Url.Path}}"}')
    ctx = make_ctx(method="POST", headers=[("Content-Type", "application/json"),
                                           ("User-Agent", "t/1")],
                   body=b'{"customer": {"id": 42}}', matched={"emailAddress": "a@b.c"})
    ctx, backend = await run(xml, ctx)
    sent = json.loads(backend.calls[0]["body"])
    assert sent == {"id": "42", "ua": "t/1", "p": "a@b.c", "m": "POST", "path": "/api/orders/1"}


async def test_response_body_as_xml_and_variables() -> None:
    xml = doc(inbound='<set-variable name="who" value="@("Ann")" />',
              outbound='<set-body template="liquid">{{ context.Variables["who"] }}:'
                       '{{ body.order.item[1].name }}:{{ body.order["@id"] }}'
                       ':{{ context.Response.StatusCode }}</set-body>')
    backend = FakeBackend(body=b'<order id="7"><item><name>a</name></item>'
                               b'<item><name>b</name></item></order>',
                          headers=[("Content-Type", "text/xml; charset=utf-8")])
    ctx, _ = await run(xml, backend=backend)
    assert ctx.Response.Body.content == b"Ann:b:7:200"


async def test_list_all_inbound_headers_in_return_response() -> None:
    xml = doc(inbound='<return-response><set-status code="200" reason="OK" />'
                      '<set-body template="liquid">{% for header in context.Request.Headers %}'
                      '{{- header.Key }}: {{ header.Value }}\n{% endfor %}</set-body>'
                      '</return-response>')
    ctx, backend = await run(xml, make_ctx(headers=[("Accept", "*/*"), ("X-M", "a"), ("X-M", "b")]))
    assert not backend.calls
    assert ctx.Response.Body.content == b"Accept: */*\nX-M: a,b\n"


async def test_xml_children_are_part_of_the_template() -> None:
    body = ('{%- assign vars = context.Variables["json"] -%}\n'
            '<message3><data val1="{{ vars[\'value1\'] }}" val3="{{ vars.value3 }}" />'
            '<note>a &amp; b</note></message3>')
    xml = doc(inbound='<set-variable name="json" value="@(new JObject(new JProperty(&quot;value1&quot;, '
                      '&quot;V1&quot;), new JProperty(&quot;value3&quot;, &quot;V3&quot;)))" />'
                      f'<return-response><set-body template="liquid">{body}</set-body>'
                      '</return-response>')
    ctx, _ = await run(xml)
    assert ctx.Response.Body.content == (b'<message3><data val1="V1" val3="V3" />'
                                         b'<note>a &amp; b</note></message3>')


async def test_soap_envelope_with_a_loop_around_one_child() -> None:
    xml = liquid('<Items>{% for i in body.items %}<Item>{{ i }}</Item>{% endfor %}</Items>')
    ctx = make_ctx(method="POST", headers=[("Content-Type", "application/json")],
                   body=b'{"items": ["a", "b"]}')
    _, backend = await run(xml, ctx)
    assert backend.calls[0]["body"] == b"<Items><Item>a</Item><Item>b</Item></Items>"


def test_ambiguous_mixed_content_is_a_compile_error() -> None:
    xml = liquid('<r>{% if x %}<a/>{% else %}<b/>{% endif %}</r>')
    with pytest.raises(ConfigError, match="CDATA"):
        pipeline(xml)


async def test_cdata_template_keeps_its_order() -> None:
    xml = liquid('<![CDATA[<r>{% if body.x %}<a/>{% else %}<b/>{% endif %}</r>]]>')
    ctx = make_ctx(method="POST", headers=[("Content-Type", "application/json")],
                   body=b'{"x": false}')
    _, backend = await run(xml, ctx)
    assert backend.calls[0]["body"] == b"<r><b/></r>"


async def test_configured_named_values_are_substituted_others_are_liquid() -> None:
    xml = liquid('{{greeting}} {{ body.name }}')
    ctx = make_ctx(method="POST", headers=[("Content-Type", "application/json")],
                   body=b'{"name": "Bo"}')
    _, backend = await run(xml, ctx, env=CompileEnv(named_values={"greeting": "Hi"}))
    assert backend.calls[0]["body"] == b"Hi Bo"
    pipeline(xml, CompileEnv(placeholder_named_values=True))  # check mode: no placeholder


def test_syntax_error_names_the_line() -> None:
    xml = ('<policies><inbound><set-body template="liquid">line1\n{{ x | Nope }}'
           '</set-body></inbound></policies>')
    with pytest.raises(ConfigError) as info:
        pipeline(xml)
    problem = info.value.problems[0]
    assert "unknown filter 'Nope'" in problem.message and problem.line == 2


async def test_render_error_goes_to_on_error() -> None:
    xml = liquid("{{ 1 | DividedBy: 0 }}")
    ctx, backend = await run(xml, make_ctx(method="POST", body=b"x"))
    assert not backend.calls and ctx.Response.StatusCode == 500
    assert "division by zero" in err(ctx).Message


# -- hardening (security review, section 4) -------------------------------------------
def test_uniq_is_linear() -> None:
    from kubegate.policies.liquid.filters import FILTERS

    class Item:
        compared = 0

        def __init__(self, n: int) -> None:
            self.n = n

        def __eq__(self, other: object) -> bool:
            Item.compared += 1
            return isinstance(other, Item) and other.n == self.n

        def __hash__(self) -> int:
            return self.n

    items = [Item(n) for n in range(2000)] * 2
    out = FILTERS["Uniq"](items)
    assert [i.n for i in out] == list(range(2000))
    assert Item.compared <= 2 * len(items)  # a list scan compares ~n^2/2 times
    assert render("{{ d | Uniq | Size }}", d=[{"a": 1}, {"a": 1}, [1], [1], 1]) == "3"


@pytest.mark.parametrize("source, needle", [
    ("{% assign a = s | Replace: 'x', r %}{{ a | Size }}", "Replace"),
    ("{% assign a = s | ReplaceFirst: 'x', big %}{{ a | Size }}", "Replace"),
    ("{% assign a = 'x' %}" + "{% assign a = a | Append: a %}" * 30 + "{{ a | Size }}", "Append"),
    ("{% assign a = 'x' %}" + "{% assign a = a | Prepend: a %}" * 30 + "{{ a | Size }}",
     "Prepend"),
    ("{% assign a = l | Join: r %}{{ a | Size }}", "Join"),
    ("{% assign a = u | UrlEncode %}{{ a | Size }}", "UrlEncode"),
])
def test_string_filters_check_the_length_before_building(source: str, needle: str) -> None:
    variables = {"s": "x" * 4000, "r": "y" * 5000, "big": "y" * 17_000_000, "l": [""] * 4000,
                 "u": "\u00e9" * 3_000_000}
    with pytest.raises(LiquidError, match=f"{needle}.*exceed"):
        render(source, **variables)


def _deep(n: int) -> list[object]:
    deep: list[object] = []
    for _ in range(n):
        deep = [deep]
    return deep


@pytest.mark.parametrize("source, variables", [
    ("{% for i in (1..n) %}{% endfor %}", {"n": float("inf")}),  # OverflowError
    ("{{ n | Times: n }}", {"n": int("9" * 4000)}),  # an 8000-digit number: ValueError
    ("{{ l }}", {"l": _deep(5000)}),  # RecursionError
    ("{{ n | Date: 'yyyy' }}x", {"n": 1e20}),  # OverflowError / OSError in fromtimestamp
])
def test_runtime_failures_are_liquid_errors(source: str, variables: dict[str, object]) -> None:
    try:
        render(source, **variables)
    except LiquidError:
        pass  # anything else (TypeError, RecursionError, ...) fails the test


def test_huge_numbers_are_refused_and_contains_on_maps_is_safe() -> None:
    with pytest.raises(LiquidError, match="Times: the result is too large"):
        render("{{ n | Times: n }}", n=int("9" * 4000))
    assert render("{% if a contains b %}y{% else %}n{% endif %}", a={"k": 1}, b={"k": 1}) == "n"
    assert render("{% if a contains b %}y{% else %}n{% endif %}", a={"k": 1}, b="k") == "y"
    assert render("{% if a contains b %}y{% endif %}", a=[[1]], b=[1]) == "y"
    with pytest.raises(LiquidError, match="whole number"):
        render("{% for i in (1..n) %}{% endfor %}", n=float("inf"))


async def test_a_crashing_template_takes_the_template_error_path() -> None:
    xml = liquid("{% for i in (1..body.n) %}{% endfor %}{% if body.a contains body.b %}{% endif %}")
    ctx = make_ctx(method="POST", headers=[("Content-Type", "application/json")],
                   body=b'{"n": Infinity}')
    ctx, backend = await run(xml, ctx)
    assert not backend.calls and ctx.Response.StatusCode == 500
    assert err(ctx).Reason != "PolicyExecutionFailure"
    assert "liquid template" in err(ctx).Message


@pytest.mark.parametrize("source, needle, line, column", [
    ("ab\n  {{ a", "'{{' is not closed by '}}'", 2, 3),
    ("{% if a %\nx", "'{%' is not closed by '%}'", 1, 1),
    ("{{ a \n{{ b }}", "'{{' is not closed", 1, 1),
    ("{% %}", "a tag needs a name", 1, 1),
    ("x{{ x | Upcase: 1, 2 }}", "filter Upcase takes 0 arguments, 2 given", 1, 2),
    ("{{ x | Slice }}", "filter Slice takes 1 to 2 arguments, 0 given", 1, 1),
    ("{{ x | DividedBy: 1, 2 }}", "filter DividedBy takes 1 argument, 2 given", 1, 1),
    ("a\nb {% if x %}\n{% for i in l %}{% endfor %}\nmore", "'if' is not closed", 2, 3),
    ("{% for i in l %}\n{% if x %}{% endif %}", "'for' is not closed", 1, 1),
    ("{% if a %}" * 400 + "{% endif %}" * 400, "nested more than 100 deep", 1, 1001),
    ("{{ " + "a[" * 400 + "0" + "]" * 400 + " }}", "nested more than 100 deep", 1, 1),
])
def test_malformed_templates(source: str, needle: str, line: int, column: int) -> None:
    with pytest.raises(LiquidSyntaxError, match=needle) as info:
        Template(source)
    assert (info.value.line, info.value.column) == (line, column)


def test_many_unclosed_outputs_are_found_in_linear_time() -> None:
    import time
    start = time.perf_counter()
    for source in ("{{ " * 100_000, "{{ a }}" * 50_000 + "{{ " * 50_000,
                   "{% " * 100_000 + "%}"):
        with pytest.raises(LiquidSyntaxError, match="not closed"):
            Template(source)
    assert time.perf_counter() - start < 2  # the old regex took minutes on these


def test_deep_nesting_is_a_compile_problem_not_a_crash() -> None:
    xml = liquid("{% if a %}" * 2000 + "x" + "{% endif %}" * 2000)
    with pytest.raises(ConfigError, match="nested more than 100 deep"):
        pipeline(xml)


def test_syntax_error_column_in_the_document() -> None:
    xml = ('<policies><inbound><set-body template="liquid">ab {{ x | Upcase: 1 }}'
           '</set-body></inbound></policies>')
    with pytest.raises(ConfigError) as info:
        pipeline(xml)
    problem = info.value.problems[0]
    assert (problem.line, problem.column) == (1, 51)
