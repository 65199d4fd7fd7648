"""Every document of ../shared/corpora/openapi: valid ones import with the spec's
operation count, intended failures are rejected with a message, nothing crashes.

Intended failures (from MANIFEST.tsv): parse_status other than `ok`, a
spec_version that is not swagger-2.0 / openapi-3.0.x / openapi-3.1.x (fragments,
`openapi: '3'`, `openapi: 3.0` as a number), and files whose size differs from
the catalogued `bytes` (e.g. a git symlink stub instead of the document).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.model.errors import ConfigError
from kubegate.sources.openapi.importer import import_api

from .helpers import CORPUS

SUPPORTED = re.compile(r"^(swagger-2\.0|openapi-3\.[01]\.\d+)$")
METHODS_2 = {"get", "put", "post", "delete", "options", "head", "patch"}
METHODS_3 = METHODS_2 | {"trace"}


def raw(path: Path) -> Any:
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip()[:1] in "{[":
        return json.loads(text)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def follow(doc: Any, path: Path, item: Any) -> Any:
    """A path item's own `$ref` (local or relative file), followed independently."""
    while isinstance(item, dict) and isinstance(item.get("$ref"), str):
        file_part, _, pointer = item["$ref"].partition("#")
        if file_part:
            path = (path.parent / file_part).resolve()
            doc = raw(path)
        item = doc
        for token in filter(None, pointer.split("/")):
            item = item.get(token.replace("~1", "/").replace("~0", "~"), {})
    return item


def count_operations(path: Path) -> int:
    doc = raw(path)
    methods = METHODS_2 if "swagger" in doc else METHODS_3
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return 0
    total = 0
    for key, item in paths.items():
        if str(key).startswith("x-"):
            continue
        item = follow(doc, path, item)
        if isinstance(item, dict):
            total += sum(1 for m in item if m in methods)
    return total


def test_corpus() -> None:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        pytest.skip(f"OpenAPI corpus not found at {CORPUS} (../shared/corpora/openapi)")
    rows = list(csv.DictReader(manifest.open(encoding="utf-8"), delimiter="\t"))
    imported = rejected = partial = 0
    unexpected: list[str] = []
    for row in rows:
        path = CORPUS / row["local_path"]
        size_ok = path.stat().st_size == int(row["bytes"] or -1)
        intended_failure = (
            row["parse_status"] != "ok" or not SUPPORTED.match(row["spec_version"]) or not size_ok
        )
        try:
            result = import_api(str(path), path="/corpus")
        except ConfigError as exc:
            if intended_failure and str(exc).strip():
                rejected += 1
            else:
                unexpected.append(f"{row['local_path']}: rejected: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - the point is that nothing crashes
            unexpected.append(f"{row['local_path']}: crashed: {exc!r}")
            continue
        if intended_failure:
            unexpected.append(f"{row['local_path']}: imported but marked as a failure")
            continue
        expected = count_operations(path)
        skipped = [p for p in result.summary.problems if "not imported" in p.message]
        if result.summary.operation_count + len(skipped) != expected:
            unexpected.append(
                f"{row['local_path']}: {result.summary.operation_count} operations"
                f" (+{len(skipped)} reported as not imported), spec has {expected}"
            )
            continue
        imported += 1
        partial += bool(skipped)
    print(
        f"\nopenapi corpus: {len(rows)} documents, {imported} imported"
        f" ({partial} with operations reported as not importable),"
        f" {rejected} intended failures rejected, {len(unexpected)} unexpected"
    )
    assert not unexpected, "\n".join(unexpected)
    assert imported > 0 and rejected > 0
