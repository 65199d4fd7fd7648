from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from expr_helpers import make_context, run

from kubegate.policies import context as context_module
from kubegate.policies.context_http import Headers, MessageBody, Request, Response, Url
from kubegate.policies.context_info import LastError, UserInfo
from kubegate.sources.apim import expressions
from kubegate.sources.apim.expressions import (
    CONTEXT_MEMBERS,
    ExpressionCompileError,
    ExpressionError,
    compile_expression,
)
from kubegate.sources.apim.expressions.chains import KNOWN_MEMBERS, get_member

PACKAGE = Path(expressions.__file__).parent


def test_compiler_never_uses_eval_exec_or_compile() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec", "compile", "__import__"}, path


def test_no_allow_listed_name_is_private() -> None:
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", name) for name in KNOWN_MEMBERS)


@pytest.mark.parametrize("cls", [context_module.Context, Request, Response, Url, Headers,
                                 MessageBody, LastError, UserInfo])
def test_context_classes_expose_exactly_their_schema(cls: type) -> None:
    members = cls.__cs_members__  # type: ignore[attr-defined]
    assert members == CONTEXT_MEMBERS[cls.__cs_type__]  # type: ignore[attr-defined]
    for name in members:
        assert hasattr(cls, name) or name in getattr(cls, "__slots__", ()), name


def test_run_time_lookup_is_limited_to_the_value_type() -> None:
    ctx = make_context()
    # "Method" is a legal member name (of Request), but not of Url: refused at run time.
    with pytest.raises(ExpressionError, match="not a member"):
        run("context.Request.Url.Method", ctx)
    with pytest.raises(ExpressionError, match="not a member"):
        get_member(ctx, "_clock")
    with pytest.raises(ExpressionError, match="is a method"):
        run("context.Request.Body.As", ctx)


@pytest.mark.parametrize("source", [
    "@(context.GetType())", "@(context.Request.__dict__)", "@(Type.GetType(\"System.IO.File\"))",
    "@(System.Environment.GetEnvironmentVariable(\"HOME\"))", "@(context.Variables.Clear())",
    "@{ while (true) { } return 1; }", "@{ for (;;) { } }", "@(new System.IO.StreamReader(\"x\"))",
    "@(Activator.CreateInstance(null))", "@(AppDomain.CurrentDomain)",
])
def test_out_of_subset_code_is_a_compile_error(source: str) -> None:
    with pytest.raises(ExpressionCompileError):
        compile_expression(source)


def test_work_is_bounded() -> None:
    src = """@{
        var s = "ab";
        foreach (var a in "0123456789") { foreach (var b in "0123456789") {
          foreach (var c in "0123456789") { foreach (var d in "0123456789") {
            foreach (var e in "0123456789") { s = s; } } } } }
        return s;
    }"""
    with pytest.raises(ExpressionError, match="work budget"):
        run(src)
    doubling = '@{ var s = "xx"; foreach (var c in "0123456789012345678901234567") { s = s.Replace("x", "xx"); } return s; }'
    with pytest.raises(ExpressionError, match="too large"):
        run(doubling)
    with pytest.raises(ExpressionError, match="padding"):
        run('"x".PadLeft(100000000)')


def test_integers_stay_64_bit() -> None:
    assert run("9223372036854775807 + 1") == -(2**63)
    squares = '@{ var x = 3; foreach (var c in "' + "a" * 60 + '") { x *= x; } return x; }'
    assert -(2**63) <= run(squares) < 2**63
    with pytest.raises(ExpressionCompileError, match="too large"):
        compile_expression("@(" + "9" * 5000 + ")")
    with pytest.raises(ExpressionError, match="too large or too small"):
        run('int.Parse("' + "9" * 30 + '")')
    with pytest.raises(ExpressionError, match="too large or too small"):
        run("(long)1e300")
