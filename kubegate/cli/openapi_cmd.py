"""`kubegate openapi ...`: import a spec as an API, rewrite a spec's host."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kubegate.model.config import Api
from kubegate.model.errors import ConfigError
from kubegate.sources.openapi.importer import ImportResult, import_api, reimport
from kubegate.sources.openapi.loader import load_document
from kubegate.sources.openapi.rewrite import dump, fix_host
from kubegate.sources.yaml_config import load_config_text


def _fail(exc: ConfigError | str) -> None:
    lines = [str(p) for p in exc.problems] if isinstance(exc, ConfigError) else [exc]
    for line in lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(1)


def api_dict(api: Api) -> dict[str, Any]:
    return api.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _to_text(data: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    return buffer.getvalue()


def merge_into_config(
    text: str, file: str, result: ImportResult
) -> tuple[str, dict[str, list[str]]]:
    """The config text with the imported API added or replaced (policies kept)."""
    root = _yaml().load(text) if text.strip() else CommentedMap()
    if not isinstance(root, CommentedMap):
        raise ConfigError.one("exists and is not a kubegate config (not a mapping)", file=file)
    apis = root.setdefault("apis", CommentedSeq())
    if not isinstance(apis, list):
        raise ConfigError.one("'apis' must be a list", file=file, field="apis")
    new = result.api
    changes: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
    for i, entry in enumerate(apis):
        if isinstance(entry, dict) and entry.get("name") == new.name:
            try:
                old = Api.model_validate(json.loads(json.dumps(entry)))
            except ValueError:
                old = None
            if old is not None:
                report = reimport(old, new)
                new, changes = report.api, report.to_dict()
            merged = {**{k: v for k, v in entry.items() if k not in ("operations", "openapi")}}
            merged.update(api_dict(new))
            if new.backend is None and "backend" in entry:
                merged["backend"] = entry["backend"]
                merged.pop("openapi", None)
            apis[i] = merged
            break
    else:
        changes["added"] = [o.id or f"{o.method} {o.path}" for o in new.operations or []]
        apis.append(api_dict(new))
    out = _to_text(root)
    load_config_text(out, file)  # raises ConfigError when the result would not load
    return out, changes


@click.group(name="openapi")
def openapi() -> None:
    """Import OpenAPI / Swagger specs and rewrite their host."""


@openapi.command("import")
@click.argument("spec")
@click.option("--path", "api_path", required=True, help="API URL suffix, e.g. /orders")
@click.option("--backend", help="backend URL (overrides the spec's servers/host)")
@click.option("--name", help="API name (default: from --path)")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="YAML file to write or merge into"
)
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.option("--allow-remote-refs", is_flag=True, help="follow $refs to other hosts")
@click.option("--timeout", default=10.0, show_default=True, help="seconds, for URLs")
def import_cmd(
    spec: str,
    api_path: str,
    backend: str | None,
    name: str | None,
    output: str | None,
    as_json: bool,
    allow_remote_refs: bool,
    timeout: float,
) -> None:
    """Import SPEC (file or http(s) URL) as an API served under --path."""
    try:
        result = import_api(
            spec,
            path=api_path,
            name=name,
            backend=backend,
            allow_remote_refs=allow_remote_refs,
            timeout=timeout,
        )
    except ConfigError as exc:
        _fail(exc)
        return
    changes: dict[str, list[str]] | None = None
    snippet = _to_text({"apis": [api_dict(result.api)]})
    if output:
        target = Path(output)
        existing = target.read_text(encoding="utf-8-sig") if target.exists() else ""
        try:
            text, changes = merge_into_config(existing, output, result)
        except ConfigError as exc:
            _fail(exc)
            return
        target.write_text(text, encoding="utf-8")
    if as_json:
        out: dict[str, Any] = {"summary": result.summary.to_dict(), "api": api_dict(result.api)}
        if changes is not None:
            out["changes"] = changes
        click.echo(json.dumps(out, indent=2))
        return
    if not output:
        click.echo(snippet, nl=False)
    click.echo(result.summary.text(), err=not output)
    if changes is not None and any(changes.values()):
        for kind in ("added", "removed", "changed"):
            if changes[kind]:
                click.echo(f"  {kind}: {', '.join(changes[kind])}", err=not output)


@openapi.command("fix-host")
@click.argument("spec")
@click.option("--host", required=True, help="HOST:PORT the spec should point at")
@click.option("--scheme", default="http", show_default=True, type=click.Choice(["http", "https"]))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def fix_host_cmd(spec: str, host: str, scheme: str, output: str) -> None:
    """Write SPEC with host/schemes (2.0) or servers (3.x) set to HOST."""
    try:
        doc, _ = load_document(spec)
        fixed = fix_host(doc, host, scheme)
    except ConfigError as exc:
        _fail(exc)
        return
    except ValueError as exc:
        _fail(f"{spec}: {exc}")
        return
    as_yaml = Path(output).suffix.lower() in (".yaml", ".yml")
    Path(output).write_text(dump(fixed, as_yaml), encoding="utf-8")
    click.echo(f"wrote {output}")
