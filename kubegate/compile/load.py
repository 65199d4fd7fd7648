"""Configuration file -> validated model -> compiled snapshot, with CLI overrides."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubegate.compile.snapshot import Snapshot, build_snapshot
from kubegate.model.config import Api, Config, Listener
from kubegate.model.errors import ConfigError, Problem
from kubegate.sources.openapi import import_api
from kubegate.sources.openapi.loader import load_document
from kubegate.sources.openapi.model import ApiSpec
from kubegate.sources.openapi.validate import compile_validator
from kubegate.sources.yaml_config import load_config

log = logging.getLogger("kubegate.load")


@dataclass(frozen=True)
class Overrides:
    """Command-line flags that win over the configuration file."""

    listen: tuple[str, ...] = ()
    admin: str | None = None
    workers: int | None = None

    def apply(self, config: Config) -> Config:
        gateway = config.gateway
        update: dict[str, object] = {}
        if self.listen:
            update["listeners"] = [Listener(address=a) for a in self.listen]
        if self.admin is not None:
            update["admin"] = self.admin
        if self.workers is not None:
            update["workers"] = self.workers
        if not update:
            return config
        merged = gateway.model_validate({**gateway.model_dump(), **update})
        return config.model_copy(update={"gateway": merged})


@dataclass
class SpecCache:
    """Last good import of each `openapi:` source, so an unreachable spec URL at
    reload keeps the API serving as it was."""

    imported: dict[tuple[str, str, str | None], Api] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)  # source -> raw spec document
    validators: dict[str, dict[tuple[str, str], Any]] = field(default_factory=dict)
    specs: dict[str, ApiSpec] = field(default_factory=dict)  # source -> imported spec


def resolve_openapi(config: Config, base: Path, cache: SpecCache) -> Config:
    """Fill operations (and backend) of APIs that name an `openapi:` spec."""
    if not any(a.openapi for a in config.apis):
        return config
    problems: list[Problem] = []
    apis: list[Api] = []
    for i, api in enumerate(config.apis):
        if api.openapi is None:
            apis.append(api)
            continue
        source = api.openapi if "://" in api.openapi else str((base / api.openapi).resolve())
        key = (source, api.path, api.backend)
        try:
            result = import_api(source, path=api.path or "/", name=api.name, backend=api.backend)
            imported = cache.imported[key] = result.api
            cache.specs[source] = result.spec
            if api.validate_requests:
                spec = result.spec
                cache.validators[source] = {(op.method.upper(), op.path): compile_validator(op, spec)
                                            for op in spec.operations}
            if api.publish_openapi:
                cache.documents[source] = load_document(source)[0]
        except ConfigError as exc:
            if key not in cache.imported:
                problems += [Problem(f"openapi: {p.message}", p.file, p.line, p.column,
                                     f"apis[{i}].openapi") for p in exc.problems]
                continue
            imported = cache.imported[key]
            log.warning("API %s: cannot import %s, keeping the last good version: %s",
                        api.name, source, exc)
        update: dict[str, object] = {"backend": api.backend or imported.backend}
        if api.operations is None:
            update["operations"] = imported.operations
        apis.append(api.model_copy(update=update))
    if problems:
        raise ConfigError(problems)
    return config.model_copy(update={"apis": apis})


def with_discovered(config: Config, discovered: list[Api]) -> Config:
    """Add discovered APIs; a declared API of the same name or path wins."""
    names = {a.name for a in config.apis}
    paths = {a.path for a in config.apis}
    extra = [a for a in discovered if a.name not in names and a.path not in paths]
    if not extra:
        return config
    return config.model_copy(update={"apis": [*config.apis, *extra]})


def published_documents(config: Config, base: Path, cache: SpecCache | None) -> dict[str, Any]:
    """API name -> the raw spec document, for APIs that publish theirs."""
    if cache is None:
        return {}
    out = {}
    for api in config.apis:
        if api.publish_openapi and api.openapi:
            source = api.openapi if "://" in api.openapi else str((base / api.openapi).resolve())
            if source in cache.documents:
                out[api.name] = cache.documents[source]
    return out


def api_specs(config: Config, base: Path, cache: SpecCache) -> dict[str, ApiSpec]:
    """API name -> its imported OpenAPI document (the validate-* policies check against it)."""
    out = {}
    for api in config.apis:
        if api.openapi:
            source = api.openapi if "://" in api.openapi else str((base / api.openapi).resolve())
            if source in cache.specs:
                out[api.name] = cache.specs[source]
    return out


def request_validators(config: Config, base: Path,
                       cache: SpecCache) -> dict[tuple[str, str, str], Any]:
    """(API name, method, path template) -> validator, for APIs that validate requests."""
    out = {}
    for api in config.apis:
        if api.validate_requests and api.openapi:
            source = api.openapi if "://" in api.openapi else str((base / api.openapi).resolve())
            for (method, template), validator in cache.validators.get(source, {}).items():
                out[(api.name, method, template)] = validator
    return out


def load(path: str | Path, overrides: Overrides = Overrides(), cache: SpecCache | None = None,
         services: Mapping[str, Any] | None = None,
         discovered: Callable[[], list[Api]] | None = None,
         overlay: Callable[[Config], Config] | None = None) -> tuple[Config, Snapshot]:
    """Load, validate and compile; ConfigError lists every problem with its file.

    Order: the declared file, plus discovered APIs (Kubernetes), OpenAPI imports,
    then `overlay` (admin API changes kept in the store; declared entries win)."""
    config = overrides.apply(load_config(path))
    if discovered is not None:
        config = with_discovered(config, discovered())
    cache = cache or SpecCache()
    config = resolve_openapi(config, Path(path).resolve().parent, cache)
    if overlay is not None:
        config = overlay(config)
    try:
        base = Path(path).resolve().parent
        snapshot = build_snapshot(config, base, services, published_documents(config, base, cache),
                                  request_validators(config, base, cache),
                                  api_specs(config, base, cache))
    except ConfigError as exc:
        raise ConfigError(
            [Problem(p.message, p.file or str(path), p.line, p.column, p.field) for p in exc.problems]
        ) from None
    return config, snapshot


def watched_files(path: str | Path, config: Config | None) -> list[Path]:
    """Files whose change triggers a reload: the config and the local files it names."""
    base = Path(path).resolve().parent
    files = [Path(path).resolve()]
    if config is not None:
        refs = [config.policy] + [a.policy for a in config.apis] + [a.openapi for a in config.apis]
        refs += [p.policy for p in config.products]
        refs += [op.policy for a in config.apis for op in a.operations or ()]
        for ref in refs:
            if ref and "://" not in ref and not ref.lstrip().startswith("<"):
                files.append((base / ref).resolve())
    return files
