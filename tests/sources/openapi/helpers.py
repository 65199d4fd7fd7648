"""Shared helpers for the OpenAPI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubegate.sources.openapi.model import ApiSpec
from kubegate.sources.openapi.normalise import normalise
from kubegate.sources.openapi.refs import Resolver

HERE = Path(__file__).resolve().parent
SPECS = HERE / "specs"
GOLDEN = HERE / "golden"
CORPUS = HERE.parents[2] / ".." / "shared" / "corpora" / "openapi"


def spec_of(doc: dict[str, Any], location: str = "/mem/spec.json") -> ApiSpec:
    spec, errors = normalise(doc, Resolver(doc, location))
    assert not errors, errors
    return spec
