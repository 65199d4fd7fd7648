from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from expr_helpers import NOW, make_context, run

from kubegate.sources.apim.expressions import ExpressionError, JObject


@pytest.mark.parametrize(("source", "expected"), [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3), ("-7 / 2", -3), ("-7 % 3", -1),
    ("7.0 / 2", 3.5), ("10L - 1", 9), ("0x1F", 31), ("1e3", 1000.0), ("2.5f * 2", 5.0),
    ('"a" + 1', "a1"), ('1 + "a"', "1a"), ('"x" + null', "x"), ('"b" + true', "bTrue"),
    ('"v" + 1.5', "v1.5"), ("'c'", "c"), (r'"tab\tend"', "tab\tend"), ('@"C:\\dir"', "C:\\dir"),
    ('@"say ""hi"""', 'say "hi"'), (r'"\u0041"', "A"), ("true && !false", True),
    ("false || 1 < 2", True), ("1 == 1.0", True), ('"a" != "b"', True), ("null == null", True),
    ("3 >= 3 && 2 <= 1", False), ("true ? 1 : 2", 1), ("false ? 1 : true ? 2 : 3", 2),
    ('null ?? "d"', "d"), ('"x" ?? "d"', "x"), ("true ^ true", False), ("5 & 3", 1),
])
def test_operators_and_literals(source: str, expected: object) -> None:
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(("source", "expected"), [
    ('$"id-{1 + 1}-{context.Api.Name}"', "id-2-Orders"),
    ('$"<{{nv}}>"', "<value>"),
    ('$"{context.Variables["name"]}!"', "Widget!"),
    ('$@"path\\{context.Operation.Id}"', "path\\create"),
    ('$"n={(context.Variables.ContainsKey("x") ? "y" : "z")}"', "n=z"),
])
def test_interpolation(source: str, expected: str) -> None:
    assert run(source, named_values={"nv": "value"}) == expected


@pytest.mark.parametrize(("source", "expected"), [
    ('"Hello".Contains("ell")', True), ('"Hello".StartsWith("he", StringComparison.OrdinalIgnoreCase)', True),
    ('"Hello".EndsWith("LO")', False), ('"a,b,,c".Split(\',\')', ["a", "b", "", "c"]),
    ('"a,b;;c".Split(new char[] {\',\', \';\'}, StringSplitOptions.RemoveEmptyEntries)', ["a", "b", "c"]),
    ('"Hello".Substring(1, 3)', "ell"), ('"Hello".Substring(2)', "llo"),
    ('"Hello".ToLower() + "x".ToUpperInvariant()', "helloX"), ('"aXa".Replace("a", "b")', "bXb"),
    ('"  x  ".Trim()', "x"), ('"//x/".Trim(\'/\')', "x"), ('"xxa".TrimStart(\'x\')', "a"),
    ('"a".Equals("A", StringComparison.OrdinalIgnoreCase)', True), ('"hello".IndexOf("l")', 2),
    ('"hello".Length', 5), ('"7".PadLeft(3, \'0\')', "007"), ('"abc"[1]', "b"),
    ("String.IsNullOrEmpty(null)", True), ('string.IsNullOrWhiteSpace(" ")', True),
    ('String.Join(",", new string[] {"a", "b"})', "a,b"), ('String.Format("{0}-{1}", 1, "x")', "1-x"),
    ('String.Concat("a", 1, null)', "a1"), ("string.Empty", ""), ('int.Parse(" 42 ")', 42),
    ('Convert.ToBase64String(Encoding.UTF8.GetBytes("hi"))', "aGk="),
    ('Encoding.UTF8.GetString(Convert.FromBase64String("aGk="))', "hi"),
    ('System.Text.Encoding.UTF8.GetString(System.Convert.FromBase64String("aGk="))', "hi"),
    ("Math.Max(2, Math.Min(5, 3))", 3), ("Math.Abs(-2)", 2), ('Convert.ToInt32("12")', 12),
    ('Uri.EscapeDataString("a b/c")', "a%20b%2Fc"), ("(5).ToString()", "5"),
    ("12.ToString(\"D4\")", "0012"),
])
def test_string_and_static_methods(source: str, expected: object) -> None:
    assert run(source) == expected


