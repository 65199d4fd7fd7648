"""Liquid templates: the node tree `parse` builds and `render` walks (immutable
expression nodes, block nodes holding their bodies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# -- expressions ------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Path:
    """A variable: ``name`` then member names (str) or index expressions."""

    name: str
    parts: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Range:
    start: Any
    stop: Any


@dataclass(frozen=True)
class Special:
    """``empty`` or ``blank`` (only meaningful in comparisons)."""

    kind: str


@dataclass(frozen=True)
class Filtered:
    value: Any
    filters: tuple[tuple[str, tuple[Any, ...]], ...] = ()


@dataclass(frozen=True)
class Compare:
    left: Any
    op: str | None = None
    right: Any = None


@dataclass(frozen=True)
class Condition:
    """Comparisons joined by ``and``/``or``, evaluated right to left as Liquid does."""

    terms: tuple[Compare, ...]
    ops: tuple[str, ...] = ()


# -- nodes -------------------------------------------------------------------------------
@dataclass
class Output:
    expr: Filtered


@dataclass
class If:
    branches: list[tuple[Condition, list[Any]]]
    otherwise: list[Any] | None = None
    negate_first: bool = False


@dataclass
class Case:
    subject: Filtered
    whens: list[tuple[tuple[Any, ...], list[Any]]] = field(default_factory=list)
    otherwise: list[Any] | None = None


@dataclass
class For:
    var: str
    source: Any
    body: list[Any]
    otherwise: list[Any] | None = None
    limit: Any = None
    offset: Any = None
    reversed: bool = False


@dataclass
class Assign:
    name: str
    expr: Filtered


@dataclass
class Capture:
    name: str
    body: list[Any]


@dataclass
class Jump:
    kind: str  # "break" | "continue"
