"""Turn a parsed Swagger 2.0 / OpenAPI 3.0 / 3.1 document into one `ApiSpec`.

Problems that stop an import (not a spec, unsupported version, unresolvable
`$ref`, ids exhausted) are returned as errors; everything the gateway can still
serve (cookie parameters, path-level servers, duplicate routes, templates the
router cannot match ...) is a warning with its JSON pointer, never dropped silently.
"""

from __future__ import annotations

import re
from typing import Any

from kubegate.model.errors import Problem
from kubegate.sources.openapi.model import (
    ApiSpec,
    Dialect,
    Parameter,
    RequestBody,
    ResponseExample,
    ServerInfo,
    SpecOperation,
    SpecResponse,
)
from kubegate.sources.openapi.names import (
    IdAllocator,
    id_from_route,
    normalise_id,
    router_template,
    template_key,
)
from kubegate.sources.openapi.refs import Resolver, escape

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_OPENAPI_3 = re.compile(r"^3\.[01]\.\d+(-[0-9A-Za-z.\-]+)?$")
_PARAM_SCHEMA_KEYS = {
    "type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems",
    "uniqueItems", "multipleOf", "x-nullable",
}  # fmt: skip


def detect(doc: Any) -> tuple[Dialect, str]:
    """The dialect and version string; ValueError says why a document is not importable."""
    if not isinstance(doc, dict):
        raise ValueError("not an OpenAPI or Swagger document (expected a mapping at the top)")
    if "swagger" in doc:
        version = doc["swagger"]
        if version in ("2.0", 2.0):
            return "2.0", "2.0"
        raise ValueError(f"unsupported Swagger version {version!r} (supported: 2.0)")
    if "openapi" in doc:
        version = doc["openapi"]
        if isinstance(version, str) and _OPENAPI_3.match(version):
            return ("3.1" if version.startswith("3.1") else "3.0"), version
        raise ValueError(
            f"unsupported OpenAPI version {version!r} (supported: '2.0', '3.0.x', '3.1.x' as strings)"
        )
    raise ValueError("not an OpenAPI or Swagger document (no 'openapi' or 'swagger' field)")


