"""Attribute schemas of rate-limit, rate-limit-by-key, quota and quota-by-key.

Input is a parsed element as a plain dict ``{"name", "attributes", "children"}``
(children the same shape; ``"line"`` is used in errors when present).  Output
is a frozen dataclass; every problem found is raised together in one
``ConfigError`` naming the element and attribute.  Attributes where APIM allows
policy expressions keep ``@(...)``/``@{...}`` values as ``Expression`` for the
policy compiler; elsewhere an expression is an error, as in APIM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubegate.model.errors import ConfigError, Problem

MAX_RATE_PERIOD = 300
HEADER_ATTRS = ("retry-after-header-name", "retry-after-variable-name",
                "remaining-calls-header-name", "remaining-calls-variable-name",
                "total-calls-header-name")
APIM_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Expression:
    """A policy expression kept verbatim (``@(...)`` or ``@{...}``)."""

    source: str


@dataclass(frozen=True)
class Headers:
    retry_after_header_name: str = "Retry-After"
    retry_after_variable_name: str | None = None
    remaining_calls_header_name: str | None = None
    remaining_calls_variable_name: str | None = None
    total_calls_header_name: str | None = None


@dataclass(frozen=True)
class ScopedLimit:
    """A nested ``<api>`` or ``<operation>`` limit (``id`` wins over ``name``)."""

    element: str
    name: str | None
    id: str | None
    calls: int | None
    renewal_period: int | None
    bandwidth: int | None = None
    operations: tuple[ScopedLimit, ...] = ()

    @property
    def ref(self) -> str:
        return self.id if self.id is not None else self.name or ""


@dataclass(frozen=True)
class RateLimitSpec:
    calls: int
    renewal_period: int
    headers: Headers = Headers()
    apis: tuple[ScopedLimit, ...] = ()


@dataclass(frozen=True)
class RateLimitByKeySpec:
    calls: int | Expression
    renewal_period: int | Expression
    counter_key: str | Expression
    increment_condition: Expression | bool | None = None
    increment_count: int | Expression = 1
    headers: Headers = Headers()


@dataclass(frozen=True)
class QuotaSpec:
    calls: int | None
    bandwidth: int | None
    renewal_period: int
    apis: tuple[ScopedLimit, ...] = ()


@dataclass(frozen=True)
class QuotaByKeySpec:
    calls: int | None
    bandwidth: int | None
    renewal_period: int
    counter_key: str | Expression
    increment_condition: Expression | bool | None = None
    increment_count: int | Expression = 1
    first_period_start: datetime = APIM_EPOCH

    @property
    def anchor(self) -> float:
        """``first-period-start`` as Unix seconds (negative for APIM's year-1 default)."""
        return (self.first_period_start - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()


class _Reader:
    """Collects problems while reading one element's attributes."""

    def __init__(self, el: dict[str, Any], allowed: tuple[str, ...], problems: list[Problem]) -> None:
        self.name = str(el.get("name", "?"))
        self.attrs: dict[str, str] = {k: str(v) for k, v in (el.get("attributes") or {}).items()}
        self.line = el.get("line")
        self.problems = problems
        for attr in self.attrs:
            if attr not in allowed:
                self.fail(attr, f"unknown attribute (allowed: {', '.join(allowed)})")

    def fail(self, attr: str | None, message: str) -> None:
        where = f"<{self.name}>" + (f" {attr}" if attr else "")
        self.problems.append(Problem(message, line=self.line, field=where))

    def text(self, attr: str, *, required: bool = False, expr: bool = False) -> str | Expression | None:
        value = self.attrs.get(attr)
        if value is None:
            if required:
                self.fail(attr, "required attribute is missing")
            return None
        if value.startswith(("@(", "@{")):
            if expr:
                return Expression(value)
            self.fail(attr, "policy expressions are not allowed here")
            return None
        return value

    def integer(self, attr: str, *, required: bool = False, expr: bool = False,
                lo: int = 0, hi: int | None = None) -> int | Expression | None:
        value = self.text(attr, required=required, expr=expr)
        if value is None or isinstance(value, Expression):
            return value
        try:
            number = int(value.strip())
        except ValueError:
            self.fail(attr, f"must be a whole number, got {value!r}")
            return None
        if number < lo or (hi is not None and number > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            self.fail(attr, f"must be {bound}, got {number}")
            return None
        return number

    def plain_int(self, attr: str, **kw: Any) -> int | None:
        value = self.integer(attr, **kw)
        return value if isinstance(value, int) else None

    def condition(self, attr: str) -> Expression | bool | None:
        value = self.text(attr, expr=True)
        if value is None or isinstance(value, Expression):
            return value
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.fail(attr, f"must be a boolean expression or true/false, got {value!r}")
        return None

    def headers(self) -> Headers:
        vals = {a: self.text(a) for a in HEADER_ATTRS}
        return Headers(**{a.replace("-", "_"): v for a, v in vals.items()
                          if isinstance(v, str)})  # type: ignore[arg-type]


def _check(problems: list[Problem]) -> None:
    if problems:
        raise ConfigError(problems)


def _expect(el: dict[str, Any], name: str) -> None:
    if el.get("name") != name:
        raise ConfigError.one(f"expected <{name}>, got <{el.get('name')}>", line=el.get("line"))
