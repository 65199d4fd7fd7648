"""The normalised model that Swagger 2.0, OpenAPI 3.0 and 3.1 all import into.

Schemas are plain JSON values with every `$ref` inlined, except references that
are part of a cycle: those stay `{"$ref": "#/$defs/<name>"}` and their targets
are kept once in `ApiSpec.defs` (so recursive schemas never expand forever).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kubegate.model.errors import Problem

Dialect = Literal["2.0", "3.0", "3.1"]


@dataclass
class Parameter:
    name: str
    location: str  # path | query | header
    required: bool = False
    schema: Any = None


@dataclass
class RequestBody:
    required: bool = False
    content: dict[str, Any] = field(default_factory=dict)  # media type -> schema


@dataclass
class ResponseExample:
    status: str
    content_type: str | None
    example: Any


@dataclass
class SpecResponse:
    """One response of an operation: `status` as written ("200", "2XX", "default"), header
    name -> schema (None when it has none), media type -> schema (None when it has none)."""

    status: str
    headers: dict[str, Any] = field(default_factory=dict)
    content: dict[str, Any] = field(default_factory=dict)


@dataclass
class SpecOperation:
    method: str
    path: str
    id: str
    display_name: str
    pointer: str
    source_id: str | None = None
    description: str | None = None
    parameters: list[Parameter] = field(default_factory=list)
    request_body: RequestBody | None = None
    examples: list[ResponseExample] = field(default_factory=list)
    responses: list[SpecResponse] = field(default_factory=list)
    """For the validate-* policies; left out of `ApiSpec.to_dict` (the golden dumps)."""


@dataclass
class ServerInfo:
    """Where the spec says the backend is, as written (resolution is in backend.py)."""

    servers: list[str] = field(default_factory=list)  # 3.x servers[*].url, variables substituted
    host: str | None = None
    base_path: str | None = None
    schemes: list[str] = field(default_factory=list)


@dataclass
class ApiSpec:
    title: str
    version: str
    spec_version: str
    dialect: Dialect
    operations: list[SpecOperation] = field(default_factory=list)
    server: ServerInfo = field(default_factory=ServerInfo)
    defs: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    fetched: bool = False
    warnings: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A plain, deterministic dump (used by golden tests and --json)."""
        out = asdict(self)
        for op in out["operations"]:
            del op["responses"]
        out["warnings"] = [p.as_dict() for p in self.warnings]
        return out
