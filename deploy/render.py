#!/usr/bin/env python3
"""Render the kubegate Helm chart without Helm.

Usage: python deploy/render.py [--values extra.yaml ...] [--set key.path=value ...]
       [--release NAME] [--namespace NS] [-o FILE]
Uses `helm template` when `--helm` is given and helm is on PATH; otherwise renders
the chart with this file's small Go-template subset, which is all the chart uses:

* `{{ PIPELINE }}`, `{{- ... -}}` whitespace trimming, `{{/* comments */}}`
* `{{ if PIPELINE }} ... {{ else }} ... {{ end }}`, `{{ range PIPELINE }} ... {{ end }}` (`.` is the item)
* terms: `.Values.a.b`, `.Release.Name`, `.Release.Namespace`, `.Chart.Name`,
  `.Chart.Version`, `.Chart.AppVersion`, `.` , "strings", numbers, true/false
* functions: quote, toYaml, indent N, nindent N, add A B, default D X, not X, eq A B, join SEP LIST
Anything else is an error naming the template and the action, never a silent skip.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "helm" / "kubegate"
ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\(|\)|\||[^\s()|]+')


class TemplateError(ValueError):
    pass


def go_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {})


def to_yaml(value: Any) -> str:
    if value in (None, {}, []):
        return "{}" if isinstance(value, dict) else "[]" if isinstance(value, list) else "null"
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def _indent(n: Any, text: Any) -> str:
    pad = " " * int(n)
    return "\n".join(pad + line if line else line for line in go_str(text).split("\n"))


FUNCS: dict[str, Any] = {
    "quote": lambda v: '"' + go_str(v).replace("\\", "\\\\").replace('"', '\\"') + '"',
    "toYaml": to_yaml,
    "indent": _indent,
    "nindent": lambda n, t: "\n" + _indent(n, t),
    "add": lambda *a: sum(int(x) for x in a),
    "default": lambda d, v: v if truthy(v) else d,
    "not": lambda v: not truthy(v),
    "join": lambda sep, items: sep.join(go_str(x) for x in items or []),
    "eq": lambda a, b: a == b,
}


class Renderer:
    def __init__(
        self, values: dict[str, Any], release: str, namespace: str, chart: dict[str, Any]
    ) -> None:
        self.root = {
            "Values": values,
            "Release": {"Name": release, "Namespace": namespace},
            "Chart": {
                "Name": chart["name"],
                "Version": chart["version"],
                "AppVersion": chart.get("appVersion"),
            },
        }

    def term(self, tok: str, dot: Any) -> Any:
        if tok.startswith('"'):
            return bytes(tok[1:-1], "utf-8").decode("unicode_escape")
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if tok == ".":
            return dot
        if tok.startswith("."):
            value: Any = self.root if tok.split(".")[1] in self.root else dot
            for part in tok[1:].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return value
        raise TemplateError(f"unsupported term {tok!r}")

    def pipeline(self, text: str, dot: Any) -> Any:
        value: Any = None
        for i, stage in enumerate(s.strip() for s in text.split("|")):
            toks = TOKEN.findall(stage)
            if not toks:
                raise TemplateError(f"empty pipeline stage in {text!r}")
            if toks[0] in FUNCS:
                args = [self.term(t, dot) for t in toks[1:]] + ([value] if i else [])
                value = FUNCS[toks[0]](*args)
            elif len(toks) == 1 and i == 0:
                value = self.term(toks[0], dot)
            else:
                raise TemplateError(f"unsupported function or syntax {stage!r}")
        return value

    def render(self, source: str, name: str) -> str:
        parts: list[tuple[str, str]] = []  # ("text", s) or ("action", s)
        pos = 0
        for m in ACTION.finditer(source):
            text = source[pos : m.start()]
            if m.group(1):
                text = text.rstrip()
            if parts and parts[-1][0] == "trim":
                text = text.lstrip()
                parts.pop()
            parts.append(("text", text))
            parts.append(("action", m.group(2)))
            if m.group(3):
                parts.append(("trim", ""))
            pos = m.end()
        tail = source[pos:]
        if parts and parts[-1][0] == "trim":
            parts.pop()
            tail = tail.lstrip()
        parts.append(("text", tail))
        out, rest = self._block(parts, 0, self.root, name)
        if rest != len(parts):
            raise TemplateError(f"{name}: unexpected {parts[rest][1]!r}")
        return out

    def _block(self, parts: list[tuple[str, str]], i: int, dot: Any, name: str) -> tuple[str, int]:
        out: list[str] = []
        while i < len(parts):
            kind, text = parts[i]
            if kind == "text":
                out.append(text)
                i += 1
                continue
            word = text.split(None, 1)[0] if text else ""
            if text.startswith("/*"):
                i += 1
            elif word in ("end", "else"):
                return "".join(out), i
            elif word in ("if", "range"):
                value = self.pipeline(text[len(word) :], dot)
                body, j = self._block(parts, i + 1, dot, name)
                other, k = "", j
                if j < len(parts) and parts[j][1] == "else":
                    other, k = self._block(parts, j + 1, dot, name)
                if k >= len(parts) or parts[k][1] != "end":
                    raise TemplateError(f"{name}: {word} without end")
                if word == "if":
                    out.append(body if truthy(value) else other)
                else:
                    items = value or []
                    out.extend(self._block(parts, i + 1, item, name)[0] for item in items)
                    if not items:
                        out.append(other)
                i = k + 1
            else:
                try:
                    out.append(go_str(self.pipeline(text, dot)))
                except TemplateError as exc:
                    raise TemplateError(f"{name}: {exc}") from None
                i += 1
        return "".join(out), i


def set_value(values: dict[str, Any], assignment: str) -> None:
    path, _, raw = assignment.partition("=")
    target = values
    keys = path.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = yaml.safe_load(raw)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def render_chart(
    values_files: Sequence[Path] = (),
    sets: Sequence[str] = (),
    release: str = "kubegate",
    namespace: str = "kubegate",
    chart_dir: Path = CHART,
) -> str:
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    for f in values_files:
        merge(values, yaml.safe_load(Path(f).read_text()) or {})
    for s in sets:
        set_value(values, s)
    renderer = Renderer(values, release, namespace, chart)
    docs = []
    for template in sorted((chart_dir / "templates").glob("*.yaml")):
        name = f"{chart['name']}/templates/{template.name}"
        for doc in renderer.render(template.read_text(), name).split("\n---"):
            if doc.strip():
                docs.append(f"---\n# Source: {name}\n{doc.strip(chr(10))}\n")
    return "".join(docs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--values", "-f", action="append", default=[], type=Path)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--release", default="kubegate")
    p.add_argument("--namespace", "-n", default="kubegate")
    p.add_argument("--helm", action="store_true", help="use `helm template` when helm is installed")
    p.add_argument("-o", "--output", type=Path)
    args = p.parse_args(argv)
    if args.helm and shutil.which("helm"):
        cmd = ["helm", "template", args.release, str(CHART), "-n", args.namespace]
        cmd += [x for f in args.values for x in ("-f", str(f))] + [
            x for s in args.set for x in ("--set", s)
        ]
        text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    else:
        text = render_chart(args.values, args.set, args.release, args.namespace)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