def test_datetime_uses_the_context_clock() -> None:
    assert run('DateTime.UtcNow.ToString("o")') == "2023-11-14T22:13:20.0000000Z"
    assert run("DateTime.UtcNow.AddSeconds(60)") == datetime.fromtimestamp(NOW + 60, UTC)
    assert run('DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssK")') == "2023-11-14T22:13:20Z"
    assert run("context.Timestamp") == datetime.fromtimestamp(NOW, UTC)
    assert run("context.Elapsed") == timedelta(0)
    assert run("(DateTime.UtcNow - new DateTime(1970, 1, 1)).TotalSeconds") == NOW
    assert run("DateTimeOffset.UtcNow.ToUnixTimeSeconds()") == int(NOW)


def test_guid_is_fresh_and_formatted() -> None:
    a, b = run("Guid.NewGuid().ToString()"), run("Guid.NewGuid().ToString()")
    assert a != b and len(a) == 36 and a.count("-") == 4


@pytest.mark.parametrize(("source", "expected"), [
    ("context.Request.Method", "POST"), ("context.Request.Url.Path", "/orders/42"),
    ("context.Request.Url.Host", "api.example.com"), ("context.Request.Url.Port", 443),
    ("context.Request.Url.Scheme", "https"), ("context.Request.Url.QueryString", "?page=2&tag=x&tag=y"),
    ('context.Request.Url.Query.GetValueOrDefault("tag", "")', "x,y"),
    ('context.Request.Url.Query["page"][0]', "2"),
    ('context.Request.Headers.GetValueOrDefault("content-type", "none")', "application/json"),
    ('context.Request.Headers.GetValueOrDefault("missing", "none")', "none"),
    ('context.Request.Headers.GetValueOrDefault("missing")', None),
    ('context.Request.Headers["X-MULTI"].Length', 2), ('context.Request.Headers.ContainsKey("x-multi")', True),
    ("context.Request.IpAddress", "10.1.2.3"), ('context.Request.MatchedParameters["id"]', "42"),
    ('context.Request.MatchedParameters.GetValueOrDefault("nope", "d")', "d"),
    ("context.Request.OriginalUrl.ToString()", "https://api.example.com/orders/42?page=2&tag=x&tag=y"),
    ("context.Api.Path", "shop"), ("context.Operation.UrlTemplate", "/orders/{id}"),
    ("context.Subscription.Key", "k-123"), ("context.Subscription?.Name", "Gold"),
    ("context.User?.Email", None), ("context.Product?.Name ?? \"none\"", "none"),
    ("context.RequestId", "req-1"), ("context.Response.StatusCode", 200),
    ('context.Variables.GetValueOrDefault<int>("count")', 5),
    ('context.Variables.GetValueOrDefault<string>("count", "")', "5"),
    ('context.Variables.GetValueOrDefault("missing", "dflt")', "dflt"),
    ('(string)context.Variables["name"]', "Widget"), ('context.Variables.ContainsKey("flag")', True),
    ('(bool)context.Variables["flag"] && true', True), ('(int)context.Variables["count"] + 1', 6),
    ('context.Variables["name"] is string', True), ('context.Variables["count"] as string', None),
])
def test_context_members(source: str, expected: object) -> None:
    assert run(source) == expected


def test_body_as_string_and_preserve_content(ctx: object) -> None:
    text = run("context.Request.Body.As<string>(preserveContent: true)", ctx)
    assert '"widget"' in text
    assert run("context.Request.Body.As<JObject>()[\"name\"].ToString()", ctx) == "widget"
    assert run("context.Request.Body.As<string>()", ctx) == ""  # consumed above


