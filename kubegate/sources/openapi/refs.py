"""Resolve `$ref`s: local (`#/...`), relative files, and remote URLs when allowed.

How it works, in two passes over what the caller asks to resolve:
1. `scan` follows every reference reachable from a node and builds the graph
   "target -> targets referenced inside it", loading other documents on demand.
   Tarjan's algorithm finds the strongly connected components; every target in
   a cycle (recursive schemas) is *recursive*.
2. `inline` copies a node with every non-recursive reference replaced by its
   (memoised, shared) expansion. A reference to a recursive target becomes
   `{"$ref": "#/$defs/<name>"}` and the target's expansion is stored once in
   `defs`, so nothing expands forever and the result is finite.
Invariants: a target key is `<document location>#<json pointer>`; each document
is loaded at most once; unresolvable references stay as written and are
reported (as warnings: routing does not need schemas) with the JSON pointer
of the place they appear. Swagger 2.0's legacy `$ref: Name` means
`#/definitions/Name` when that definition exists.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from kubegate.model.errors import ConfigError, Problem
from kubegate.sources.openapi.loader import DEFAULT_TIMEOUT, Fetcher, is_url, join, load_document

_MISSING = object()


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def walk_pointer(doc: Any, fragment: str) -> Any:
    node = doc
    for raw in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


class Resolver:
    def __init__(
        self,
        root: Any,
        location: str,
        *,
        allow_remote: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        fetch: Fetcher | None = None,
    ) -> None:
        self.root_location = location
        self.docs: dict[str, Any] = {location: root}
        self.allow_remote = allow_remote
        self.timeout, self.fetch = timeout, fetch
        self.problems: list[Problem] = []
        self.legacy_names = False
        self.edges: dict[str, set[str]] = {}
        self.recursive: set[str] = set()
        self.defs: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._memo: dict[str, Any] = {}
        self._bad: dict[str, str] = {}
        self._keys: dict[tuple[str, str], str | None] = {}

    # -- locating targets -------------------------------------------------
    def where(self, base: str, pointer: str) -> str:
        return pointer if base == self.root_location else f"{base}#{pointer}"

    def key_of(self, ref: str, base: str, pointer: str) -> str | None:
        if (ref, base) in self._keys and self._keys[(ref, base)] is not None:
            return self._keys[(ref, base)]
        key = self._key_of(ref, base, pointer)
        self._keys[(ref, base)] = key
        return key

    def _key_of(self, ref: str, base: str, pointer: str) -> str | None:
        doc_part, _, fragment = ref.partition("#")
        definitions = self.docs[self.root_location].get("definitions")
        if (
            self.legacy_names
            and "#" not in ref
            and isinstance(definitions, dict)
            and ref in definitions
        ):
            doc_part, fragment = "", "/definitions/" + escape(ref)
        if doc_part and is_url(doc_part) and not is_url(base) and not self.allow_remote:
            return self._fail(
                ref, base, pointer, "remote $ref not allowed (pass --allow-remote-refs)"
            )
        location = join(base, doc_part) if doc_part else base
        cross_site = is_url(location) and urlsplit(location).netloc != urlsplit(base).netloc
        if cross_site and not self.allow_remote:
            return self._fail(
                ref, base, pointer, "remote $ref not allowed (pass --allow-remote-refs)"
            )
        if location not in self.docs:
            try:
                self.docs[location] = load_document(location, self.timeout, self.fetch)[0]
            except ConfigError as exc:
                self.docs[location] = _MISSING
                return self._fail(ref, base, pointer, f"cannot load: {exc.problems[0].message}")
        if self.docs[location] is _MISSING:
            return self._fail(ref, base, pointer, "cannot load the referenced document")
        if walk_pointer(self.docs[location], fragment) is _MISSING:
            return self._fail(ref, base, pointer, "target not found")
        return f"{location}#{fragment}"

    def _fail(self, ref: str, base: str, pointer: str, why: str) -> str | None:
        at = self.where(base, pointer)
        if at not in self._bad:
            self._bad[at] = why
            self.problems.append(Problem(f"unresolvable $ref {ref!r}: {why}", field=at + "/$ref"))
        return None

    def target(self, key: str) -> tuple[Any, str]:
        location, _, fragment = key.partition("#")
        return walk_pointer(self.docs[location], fragment), location

    # -- pass 1: graph and cycles -----------------------------------------
    def _refs_in(self, node: Any, base: str, pointer: str, out: set[str]) -> None:
        stack = [(node, pointer)]
        while stack:
            item, at = stack.pop()
            if isinstance(item, dict):
                ref = item.get("$ref")
                if isinstance(ref, str):
                    key = self.key_of(ref, base, at)
                    if key is not None:
                        out.add(key)
                stack.extend((v, f"{at}/{escape(str(k))}") for k, v in item.items() if k != "$ref")
            elif isinstance(item, list):
                stack.extend((v, f"{at}/{i}") for i, v in enumerate(item))

    def scan(self, node: Any, pointer: str) -> None:
        todo: set[str] = set()
        self._refs_in(node, self.root_location, pointer, todo)
        pending = list(todo - self.edges.keys())
        while pending:
            key = pending.pop()
            if key in self.edges:
                continue
            value, location = self.target(key)
            out: set[str] = set()
            self._refs_in(value, location, "#" + key.partition("#")[2], out)
            self.edges[key] = out
            pending.extend(k for k in out if k not in self.edges)
        self._find_cycles()

    def _find_cycles(self) -> None:
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        for start in self.edges:
            if start in index:
                continue
            work = [(start, iter(sorted(self.edges[start])))]
            index[start] = low[start] = len(index)
            stack.append(start)
            on_stack.add(start)
            while work:
                node, children = work[-1]
                child = next(children, None)
                if child is not None:
                    if child not in index:
                        index[child] = low[child] = len(index)
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(sorted(self.edges.get(child, ())))))
                    elif child in on_stack:
                        low[node] = min(low[node], index[child])
                    continue
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in self.edges.get(node, ()):
                        self.recursive.update(component)

    # -- pass 2: inline ------------------------------------------------------
    def _name(self, key: str) -> str:
        if key not in self._names:
            tail = key.rstrip("/").rpartition("/")[2] or "ref"
            base = re.sub(r"[^A-Za-z0-9_.\-]+", "-", unquote(tail)).strip("-") or "ref"
            name, n = base, 1
            while name in self.defs or name in self._names.values():
                n += 1
                name = f"{base}-{n}"
            self._names[key] = name
        return self._names[key]

    def inline(self, node: Any, base: str, pointer: str = "") -> Any:
        if isinstance(node, list):
            return [self.inline(v, base) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {k: self.inline(v, base) for k, v in node.items()}
        key = (
            self._keys[(ref, base)]
            if (ref, base) in self._keys
            else self.key_of(ref, base, pointer)
        )
        if key is None:
            return dict(node)
        siblings = {k: self.inline(v, base) for k, v in node.items() if k != "$ref"}
        if key in self.recursive:
            name = self._name(key)
            if name not in self.defs:
                self.defs[name] = {}
                value, location = self.target(key)
                self.defs[name] = self.inline(value, location)
            return {"$ref": f"#/$defs/{name}", **siblings}
        if key not in self._memo:
            value, location = self.target(key)
            self._memo[key] = self.inline(value, location)
        expanded = self._memo[key]
        if siblings and isinstance(expanded, dict):
            return {**expanded, **siblings}
        return expanded
