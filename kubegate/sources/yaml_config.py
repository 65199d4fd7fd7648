"""Load the declarative YAML configuration into the model.

Every problem is reported with file, line and field, and all of them at once:
YAML syntax and duplicate keys, `${ENV}` references that are not set, and every
validation error pydantic finds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from kubegate.model.config import Config
from kubegate.model.errors import ConfigError, Problem

CORE_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                      ("str", "int", "float", "bool", "null", "seq", "map", "timestamp"))
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def refuse_tags(node: Any, file: str, problems: list[Problem]) -> None:
    """Configuration is plain data: any explicit tag (`!tag`, `!!python/...`) is an error."""
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag) if tag is not None else None
    if isinstance(value, str) and value and value not in CORE_TAGS:
        line = None
        lc = getattr(node, "lc", None)
        if lc is not None and getattr(lc, "line", None) is not None:
            line = lc.line + 1
        problems.append(Problem(f"YAML tag {value!r} is not allowed in configuration", file, line))
    if isinstance(node, CommentedMap):
        for value in node.values():
            refuse_tags(value, file, problems)
    elif isinstance(node, CommentedSeq):
        for value in node:
            refuse_tags(value, file, problems)


def parse_yaml(text: str, file: str) -> Any:
    """Parse YAML keeping line numbers; duplicate keys are errors."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError.one(message or str(exc), file=file, line=line, column=column) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. DuplicateKeyError variants)
        raise ConfigError.one(str(exc).strip(), file=file) from None


def substitute_env(node: Any, file: str, env: Mapping[str, str], problems: list[Problem]) -> Any:
    """Replace `${NAME}` and `${NAME:-default}` in every string scalar, in place."""

    def replace(text: str, line: int | None) -> str:
        def one(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            problems.append(Problem(f"environment variable {name} is not set", file, line))
            return m.group(0)

        return _ENV_REF.sub(one, text)

    def line_of(pos: Any) -> int | None:
        return pos[0] + 1 if pos else None  # ruamel keeps no position for some tagged nodes

    if isinstance(node, CommentedMap):
        for key in list(node.keys()):
            value = node[key]
            if isinstance(value, str):
                node[key] = replace(value, line_of(node.lc.key(key)))
            else:
                substitute_env(value, file, env, problems)
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            if isinstance(value, str):
                node[i] = replace(value, line_of(node.lc.item(i)))
            else:
                substitute_env(value, file, env, problems)
    return node


def locate(root: Any, loc: tuple[int | str, ...]) -> tuple[int | None, int | None]:
    """The 1-based line and column of the deepest node along a pydantic error location."""
    node, line, col = root, None, None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line, col = node.lc.key(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line, col = node.lc.item(part)
            node = node[part]
        else:
            break
    return (line + 1 if line is not None else None, col + 1 if col is not None else None)


def _field_name(loc: tuple[int | str, ...], root: Any) -> str:
    out: list[str] = []
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(("." if out else "") + str(part))
    return "".join(out) or "(document)"


def validate(data: Any, file: str, root: Any = None) -> Config:
    try:
        return Config.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
            line, col = locate(root if root is not None else data, loc)
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(Problem(msg, file, line, col, _field_name(loc, root)))
        raise ConfigError(problems) from None


def load_config_text(text: str, file: str = "<config>", env: Mapping[str, str] | None = None) -> Config:
    root = parse_yaml(text, file)
    if root is not None and not isinstance(root, CommentedMap):
        raise ConfigError.one("the configuration must be a mapping", file=file, line=1)
    problems: list[Problem] = []
    refuse_tags(root, file, problems)
    if problems:
        raise ConfigError(problems)
    substitute_env(root, file, os.environ if env is None else env, problems)
    try:
        config = validate(root, file)
    except ConfigError as exc:
        problems.extend(exc.problems)
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError.one(f"cannot read: {exc.strerror or exc}", file=str(p)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError.one(f"not UTF-8: {exc.reason}", file=str(p)) from None
    return load_config_text(text, str(p), env)
