"""Resource limits of the expression runtime (security review, sections 1 and 2).

Each test uses the reviewer's input, scaled so that without the limit it would build a
value far past MAX_STRING (or run past the work budget); with the limit the error comes
quickly and before the large value exists."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from expr_helpers import run

from kubegate.sources.apim.expressions import ExpressionCompileError, ExpressionError, regexes
from kubegate.sources.apim.expressions.builtins import MAX_STRING
from kubegate.sources.apim.expressions.errors import BudgetExceeded

BIG = '"x".PadLeft(3000000)'  # 3 M characters: two of them pass MAX_STRING (4 MiB)


@contextmanager
def bounded(seconds: float = 1.0, peak_bytes: int = 3 * MAX_STRING) -> Iterator[None]:
    """The body runs within ``seconds`` and never holds much more than MAX_STRING."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        yield
    finally:
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, elapsed
    assert peak < peak_bytes, peak


# -- 1. string sizes are checked before the string is built -----------------------------

def test_string_plus_is_bounded() -> None:
    doubling = '@{ string f(string s, int n) { if (n == 0) { return s; } return f(s + s, n - 1); } ' \
               'return f("x", %d).Length; }'
    assert run(doubling % 10) == 1024
    with bounded(), pytest.raises(ExpressionError, match="string result too large"):
        run(doubling % 30)  # the reviewer's 1 GiB string
    with bounded(peak_bytes=int(2.5 * MAX_STRING)), \
            pytest.raises(ExpressionError, match="too large"):
        run(f"({BIG} + {BIG}).Length")


def test_replace_checks_the_result_size_first() -> None:
    squaring = '@{ string f(string s, int n) { if (n == 0) { return s; } ' \
               'return f(s.Replace("x", s), n - 1); } return f("xxx", %d).Length; }'
    assert run(squaring % 2) == 81
    # 9, 81, 6561, then 43 million characters: refused without being built
    with bounded(peak_bytes=MAX_STRING), pytest.raises(ExpressionError, match="too large"):
        run(squaring % 4)


@pytest.mark.parametrize("source", [
    f'string.Join({BIG}, new string[] {{ "a", "b", "c" }})',
    f'string.Join(",", new string[] {{ {BIG}, {BIG} }})',
    f"string.Concat({BIG}, {BIG})",
    f'string.Concat(new string[] {{ {BIG}, "y", {BIG} }})',
    f'string.Format("{{0}}{{0}}", {BIG})',
    f'string.Format("{{0}}" + "{{0}}".PadLeft(60000, \'z\'), {BIG})',
    f'{BIG}.Insert(1, {BIG})',
    '(5).ToString("D5000000")',
    '(5).ToString("F5000000")',
    f'Regex.Replace("aaaa", "a", {BIG})',
    f'Regex.Replace({BIG}, " ", "$_")',
    f'Regex.Replace("aa", "a", m => {BIG} + "")',
    f'Regex.Match({BIG}, ".*").Result("$&$&")',
])
def test_string_builders_refuse_oversized_results(source: str) -> None:
    with bounded(seconds=2.0), pytest.raises(ExpressionError, match="too large"):
        run(source)


def test_string_builders_still_work_below_the_limit() -> None:
    assert run('string.Join("-", new int[] { 1, 2, 3 })') == "1-2-3"
    assert run('string.Concat("a", 1, true)') == "a1True"
    assert run('string.Format("{0}-{1:D3}-{{ x }}", "a", 7)') == "a-007-{ x }"
    assert run('"abc".Insert(1, "XY")') == "aXYbc"
    assert run('(5).ToString("D3")') == "005"
    assert run('Regex.Replace("abc", "b", "[$_]")') == "a[abc]c"
    assert run('"x".PadLeft(4194304).Length') == MAX_STRING
    with pytest.raises(ExpressionError, match="not supported"):
        run('(5).ToString("D²")')  # a digit character that is not an ASCII digit


# -- 1. per-element work is charged to the budget -----------------------------------------

