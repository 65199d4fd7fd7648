"""Compile-time helpers shared by every policy module.

A ``Compiler`` walks one section at a time, looks each element up in the
registry and collects **every** problem (unknown element, element not allowed
in the section, bad attribute, expression outside the supported subset) as a
``Problem`` with file, line and column instead of stopping at the first.
Expressions are compiled here, once; handlers receive ``CompiledExpression``
objects and test ``is_constant`` at compile time so constant values cost nothing
per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import TEXT_KEY, PolicyElement
from kubegate.sources.apim.expressions import (
    CompiledExpression,
    ExpressionCompileError,
    compile_value,
)
from kubegate.sources.apim.expressions.api import NAMED_VALUE
from kubegate.sources.openapi.model import ApiSpec, SpecOperation

from .registry import lookup
from .runtime import Block, Step


@dataclass
class CompileEnv:
    """What a pipeline is compiled against.

    * ``named_values`` — ``{{name}}`` values.
    * ``base_dir`` — ``include-fragment`` reads ``<base_dir>/fragments/<id>.xml`` (or ``.yaml``).
    * ``backends`` — ``set-backend-service backend-id`` -> base URL.
    * ``examples`` — for ``mock-response``: status code -> content type -> body bytes
      (from the operation's OpenAPI examples).
    * ``services`` — run-time services by name (``"jwt"``: a JwtVerifier factory,
      ``"cache"``: a value cache, ``"http"``: the send-request client).
    * ``sleep`` — awaited between retries (tests inject a fake).
    * ``openapi`` / ``openapi_operation`` — the API's imported OpenAPI document and this
      operation in it (validate-content, -parameters, -headers, -status-code); None when
      the API has no spec (or the operation is not in it).
    """

    named_values: Mapping[str, str] = field(default_factory=dict)
    base_dir: Path | None = None
    backends: Mapping[str, str] = field(default_factory=dict)
    examples: Mapping[int, Mapping[str, bytes]] = field(default_factory=dict)
    api_id: str | None = None
    operation_id: str | None = None
    services: Mapping[str, Any] = field(default_factory=dict)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    openapi: ApiSpec | None = None
    openapi_operation: SpecOperation | None = None
    placeholder_named_values: bool = False
    """When true, an unknown ``{{name}}`` is not an error: it stands for ``PLACEHOLDER``
    (``policy check`` of a document without its configuration); unknown
    ``backend-id`` values are accepted too."""

    def named_value_map(self) -> Mapping[str, str]:
        if self.placeholder_named_values:
            return PlaceholderValues(self.named_values)
        return self.named_values


PLACEHOLDER = "0" * 44
"""Stands for an unknown named value in check mode: a number, and 33 bytes of base64."""


class PlaceholderValues(Mapping[str, str]):
    """Named values where every unknown name resolves to ``PLACEHOLDER``."""

    def __init__(self, known: Mapping[str, str]) -> None:
        self.known = known

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> str:
        return self.known.get(name, PLACEHOLDER)

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


_TRUE = {"true": True, "false": False}


class Compiler:
    def __init__(self, env: CompileEnv) -> None:
        self.env = env
        self.problems: list[Problem] = []
        self.section = "inbound"
        self.needs_request_body = False
        self.needs_response_body = False
        self.fragment_stack: list[str] = []
        self.named_values = env.named_value_map()

    # -- problems -------------------------------------------------------------------
    def problem(self, el: PolicyElement, message: str, key: str | None = None) -> None:
        self.problems.append(Problem(f"<{el.name}>: {message}", **el.where(key)))

    def attr_problem(self, el: PolicyElement, attr: str, message: str) -> None:
        self.problems.append(
            Problem(f"<{el.name}> attribute '{attr}': {message}", **el.where(attr)))

    # -- elements -------------------------------------------------------------------
    def compile_block(self, elements: Iterable[PolicyElement], prefix: str) -> Block:
        steps: list[Step] = []
        counts: dict[str, int] = {}
        for el in elements:
            counts[el.name] = counts.get(el.name, 0) + 1
            path = f"{prefix}/{el.name}[{counts[el.name]}]"
            step = self.compile_element(el, path)
            if step is not None:
                steps.append(step)
        return tuple(steps)

    def compile_element(self, el: PolicyElement, path: str) -> Step | None:
        pdef = lookup(el.name)
        if pdef is None:
            self.problem(el, "unsupported policy element")
            return None
        if self.section not in pdef.sections:
            self.problem(el, f"not allowed in <{self.section}> (allowed in: "
                             f"{', '.join(sorted(pdef.sections))})")
            return None
        try:
            return pdef.compile(el, self, path)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
        except ExpressionCompileError as exc:
            self.problems.append(Problem(f"<{el.name}>: expression: {exc.message}", el.file,
                                         exc.line, exc.column))
        return None

    def step(self, el: PolicyElement, path: str, fn: Callable[[Any], Any], *,
             is_async: bool = False, soon: Callable[[Any], Any] | None = None,
             **detail: Any) -> Step:
        return Step(fn, is_async=is_async, name=el.name, path=path, scope=el.scope,
                    line=el.line, file=el.file, policy_id=el.attributes.get("id"),
                    detail=detail, soon=soon)

    # -- attributes -----------------------------------------------------------------
    def check_attrs(self, el: PolicyElement, known: Iterable[str],
                    required: Iterable[str] = ()) -> None:
        known_set = set(known) | {"id"}
        for name in el.attributes:
            if name not in known_set:
                self.attr_problem(el, name, "unsupported attribute")
        for name in required:
            if name not in el.attributes:
                self.problem(el, f"missing required attribute '{name}'")

    def check_children(self, el: PolicyElement, known: Iterable[str]) -> None:
        known_set = set(known)
        for c in el.children:
            if c.name not in known_set:
                self.problem(c, f"unexpected child of <{el.name}> (expected: "
                                f"{', '.join(sorted(known_set)) or 'none'})")

    def value(self, el: PolicyElement, text: str, key: str | None = None) -> CompiledExpression:
        """Compile an attribute value or text (``key`` = attribute name or TEXT_KEY)."""
        where = el.where(key)
        try:
            compiled = compile_value(text, line=where["line"] or 1, column=where["column"] or 1,
                                     named_values=self.named_values)
        except ExpressionCompileError as exc:
            self.problems.append(Problem(f"<{el.name}>: expression: {exc.message}", el.file,
                                         exc.line, exc.column))
            return CompiledExpression(text, None, "")
        if not compiled.is_constant and "Body" in text:
            self.note_body_use(text)
        return compiled

    def note_body_use(self, text: str) -> None:
        if self.section in ("inbound", "backend") or "Request.Body" in text:
            self.needs_request_body = True
        if self.section in ("outbound", "on-error") or "Response.Body" in text:
            self.needs_response_body = True

    def attr(self, el: PolicyElement, name: str, default: str | None = None
             ) -> CompiledExpression | None:
        raw = el.attributes.get(name, default)
        if raw is None:
            return None
        return self.value(el, raw, name if name in el.attributes else None)

    def text(self, el: PolicyElement) -> CompiledExpression:
        return self.value(el, el.text or "", TEXT_KEY)

    def const(self, el: PolicyElement, name: str, default: str | None = None) -> str | None:
        """An attribute that must be a constant (named values allowed)."""
        raw = el.attributes.get(name)
        if raw is None:
            return default
        v = self.value(el, raw, name)
        if not v.is_constant:
            self.attr_problem(el, name, "policy expressions are not supported here")
            return default
        return str(v.value)

    def const_bool(self, el: PolicyElement, name: str, default: bool) -> bool:
        raw = self.const(el, name)
        if raw is None:
            return default
        if raw.strip().lower() not in _TRUE:
            self.attr_problem(el, name, f"expected true or false, got {raw!r}")
            return default
        return _TRUE[raw.strip().lower()]

    def unresolved(self, raw: str | None) -> bool:
        """True when ``raw`` names a ``{{value}}`` that check mode stood in for with
        ``PLACEHOLDER`` (``placeholder_named_values`` and the name is not configured)."""
        if not raw or not self.env.placeholder_named_values:
            return False
        return any(m.group(1) not in self.env.named_values for m in NAMED_VALUE.finditer(raw))

    def const_int(self, el: PolicyElement, name: str, default: int | None,
                  minimum: int | None = None, maximum: int | None = None) -> int | None:
        """An integer attribute (named values allowed) within ``[minimum, maximum]``.

        In check mode a value coming from an unconfigured named value cannot be
        judged: it is not range-checked and stands for ``default`` (or the nearest
        bound). With the value configured, a bad number is a problem as usual."""
        raw = self.const(el, name)
        if raw is None:
            return default
        try:
            n = int(raw.strip())
        except ValueError:
            if self.unresolved(el.attributes.get(name)):
                return _stand_in(default, minimum, maximum)
            self.attr_problem(el, name, f"expected an integer, got {raw!r}")
            return default
        if (minimum is not None and n < minimum) or (maximum is not None and n > maximum):
            if self.unresolved(el.attributes.get(name)):
                return _stand_in(default, minimum, maximum)
            self.attr_problem(el, name, f"must be between {minimum} and {maximum}, got {n}")
            return default
        return n

    def const_choice(self, el: PolicyElement, name: str, choices: Iterable[str],
                     default: str) -> str:
        raw = self.const(el, name)
        if raw is None:
            return default
        options = list(choices)
        if raw not in options:
            self.attr_problem(el, name, f"expected one of {', '.join(options)}, got {raw!r}")
            return default
        return raw


def _stand_in(default: int | None, minimum: int | None, maximum: int | None) -> int:
    """The value an unconfigured numeric named value stands for in check mode."""
    n = default if default is not None else 0
    if minimum is not None and n < minimum:
        n = minimum
    if maximum is not None and n > maximum:
        n = maximum
    return n
