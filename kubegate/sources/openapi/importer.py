"""Import a spec into a `kubegate.model.config.Api`, and re-import a changed one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kubegate.model.config import Api, Operation
from kubegate.model.errors import ConfigError, Problem
from kubegate.sources.openapi.backend import NO_BACKEND, BackendChoice, resolve_backend
from kubegate.sources.openapi.loader import DEFAULT_TIMEOUT, Fetcher, is_url, load_document
from kubegate.sources.openapi.model import ApiSpec
from kubegate.sources.openapi.normalise import normalise
from kubegate.sources.openapi.refs import Resolver


def load_spec(
    source: str,
    *,
    allow_remote_refs: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    fetch: Fetcher | None = None,
) -> ApiSpec:
    """Read, resolve and normalise a spec; raises ConfigError listing every error."""
    doc, canonical = load_document(source, timeout, fetch)
    resolver = Resolver(
        doc, canonical, allow_remote=allow_remote_refs, timeout=timeout, fetch=fetch
    )
    spec, errors = normalise(doc, resolver)
    if errors:
        raise ConfigError([Problem(p.message, file=source, field=p.field) for p in errors])
    spec.source = canonical
    spec.fetched = is_url(source)
    spec.warnings = [Problem(p.message, file=source, field=p.field) for p in spec.warnings]
    return spec


@dataclass
class ImportSummary:
    name: str
    title: str
    version: str
    spec_version: str
    operation_count: int
    backend: str | None
    backend_reason: str
    backend_steps: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["problems"] = [p.as_dict() for p in self.problems]
        return out

    def text(self) -> str:
        lines = [
            f"API {self.name}: {self.title or '(untitled)'} {self.version}".rstrip(),
            f"  spec version: {self.spec_version}",
            f"  operations: {self.operation_count}",
            f"  backend: {self.backend or 'none'} ({self.backend_reason})",
            *(f"    - {step}" for step in self.backend_steps),
        ]
        lines += [f"  warning: {p}" for p in self.problems]
        return "\n".join(lines)


@dataclass
class ImportResult:
    api: Api
    summary: ImportSummary
    spec: ApiSpec


def default_name(path: str, title: str) -> str:
    for text in (path, title):
        name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-._")
        if name:
            return name.lower()
    return "api"


def build_api(spec: ApiSpec, *, path: str, name: str, choice: BackendChoice, source: str) -> Api:
    operations = [
        Operation(method=o.method, path=o.path, id=o.id, display_name=o.display_name, policy=None)
        for o in spec.operations
    ]
    return Api(
        name=name,
        path=path,
        backend=choice.url,
        openapi=None if choice.url else source,
        operations=operations,
    )


def import_api(
    source: str,
    *,
    path: str,
    name: str | None = None,
    backend: str | None = None,
    allow_remote_refs: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    fetch: Fetcher | None = None,
) -> ImportResult:
    """Import `source` (file or http(s) URL) as an API served under `path`."""
    spec = load_spec(source, allow_remote_refs=allow_remote_refs, timeout=timeout, fetch=fetch)
    try:
        choice = resolve_backend(spec, backend, spec.source if spec.fetched else None)
    except ValueError as exc:
        raise ConfigError.one(str(exc), field="backend") from None
    api_name = name or default_name(path, spec.title)
    try:
        api = build_api(spec, path=path, name=api_name, choice=choice, source=source)
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise ConfigError.one(str(exc).splitlines()[-1].strip(), file=source) from None
    problems = list(spec.warnings)
    if choice.url is None:
        problems.append(Problem(NO_BACKEND, file=source, field="backend"))
    summary = ImportSummary(
        name=api.name,
        title=spec.title,
        version=spec.version,
        spec_version=spec.spec_version,
        operation_count=len(api.operations or []),
        backend=choice.url,
        backend_reason=choice.reason,
        backend_steps=choice.steps,
        problems=problems,
    )
    return ImportResult(api, summary, spec)


@dataclass
class ReimportReport:
    api: Api
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}


def reimport(old: Api, new: Api) -> ReimportReport:
    """`new` with policies carried over from `old`, matched by operation id.

    As in APIM, an operation whose id changed keeps the policy of the old
    operation with the same method and path; old operations that match nothing
    are removed (and reported). API-level policy and subscription settings stay.
    """
    by_id = {o.id: o for o in old.operations or [] if o.id}
    by_route = {(o.method, o.path): o for o in old.operations or []}
    report = ReimportReport(api=new)
    merged: list[Operation] = []
    matched: set[int] = set()
    for op in new.operations or []:
        previous = by_id.get(op.id or "") or by_route.get((op.method, op.path))
        if previous is None:
            report.added.append(op.id or f"{op.method} {op.path}")
            merged.append(op)
            continue
        matched.add(id(previous))
        if (previous.method, previous.path, previous.display_name, previous.id) != (
            op.method,
            op.path,
            op.display_name,
            op.id,
        ):
            report.changed.append(op.id or f"{op.method} {op.path}")
        merged.append(op.model_copy(update={"policy": previous.policy}))
    report.removed = [
        o.id or f"{o.method} {o.path}" for o in old.operations or [] if id(o) not in matched
    ]
    report.api = new.model_copy(
        update={
            "operations": merged,
            "policy": old.policy,
            "subscription_required": old.subscription_required,
        }
    )
    return report
