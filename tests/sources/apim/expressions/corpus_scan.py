"""Find ``@(...)``/``@{...}`` expressions in policy XML text (test helper)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[4] / ".." / "shared" / "corpora" / "apim-policies"


def _skip_string(text: str, j: int) -> int:
    """``j`` is at an opening quote; return the offset after the closing one."""
    verbatim = j > 0 and text[j - 1] == "@"
    quote = text[j]
    j += 1
    while j < len(text):
        c = text[j]
        if c == "\\" and not verbatim:
            j += 2
            continue
        if c == quote:
            if verbatim and j + 1 < len(text) and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        if c == "\n" and not verbatim:
            return j + 1
        j += 1
    return j


def scan(text: str) -> Iterator[tuple[int, str]]:
    """Yield (offset, expression) for each balanced ``@(``/``@{`` span."""
    i = 0
    while i < len(text) - 1:
        if text[i] == "@" and text[i + 1] in "({":
            depth = 0
            j = i + 1
            while j < len(text):
                c = text[j]
                if c in "\"'":
                    j = _skip_string(text, j)
                    continue
                if c in "({[":
                    depth += 1
                elif c in ")}]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            yield i, text[i:j + 1]
            i = j + 1
        else:
            i += 1


def corpus_expressions() -> list[tuple[str, int, str]]:
    """(file, line, expression) for every expression in the corpus, XML entities decoded."""
    out = []
    for path in sorted(CORPUS.rglob("*.xml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        for offset, expr in scan(text):
            if "&quot;" in expr or "&lt;" in expr or "&gt;" in expr or "&amp;" in expr:
                expr = html.unescape(expr)
            out.append((str(path.relative_to(CORPUS)), text.count("\n", 0, offset) + 1, expr))
    return out