class _Normaliser:
    def __init__(self, doc: dict[str, Any], dialect: Dialect, resolver: Resolver) -> None:
        self.doc, self.dialect, self.resolver = doc, dialect, resolver
        self.warnings: list[Problem] = []
        self.errors: list[Problem] = []
        self.ids = IdAllocator()
        self.routes: dict[tuple[str, str], str] = {}

    def warn(self, message: str, pointer: str) -> None:
        self.warnings.append(Problem(message, field=pointer or "/"))

    def inline(self, node: Any, pointer: str) -> Any:
        return self.resolver.inline(node, self.resolver.root_location, pointer)

    def servers(self, value: Any, pointer: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.warn("servers must be a list; ignored", pointer)
            return []
        urls = []
        for i, server in enumerate(value):
            if not isinstance(server, dict) or not isinstance(server.get("url"), str):
                self.warn("server without a url; ignored", f"{pointer}/{i}")
                continue
            url = server["url"]
            for name, var in (server.get("variables") or {}).items():
                default = var.get("default") if isinstance(var, dict) else None
                if default is None:
                    self.warn(
                        f"server variable {name!r} has no default", f"{pointer}/{i}/variables"
                    )
                    continue
                url = url.replace("{" + name + "}", str(default))
            urls.append(url)
        return urls

    def server_info(self) -> ServerInfo:
        d = self.doc
        if self.dialect != "2.0":
            return ServerInfo(servers=self.servers(d.get("servers"), "/servers"))
        schemes: list[Any] = d["schemes"] if isinstance(d.get("schemes"), list) else []
        return ServerInfo(
            servers=self.servers(d.get("x-servers"), "/x-servers"),
            host=d["host"] if isinstance(d.get("host"), str) and d["host"] else None,
            base_path=d["basePath"] if isinstance(d.get("basePath"), str) else None,
            schemes=[str(s).lower() for s in schemes],
        )

    def parameters(
        self, item: dict[str, Any], op: dict[str, Any], ptr: str, op_ptr: str
    ) -> list[tuple[dict[str, Any], str]]:
        merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        for params, at in ((item.get("parameters"), ptr), (op.get("parameters"), op_ptr)):
            if not isinstance(params, list):
                continue
            for i, raw in enumerate(params):
                p = raw  # the whole path item is already inlined
                if isinstance(p, dict) and isinstance(p.get("name"), str):
                    merged[(p["name"], str(p.get("in")))] = (p, f"{at}/parameters/{i}")
                else:
                    self.warn("parameter without a name; ignored", f"{at}/parameters/{i}")
        return list(merged.values())

    def operation(
        self,
        method: str,
        path: str,
        template: str,
        item: dict[str, Any],
        op: dict[str, Any],
        ptr: str,
    ) -> SpecOperation:
        op_ptr = f"{ptr}/{method}"
        if op.get("servers") is not None and self.dialect != "2.0":
            self.warn(
                "operation-level servers are not supported; the API backend is used",
                f"{op_ptr}/servers",
            )
        params: list[Parameter] = []
        body: RequestBody | None = None
        consumes = op.get("consumes") or self.doc.get("consumes") or ["application/json"]
        for p, at in self.parameters(item, op, ptr, op_ptr):
            where = p.get("in")
            if where in ("path", "query", "header"):
                schema = p.get("schema")
                if schema is None and self.dialect == "2.0":
                    schema = {k: v for k, v in p.items() if k in _PARAM_SCHEMA_KEYS}
                if schema is None and isinstance(p.get("content"), dict) and p["content"]:
                    first = next(iter(p["content"].values()))
                    schema = first.get("schema") if isinstance(first, dict) else None
                params.append(
                    Parameter(p["name"], where, bool(p.get("required")) or where == "path", schema)
                )
            elif where == "body" and self.dialect == "2.0":
                body = RequestBody(
                    bool(p.get("required")), {str(mt): p.get("schema") for mt in consumes}
                )
            elif where == "formData":
                self.warn(f"form parameter {p['name']!r} is not supported (not validated)", at)
            elif where == "cookie":
                self.warn(f"cookie parameter {p['name']!r} is not supported (not validated)", at)
            else:
                self.warn(f"parameter {p['name']!r} has unknown location {where!r}; ignored", at)
        if self.dialect != "2.0" and op.get("requestBody") is not None:
            rb = op["requestBody"]
            if isinstance(rb, dict):
                content: dict[str, Any] = (
                    rb["content"] if isinstance(rb.get("content"), dict) else {}
                )
                body = RequestBody(
                    bool(rb.get("required")),
                    {
                        str(mt): (m.get("schema") if isinstance(m, dict) else None)
                        for mt, m in content.items()
                    },
                )
        raw_id = op.get("operationId") if isinstance(op.get("operationId"), str) else None
        wanted = (normalise_id(raw_id) if raw_id else "") or id_from_route(method, path)
        op_id = self.ids.take(wanted)
        if op_id is None:
            self.errors.append(
                Problem(f"operation id {wanted!r} used more than 1000 times", field=op_ptr)
            )
            op_id = wanted
        summary = op.get("summary") if isinstance(op.get("summary"), str) else None
        return SpecOperation(
            method=method.upper(),
            path=template,
            id=op_id,
            display_name=(summary or raw_id or f"{method.upper()} {path}").strip(),
            pointer=op_ptr,
            source_id=raw_id,
            description=op.get("description") if isinstance(op.get("description"), str) else None,
            parameters=params,
            request_body=body,
            examples=self.examples(op, op_ptr),
            responses=self.responses(op),
        )

    def responses(self, op: dict[str, Any]) -> list[SpecResponse]:
        """Status -> headers and content schemas (2.0: `schema` for each `produces` type)."""
        raw = op.get("responses")
        produces = op.get("produces") or self.doc.get("produces") or ["application/json"]
        out: list[SpecResponse] = []
        for status, response in (raw.items() if isinstance(raw, dict) else ()):
            if not isinstance(response, dict) or str(status).startswith("x-"):
                continue
            headers: dict[str, Any] = {}
            for name, header in (response.get("headers") or {}).items():
                if not isinstance(header, dict):
                    continue
                schema: Any
                if self.dialect == "2.0":
                    schema = {k: v for k, v in header.items() if k in _PARAM_SCHEMA_KEYS}
                elif "schema" in header:
                    schema = header["schema"]
                else:
                    media = next(iter((header.get("content") or {}).values()), None)
                    schema = media.get("schema") if isinstance(media, dict) else None
                headers[str(name)] = schema or None
            if self.dialect == "2.0":
                content = ({str(mt): response["schema"] for mt in produces}
                           if "schema" in response else {})
            else:
                content = {str(mt): (m.get("schema") if isinstance(m, dict) else None)
                           for mt, m in (response.get("content") or {}).items()}
            out.append(SpecResponse(str(status), headers, content))
        return out

    def examples(self, op: dict[str, Any], op_ptr: str) -> list[ResponseExample]:
        out: list[ResponseExample] = []
        responses = op.get("responses")
        if not isinstance(responses, dict):
            return out
        for status, raw in responses.items():
            response = raw
            if not isinstance(response, dict):
                continue
            if self.dialect == "2.0":
                for mt, example in (response.get("examples") or {}).items():
                    out.append(ResponseExample(str(status), str(mt), example))
                continue
            for mt, media in (response.get("content") or {}).items():
                if not isinstance(media, dict):
                    continue
                if "example" in media:
                    out.append(ResponseExample(str(status), str(mt), media["example"]))
                elif isinstance(media.get("examples"), dict) and media["examples"]:
                    first = next(iter(media["examples"].values()))
                    if isinstance(first, dict) and "value" in first:
                        out.append(ResponseExample(str(status), str(mt), first["value"]))
        return out

    def paths(self) -> list[SpecOperation]:
        paths = self.doc.get("paths")
        if paths is None:
            if self.dialect != "3.1":
                self.warn("no paths object", "/paths")
            return []
        if not isinstance(paths, dict):
            self.warn("paths must be a mapping; no operations imported", "/paths")
            return []
        self.resolver.scan(paths, "/paths")
        operations = []
        for path, raw_item in paths.items():
            ptr = f"/paths/{escape(path)}"
            if path.startswith("x-"):
                continue
            item = self.inline(raw_item, ptr)
            if not isinstance(item, dict):
                self.warn("path item must be a mapping; ignored", ptr)
                continue
            if item.get("servers") is not None and self.dialect != "2.0":
                self.warn(
                    "path-level servers are not supported; the API backend is used",
                    f"{ptr}/servers",
                )
            try:
                template = router_template(path)
            except ValueError as exc:
                template = ""
                reason = str(exc)
            for method in METHODS:
                op = item.get(method)
                if op is None:
                    continue
                op_ptr = f"{ptr}/{method}"
                if method == "trace" and self.dialect == "2.0":
                    self.warn("trace is not a Swagger 2.0 operation; not imported", op_ptr)
                    continue
                if not isinstance(op, dict):
                    self.warn("operation must be a mapping; ignored", op_ptr)
                    continue
                if not template:
                    self.warn(f"operation not imported: {reason}", op_ptr)
                    continue
                route = (method, template_key(template))
                if route in self.routes:
                    self.warn(
                        f"duplicate route {method.upper()} {path}: same as {self.routes[route]}; not imported",
                        op_ptr,
                    )
                    continue
                self.routes[route] = op_ptr
                operations.append(self.operation(method, path, template, item, op, ptr))
        return operations

    def run(self, spec_version: str) -> ApiSpec:
        info: dict[str, Any] = self.doc["info"] if isinstance(self.doc.get("info"), dict) else {}
        if not info:
            self.warn("no info object", "/info")
        title, version = info.get("title"), info.get("version")
        if not isinstance(title, str) or not title.strip():
            self.warn("info.title is missing", "/info/title")
        if version is None:
            self.warn("info.version is missing", "/info/version")
        operations = self.paths()
        return ApiSpec(
            title=str(title).strip() if isinstance(title, str) else "",
            version="" if version is None else str(version),
            spec_version=spec_version,
            dialect=self.dialect,
            operations=operations,
            server=self.server_info(),
            defs=self.resolver.defs,
            source=self.resolver.root_location,
            warnings=self.warnings,
        )


def normalise(doc: dict[str, Any], resolver: Resolver) -> tuple[ApiSpec, list[Problem]]:
    """The normalised spec and the errors that must stop an import (empty when none)."""
    try:
        dialect, spec_version = detect(doc)
    except ValueError as exc:
        empty = ApiSpec("", "", "", "3.0", source=resolver.root_location)
        return empty, [Problem(str(exc), field="/")]
    resolver.legacy_names = dialect == "2.0"
    worker = _Normaliser(doc, dialect, resolver)
    spec = worker.run(spec_version)
    spec.warnings.extend(resolver.problems)
    return spec, worker.errors
