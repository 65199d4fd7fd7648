"""LLM token counters (llm-emit-token-metric, azure-openai-emit-token-metric).

How it works: the policy calls ``TokenMetrics.add(namespace, dimensions, prompt,
completion, total)``; each (namespace, dimensions) series keeps three growing
counts. ``TOKENS`` is this process's table: a worker's ``RequestMetrics`` dumps
it with its own series, the admin process merges the dumps, and the exposition
writes ``kubegate_llm_tokens_total{namespace, kind, <dimension labels>}`` with
``kind`` = prompt | completion | total and one label per dimension name
(lower case, non-alphanumerics as ``_``: "API ID" -> ``api_id``).

Invariants: counters only grow; at most ``max_series`` series, later new
dimension combinations count under one series whose dimension values are "other".
"""

from __future__ import annotations

import json
import re
from typing import Any

KINDS = ("prompt", "completion", "total")
OTHER = "other"
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def label_name(dimension: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", dimension.strip().lower()) or "_"
    return "_" + name if name[0].isdigit() or name in ("namespace", "kind") else name


class TokenMetrics:
    __slots__ = ("series", "max_series")

    def __init__(self, max_series: int = 5000) -> None:
        self.series: dict[SeriesKey, list[int]] = {}
        self.max_series = max_series

    def add(self, namespace: str, dimensions: list[tuple[str, str]], prompt: int,
            completion: int, total: int) -> None:
        key: SeriesKey = (namespace, tuple((label_name(n), v) for n, v in dimensions))
        s = self.series.get(key)
        if s is None:
            if len(self.series) >= self.max_series:
                key = (namespace, tuple((n, OTHER) for n, _ in key[1]))
            s = self.series.setdefault(key, [0, 0, 0])
        s[0] += prompt
        s[1] += completion
        s[2] += total

    def dump(self) -> list[list[Any]]:
        return [[ns, json.dumps(dims), *counts] for (ns, dims), counts in self.series.items()]

    def load(self, rows: list[list[Any]]) -> None:
        """Add a dump's counts (merging several processes)."""
        for ns, dims, *counts in rows:
            key: SeriesKey = (str(ns), tuple((str(a), str(b)) for a, b in json.loads(dims)))
            s = self.series.setdefault(key, [0, 0, 0])
            for i, v in enumerate(counts[:3]):
                s[i] += int(v)

    def samples(self) -> tuple[list[str], list[tuple[list[str], float]]]:
        """Label names and (label values, count) rows for the exposition."""
        dims = sorted({n for _, d in self.series for n, _ in d})
        rows: list[tuple[list[str], float]] = []
        for (ns, d), counts in self.series.items():
            values = dict(d)
            for kind, n in zip(KINDS, counts, strict=True):
                rows.append(([ns, kind, *(values.get(x, "") for x in dims)], n))
        return ["namespace", "kind", *dims], rows


TOKENS = TokenMetrics()
"""This process's token counters (what the policies record into)."""
