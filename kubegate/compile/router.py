"""Segment-trie router: API path prefix first (longest match), then the API's
operation templates. Lookup cost depends on the path's depth, not on how many
APIs or operations exist.

Invariants: a built Router is never mutated (it belongs to one snapshot);
static segments win over template parameters, with backtracking, so
`/items/special` and `/items/{id}` coexist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")
ANY_METHOD = "*"


class BadPath(ValueError):
    """The request target cannot be routed safely (e.g. escapes the root)."""


def split_path(raw: str) -> tuple[list[str], str]:
    """Split a request path into decoded segments and the normalised path to forward.

    Percent-escapes are decoded per segment for matching (so `%2F` stays inside its
    segment), dot segments are resolved after decoding (`%2e%2e` counts), runs of
    slashes are merged. Escaping above the root is a BadPath. The forwarded path
    keeps each kept segment's original spelling.
    """
    if not raw.startswith("/"):
        raise BadPath("request path must start with '/'")
    if "%" not in raw and "/." not in raw and "//" not in raw:
        parts = raw.split("/")[1:]
        if parts and parts[-1] == "":
            parts.pop()
        return parts, raw
    decoded: list[str] = []
    kept: list[str] = []
    for seg in raw.split("/")[1:]:
        value = unquote(seg, errors="strict") if "%" in seg else seg
        if "\x00" in value:
            raise BadPath("NUL in path")
        if ("/" in value or "\\" in value) and any(
                part in (".", "..") for part in value.replace("\\", "/").split("/")):
            # `..%2f` would climb out of the API's prefix at a backend that decodes %2F
            raise BadPath("encoded slash next to a dot segment")
        if value in ("", "."):
            continue
        if value == "..":
            if not decoded:
                raise BadPath("path escapes the root")
            decoded.pop()
            kept.pop()
            continue
        decoded.append(value)
        kept.append(seg)
    trailing = "/" if raw.endswith("/") and kept else ""
    return decoded, "/" + "/".join(kept) + trailing


@dataclass
class _Node(Generic[T]):
    static: dict[str, _Node[T]] = field(default_factory=dict)
    param: _Node[T] | None = None
    param_name: str = ""
    methods: dict[str, T] = field(default_factory=dict)


class Match(Generic[T]):
    """A routing result; `rest` holds the segments after the API prefix."""

    __slots__ = ("target", "params", "rest")

    def __init__(self, target: T, params: dict[str, str], rest: list[str]) -> None:
        self.target = target
        self.params = params
        self.rest = rest


class OperationTrie(Generic[T]):
    """Templates of one API: `/orders/{id}` -> target, per method."""

    def __init__(self) -> None:
        self.root: _Node[T] = _Node()
        self.catch_all: dict[str, T] = {}

    def add(self, method: str, template: str, target: T) -> None:
        node = self.root
        for seg in [s for s in template.split("/") if s]:
            if seg.startswith("{") and seg.endswith("}"):
                name = seg[1:-1]
                if node.param is None:
                    node.param, node.param_name = _Node(), name
                elif node.param_name != name:
                    # Same position, different names: keep the first name; both match.
                    pass
                node = node.param
            else:
                node = node.static.setdefault(seg, _Node())
        if method in node.methods:
            raise ValueError(f"duplicate operation {method} {template}")
        node.methods[method] = target

    def add_catch_all(self, method: str, target: T) -> None:
        self.catch_all[method] = target

    def lookup(self, method: str, segments: list[str], start: int) -> tuple[T, dict[str, str]] | None:
        params: dict[str, str] = {}
        node = self._greedy(segments, start, params)
        if node is None:
            params = {}
            node = self._walk(self.root, segments, start, params)
        if node is not None:
            target = node.methods.get(method) or node.methods.get(ANY_METHOD)
            if target is None and method == "HEAD":
                target = node.methods.get("GET")
            if target is not None:
                return target, params
        target = self.catch_all.get(method) or self.catch_all.get(ANY_METHOD)
        return (target, {}) if target is not None else None

    def _greedy(self, segs: list[str], start: int, params: dict[str, str]) -> _Node[T] | None:
        """The first path the backtracking walk would try; usually the only one needed."""
        node = self.root
        for i in range(start, len(segs)):
            child = node.static.get(segs[i])
            if child is None:
                child = node.param
                if child is None:
                    return None
                params[node.param_name] = segs[i]
            node = child
        return node if node.methods else None

    def _walk(
        self, node: _Node[T], segs: list[str], i: int, params: dict[str, str]
    ) -> _Node[T] | None:
        if i == len(segs):
            return node if node.methods else None
        child = node.static.get(segs[i])
        if child is not None:
            found = self._walk(child, segs, i + 1, params)
            if found is not None:
                return found
        if node.param is not None:
            params[node.param_name] = segs[i]
            found = self._walk(node.param, segs, i + 1, params)
            if found is not None:
                return found
            del params[node.param_name]
        return None


class Router(Generic[T]):
    """API prefixes (longest match wins) mapping to each API's OperationTrie."""

    def __init__(self) -> None:
        self._apis: dict[tuple[str, ...], OperationTrie[T]] = {}
        self._max_depth = 0

    def api(self, prefix: str) -> OperationTrie[T]:
        key = tuple(s for s in prefix.split("/") if s)
        self._max_depth = max(self._max_depth, len(key))
        return self._apis.setdefault(key, OperationTrie())

    def lookup(self, method: str, segments: list[str]) -> Match[T] | None:
        for depth in range(min(self._max_depth, len(segments)), -1, -1):
            trie = self._apis.get(tuple(segments[:depth]))
            if trie is None:
                continue
            found = trie.lookup(method, segments, depth)
            if found is not None:
                return Match(found[0], found[1], segments[depth:])
            return None  # the most specific API owns the path
        return None

    def prefixes(self) -> Iterable[tuple[str, ...]]:
        return self._apis.keys()
