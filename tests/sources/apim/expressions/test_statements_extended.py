"""Local functions, try/catch, nested and unchecked blocks, constants, C# integer widths,
arrays, dictionaries, anonymous objects and object initializers: evaluated, with .NET results."""

from __future__ import annotations

import pytest
from expr_helpers import run

from kubegate.sources.apim.expressions import (
    ExpressionCompileError,
    ExpressionError,
    compile_expression,
)


@pytest.mark.parametrize(("source", "expected"), [
    # int arithmetic wraps at 32 bits, long at 64; shift counts are masked (& 31 / & 63)
    ("int.MaxValue + 1", -2147483648), ("long.MaxValue + 1", -(2**63)),
    ("1 << 33", 2), ("1L << 33", 8589934592), ("-1 << 32", -1), ("-1 << 24", -16777216),
    ("-16 >> 2", -4), ("(uint)(-1) >> 1", 2147483647), ("0x7FFFFFFF * 2", -2),
    ("(byte)300", 44), ("(short)40000", -25536), ("(sbyte)200", -56), ("(ushort)(-1)", 65535),
    ("(int)3000000000L", -1294967296), ("(uint)(-1)", 4294967295), ("(int)3.99", 3),
    ("(int)-3.99", -3), ("(long)1e10", 10_000_000_000), ("'a' + 1", 98), ("(int)'A'", 65),
    ("(char)66", "B"), ("~0", -1), ("5 >> 1 << 2", 8), ("1 + 2 << 3", 24),
    ("1 << 2 < 5", True),
])
def test_integer_widths(source: str, expected: object) -> None:
    result = run(source)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("source", "expected"), [
    ("@{ int x = int.MaxValue; x++; return x; }", -2147483648),
    ("@{ var host = int.Parse(\"0\"); host = -1 << (32 - host); return host; }", -1),
    ("@{ short s = 32767; s += 1; return s; }", -32768),
    ("@{ byte b = 255; b++; return b; }", 0),
    ("@{ long t = 1L << 40; return (byte)(t >> 40); }", 1),
    ("@{ const uint Lifetime = 60 * 20; return Lifetime; }", 1200),
    ("@{ double d = 3; return d / 2; }", 1.5),
    ("@{ unchecked { return int.MaxValue * 2; } }", -2),
    ("@{ var x = 1; { var y = 2; x = x + y; } return x; }", 3),
])
def test_typed_locals(source: str, expected: object) -> None:
    result = run(source)
    assert result == expected and type(result) is type(expected)


def test_local_functions_recursion_closures_and_hoisting() -> None:
    source = """@{
        int total = 0;
        int Fact(int n) { if (n <= 1) { return 1; } return n * Fact(n - 1); }
        void Add(int v) { total += v; }
        Add(Twice(5));          // called before its declaration, as C# allows
        int Twice(int v) { var t = v * 2; return t; }
        Add(Fact(5));
        return total;
    }"""
    assert run(source) == 130


def test_local_function_variables_are_per_call() -> None:
    source = """@{
        int Depth(int n) { var here = n; if (n > 0) { Depth(n - 1); } return here; }
        return Depth(5);
    }"""
    assert run(source) == 5


def test_local_function_return_type_and_parameters_convert() -> None:
    source = """@{
        short Swap(short host) { return (short)((((int)host & 0xFF) << 8) | (int)((host >> 8) & 0xFF)); }
        int Order(int host) {
            return (((int)Swap((short)host) & 0xFFFF) << 16) | ((int)Swap((short)(host >> 16)) & 0xFFFF);
        }
        return Order(-1 << 24);
    }"""
    # IPAddress.HostToNetworkOrder(-16777216) == 255 on a little-endian machine
    assert run(source) == 255


def test_void_local_function_with_return_and_json() -> None:
    source = """@{
        var result = new JObject();
        void Put(JObject target, string name, string body) {
            if (body == null) { return; }
            try { target.Add(name, JToken.Parse(body)); }
            catch (Exception ex) { target.Add(name, body); }
        }
        Put(result, "a", "{\\"x\\": 1}");
        Put(result, "b", "not json");
        Put(result, "c", null);
        return result.ToString(Newtonsoft.Json.Formatting.None);
    }"""
    assert run(source) == '{"a":{"x":1},"b":"not json"}'


def test_recursion_is_bounded() -> None:
    with pytest.raises(ExpressionError, match="nested too deeply"):
        run("@{ int F(int n) { return F(n + 1); } return F(0); }")


def test_mutual_recursion_spends_the_work_budget() -> None:
    source = """@{
        int A(int n) { if (n == 0) { return 0; } return B(n - 1) + 1; }
        int B(int n) { if (n == 0) { return 0; } return A(n - 1) + 1; }
        var sum = 0;
        foreach (var i in Enumerable) { sum += A(20); }
        return sum;
    }""".replace("Enumerable", "new int[100000]")
    with pytest.raises(ExpressionError, match="work budget"):
        run(source)


