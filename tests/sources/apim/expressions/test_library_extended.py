"""Newer library members: symmetric encryption, HMAC initializers, Array, BitConverter, Guid,
DateTimeOffset, Regex, Uri, AsBasic, form bodies, LINQ to XML, JArray.FromObject, IPAddress.
Expected values are what .NET returns."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from expr_helpers import make_context, run

from kubegate.policies.context import Response
from kubegate.sources.apim.expressions import ExpressionError, compile_expression

# NIST SP 800-38A F.2.1 (AES-128-CBC), first block
NIST_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
NIST_IV = "000102030405060708090a0b0c0d0e0f"
NIST_PLAIN = "6bc1bee22e409f96e93d7e117393172a"
NIST_CIPHER = "7649abac8119b246cee98e9b12e9197d"


def b64hex(text: str) -> str:
    return base64.b64encode(bytes.fromhex(text)).decode()


def test_encrypt_aes_cbc_pkcs7_matches_the_nist_vector() -> None:
    ctx = make_context()
    ctx.Variables.update(key=b64hex(NIST_KEY), iv=b64hex(NIST_IV), plain=b64hex(NIST_PLAIN))
    out = run("""@{
        byte[] key = Convert.FromBase64String((string)context.Variables["key"]);
        byte[] iv = Convert.FromBase64String((string)context.Variables["iv"]);
        byte[] data = Convert.FromBase64String((string)context.Variables["plain"]);
        return Convert.ToBase64String(data.Encrypt("Aes", key, iv));
    }""", ctx)
    raw = base64.b64decode(out)
    # .NET pads a whole block with PKCS7, so a 16-byte input encrypts to 32 bytes
    assert len(raw) == 32 and raw[:16].hex() == NIST_CIPHER


def test_encrypt_then_decrypt_round_trips_with_every_overload() -> None:
    source = """@{
        var key = Convert.FromBase64String("AAECAwQFBgcICQoLDA0ODxAREhMUFRYX");   // 192-bit
        var iv = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff").ToByteArray();
        var secret = Encoding.UTF8.GetBytes("hello, world");
        var a = secret.Encrypt("Aes", key, iv);
        var aes = Aes.Create();
        aes.Key = key;
        aes.IV = iv;
        var b = secret.Encrypt(aes);
        var c = secret.Encrypt(Aes.Create(), key, iv);
        return Encoding.UTF8.GetString(a.Decrypt("Aes", key, iv)) + "|" +
               (Convert.ToBase64String(a) == Convert.ToBase64String(b)) + "|" +
               (Convert.ToBase64String(b) == Convert.ToBase64String(c)) + "|" +
               Encoding.UTF8.GetString(c.Decrypt(aes));
    }"""
    assert run(source) == "hello, world|True|True|hello, world"


def test_aes_property_initializer_ecb_and_triple_des() -> None:
    ctx = make_context()
    ctx.Variables["key"] = b64hex(NIST_KEY)
    ctx.Variables["plain"] = b64hex(NIST_PLAIN)
    out = run("""@{
        var aes = Aes.Create();
        aes.Mode = CipherMode.ECB;
        aes.Padding = PaddingMode.None;
        aes.Key = Convert.FromBase64String((string)context.Variables["key"]);
        return BitConverter.ToString(Convert.FromBase64String((string)context.Variables["plain"])
            .Encrypt(aes)).Replace("-", "").ToLower();
    }""", ctx)
    assert out == "3ad77bb40d7a3660a89ecaf32466ef97"  # NIST F.1.1 (AES-128-ECB)
    assert run("""@{
        var key = new byte[24]; var iv = new byte[8];
        return Encoding.ASCII.GetString(Encoding.ASCII.GetBytes("3des").Encrypt("TripleDES", key, iv)
            .Decrypt("TripleDES", key, iv));
    }""") == "3des"


@pytest.mark.parametrize(("source", "message"), [
    ('new byte[16].Decrypt("Aes", new byte[16], new byte[16])', "Padding is invalid"),
    ('new byte[5].Decrypt("Aes", new byte[16], new byte[16])', "not a complete block"),
    ('new byte[1].Encrypt("Aes", new byte[10], new byte[16])', "key is not a valid size"),
    ('new byte[1].Encrypt("Aes", new byte[16], new byte[8])', "initialization vector"),
    ('new byte[1].Encrypt("Rijndael2", new byte[16], new byte[16])', "not supported"),
])
def test_encryption_errors(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        run(source)


def test_hmac_key_object_initializer() -> None:
    source = """@{
        var h = new System.Security.Cryptography.HMACSHA256 { Key = Convert.FromBase64String("c2VjcmV0") };
        return Convert.ToBase64String(h.ComputeHash(Encoding.UTF8.GetBytes("payload")));
    }"""
    expected = base64.b64encode(hmac.new(b"secret", b"payload", hashlib.sha256).digest()).decode()
    assert run(source) == expected


@pytest.mark.parametrize(("source", "expected"), [
    ("new Guid(new byte[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}).ToString()",
     "03020100-0504-0706-0809-0a0b0c0d0e0f"),
    ("new Guid(\"03020100-0504-0706-0809-0a0b0c0d0e0f\").ToByteArray()[0]", 0),
    ("@{ var g = new byte[16]; Array.Copy(new byte[] {9, 8, 7}, 0, g, 13, 3); "
     "return new Guid(g).ToString(); }", "00000000-0000-0000-0000-000000090807"),
    ("@{ var a = new string[3]; Array.Copy(new [] {\"x\", \"y\"}, a, 2); return a[1]; }", "y"),
    ("Array.Exists(new [] {\"a\", \"b\"}, e => e == \"b\")", True),
    ("Array.IndexOf(new [] {3, 4}, 4)", 1),
    ("BitConverter.ToInt32(new byte[] {1, 0, 0, 128}, 0)", -2147483647),
    ("BitConverter.ToUInt16(new byte[] {0, 1}, 0)", 256),
    ("BitConverter.ToString(BitConverter.GetBytes(258))", "02-01-00-00"),
    ("Convert.ToByte(int.Parse(\"200\"))", 200), ("Convert.ToInt32(2.5)", 2),
    ("Convert.ToInt32(3.5)", 4), ("(int)3.5", 3),
    ("IPAddress.HostToNetworkOrder(-16777216)", 255),
    ("IPAddress.Parse(\"10.1.2.3\").GetAddressBytes()[3]", 3),
    ("new DateTimeOffset(DateTime.UtcNow.AddMinutes(10)).ToUnixTimeSeconds()", 1_700_000_600),
    ("(new DateTimeOffset(DateTime.Now)).ToUnixTimeSeconds() * 1000", 1_700_000_000_000),
    ("((DateTimeOffset)DateTime.UtcNow).ToUnixTimeSeconds()", 1_700_000_000),
    ("new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).ToUnixTimeSeconds()",
     1704157445),
    ("JArray.FromObject(new [] {\"a\", \"b\"}).ToString(Formatting.None)", '["a","b"]'),
])
def test_arrays_bits_guids_dates(source: str, expected: object) -> None:
    result = run(source)
    assert result == expected and type(result) is type(expected)


def test_correlation_guid_from_ticks() -> None:
    """The COMB id pattern: ten random GUID bytes and the six low bytes of the ticks."""
    source = """@{
        var guidBinary = new byte[16];
        Array.Copy(Guid.Empty.ToByteArray(), 0, guidBinary, 0, 10);
        long time = DateTime.UtcNow.Ticks;
        byte[] bytes = new byte[6];
        unchecked {
            bytes[5] = (byte)(time >> 40); bytes[4] = (byte)(time >> 32);
            bytes[3] = (byte)(time >> 24); bytes[2] = (byte)(time >> 16);
            bytes[1] = (byte)(time >> 8); bytes[0] = (byte)(time);
        }
        Array.Copy(bytes, 0, guidBinary, 10, 6);
        return new Guid(guidBinary).ToString();
    }"""
    ticks = 621355968000000000 + 1_700_000_000 * 10_000_000
    assert run(source) == "00000000-0000-0000-0000-" + ticks.to_bytes(8, "little")[:6].hex()


@pytest.mark.parametrize(("source", "expected"), [
    ('Regex.Match("public, max-age=120", @"max-age=(?<maxAge>\\d+)").Groups["maxAge"]?.Value',
     "120"),
    ('Regex.Match("no-cache", @"max-age=(?<maxAge>\\d+)").Groups["maxAge"].Success', False),
    ('Regex.Match("no-cache", @"max-age=(?<maxAge>\\d+)").Groups["maxAge"]?.Value', ""),
    ('Regex.IsMatch("ABC", "^abc$", RegexOptions.IgnoreCase)', True),
    ('Regex.Replace("a1b22", @"(\\d+)", "<$1>")', "a<1>b<22>"),
    ('Regex.Replace("john smith", @"(?<f>\\w+) (?<l>\\w+)", "${l}, ${f} $$ $&")',
     "smith, john $ john smith"),
    ('Regex.Replace("abc", "b", m => m.Value.ToUpper())', "aBc"),
    ('Regex.Matches("a1b2c3", @"\\d").Count', 3),
    ('Regex.Matches("a1b2", @"\\d")[1].Index', 3),
    ('string.Join("|", Regex.Split("a1b2c", @"\\d"))', "a|b|c"),
    ('new Regex(@"(\\w)(\\d)").Match("x9").Groups[2].Value', "9"),
    ('Regex.Unescape(@"a\\.b\\t")', "a.b\t"),
    ('Regex.Escape("a.b*c")', "a\\.b\\*c"),
])
def test_regex(source: str, expected: object) -> None:
    assert run(source) == expected


def test_regex_catastrophic_backtracking_times_out() -> None:
    with pytest.raises(ExpressionError, match="timed out"):
        run('Regex.IsMatch(new string(\'a\', 1).PadLeft(60, \'a\') + "!", @"^(a|aa)+$")'
            .replace("new string('a', 1)", '"a"'))


def test_regex_pattern_from_a_variable_is_checked_at_run_time() -> None:
    ctx = make_context()
    ctx.Variables["p"] = "("
    with pytest.raises(ExpressionError, match="invalid regular expression"):
        run('Regex.IsMatch("x", (string)context.Variables["p"])', ctx)


@pytest.mark.parametrize(("source", "expected"), [
    ('new Uri("https://Example.com:8443/oauth/sign in?x=1#f").AbsolutePath', "/oauth/sign%20in"),
    ('new Uri("https://example.com/oauth/x").AbsolutePath.StartsWith("/oauth", '
     'StringComparison.InvariantCultureIgnoreCase)', True),
    ('new Uri("https://Example.com:8443/a?x=1").Host', "example.com"),
    ('new Uri("https://example.com:8443/a?x=1").Port', 8443),
    ('new Uri("http://example.com/a").Port', 80),
    ('new Uri("https://example.com/a/b?x=1").PathAndQuery', "/a/b?x=1"),
    ('new Uri("https://example.com/a?x=1").Query', "?x=1"),
    ('new Uri("https://example.com:443/a").AbsoluteUri', "https://example.com/a"),
    ('new Uri("https://example.com/a/b/").Segments.Length', 3),
    ('new Uri(new Uri("https://example.com/a/b"), "c").ToString()', "https://example.com/a/c"),
])
def test_uri(source: str, expected: object) -> None:
    assert run(source) == expected


def test_uri_rejects_relative_text() -> None:
    with pytest.raises(ExpressionError, match="Invalid URI"):
        run('new Uri("/relative/path").AbsolutePath')


@pytest.mark.parametrize(("header", "expected"), [
    ("Basic " + base64.b64encode(b"alice:s3:cret").decode(), "alice|s3:cret"),
    ("basic " + base64.b64encode(b"bob:").decode(), "bob|"),
    ("Basic " + base64.b64encode(b"nocolon").decode(), "null"),
    ("Bearer abc", "null"), ("Basic !!!", "null"), ("", "null"),
])
def test_as_basic(header: str, expected: str) -> None:
    ctx = make_context()
    ctx.Variables["h"] = header
    source = ('@{ var c = ((string)context.Variables["h"]).AsBasic(); '
              'return c == null ? "null" : c.UserId + "|" + c.Password; }')
    assert run(source, ctx) == expected


def test_form_body() -> None:
    ctx = make_context(body=b"code=abc&state=s%201+2&a=1&a=2&empty=")
    assert run('context.Request.Body.AsFormUrlEncodedContent(preserveContent: true)["code"].Single()',
               ctx) == "abc"
    assert run('context.Request.Body.AsFormUrlEncodedContent(true)["state"][0]', ctx) == "s 1 2"
    assert run('string.Join(",", context.Request.Body.AsFormUrlEncodedContent(true)["a"])',
               ctx) == "1,2"
    assert run('context.Request.Body.AsFormUrlEncodedContent()["empty"].Single()', ctx) == ""
    # without preserveContent the body is consumed, as APIM does
    assert run('context.Request.Body.AsFormUrlEncodedContent().Count', ctx) == 0
    with pytest.raises(ExpressionError, match="not present"):
        run('context.Request.Body.AsFormUrlEncodedContent()["missing"]', make_context(body=b"a=1"))


XML = (b'<m:message1 xmlns:m="urn:m"><m:conditionValue>true</m:conditionValue>'
       b'<value1 id="7">MESSAGE1_TEST1</value1><value2><b>x</b>y</value2></m:message1>')


def test_xdocument_queries() -> None:
    ctx = make_context()
    ctx.Variables["r"] = Response(200, "OK", [], XML)
    source = """@{
        var doc = XDocument.Parse(((IResponse)context.Variables["r"]).Body.As<string>());
        var obj = new JObject();
        obj["conditionValue"] = doc.Descendants().Where(r => r.Name.LocalName == "conditionValue").First().Value;
        obj["value1"] = doc.Descendants("value1").First().Value;
        obj["id"] = (string)doc.Root.Element("value1").Attribute("id");
        obj["value2"] = doc.Root.Element("value2").Value;
        obj["ns"] = doc.Root.Name.NamespaceName;
        obj["count"] = doc.Root.Elements().Count();
        return obj;
    }"""
    assert run(source, ctx) == {"conditionValue": "true", "value1": "MESSAGE1_TEST1",
                                "id": "7", "value2": "xy", "ns": "urn:m", "count": 3}
    assert run('(bool)JObject.Parse("{\\"c\\": \\"true\\"}")["c"]') is True


def test_body_as_xelement_and_hostile_xml() -> None:
    ctx = make_context(body=b"<a><b>1</b></a>")
    assert run('context.Request.Body.As<XElement>(preserveContent: true).Element("b").Value',
               ctx) == "1"
    assert run('context.Request.Body.As<XDocument>().Root.Name.LocalName', ctx) == "a"
    bomb = ('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>')
    ctx = make_context()
    ctx.Variables["x"] = bomb
    with pytest.raises(ExpressionError, match="invalid XML"):
        run('XDocument.Parse((string)context.Variables["x"])', ctx)


def test_jarray_from_header_names() -> None:
    ctx = make_context()
    ctx.Response = Response(200, "OK", [("internal-a", "1"), ("X-Other", "2"), ("Internal-B", "3")])
    source = """@{
        var jArray = JArray.FromObject(context.Response.Headers.Keys.Where(
            h => h.StartsWith("internal-", StringComparison.OrdinalIgnoreCase)));
        jArray.Add("internal-dummy-header");
        return jArray;
    }"""
    assert run(source, ctx) == ["internal-a", "Internal-B", "internal-dummy-header"]


def test_expression_can_be_reused_across_requests() -> None:
    """Compiled once, evaluated per request: locals and functions do not leak between runs."""
    fn = compile_expression("@{ int n = 0; void Inc() { n++; } Inc(); Inc(); return n; }")
    assert fn(make_context()) == 2 and fn(make_context()) == 2


def test_regex_time_is_bounded_per_evaluation() -> None:
    """Each match has a timeout, and all matches of one evaluation share a budget."""
    source = """@{
        var n = 0;
        foreach (var i in new int[100]) {
            try { if (Regex.IsMatch("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", @"^(a|aa)+$")) { n++; } }
            catch (Exception e) { n += 10; }
        }
        return n;
    }"""
    import time
    start = time.monotonic()
    with pytest.raises(ExpressionError, match="time budget"):
        run(source)
    assert time.monotonic() - start < 3


def test_large_arrays_spend_the_work_budget() -> None:
    source = "@{ var n = 0; foreach (var i in new int[1000]) { n += new byte[100000].Length; } return n; }"
    with pytest.raises(ExpressionError, match="work budget"):
        run(source)
