"""cache-lookup-value, cache-store-value, cache-remove-value: a key/value cache.

* cache-lookup-value: ``key``, ``variable-name`` (required), ``default-value``,
  ``caching-type`` — sets the variable to the cached value or the default
  (the variable is left unset when there is neither).
* cache-store-value: ``key``, ``value``, ``duration`` (seconds, required).
* cache-remove-value: ``key``.
The cache is the ``"cache"`` service of the compile environment (``get(key)``,
``set(key, value, seconds)``, ``delete(key)``), by default one in-memory cache
per process (``DEFAULT_CACHE``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, to_text

MAX_ENTRIES = 10_000


class MemoryValueCache:
    """TTL cache with an injected clock; evicts the oldest entry beyond ``max_entries``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_ENTRIES) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self.items: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> tuple[bool, Any]:
        found = self.items.get(key)
        if found is None:
            return False, None
        if found[0] <= self.clock():
            del self.items[key]
            return False, None
        return True, found[1]

    def set(self, key: str, value: Any, seconds: float) -> None:
        self.items.pop(key, None)
        self.items[key] = (self.clock() + seconds, value)
        while len(self.items) > self.max_entries:
            del self.items[next(iter(self.items))]

    def delete(self, key: str) -> None:
        self.items.pop(key, None)


DEFAULT_CACHE = MemoryValueCache()
CACHING_TYPES = ("internal", "external", "prefer-external")


def _cache(c: Compiler) -> Any:
    return c.env.services.get("cache") or DEFAULT_CACHE


@register("cache-lookup-value", summary="read a cached value into a variable")
def compile_lookup(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("key", "variable-name", "default-value", "caching-type"),
                  required=("key", "variable-name"))
    c.const_choice(el, "caching-type", CACHING_TYPES, "prefer-external")
    key = evaluator(c.attr(el, "key", ""))  # type: ignore[arg-type]
    var = c.const(el, "variable-name", "") or ""
    default = c.attr(el, "default-value")
    get_default = evaluator(default) if default is not None else None
    cache = _cache(c)

    def run(ctx: Any) -> None:
        k = to_text(key(ctx))
        hit, value = cache.get(k)
        if hit:
            ctx.Variables[var] = value
        elif get_default is not None:
            ctx.Variables[var] = get_default(ctx)
        trace(ctx, f"cache-lookup-value {k}: {'hit' if hit else 'miss'}")
    return c.step(el, path, run, variable=var)


@register("cache-store-value", summary="store a value in the cache")
def compile_store(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("key", "value", "duration", "caching-type"),
                  required=("key", "value", "duration"))
    c.const_choice(el, "caching-type", CACHING_TYPES, "prefer-external")
    key = evaluator(c.attr(el, "key", ""))  # type: ignore[arg-type]
    value = evaluator(c.attr(el, "value", ""))  # type: ignore[arg-type]
    duration = evaluator(c.attr(el, "duration", "0"))  # type: ignore[arg-type]
    cache = _cache(c)

    def run(ctx: Any) -> None:
        k = to_text(key(ctx))
        try:
            seconds = float(to_text(duration(ctx)))
        except ValueError:
            from kubegate.sources.apim.expressions import ExpressionError
            raise ExpressionError("cache-store-value duration is not a number") from None
        cache.set(k, value(ctx), max(seconds, 0.0))
        trace(ctx, f"cache-store-value {k}: {seconds:g} s")
    return c.step(el, path, run)


@register("cache-remove-value", summary="remove a value from the cache")
def compile_remove(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("key", "caching-type"), required=("key",))
    c.const_choice(el, "caching-type", CACHING_TYPES, "prefer-external")
    key = evaluator(c.attr(el, "key", ""))  # type: ignore[arg-type]
    cache = _cache(c)

    def run(ctx: Any) -> None:
        k = to_text(key(ctx))
        cache.delete(k)
        trace(ctx, f"cache-remove-value {k}")
    return c.step(el, path, run)
