"""The Python examples in docs/rate-limits.md run and print what the doc says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "rate-limits.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def expected_lines(block: str) -> list[str]:
    """Output the doc states: ``# ...`` after a print statement (inline or on the next lines)."""
    out: list[str] = []
    in_print = False  # the current statement is a print(...) call
    open_call = False  # the previous line ended inside that call
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("# "):
            if in_print:
                out.append(stripped[2:])
            continue
        code, _, comment = line.partition("  # ")
        in_print = "print(" in code or (in_print and open_call)
        open_call = code.rstrip().endswith(",")
        if in_print and comment:
            out.append(comment.strip())
    return [e for e in out if "..." not in e]


@pytest.mark.parametrize("index", range(len(blocks())))
def test_doc_example(index: int, request: pytest.FixtureRequest) -> None:
    block = blocks()[index]
    if "redis_store" in block:
        request.getfixturevalue("redis_url")  # skips when Redis is absent
    run = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                         cwd=ROOT, timeout=30)
    assert run.returncode == 0, run.stderr
    printed = run.stdout.splitlines()
    for want in expected_lines(block):
        assert any(want == got.strip() or got.strip().startswith(want) for got in printed), (
            want, printed)
