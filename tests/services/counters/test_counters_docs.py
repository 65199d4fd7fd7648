"""The Python examples in docs/rate-limits.md run and print what the doc says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from counters_support import redis_available

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "rate-limits.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def expected_lines(block: str) -> list[str]:
    """Comments that state output: inline after print(...), or comment lines after it."""
    out, after_print = [], False
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("# ") and after_print:
            out.append(stripped[2:])
            continue
        after_print = stripped.startswith("print(") or "print(" in stripped and "#" in stripped
        if "print(" in stripped and "  # " in stripped:
            out.append(stripped.split("  # ", 1)[1])
        elif not stripped.startswith("print(") and not stripped.endswith(","):
            after_print = stripped.startswith("print(")
    return [e for e in out if "..." not in e]


@pytest.mark.parametrize("index", range(len(blocks())))
def test_doc_example(index: int) -> None:
    block = blocks()[index]
    if "redis_store" in block and not redis_available():
        pytest.skip("no Redis at 127.0.0.1:6379")
    run = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                         cwd=ROOT, timeout=30)
    assert run.returncode == 0, run.stderr
    printed = run.stdout.splitlines()
    for want in expected_lines(block):
        assert any(want == got.strip() or got.strip().startswith(want) for got in printed), (
            want, printed)
