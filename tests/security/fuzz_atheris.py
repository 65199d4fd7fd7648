"""Coverage-guided fuzzing of the config-side parsers with atheris (`make fuzz`).

Usage: python tests/security/fuzz_atheris.py {yaml|xml|expression} [libFuzzer flags...]
e.g. `-max_total_time=300`. Any exception other than the loader's documented
error is a crash (atheris stops and writes the input to crash-*); an input over
the per-input budget raises Hang. Exits 0 with a message when atheris is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        print("atheris is not installed (pip install atheris; needs clang/libFuzzer): "
              "skipping the coverage-guided fuzz run")
        return 0
    with atheris.instrument_imports():
        from fuzz_targets import TARGETS, budget
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer flags]")
        return 2
    target = TARGETS[sys.argv[1]]

    def one(data: bytes) -> None:
        text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
        with budget(5.0):
            target(text)

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
