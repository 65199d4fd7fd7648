"""Merge policy documents across scopes into the effective policy of an operation.

Scopes run from broadest to narrowest: global → product → API → operation. For
each section, the narrowest scope that has a document runs; a `<base/>`
directly inside its section is replaced, at that point, by the parent scope's
effective section (recursively). Rules:

* a section without `<base/>` cuts inheritance; `<base/>` at the broadest scope
  is a no-op;
* a scope without a document inherits its parent's policy entirely (a request
  without a product simply has no product document);
* a document that lacks a section altogether behaves as if that section held
  only `<base/>` (it inherits); write an empty section (`<backend />`) to cut;
* `<base/>` more than once in a section, or nested inside another element, is
  an error.

The result holds no `base` elements; every element keeps its source position
and is tagged with the scope it came from (`PolicyElement.scope`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import SECTIONS, PolicyDocument, PolicyElement, Section


class Scope(StrEnum):
    GLOBAL = "global"
    PRODUCT = "product"
    API = "api"
    OPERATION = "operation"


@dataclass(frozen=True)
class MergedPolicy:
    """The effective policy of one operation: four sections, `base` resolved."""

    inbound: Section = ()
    backend: Section = ()
    outbound: Section = ()
    on_error: Section = ()

    def section(self, name: str) -> Section:
        if name not in SECTIONS:
            raise KeyError(name)
        result: Section = getattr(self, name.replace("-", "_"))
        return result

    def to_data(self, positions: bool = True) -> dict[str, Any]:
        return {name: [e.to_data(positions) for e in self.section(name)] for name in SECTIONS}


def _check_nested_base(elements: Section, scope: str, problems: list[Problem]) -> None:
    for el in elements:
        for child in el.children:
            for node in child.walk():
                if node.name == "base":
                    problems.append(
                        Problem(
                            f"<base/> is only allowed directly inside a section ({scope} scope)",
                            **node.where(),
                        )
                    )


def merge_section(
    chain: Sequence[tuple[str, PolicyDocument]], name: str, problems: list[Problem]
) -> Section:
    """The effective section `name` for documents ordered broadest first."""
    effective: Section = ()
    for scope, doc in chain:
        own = doc.section(name)
        if own is None:
            continue
        _check_nested_base(own, scope, problems)
        out: list[PolicyElement] = []
        seen_base: PolicyElement | None = None
        for el in own:
            if el.name != "base":
                out.append(el.with_scope(scope))
            elif seen_base is not None:
                problems.append(
                    Problem(
                        f"<base/> appears more than once in <{name}> ({scope} scope; first at line "
                        f"{seen_base.line})",
                        **el.where(),
                    )
                )
            else:
                seen_base = el
                out.extend(effective)
        effective = tuple(out)
    return effective


def merge_chain(chain: Sequence[tuple[str, PolicyDocument | None]]) -> MergedPolicy:
    """Merge documents given broadest scope first; `None` documents are skipped."""
    present = [(str(scope), doc) for scope, doc in chain if doc is not None]
    problems: list[Problem] = []
    sections = {name.replace("-", "_"): merge_section(present, name, problems) for name in SECTIONS}
    if problems:
        raise ConfigError(problems)
    return MergedPolicy(**sections)


def merge_policies(
    global_: PolicyDocument | None = None,
    product: PolicyDocument | None = None,
    api: PolicyDocument | None = None,
    operation: PolicyDocument | None = None,
) -> MergedPolicy:
    """The effective policy from the documents at the four scopes (any may be absent)."""
    return merge_chain(
        [
            (Scope.GLOBAL, global_),
            (Scope.PRODUCT, product),
            (Scope.API, api),
            (Scope.OPERATION, operation),
        ]
    )