@pytest.mark.parametrize(("source", "expected"), [
    ('@{ try { return int.Parse("x"); } catch (Exception e) { return e.Message; } }',
     "input string 'x' was not in a correct format"),
    ('@{ try { return 1; } catch { return 2; } }', 1),
    ('@{ var r = ""; try { r = "a"; var n = ((string)null).Length; } catch (System.Exception) '
     '{ r += "b"; } finally { r += "c"; } return r; }', "abc"),
    ('@{ var r = 0; try { r = 1; } finally { r = 2; } return r; }', 2),
    ('@{ try { return Convert.FromBase64String("%%").Length; } catch (Exception e) { return -1; } }',
     -1),
])
def test_try_catch_finally(source: str, expected: object) -> None:
    assert run(source) == expected


def test_catch_does_not_stop_the_work_budget() -> None:
    source = """@{
        var n = 0;
        foreach (var a in new int[1000]) {
            try { foreach (var b in new int[1000]) { n += 1; } } catch (Exception e) { n = -1; }
        }
        return n;
    }"""
    with pytest.raises(ExpressionError, match="work budget"):
        run(source)


@pytest.mark.parametrize(("source", "expected"), [
    ("@{ var b = new byte[4]; b[1] = (byte)300; return Convert.ToBase64String(b); }", "ACwAAA=="),
    ("@{ var a = new string[3]; a[1] = \"x\"; return a[0] == null && a[1] == \"x\"; }", True),
    ("@{ var a = new int[2]; return a[0] + a.Length; }", 2),
    ("new byte[] {1, 2, 255}.Length", 3),
    ("new List<string>() { \"a\", \"b\" }.Count", 2),
    ("@{ var d = new Dictionary<string, string>() { {\"a\", \"1\"}, {\"b\", \"2\"} }; "
     "d[\"c\"] = \"3\"; d.Add(\"e\", \"5\"); "
     "return string.Join(\",\", d.Keys) + \"|\" + d[\"c\"]; }", "a,b,c,e|3"),
    ("@{ var d = new Dictionary<string, int> { {\"a\", 1}, {\"b\", 2} }; var s = 0; "
     "foreach (var kv in d) { s += kv.Value; } return s; }", 3),
    ('JsonConvert.SerializeObject(new { typ = "JWT", alg = "HS256" })',
     '{"typ":"JWT","alg":"HS256"}'),
    ('@{ var exp = 5L; var username = "j"; var p = new { exp, username }; '
     'return JsonConvert.SerializeObject(p) + p.username; }', '{"exp":5,"username":"j"}j'),
    ('new { a = 1, b = "x" }.ToString()', "{ a = 1, b = x }"),
    ('JObject.FromObject(new { n = 1 })["n"]', 1),
])
def test_arrays_collections_and_anonymous_objects(source: str, expected: object) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(("source", "message"), [
    ("@{ var b = new byte[2]; b[0] = 256; return b; }", "byte"),
    ("@{ var d = new Dictionary<string, string> { {\"a\", \"1\"}, {\"a\", \"2\"} }; return d; }",
     "same key"),
    ("new byte[-1]", "array size"),
    ("@{ var a = new int[2]; a[2] = 1; return a; }", "cannot assign"),
])
def test_collection_runtime_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        run(source)


@pytest.mark.parametrize(("source", "message", "column"), [
    ('@(context.Request.Method.Equals("patch=""", StringComparison.Ordinal))',
     "two string literals in a row", 41),
    ("@{ const int x = 1; x = 2; return x; }", "is a constant", 21),
    ("@{ return; }", "'return' needs a value", 4),
    ("@{ void F() { return 1; } F(); return 0; }", "void local function cannot return", 15),
    ("@{ int F(int a) { return a; } return F(); }", "takes 1 argument", 38),
    ("@{ return G(1); }", "unknown name 'G'", 11),
    ("@{ try { return 1; } catch (FormatException e) { return 2; } }", "catch Exception", 4),
    ("@{ checked { return 1; } }", "'checked' statements are not supported", 4),
    ("@{ int F(ref int a) { return a; } return 1; }", "'ref' parameters", 10),
    ("@(new HMACSHA256 { Nope = 1 })", "'Nope' cannot be set", 3),
    ("@(new Dictionary<string, string>() { {\"a\"} })", "expected '{ key, value }'", 38),
    ("@(new { 1 + 2 })", "needs a name", 9),
    ('@(Regex.IsMatch("x", "("))', "invalid regular expression", 22),
    ("@{ int x = 1; int x = 2; return x; }", "already declared", 19),
])
def test_compile_errors_have_positions(source: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionCompileError) as info:
        compile_expression(source, line=3, column=1)
    assert message in info.value.message
    assert (info.value.line, info.value.column) == (3, column)
