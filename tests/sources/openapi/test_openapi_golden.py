"""Golden tests: spec -> normalised model, compared with reviewed *.out.yaml files.

Regenerate with KUBEGATE_REGEN_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os

import pytest
from ruamel.yaml import YAML

from kubegate.sources.openapi.importer import import_api
from kubegate.sources.openapi.rewrite import dump

from .helpers import GOLDEN, SPECS

CASES = {
    "swashbuckle-orders": "swashbuckle-orders.json",
    "petstore-30": "petstore-30.yaml",
    "split-31": "split-31/main.yaml",
    "uber-20": "uber-20.yaml",
}


def rendered(rel: str) -> str:
    result = import_api(str(SPECS / rel), path="/api")
    data = result.spec.to_dict()
    data["source"] = rel
    for problem in data["warnings"]:
        problem["file"] = rel
    data["summary"] = {
        "backend": result.summary.backend,
        "backend_reason": result.summary.backend_reason,
        "operation_count": result.summary.operation_count,
    }
    return dump(data, yaml_output=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    out = GOLDEN / f"{name}.out.yaml"
    text = rendered(CASES[name])
    if os.environ.get("KUBEGATE_REGEN_GOLDEN") == "1":
        out.write_text(text, encoding="utf-8")
    assert out.exists(), f"{out} missing: run with KUBEGATE_REGEN_GOLDEN=1 and review it"
    yaml = YAML(typ="safe", pure=True)
    assert yaml.load(text) == yaml.load(out.read_text(encoding="utf-8"))
