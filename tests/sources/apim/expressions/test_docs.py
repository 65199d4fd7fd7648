"""The examples in docs/expressions.md give the results they claim."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from expr_helpers import run

from kubegate.sources.apim.expressions import ExpressionCompileError, compile_expression

DOC = Path(__file__).resolve().parents[4] / "docs" / "expressions.md"
TEXT = DOC.read_text() if DOC.exists() else ""
BLOCKS = re.findall(r"```text\n(.*?)```", TEXT, re.S)
EXAMPLES = [line.split("  ==>  ") for line in BLOCKS[0].splitlines()] if BLOCKS else []
ERRORS = [re.split(r"\s{2,}", line, maxsplit=1) for line in BLOCKS[1].splitlines()] \
    if len(BLOCKS) > 1 else []


def test_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 10 and len(ERRORS) >= 3


@pytest.mark.parametrize(("source", "expected"), EXAMPLES)
def test_documented_example(source: str, expected: str) -> None:
    assert run(source) == ast.literal_eval(expected)


@pytest.mark.parametrize(("source", "expected"), ERRORS)
def test_documented_error(source: str, expected: str) -> None:
    with pytest.raises(ExpressionCompileError) as info:
        compile_expression(source)
    assert str(info.value) == expected
