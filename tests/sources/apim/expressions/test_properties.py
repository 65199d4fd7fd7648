"""Property tests: no input makes the compiler hang, crash or run code."""

from __future__ import annotations

from expr_helpers import make_context
from hypothesis import given, settings
from hypothesis import strategies as st

from kubegate.sources.apim.expressions import (
    ExpressionCompileError,
    ExpressionError,
    compile_expression,
)

ALPHABET = st.sampled_from(list("()[]{}<>.,;:?!=+-*/%&|^~\"'@$\\ \n0123456789abcxyz_"))
TOKENS = st.sampled_from([
    "context", ".", "Request", "Headers", "GetValueOrDefault", "(", ")", "[", "]", "\"a\"", "'b'",
    "1", "2.5", "null", "true", "?", ":", "??", "?.", "+", "-", "==", "&&", "||", "!", "<", ">",
    "string", "(string)", "var", "x", "=", ";", "return", "if", "else", "foreach", "in", "{",
    "}", "=>", "new", "JObject", "$\"{", "}\"", "@\"", "\"", "Split", "Length", "Variables",
    ",", "<string>", "As", "Body", "is", "as", "Math", "Max",
])
ctx = make_context()


def _check(source: str) -> None:
    try:
        fn = compile_expression(source)
    except ExpressionCompileError as e:
        assert e.line >= 1 and e.column >= 1
        return
    try:
        fn(ctx)
    except ExpressionError:
        pass


@settings(max_examples=300, deadline=500)
@given(st.text(ALPHABET, max_size=80))
def test_random_text_only_fails_with_compile_errors(text: str) -> None:
    _check("@(" + text + ")")
    _check("@{" + text + "}")
    _check(text)


@settings(max_examples=300, deadline=500)
@given(st.lists(TOKENS, max_size=40))
def test_random_token_soup_only_fails_with_our_errors(tokens: list[str]) -> None:
    body = " ".join(tokens)
    _check("@(" + body + ")")
    _check("@{" + body + "}")


@settings(max_examples=100, deadline=1000)
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["(", "[", "!", "-", "$\"{"]))
def test_deep_nesting_is_refused_not_crashing(depth: int, opener: str) -> None:
    _check("@(" + opener * depth + "1")
    _check("@(" + opener * depth + "1" + ")" * depth + ")")


@settings(max_examples=200, deadline=500)
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6))
def test_integer_arithmetic_matches_csharp(a: int, b: int) -> None:
    add = compile_expression(f"@(({a}) + ({b}))")(None)
    assert add == a + b
    if b != 0:
        quotient = compile_expression(f"@(({a}) / ({b}))")(None)
        remainder = compile_expression(f"@(({a}) % ({b}))")(None)
        assert quotient * b + remainder == a
        assert abs(remainder) < abs(b) and (remainder == 0 or (remainder > 0) == (a > 0))
