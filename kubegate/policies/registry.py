"""The policy registry: element name -> compile function.

Each policy module registers itself with ``@register("name")``; other modules
(validate-jwt, rate-limit, quota...) may register later, before pipelines are
compiled. A compile function receives the element, the ``Compiler`` (helpers,
environment, problem list) and the element's path, and returns a ``Step``, or
``None`` when the element compiles to nothing at run time.

Invariant: the registry only grows; registering a name twice is an error
unless ``replace=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubegate.model.policy import PolicyElement

from .runtime import Step

if TYPE_CHECKING:
    from .compiler import Compiler

CompileFn = Callable[[PolicyElement, "Compiler", str], Step | None]
ALL_SECTIONS = frozenset({"inbound", "backend", "outbound", "on-error", "return-response"})
"""``return-response`` is the pseudo-section of return-response's children."""


@dataclass(frozen=True)
class PolicyDef:
    name: str
    compile: CompileFn
    sections: frozenset[str]
    summary: str


POLICIES: dict[str, PolicyDef] = {}


def register(name: str, *, sections: frozenset[str] | set[str] = ALL_SECTIONS, summary: str = "",
             replace: bool = False) -> Callable[[CompileFn], CompileFn]:
    """Decorator registering ``fn`` as the compiler of ``<name>``."""
    def deco(fn: CompileFn) -> CompileFn:
        if name in POLICIES and not replace:
            raise ValueError(f"policy <{name}> is already registered")
        POLICIES[name] = PolicyDef(name, fn, frozenset(sections), summary)
        return fn
    return deco


def lookup(name: str) -> PolicyDef | None:
    return POLICIES.get(name)