def test_json_members(ctx: object) -> None:
    body = "context.Request.Body.As<JObject>(preserveContent: true)"
    assert run(f'(string){body}["name"]', ctx) == "widget"
    assert run(f'{body}.Value<int>("count")', ctx) == 3
    assert run(f'(int){body}["count"] * 2', ctx) == 6
    assert run(f'{body}["tags"][1]', ctx) == "b"
    assert run(f'{body}["missing"]', ctx) is None
    assert run(f'{body}.SelectToken("tags[0]")', ctx) == "a"
    assert run(f'{body}.Property("name").Value', ctx) == "widget"
    assert run(f'{body}["tags"].Count', ctx) == 2
    assert run(f'{body}.ToString(Formatting.None)', ctx).startswith('{"name":"widget"')
    assert run('new JObject(new JProperty("a", 1)).ToString(Formatting.None)') == '{"a":1}'
    assert isinstance(run('JObject.Parse("{\\"a\\": {\\"b\\": [1]}}")["a"]'), JObject)


def test_jwt_claims(ctx: object) -> None:
    jwt = 'context.Request.Headers.GetValueOrDefault("Authorization", "").AsJwt()'
    assert run(f"{jwt}?.Subject", ctx) == "alice"
    assert run(f"{jwt}.Issuer", ctx) == "https://issuer"
    assert run(f"{jwt}.Audiences.Contains(\"api2\")", ctx) is True
    assert run(f'{jwt}.Claims.GetValueOrDefault("roles", "")', ctx) == "admin,reader"
    assert run(f'{jwt}.Claims["roles"].Contains("admin")', ctx) is True
    assert run(f"{jwt}.ExpirationTime", ctx) == datetime.fromtimestamp(1700000600, UTC)
    assert run(f'{jwt}.Header.GetValueOrDefault("alg")', ctx) == "RS256"
    assert run('"not-a-jwt".AsJwt()?.Subject') is None


@pytest.mark.parametrize(("source", "expected"), [
    ('new [] {1, 2, 3}.Where(x => x > 1).Select(x => x * 10).ToArray()', [20, 30]),
    ('new [] {"a", "bb"}.Any(s => s.Length == 2)', True),
    ('new [] {"a", "bb"}.All(s => s.Length == 2)', False),
    ('new [] {"a", "bb"}.FirstOrDefault(s => s.StartsWith("b"))', "bb"),
    ('new [] {"a"}.FirstOrDefault(s => s == "z")', None),
    ('new [] {1, 2, 3}.Count(n => n != 2)', 2), ('new [] {1, 2}.Count', 2),
    ('new List<string> {"x"}.Contains("x")', True),
    ('context.Request.Headers.Keys.Any(h => h.ToLower() == "x-multi")', True),
])
def test_collections_and_lambdas(source: str, expected: object) -> None:
    assert run(source) == expected


def test_blocks() -> None:
    src = """@{
        // comment
        var parts = "a.b.c".Split('.');
        string joined = "";
        int n = 0;
        foreach (var p in parts) {
            if (p == "b") { continue_ = 1; } else { joined += p; }
            n++;
        }
        return joined + n;
    }"""
    with pytest.raises(Exception, match="continue_"):
        run(src)
    assert run(src.replace("continue_ = 1;", "n += 10;")) == "ac13"
    assert run('@{ var x = 1; if (x > 1) return "big"; else if (x == 1) return "one"; return "small"; }') == "one"
    assert run("@{ var s = (string)null; s ??= \"d\"; return s; }") == "d"
    assert run('@{ if (context.Variables["name"] is string n) { return n.ToUpper(); } return ""; }') == "WIDGET"
    assert run('@{ var o = new JObject(); o.Add("k", 1); return o.ToString(Formatting.None); }') == '{"k":1}'


@pytest.mark.parametrize(("source", "message"), [
    ("context.User.Email", "Object reference"),
    ('(int)"abc"', "not in a correct format"),
    ('context.Variables["missing"]', "not present"),
    ("1 / 0", "divide by zero"),
    ('"abc".Substring(5)', "within the string"),
    ('Convert.FromBase64String("!!")', "Base-64"),
    ('context.Request.Headers["nope"]', "not present"),
    ("(1 < 2) + 1", "cannot be applied"),
    ('"ab" < "b"', "cannot be applied"),
    ('((string)context.Variables["name"]).Count', "not a member"),
    ('context.Request.Body.As<XmlDocument>()', "not supported"),
    ('"x".Substring("a")', "evaluation failed"),
])
def test_runtime_errors_are_expression_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        run(source)