def test_join_charges_each_element() -> None:
    # the reviewer's input: ~0.2-2 s of CPU, formerly charged ~3,900 steps
    with bounded(seconds=0.5), pytest.raises(BudgetExceeded, match="work budget"):
        run('string.Join(",", new int[1000000])')
    assert len(run('string.Join(",", new int[10000])')) == 19999


def test_split_charges_each_part() -> None:
    commas = '"".PadLeft(2000000, \',\')'
    with bounded(seconds=0.5, peak_bytes=2 * MAX_STRING), \
            pytest.raises(BudgetExceeded, match="work budget"):
        run(f"{commas}.Split(',').Length")
    assert run('"".PadLeft(1000, \',\').Split(\',\').Length') == 1001


def test_built_characters_are_charged() -> None:
    # 100 strings of 4 M characters: no single one is too large, together they are a lot
    pads = '@{ var n = 0; foreach (var c in "".PadLeft(100, \'c\')) ' \
           '{ n += "x".PadLeft(4000000).Length; } return n; }'
    with bounded(seconds=1.0), pytest.raises(BudgetExceeded):
        run(pads)
    replaces = '@{ var s = "".PadLeft(3000000, \'a\'); var n = 0; ' \
               'foreach (var c in "".PadLeft(100, \'c\')) { n += s.Replace("a", "b").Length; } ' \
               'return n; }'
    with bounded(seconds=1.0), pytest.raises(BudgetExceeded):
        run(replaces)
    with bounded(seconds=1.0), pytest.raises(BudgetExceeded):
        run('"x".PadLeft(4000000).ToCharArray().Length')


def test_arrays_of_objects_cost_more_than_byte_arrays() -> None:
    four = '@{ var n = 0; foreach (var c in "abcd") { n += new %s[1000000].Length; } return n; }'
    assert run(four % "byte") == 4_000_000  # 4 x 3,907 steps
    with bounded(seconds=0.5, peak_bytes=4 * 8_000_000), pytest.raises(BudgetExceeded):
        run(four % "int")  # 8 MB of slots each: 4 x 31,251 steps


def test_regex_matches_and_replacements_are_charged() -> None:
    with pytest.raises(BudgetExceeded):
        run('@{ var n = 0; foreach (var c in "".PadLeft(100, \'c\')) '
            '{ n += Regex.Matches("".PadLeft(9000, \'a\'), "a").Count; } return n; }')


# -- 2. regular expressions ---------------------------------------------------------------

def test_nested_counted_repeats_are_refused_before_compiling() -> None:
    with bounded(seconds=0.5), pytest.raises(ExpressionCompileError) as info:
        run('Regex.IsMatch("a", "((a{1000}){1000}){1000}")')
    assert "repeat" in info.value.message
    assert (info.value.line, info.value.column) == (1, 22)  # the pattern argument
    with pytest.raises(ExpressionCompileError, match="repeat count 1001"):
        run('new Regex("a{2,1001}")')
    with pytest.raises(ExpressionCompileError, match="repeat count"):
        run('Regex.Replace("a", "(?:[{(]{5000})", "")')
    # a dynamic pattern fails when it runs
    with bounded(seconds=0.5), pytest.raises(ExpressionError, match="unroll"):
        run('@{ var p = "((a{1000})" + "{1000}){1000}"; return Regex.IsMatch("a", p); }')
    with pytest.raises(ExpressionError, match="unroll"):
        run('@{ var p = "a{1000}"; return Regex.IsMatch("a", p + p + p + "(b{100}){1000}"); }')


def test_counted_repeats_within_the_limits_compile() -> None:
    assert run('Regex.IsMatch("aaa", "^a{3}$")')
    assert run('Regex.IsMatch("a{5000}", "a{5000")')  # not a quantifier: a literal brace
    assert run(r'Regex.IsMatch("xyz", "\\p{L}{3}")')
    assert run(r'Regex.IsMatch("{1000000}", "\\{1000000}")')
    assert run(r'Regex.IsMatch("{1000000}", "[{]1000000}")')
    assert not run('Regex.IsMatch("a", "(a{1000}){100}")')
    assert regexes.check_pattern("(x{10}){10000}") is not None


