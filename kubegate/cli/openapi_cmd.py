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
@click.option("--host", help="HOST:PORT the spec should point at")
@click.option(
    "--k8s-service",
    help="NAMESPACE/SERVICE[:PORT]: take HOST:PORT from the Service's NodePort on a Ready node",
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="for --k8s-service")
@click.option("--scheme", default="http", show_default=True, type=click.Choice(["http", "https"]))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def fix_host_cmd(
    spec: str,
    host: str | None,
    k8s_service: str | None,
    kubeconfig: str | None,
    scheme: str,
    output: str,
) -> None:
    """Write SPEC with host/schemes (2.0) or servers (3.x) set to HOST."""
    if (host is None) == (k8s_service is None):
        _fail("give exactly one of --host or --k8s-service")
        return
    if k8s_service is not None:
        from kubegate.sources.kubernetes.nodeport import parse_service_ref, resolve_nodeport

        try:
            ns, name, port = parse_service_ref(k8s_service)
            addresses = resolve_nodeport(ns, name, port, kubeconfig=kubeconfig)
        except Exception as exc:  # noqa: BLE001 - kubeconfig, API and lookup errors
            _fail(f"--k8s-service {k8s_service}: {exc}")
            return
        if not addresses:
            _fail(f"--k8s-service {k8s_service}: no Ready node with an InternalIP")
            return
        host = f"{addresses[0][0]}:{addresses[0][1]}"
    assert host is not None
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
