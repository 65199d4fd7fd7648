from __future__ import annotations

import pytest
from expr_helpers import make_context

from kubegate.sources.apim.expressions import (
    ExpressionCompileError,
    compile_expression,
    compile_value,
    is_expression,
    resolve_named_values,
)


@pytest.mark.parametrize(("source", "line", "column", "message"), [
    ("@(context.Foo)", 1, 11, "unknown or unsupported member 'Foo'"),
    ("@(1 +)", 1, 6, "expected an expression"),
    ('@("abc)', 1, 3, "unterminated string"),
    ("@(foo.Bar)", 1, 3, "unknown name 'foo'"),
    ("@(System.IO.File.ReadAllText(\"x\"))", 1, 10, "unknown name 'IO'"),
    ("@(Math.Sqrt(2))", 1, 8, "'Math.Sqrt' is not supported"),
    ("@{\n  var x = 1;\n  while (true) { }\n}", 3, 3, "'while' statements are not supported"),
    ("@{\n  y = 2;\n  return y;\n}", 2, 3, "'y' is not a declared local variable"),
    ("@{ var x = 1; var x = 2; return x; }", 1, 19, "'x' is already declared"),
    ("@(typeof(string))", 1, 3, "'typeof' is not supported"),
    ("@(x => x)", 1, 5, "expected end of expression"),
    ("@(1 2)", 1, 5, "expected end of expression"),
    ("@(a[)", 1, 5, "expected an expression"),
    ("@(context.Variables[)", 1, 21, "expected an expression"),
    ('@($"{1:N2}")', 1, 7, "format and alignment"),
    ("@(context.Request.Body.As<string>(out var x))", 1, 35, "'out' arguments"),
    ("@(context.__class__)", 1, 11, "unknown or unsupported member '__class__'"),
    ("@(\"x\".__len__())", 1, 7, "unknown or unsupported member '__len__'"),
    ("@{ return 1 }", 1, 13, "expected ';'"),
    ("@(1)@(2)", 1, 5, "unexpected character '@'"),
    ("plain text", 1, 1, "expected an expression"),
    ("@{ }", 1, 3, "empty block"),
    ("@(new System.Net.WebClient())", 1, 3, "'new System.Net.WebClient' is not supported"),
])
def test_compile_errors_have_positions(source: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ExpressionCompileError) as info:
        compile_expression(source)
    assert message in info.value.message
    assert (info.value.line, info.value.column) == (line, column)


def test_positions_are_relative_to_the_document() -> None:
    with pytest.raises(ExpressionCompileError) as info:
        compile_expression("@(context.Nope)", line=12, column=30)
    assert (info.value.line, info.value.column) == (12, 40)
    with pytest.raises(ExpressionCompileError) as info:
        compile_expression("@{\n    return context.Nope;\n}", line=12, column=30)
    assert (info.value.line, info.value.column) == (13, 20)
    assert str(info.value).startswith("13:20: ")


def test_named_values_are_substituted_and_positions_survive() -> None:
    nv = {"base": "https://backend", "count": "3"}
    expr = compile_expression('@("{{base}}/x" + ({{count}} + 1))', named_values=nv)
    assert expr(make_context()) == "https://backend/x4"
    with pytest.raises(ExpressionCompileError) as info:
        compile_expression("@({{count}} + context.Nope)", named_values=nv, line=5, column=10)
    assert (info.value.line, info.value.column) == (5, 10 + len("@({{count}} + context."))
    with pytest.raises(ExpressionCompileError, match="unknown named value 'missing'") as info:
        compile_expression('@("{{missing}}")', named_values=nv, line=2, column=4)
    assert (info.value.line, info.value.column) == (2, 7)


def test_templates_and_detection() -> None:
    assert is_expression(" @(1) ") and is_expression("@{ return 1; }")
    assert not is_expression("text @(1)") and not is_expression("@(1) text")
    literal = compile_value("Bearer {{token}}", named_values={"token": "abc"})
    assert literal.is_constant and literal.value == "Bearer abc"
    assert literal(None) == "Bearer abc"
    dynamic = compile_value("@(context.Api.Name)")
    assert not dynamic.is_constant and dynamic(make_context()) == "Orders"
    assert compile_value("{{nv}}", named_values={"nv": "@(1 + 1)"})(None) == 2
    assert resolve_named_values("a{{x}}b{{y}}", {"x": "1", "y": "2"}) == "a1b2"
    with pytest.raises(ExpressionCompileError, match="unknown named value 'z'") as info:
        compile_value("v={{z}}", named_values={}, line=3, column=9)
    assert (info.value.line, info.value.column) == (3, 11)
    assert compile_value("no refs").value == "no refs"


def test_depth_limit_is_a_compile_error() -> None:
    with pytest.raises(ExpressionCompileError, match="nested too deeply"):
        compile_expression("@(" + "(" * 500 + "1" + ")" * 500 + ")")
    with pytest.raises(ExpressionCompileError, match="nested too deeply"):
        compile_expression("@(" + " + ".join(["1"] * 400) + ")")
    with pytest.raises(ExpressionCompileError, match="nested too deeply"):
        compile_expression("@(" + "!" * 500 + "true)")
    assert compile_expression("@(" + " + ".join(["1"] * 100) + ")")(None) == 100