def test_null_conditional_short_circuits_whole_chain() -> None:
    assert run("context.User?.Email.Length") is None
    assert run('context.Variables.GetValueOrDefault<string>("nope")?.Length ?? -1') == -1
    assert run('((JObject)null)?["a"]') is None


def test_json_element_assignment_and_hashing() -> None:
    src = '@{ var o = new JObject(); o["a"] = 1; o["b"] = new JArray(1, 2); o["b"][0] = "x"; return o.ToString(Formatting.None); }'
    assert run(src) == '{"a":1,"b":["x",2]}'
    with pytest.raises(ExpressionError, match="cannot assign"):
        run('@{ var v = context.Variables; v["a"] = 1; return 1; }')
    sha = 'Convert.ToBase64String(SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")))'
    assert run(sha) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    mac = ('Convert.ToBase64String(new System.Security.Cryptography.HMACSHA256('
           'Encoding.UTF8.GetBytes("k")).ComputeHash(Encoding.UTF8.GetBytes("abc")))')
    assert run(mac) == "NC5RnOCtbAOja5jus/HRMNtIE7nfTRFg7aSI1xLceO4="
    assert run("new Random(7).Next(1, 3)") in (1, 2)
    assert run('new [] {"POST"}.Contains("post", StringComparer.OrdinalIgnoreCase)') is True


@pytest.mark.parametrize(("source", "bounded"), [
    ("@(context.Request.IpAddress)", True), ('@(context.Api.Name + "-" + 1)', True),
    ('@($"{context.Operation.Id}")', True), ("@(context.User == null ? 1 : 2)", True),
    ('@(context.Request.Headers.GetValueOrDefault("a", ""))', False),
    ('@(context.Variables["x"])', False), ("@(new [] { 1, 2 }.Any(x => x > 1))", False),
    ("@{ return 1; }", False), ('@(new string[] { "a" })', False),
])
def test_expressions_that_cannot_loop_skip_the_work_budget(source: str, bounded: bool) -> None:
    from kubegate.sources.apim.expressions import compile_expression
    assert compile_expression(source).bounded is bounded


@pytest.mark.parametrize(("source", "direct"), [
    ("@(context.Request.IpAddress)", True), ("@(context.Request.Url.Path)", True),
    ("@(context.Operation?.Id)", False), ('@(context.Api.Name + "-")', False),
    ('@(context.Request.Headers.GetValueOrDefault("a", ""))', False),
])
def test_member_reads_of_the_context_are_evaluated_directly(source: str, direct: bool) -> None:
    """`context.A.B` needs no evaluation state: it is read as a plain chain of members,
    with the same value as the general evaluator gives."""
    from kubegate.sources.apim.expressions import compile_expression
    from kubegate.sources.apim.expressions.codegen import Env

    compiled = compile_expression(source)
    assert (compiled._direct is not None) is direct
    ctx = make_context()
    assert compiled(ctx) == compiled._fn(Env(ctx))  # type: ignore[misc]


def test_a_member_read_stays_right_when_the_value_changes_type() -> None:
    from kubegate.policies.context import UserInfo
    from kubegate.sources.apim.expressions import compile_expression

    email = compile_expression("@(context.User.Email)")
    ctx = make_context()
    ctx.User = UserInfo(Id="u1", Email="a@example.com")
    assert email(ctx) == "a@example.com"
    assert email(ctx) == "a@example.com"  # from the remembered type
    ctx.User = None
    with pytest.raises(ExpressionError, match="Object reference"):
        email(ctx)
    ctx.Variables["o"] = JObject({"Email": "x"})  # another type with no such member
    with pytest.raises(ExpressionError, match="not a member"):
        compile_expression("@(context.Variables.Count.Email)")(ctx)
