"""Model -> immutable snapshot: the router and, per operation, what a request needs.

A Snapshot is built once per configuration version and never mutated; the data
plane swaps its reference atomically, so a request finishes on the snapshot it
started with.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubegate.compile.backends import Backend, parse_backend
from kubegate.compile.policies import PolicyLoader
from kubegate.compile.router import ANY_METHOD, Router
from kubegate.model.config import Config
from kubegate.model.errors import ConfigError, Problem
from kubegate.policies.validation import ValidatedPipeline
from kubegate.sources.openapi import client_spec

_versions = itertools.count(1)


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """What the data plane needs for one operation, resolved at compile time."""

    api: str
    operation: str
    template: str
    backend: Backend
    pipeline: Any = None  # compiled policy pipeline; None = plain proxy (fast path)
    prefix: str = ""  # the API's path prefix ("" or "/orders")
    static: bytes | None = None  # a document the gateway serves itself (published spec)


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    config: Config
    router: Router[RouteTarget]
    backends: tuple[Backend, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "apis": [
                {"name": a.name, "path": a.path or "/", "backend": a.backend,
                 "operations": len(a.operations) if a.operations is not None else "*"}
                for a in self.config.apis
            ],
        }


PUBLISHED_HOST = "kubegate.invalid"


def published_spec(document: Any, api_path: str) -> bytes:
    """The spec for the gateway's clients, with a placeholder host filled per request."""
    spec = client_spec(document, f"http://{PUBLISHED_HOST}", api_path or "/")
    return json.dumps(spec, separators=(",", ":"), ensure_ascii=False).encode()


def build_snapshot(config: Config, base_dir: Path | None = None,
                   services: Mapping[str, Any] | None = None,
                   documents: Mapping[str, Any] | None = None,
                   validators: Mapping[tuple[str, str, str], Any] | None = None,
                   specs: Mapping[str, Any] | None = None) -> Snapshot:
    """Compile a validated config; every problem is reported, not only the first.

    `base_dir` is where relative policy files are read from (the config's folder);
    `services` are the run-time services policies use (counters, keys, JWKS, ...);
    `specs`: API name -> its imported OpenAPI document (for the validate-* policies)."""
    router: Router[RouteTarget] = Router()
    problems: list[Problem] = []
    policies = PolicyLoader(config, base_dir or Path.cwd(), services, specs)
    backends: dict[str, Backend] = {}
    for i, api in enumerate(config.apis):
        where = f"apis[{i}]"
        if api.backend is None:
            problems.append(Problem("no backend URL: pass --backend or set backend:", field=f"{where}.backend"))
            continue
        try:
            backend = parse_backend(api.backend, f"{where}.backend")
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        backends.setdefault(backend.url, backend)
        trie = router.api(api.path)
        if documents and api.name in documents:
            trie.add("GET", "/openapi.json", RouteTarget(
                api.name, "openapi-document", "/openapi.json", backend, None, api.path,
                published_spec(documents[api.name], api.path)))
        if api.operations is None:
            catch_all = policies.pipeline(api, i, None, 0, "*")
            trie.add_catch_all(ANY_METHOD, RouteTarget(api.name, "*", "/*", backend, catch_all,
                                                       api.path))
            continue
        for j, op in enumerate(api.operations):
            op_id = op.id or f"{op.method.lower()}-{op.path.strip('/').replace('/', '-') or 'root'}"
            pipeline: Any = policies.pipeline(api, i, op, j, op_id)
            validator = validators.get((api.name, op.method, op.path)) if validators else None
            if validator is not None:
                pipeline = ValidatedPipeline(validator, pipeline)
            try:
                trie.add(op.method, op.path, RouteTarget(api.name, op_id, op.path, backend, pipeline, api.path))
            except ValueError as exc:
                problems.append(Problem(str(exc), field=f"{where}.operations[{j}]"))
    problems += policies.problems
    if problems:
        raise ConfigError(problems)
    return Snapshot(next(_versions), config, router, tuple(backends.values()))
