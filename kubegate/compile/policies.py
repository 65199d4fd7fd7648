"""Policy documents named by the configuration -> one compiled pipeline per operation.

A `policy:` value is inline XML (starts with `<`), or a file relative to the
configuration: `.xml` in APIM's syntax, `.yaml`/`.yml` in kubegate's. Each
document is loaded once per snapshot; scopes are merged with `<base/>` resolved
and compiled into a Pipeline. An operation with no policy at any scope gets no
pipeline, so its requests take the plain streaming path.

Subscriptions (docs/subscriptions.md): an operation of an API that requires a
subscription (`subscription_required`, or membership in a protected product), of
an API in an open product, or of an API with any policy at any scope gets a
`SubscriptionGate` wrapping its pipelines: one without product scope, and one per
product of the configuration that contains the API and has a policy document
(global -> product -> API -> operation). The gate picks one per request from the
subscription's product. An API with none of these keeps the plain streaming path
and does not look at keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubegate.compile.merge import merge_policies
from kubegate.model.config import Api, Config, Operation, Product
from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import PolicyDocument
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.key_guard import KeyGuard
from kubegate.policies.pipeline import Pipeline, compile_pipeline
from kubegate.policies.subscription import KeyLookup, SubscriptionGate
from kubegate.services.certificates import CertificateStore
from kubegate.services.keys import KeyIndex
from kubegate.sources.apim.xml_loader import load_policy_xml
from kubegate.sources.apim.yaml_policy import load_policy_yaml
from kubegate.sources.openapi.model import ApiSpec, SpecOperation


class PolicyLoader:
    """Loads each referenced document once and keeps every problem it finds."""

    def __init__(self, config: Config, base_dir: Path,
                 services: Mapping[str, Any] | None = None,
                 specs: Mapping[str, ApiSpec] | None = None) -> None:
        self.config = config
        self.specs = specs or {}  # API name -> its imported OpenAPI document
        self.base_dir = base_dir
        certificates, problems = CertificateStore.load(config, base_dir)  # `certificates:`
        self.services = {**(services or {}), "certificates": certificates}
        counters = self.services.get("counters")
        self.guard = KeyGuard(counters) if counters is not None else None
        self.problems: list[Problem] = problems
        self._docs: dict[str, PolicyDocument | None] = {}
        self._reported: set[tuple[str, str]] = set()
        self._static_keys: KeyIndex | None = None

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

    @property
    def keys(self) -> KeyLookup:
        """The worker's key index; without services, one of the YAML subscriptions."""
        found: KeyLookup | None = self.services.get("keys")
        if found is not None:
            return found
        if self._static_keys is None:
            self._static_keys = KeyIndex(static_subscriptions=self.config.subscriptions,
                                         static_products=self.config.products)
        return self._static_keys

    def products_of(self, api: Api, i: int) -> tuple[list[Product], Product | None]:
        """The configuration's products containing `api`, and its open product (at most one)."""
        products = [p for p in self.config.products if api.name in p.apis]
        open_ = [p for p in products if not p.subscription_required]
        if len(open_) > 1 and (api.name, "open") not in self._reported:
            self._reported.add((api.name, "open"))
            self.problems.append(Problem(
                f"API {api.name!r} is in more than one open product "
                f"({', '.join(p.name for p in open_)}); an API may be in at most one",
                field=f"apis[{i}]"))
        return products, (open_[0] if open_ else None)

    def pipeline(self, api: Api, i: int, op: Operation | None, j: int,
                 op_id: str) -> Pipeline | SubscriptionGate | None:
        """The compiled pipeline (or subscription gate) of one operation; None: plain proxy."""
        global_doc = self.document(self.config.policy, "policy")
        api_doc = self.document(api.policy, f"apis[{i}].policy")
        op_doc = self.document(op.policy, f"apis[{i}].operations[{j}].policy") if op else None
        products, open_product = self.products_of(api, i)
        required = api.subscription_required or any(p.subscription_required for p in products)
        product_docs = {p.name: doc for k, p in enumerate(self.config.products)
                        if p in products
                        and (doc := self.document(p.policy, f"products[{k}].policy")) is not None}
        has_policy = global_doc is not None or api_doc is not None or op_doc is not None
        if not (required or open_product or has_policy or product_docs):
            return None
        spec = self.specs.get(api.name)
        spec_op = next((o for o in spec.operations if op is not None and o.method == op.method
                        and o.path == op.path), None) if spec is not None else None
        env = CompileEnv(named_values=self.config.named_values, base_dir=self.base_dir,
                         api_id=api.name, operation_id=op_id, services=self.services,
                         openapi=spec, openapi_operation=spec_op,
                         examples=example_bodies(spec_op) if spec_op is not None else {})
        base = self._compile(env, global_doc, None, api_doc, op_doc)
        compiled = {name: self._compile(env, global_doc, doc, api_doc, op_doc)
                    for name, doc in product_docs.items()}
        if base is None or any(p is None for p in compiled.values()):
            return None  # the problems are recorded
        return SubscriptionGate(
            api.name, self.keys, base, required=required,
            products={k: v for k, v in compiled.items() if v is not None},
            open_product=open_product.name if open_product else None,
            header=api.subscription_key_header, query=api.subscription_key_query,
            guard=self.guard)

    def _compile(self, env: CompileEnv, *docs: PolicyDocument | None) -> Pipeline | None:
        global_doc, product_doc, api_doc, op_doc = docs
        try:
            merged = merge_policies(global_=global_doc, product=product_doc, api=api_doc,
                                    operation=op_doc)
            return compile_pipeline(merged, env)
        except ConfigError as exc:
            self.problems.extend(p for p in exc.problems if p not in self.problems)
            return None


def example_bodies(op: SpecOperation) -> dict[int, dict[str, bytes]]:
    """mock-response's examples from an imported operation: status -> media type -> body
    (the first example of each; JSON values serialised, text as UTF-8)."""
    out: dict[int, dict[str, bytes]] = {}
    for ex in op.examples:
        if not ex.status.isdigit():
            continue  # "default", "2XX": mock-response names an exact status
        ctype = ex.content_type or "application/json"
        if isinstance(ex.example, bytes):
            body = ex.example
        elif isinstance(ex.example, str) and "json" not in ctype:
            body = ex.example.encode()
        else:
            body = json.dumps(ex.example).encode()
        out.setdefault(int(ex.status), {}).setdefault(ctype, body)
    return out
