"""`kubegate export`: the effective configuration (declared YAML + admin overlay) as
files that `kubegate run -c` accepts: `kubegate.yaml` plus `policies/*.xml|yaml`."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import click

from kubegate.admin.overlay import dump_yaml, overlay_config
from kubegate.model.config import Config
from kubegate.model.errors import ConfigError
from kubegate.sources.yaml_config import load_config
from kubegate.store import DEFAULT_URL, Store, StoreError


def _policy_file(ref: str, base: Path, out: Path, name: str) -> str:
    """Write one policy document under out/policies; returns its relative path."""
    if ref.lstrip().startswith("<"):
        text, suffix = ref, ".xml"
    else:
        source = (base / ref).resolve()
        text, suffix = source.read_text(encoding="utf-8-sig"), source.suffix or ".xml"
    rel = f"policies/{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}{suffix}"
    (out / rel).write_text(text, encoding="utf-8")
    return rel


def export_config(config: Config, base: Path, out: Path) -> Path:
    """Write `config` (whose relative references are relative to `base`) into `out`."""
    (out / "policies").mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = config.model_dump(mode="json", exclude_defaults=True,
                                             exclude_none=True)
    if config.policy:
        data["policy"] = _policy_file(config.policy, base, out, "global")
    for i, api in enumerate(config.apis):
        entry = data["apis"][i]
        if api.policy:
            entry["policy"] = _policy_file(api.policy, base, out, f"api-{api.name}")
        if api.openapi and "://" not in api.openapi:
            entry["openapi"] = str((base / api.openapi).resolve())
        for j, op in enumerate(api.operations or ()):
            if op.policy:
                entry["operations"][j]["policy"] = _policy_file(
                    op.policy, base, out, f"op-{api.name}-{op.id or j}")
    for i, product in enumerate(config.products):
        if product.policy:
            data["products"][i]["policy"] = _policy_file(product.policy, base, out,
                                                         f"product-{product.name}")
    target = out / "kubegate.yaml"
    target.write_text("# exported by kubegate export: declared config + admin overlay\n"
                      + dump_yaml(data), encoding="utf-8")
    return target


@click.command("export")
@click.option("-c", "--config", "config_path", required=True,
              type=click.Path(dir_okay=False, exists=True), help="declared kubegate.yaml")
@click.option("--store", "store_url", envvar="KUBEGATE_STORE", default=DEFAULT_URL,
              show_default=True, help="store holding the admin overlay")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="folder to write kubegate.yaml and policies/ into")
def export(config_path: str, store_url: str, output: str) -> None:
    """Write the effective configuration (YAML + policy files) for `kubegate run -c`."""
    try:
        declared = load_config(config_path)
        with Store(store_url) as store:
            config = overlay_config(declared, store)
        target = export_config(config, Path(config_path).resolve().parent, Path(output))
    except ConfigError as exc:
        for p in exc.problems:
            click.echo(f"error: {p}", err=True)
        sys.exit(2)
    except (StoreError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"wrote {target} ({len(config.apis)} APIs)")
