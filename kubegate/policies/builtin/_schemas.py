"""Body schemas for validate-content, compiled once: the operation's JSON schemas from
the OpenAPI document, and schemas named by ``schema-id``.

``schema-id`` is APIM's schema resource; kubegate reads it beside the configuration,
as include-fragment reads fragments: ``<base_dir>/schemas/<id>.json`` (a JSON schema,
its ``$schema`` dialect or draft 7) or ``<base_dir>/schemas/<id>.xsd`` (an XML schema,
checked with the ``xmlschema`` package). ``schema-ref`` selects a JSON pointer inside
a JSON schema document. Each checker returns error messages (empty: valid).
XML is parsed with defusedxml (no DTDs, no entity expansion) before it is validated.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET
from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

from kubegate.sources.openapi.model import Dialect
from kubegate.sources.openapi.validate import compile_schema

Checker = Callable[[bytes], list[str]]
SOAP_ENVELOPES = ("http://schemas.xmlsoap.org/soap/envelope/",  # SOAP 1.1 (text/xml)
                  "http://www.w3.org/2003/05/soap-envelope")  # SOAP 1.2 (application/soap+xml)
_MAP_KEYWORDS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_DATA_KEYWORDS = ("enum", "const", "default", "example", "examples")
_COMPOSITION = ("allOf", "anyOf", "oneOf")


class SchemaProblem(Exception):
    """A schema file is missing or unusable (a compile problem)."""


def schema_file(base_dir: Path | None, schema_id: str, suffix: str) -> Path | None:
    if base_dir is None or "/" in schema_id or "\\" in schema_id or schema_id.startswith("."):
        return None
    path = base_dir / "schemas" / f"{schema_id}{suffix}"
    return path if path.is_file() else None


def adjust(schema: Any, additional: bool | None, lower: bool, member: bool = False) -> Any:
    """``allow-additional-properties`` and ``case-insensitive-property-names`` applied to a
    schema: true drops every ``additionalProperties``/``unevaluatedProperties`` limit;
    false forbids unknown properties in each schema that lists ``properties`` (except
    the direct members of allOf/anyOf/oneOf, whose parent combines them); ``lower``
    lower-cases property names (the document's are lower-cased before checking)."""
    if isinstance(schema, list):
        return [adjust(s, additional, lower, member) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DATA_KEYWORDS:
            out[key] = value
        elif key in _MAP_KEYWORDS and isinstance(value, dict):
            names = {(k.lower() if lower and key == "properties" else k): adjust(v, additional, lower)
                     for k, v in value.items()}
            out[key] = names
        elif key == "required" and lower and isinstance(value, list):
            out[key] = [v.lower() if isinstance(v, str) else v for v in value]
        else:
            out[key] = adjust(value, additional, lower, member=key in _COMPOSITION)
    if additional is True:
        out.pop("additionalProperties", None)
        out.pop("unevaluatedProperties", None)
    elif additional is False and "properties" in out and not member:
        out["additionalProperties"] = False
    return out


def lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {(k.lower() if isinstance(k, str) else k): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def _json_checker(validator: Any, lower: bool) -> Checker:
    def check(body: bytes) -> list[str]:
        try:
            document = json.loads(body)
        except UnicodeDecodeError as exc:
            return [f"The body is not UTF-8 text: {exc.reason}."]
        except json.JSONDecodeError as exc:
            return [f"Invalid JSON: {exc.msg}. Line: {exc.lineno}, Position: {exc.colno}"]
        if lower:
            document = lower_keys(document)
        try:
            errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        except Exception as exc:  # noqa: BLE001 - unresolvable reference, recursion
            return [f"The schema cannot be applied: {exc}"]
        return [f"{e.message} Path: '{e.json_path}'" for e in errors[:10]]
    return check


def spec_json(schema: Any, dialect: Dialect, defs: dict[str, Any], additional: bool | None,
              lower: bool) -> Checker | None:
    """A checker for one schema of the OpenAPI document (None: the schema checks nothing)."""
    if additional is not None or lower:
        schema, defs = adjust(schema, additional, lower), adjust(defs, additional, lower)
    validator = compile_schema(schema, dialect, defs)
    return None if validator is None else _json_checker(validator, lower)


def file_json(path: Path, ref: str | None, additional: bool | None, lower: bool) -> Checker:
    """A checker for ``schemas/<id>.json`` (``ref``: a ``#/...`` pointer inside it)."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SchemaProblem(f"cannot read JSON schema {path}: {exc}") from None
    document = adjust(document, additional, lower)
    cls: Any = validator_for(document, default=Draft7Validator)
    try:
        cls.check_schema(document)
    except SchemaError as exc:
        raise SchemaProblem(f"{path} is not a valid JSON schema: {exc.message}") from None
    if ref is None:
        return _json_checker(cls(document), lower)
    if not ref.startswith("#"):
        raise SchemaProblem(f"schema-ref must be a local reference like #/definitions/name, "
                            f"got {ref!r}")
    uri = "urn:kubegate:schema"
    resource = Resource.from_contents(document, default_specification=DRAFT7)
    registry: Registry[Any] = Registry().with_resource(uri, resource)
    try:
        registry.resolver().lookup(uri + ref)
    except Unresolvable:
        raise SchemaProblem(f"schema-ref {ref!r} does not resolve in {path}") from None
    return _json_checker(cls({"$ref": uri + ref}, registry=registry), lower)


def xml_available() -> bool:
    return importlib.util.find_spec("xmlschema") is not None


def file_xsd(path: Path, soap: bool) -> Checker:
    """A checker for ``schemas/<id>.xsd``: the XML document, or with ``soap`` each element
    of the SOAP envelope's Body (Faults excepted), must be a valid global element."""
    import xmlschema

    try:
        schema = xmlschema.XMLSchema(str(path))
    except (xmlschema.XMLSchemaException, OSError, ValueError) as exc:
        raise SchemaProblem(f"{path} is not a usable XML schema: {exc}") from None

    def errors(element: Any) -> list[str]:
        return [str(getattr(e, "reason", None) or e) + f" Path: {getattr(e, 'path', '')}"
                for e in list(schema.iter_errors(element))[:10]]

    def check(body: bytes) -> list[str]:
        try:
            root = SafeET.fromstring(body)
        except Exception as exc:  # noqa: BLE001 - ParseError and defusedxml's refusals
            return [f"The body is not well-formed XML: {exc}"]
        if not soap:
            return errors(root)
        ns, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
        if local != "Envelope" or ns not in SOAP_ENVELOPES:
            return ["The body is not a SOAP envelope."]
        body_el = root.find(f"{{{ns}}}Body")
        if body_el is None:
            return ["The SOAP envelope has no Body."]
        return [e for child in body_el if child.tag != f"{{{ns}}}Fault" for e in errors(child)]
    return check