def test_substitution_digits_are_ascii() -> None:
    assert run('Regex.Replace("a", "a", "$²")') == "$²"
    assert run('Regex.Replace("a", "(a)", "${²}")') == "${²}"
    assert run('Regex.Replace("a", "(a)", "[$1]")') == "[a]"


def test_groups_are_numbered_as_dotnet_does() -> None:
    assert run('Regex.Replace("ab", "(?<x>a)(b)", "[$1]")') == "[b]"
    assert run('Regex.Replace("ab", "(?<x>a)(b)", "[$2|${x}|${1}]")') == "[a|a|b]"
    assert run('Regex.Match("abc", "(?<x>a)(b)(?<y>c)").Groups[3].Name') == "y"
    assert run('Regex.Match("abc", "(?<x>a)(b)(?<y>c)").Groups[2].Value') == "a"
    assert run('Regex.Match("abc", "(?<x>a)(b)(?<y>c)").Groups["1"].Value') == "b"


def test_matches_stops_after_the_limit() -> None:
    # a million matches are not collected before MAX_MATCHES is applied
    with bounded(seconds=0.5), pytest.raises(ExpressionError, match="too many"):
        run('Regex.Matches("".PadLeft(1000000, \'a\'), "a").Count')
    assert run('Regex.Matches("".PadLeft(10000, \'a\'), "a").Count') == regexes.MAX_MATCHES


# -- 2. Random and BitConverter -------------------------------------------------------------

def test_random_next_follows_dotnet() -> None:
    for seed in range(20):
        assert run(f"new Random({seed}).Next(0)") == 0
        assert run(f"new Random({seed}).Next(1)") == 0
        assert 0 <= run(f"new Random({seed}).Next(3)") < 3
        assert run(f"new Random({seed}).Next(5, 5)") == 5
        assert 0 <= run(f"new Random({seed}).Next()") < 2**31 - 1
    with pytest.raises(ExpressionError, match="maxValue"):
        run("new Random(1).Next(-1)")
    with pytest.raises(ExpressionError, match="minValue"):
        run("new Random(1).Next(5, 4)")


def test_bitconverter_to_string_checks_its_range() -> None:
    data = "new byte[] { 1, 2, 3 }"
    assert run(f"BitConverter.ToString({data})") == "01-02-03"
    assert run(f"BitConverter.ToString({data}, 1)") == "02-03"
    assert run(f"BitConverter.ToString({data}, 1, 1)") == "02"
    assert run(f"BitConverter.ToString({data}, 2, 0)") == ""
    assert run("BitConverter.ToString(new byte[0], 0)") == ""
    for args, name in [("-1", "startIndex"), ("3", "startIndex"), ("3, 0", "startIndex"),
                       ("0, -1", "length"),
                       ("-1, 2", "startIndex")]:
        with pytest.raises(ExpressionError, match=f"out of the range.*'{name}'"):
            run(f"BitConverter.ToString({data}, {args})")
    with pytest.raises(ExpressionError, match="not long enough"):
        run(f"BitConverter.ToString({data}, 1, 3)")


def test_bitconverter_get_bytes_width_follows_the_static_type() -> None:
    def hex_of(arg: str) -> str:
        return str(run(f"BitConverter.ToString(BitConverter.GetBytes({arg}))"))
    assert hex_of("5") == "05-00-00-00"
    assert hex_of("(long)5") == "05-00-00-00-00-00-00-00"
    assert hex_of("5L") == "05-00-00-00-00-00-00-00"
    assert hex_of("(short)-2") == "FE-FF"
    assert hex_of("(byte)200") == "C8-00"  # no byte overload: C# picks short
    assert hex_of("(ulong)1") == "01-00-00-00-00-00-00-00"
    assert hex_of("1.5") == "00-00-00-00-00-00-F8-3F"
    assert hex_of("'A'") == "41-00"
    assert hex_of("true") == "01"
    assert run('@{ long n = 7; return BitConverter.GetBytes(n).Length; }') == 8
    # unknown static type: guessed from the value (documented approximation)
    assert run('BitConverter.GetBytes(context.Variables["count"]).Length') == 4
