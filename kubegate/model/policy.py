"""The policy document model: what APIM XML and the YAML policy syntax load into.

A `PolicyDocument` has four optional sections (`inbound`, `backend`, `outbound`,
`on-error`), each an ordered tuple of `PolicyElement`s. A section that is absent
is `None`, which is not the same as an empty section: see `kubegate.compile.merge`.
A `PolicyFragment` (the `<fragment>` root used by `include-fragment`) is a flat
ordered tuple of elements.

Invariants:
* Elements are immutable; `attributes` keeps document order and must not be
  mutated after construction.
* Expression values (`@(...)`, `@{...}`) and `{{named-value}}` references are
  kept as raw text; they are compiled later.
* Source positions (file, 1-based line and column, the position of each
  attribute value and of the text) and the scope an element came from are
  carried for error messages and traces, but excluded from equality, so the
  same policy written in XML and in YAML compares equal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

SECTIONS: tuple[str, ...] = ("inbound", "backend", "outbound", "on-error")
TEXT_KEY = "#text"
"""Key of `PolicyElement.positions` holding the position of the element's text."""

Position = tuple[int, int]
"""A 1-based (line, column)."""


@dataclass(frozen=True, eq=True)
class PolicyElement:
    """One element: `<name attr="...">text or children</name>`."""

    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    children: tuple[PolicyElement, ...] = ()
    text: str | None = None
    line: int | None = field(default=None, compare=False)
    column: int | None = field(default=None, compare=False)
    file: str | None = field(default=None, compare=False)
    positions: Mapping[str, Position] = field(default_factory=dict, compare=False, repr=False)
    scope: str | None = field(default=None, compare=False)

    __hash__ = None  # type: ignore[assignment]

    def where(self, key: str | None = None) -> dict[str, Any]:
        """Keyword arguments for `Problem`/`ConfigError.one`: file, line, column.

        With `key` (an attribute name or `TEXT_KEY`), the position of that value
        when known, otherwise the element's own position.
        """
        line, column = (
            self.positions.get(key, (self.line, self.column))
            if key
            else (
                self.line,
                self.column,
            )
        )
        return {"file": self.file, "line": line, "column": column}

    def child(self, name: str) -> PolicyElement | None:
        """The first child called `name`, if any."""
        return next((c for c in self.children if c.name == name), None)

    def walk(self) -> Iterator[PolicyElement]:
        """This element and all its descendants, depth first in document order."""
        yield self
        for c in self.children:
            yield from c.walk()

    def with_scope(self, scope: str) -> PolicyElement:
        """A copy of this element and its descendants tagged with `scope`."""
        return replace(
            self, scope=scope, children=tuple(c.with_scope(scope) for c in self.children)
        )

    def to_data(self, positions: bool = True) -> dict[str, Any]:
        """A plain, deterministic description (for golden files, traces, debugging)."""
        body: dict[str, Any] = {}
        if positions and self.line is not None:
            body["at"] = f"{self.line}:{self.column}"
        if self.scope is not None:
            body["scope"] = self.scope
        if self.attributes:
            body["attributes"] = dict(self.attributes)
        if positions and self.positions:
            body["value-at"] = {k: f"{ln}:{col}" for k, (ln, col) in self.positions.items()}
        if self.text is not None:
            body["text"] = self.text
        if self.children:
            body["children"] = [c.to_data(positions) for c in self.children]
        return {self.name: body}


Section = tuple[PolicyElement, ...]


@dataclass(frozen=True, eq=True)
class PolicyDocument:
    """A `<policies>` document; `None` marks a section the document does not have."""

    inbound: Section | None = None
    backend: Section | None = None
    outbound: Section | None = None
    on_error: Section | None = None
    file: str | None = field(default=None, compare=False)

    __hash__ = None  # type: ignore[assignment]

    def section(self, name: str) -> Section | None:
        """The section called `name` (one of `SECTIONS`)."""
        if name not in SECTIONS:
            raise KeyError(name)
        result: Section | None = getattr(self, name.replace("-", "_"))
        return result

    @classmethod
    def from_sections(
        cls, sections: Mapping[str, Section | None], file: str | None = None
    ) -> PolicyDocument:
        return cls(**{k.replace("-", "_"): v for k, v in sections.items()}, file=file)

    def to_data(self, positions: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in SECTIONS:
            sec = self.section(name)
            if sec is not None:
                out[name] = [e.to_data(positions) for e in sec]
        return out


@dataclass(frozen=True, eq=True)
class PolicyFragment:
    """A `<fragment>` document: policy elements to be inlined by `include-fragment`."""

    elements: tuple[PolicyElement, ...] = ()
    file: str | None = field(default=None, compare=False)

    __hash__ = None  # type: ignore[assignment]

    def to_data(self, positions: bool = True) -> dict[str, Any]:
        return {"fragment": [e.to_data(positions) for e in self.elements]}
