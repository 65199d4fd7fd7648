"""Compile every expression found in the APIM policy corpus and report the failures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

import pytest
from corpus_scan import CORPUS, corpus_expressions

from kubegate.sources.apim.expressions import ExpressionCompileError, compile_expression

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not present at {CORPUS}")


class AnyNamedValue(Mapping[str, str]):
    """Every ``{{name}}`` resolves to "1" (the corpus's named values are not available)."""

    def __getitem__(self, key: str) -> str:
        return "1"

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_corpus_expressions_compile() -> None:
    found = corpus_expressions()
    assert len(found) > 400
    failures: Counter[str] = Counter()
    ok = 0
    for path, line, expr in found:
        try:
            compile_expression(expr, line=line, named_values=AnyNamedValue())
            ok += 1
        except ExpressionCompileError as e:
            assert e.line >= line, (path, e)
            failures[e.message] += 1
    print(f"\n{ok}/{len(found)} corpus expressions compile; most common failures:")
    for message, count in failures.most_common(10):
        print(f"{count:4}  {message}")
    assert ok / len(found) >= 0.9
