"""Optional request validation (APIM's validate-content / validate-parameters).

`compile_validator` runs once per operation at import; the returned callable
only checks values. Parameters arrive as strings and are converted to the
schema's type (integer, number, boolean, arrays split on ',') before checking.
Schema dialects: 2.0 and 3.0 schemas are draft-4-like (boolean
`exclusiveMaximum`), with `nullable` / `x-nullable` turned into a null type;
3.1 schemas are JSON Schema 2020-12. References left by the importer
(`#/$defs/...`, recursive schemas) resolve against the spec's `defs`; anything
else unresolvable makes that one schema unchecked, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft4Validator, Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from kubegate.sources.openapi.model import ApiSpec, Dialect, SpecOperation


@dataclass
class RequestData:
    path_params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    content_type: str | None = None
    body: bytes | None = None


def _openapi30(schema: Any) -> Any:
    """OpenAPI 3.0 / 2.0 schema -> draft 4: `nullable` becomes a null type."""
    if isinstance(schema, list):
        return [_openapi30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _openapi30(v) for k, v in schema.items() if k not in ("nullable", "x-nullable")}
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _compile(schema: Any, dialect: Dialect, defs: dict[str, Any]) -> Validator | None:
    if schema is None or schema == {}:
        return None
    if dialect == "3.1":
        root: Any = {"$defs": defs, **schema} if isinstance(schema, dict) else schema
        cls: Any = Draft202012Validator
    else:
        root = (
            {"$defs": _openapi30(defs), **_openapi30(schema)}
            if isinstance(schema, dict)
            else schema
        )
        cls = Draft4Validator
    try:
        cls.check_schema(root)
    except SchemaError:
        return None
    return cls(root)  # type: ignore[no-any-return]


def _coerce(value: str, schema: Any) -> Any:
    kind = schema.get("type") if isinstance(schema, dict) else None
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "array":
            return [_coerce(v, schema.get("items") or {}) for v in value.split(",")]
    except ValueError:
        return value
    return value


def _errors(validator: Validator, value: Any, label: str) -> list[str]:
    try:
        found = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except Exception:  # noqa: BLE001 - unresolvable reference or recursion: not checkable
        return []
    out = []
    for err in found[:10]:
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{label}{'/' + where if where else ''}: {err.message}")
    return out


def compile_validator(op: SpecOperation, spec: ApiSpec) -> Callable[[RequestData], list[str]]:
    """A checker for `op`'s parameters and JSON body; returns error strings (empty = valid)."""
    params = [(p, _compile(p.schema, spec.dialect, spec.defs)) for p in op.parameters]
    body_schema = None
    required_body = bool(op.request_body and op.request_body.required)
    if op.request_body:
        for media_type, schema in op.request_body.content.items():
            if "json" in media_type:
                body_schema = _compile(schema, spec.dialect, spec.defs)
                break

    def check(request: RequestData) -> list[str]:
        problems: list[str] = []
        for param, validator in params:
            source = {
                "path": request.path_params,
                "query": request.query,
                "header": request.headers,
            }[param.location]
            key = param.name.lower() if param.location == "header" else param.name
            if key not in source:
                if param.required:
                    problems.append(f"{param.location} parameter {param.name!r} is required")
                continue
            if validator is not None:
                value = _coerce(source[key], param.schema)
                problems += _errors(validator, value, f"{param.location} parameter {param.name!r}")
        if not request.body:
            if required_body:
                problems.append("request body is required")
            return problems
        if body_schema is not None and "json" in (request.content_type or "application/json"):
            try:
                document = json.loads(request.body)
            except (ValueError, UnicodeDecodeError) as exc:
                return [*problems, f"body: not valid JSON: {exc}"]
            problems += _errors(body_schema, document, "body")
        return problems

    return check


def compile_schema(schema: Any, dialect: Dialect, defs: dict[str, Any]) -> Validator | None:
    """A validator for one schema of a spec (None: nothing to check, or an invalid schema).

    Used by the validate-* policies, with the same dialect rules as `compile_validator`."""
    return _compile(schema, dialect, defs)
