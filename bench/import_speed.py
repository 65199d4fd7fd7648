"""Time the import of the largest spec in ../shared/corpora/openapi (not a test).

python bench/import_speed.py [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

from kubegate.sources.openapi.importer import import_api
from kubegate.sources.openapi.loader import load_document

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "openapi"
SUPPORTED = re.compile(r"^(swagger-2\.0|openapi-3\.[01]\.\d+)$")


def largest() -> Path:
    rows = csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t")
    valid = [r for r in rows if r["parse_status"] == "ok" and SUPPORTED.match(r["spec_version"])]
    return CORPUS / max(valid, key=lambda r: int(r["bytes"] or 0))["local_path"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (CORPUS / "MANIFEST.tsv").exists():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 2
    spec = largest()
    size = spec.stat().st_size
    start = time.perf_counter()
    load_document(str(spec))
    parse = time.perf_counter() - start
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        result = import_api(str(spec), path="/bench")
        times.append(time.perf_counter() - start)
    print(f"spec: {spec.relative_to(CORPUS)} ({size / 1e6:.1f} MB, {result.spec.spec_version})")
    print(f"operations: {result.summary.operation_count}, warnings: {len(result.summary.problems)}")
    print(f"parse only: {parse:.2f} s")
    print(f"full import: best {min(times):.2f} s, worst {max(times):.2f} s over {args.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
