"""Policy documents named by the configuration -> one compiled pipeline per operation.

A `policy:` value is inline XML (starts with `<`), or a file relative to the
configuration: `.xml` in APIM's syntax, `.yaml`/`.yml` in kubegate's. Each
document is loaded once per snapshot; scopes are merged with `<base/>` resolved
and compiled into a Pipeline. An operation with no policy at any scope gets no
pipeline, so its requests take the plain streaming path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubegate.compile.merge import merge_policies
from kubegate.model.config import Api, Config, Operation
from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import PolicyDocument
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.pipeline import Pipeline, compile_pipeline
from kubegate.sources.apim.xml_loader import load_policy_xml
from kubegate.sources.apim.yaml_policy import load_policy_yaml


class PolicyLoader:
    """Loads each referenced document once and keeps every problem it finds."""

    def __init__(self, config: Config, base_dir: Path,
                 services: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.base_dir = base_dir
        self.services = services or {}
        self.problems: list[Problem] = []
        self._docs: dict[str, PolicyDocument | None] = {}

    def document(self, ref: str | None, where: str) -> PolicyDocument | None:
        if ref is None:
            return None
        if ref not in self._docs:
            self._docs[ref] = self._load(ref, where)
        return self._docs[ref]

    def _load(self, ref: str, where: str) -> PolicyDocument | None:
        try:
            if ref.lstrip().startswith("<"):
                return load_policy_xml(ref, f"{where} (inline)")
            path = (self.base_dir / ref).resolve()
            try:
                text = path.read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise ConfigError.one(f"cannot read policy file: {exc.strerror or exc}",
                                      file=str(path), field=where) from None
            if path.suffix in (".yaml", ".yml"):
                doc = load_policy_yaml(text, str(path))
            else:
                doc = load_policy_xml(text, str(path))
            if not isinstance(doc, PolicyDocument):
                raise ConfigError.one("a policy fragment cannot stand as a policy document",
                                      file=str(path), field=where)
            return doc
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return None

    def pipeline(self, api: Api, i: int, op: Operation | None, j: int,
                 op_id: str) -> Pipeline | None:
        global_doc = self.document(self.config.policy, "policy")
        api_doc = self.document(api.policy, f"apis[{i}].policy")
        op_doc = self.document(op.policy, f"apis[{i}].operations[{j}].policy") if op else None
        if global_doc is None and api_doc is None and op_doc is None:
            return None
        merged = merge_policies(global_=global_doc, api=api_doc, operation=op_doc)
        env = CompileEnv(named_values=self.config.named_values, base_dir=self.base_dir,
                         api_id=api.name, operation_id=op_id, services=self.services)
        try:
            return compile_pipeline(merged, env)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return None
