"""Configuration file -> validated model -> compiled snapshot, with CLI overrides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubegate.compile.snapshot import Snapshot, build_snapshot
from kubegate.model.config import Config, Listener
from kubegate.model.errors import ConfigError, Problem
from kubegate.sources.yaml_config import load_config


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


def load(path: str | Path, overrides: Overrides = Overrides()) -> tuple[Config, Snapshot]:
    """Load, validate and compile; ConfigError lists every problem with its file."""
    config = overrides.apply(load_config(path))
    try:
        snapshot = build_snapshot(config)
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
