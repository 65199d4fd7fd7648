"""Read a spec document from a file or an http(s) URL and parse it (JSON or YAML).

Text is UTF-8 with or without a byte-order mark. A document whose first
character is `{` or `[` is JSON and must be valid JSON (a `.json` file with
trailing commas is rejected, not silently read as YAML); anything else is YAML.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from kubegate.model.errors import ConfigError

try:  # libyaml through PyYAML is ~20x faster than pure-Python parsing on large specs
    import yaml as pyyaml

    class _FastLoader(pyyaml.CSafeLoader):
        """libyaml with YAML 1.2 booleans (`yes`/`no`/`on`/`off` stay strings, as in ruamel)."""

    _FastLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in pyyaml.CSafeLoader.yaml_implicit_resolvers.items()
    }
    _FastLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )
except (ImportError, AttributeError):  # pragma: no cover - PyYAML or libyaml missing
    _FastLoader = None  # type: ignore[assignment,misc]

Fetcher = Callable[[str, float], tuple[bytes, str]]
DEFAULT_TIMEOUT = 10.0
MAX_BYTES = 64 * 1024 * 1024


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def urllib_fetch(url: str, timeout: float) -> tuple[bytes, str]:
    """GET `url`; returns the body and the final URL (after redirects)."""
    request = urllib.request.Request(
        url, headers={"Accept": "application/json, application/yaml;q=0.9, */*;q=0.5"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only)
        return response.read(MAX_BYTES + 1), response.geturl()


def join(base: str, ref: str) -> str:
    """Resolve a reference's document part against the document it appears in."""
    if not ref:
        return base
    if is_url(ref) or is_url(base):
        return urljoin(base, ref)
    if urlsplit(ref).scheme == "file":
        return str(Path(urlsplit(ref).path))
    return str((Path(base).parent / ref).resolve())


def read_bytes(location: str, timeout: float, fetch: Fetcher | None) -> tuple[bytes, str]:
    if is_url(location):
        try:
            data, final = (fetch or urllib_fetch)(location, timeout)
        except urllib.error.HTTPError as exc:
            raise ConfigError.one(
                f"cannot fetch: HTTP {exc.code} {exc.reason}", file=location
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ConfigError.one(f"cannot fetch: {reason}", file=location) from None
        return data, final
    if urlsplit(location).scheme not in ("", "file") and len(urlsplit(location).scheme) > 1:
        raise ConfigError.one("only files and http(s) URLs can be imported", file=location)
    path = Path(urlsplit(location).path if location.startswith("file:") else location)
    try:
        return path.read_bytes(), str(path.resolve())
    except OSError as exc:
        raise ConfigError.one(f"cannot read: {exc.strerror or exc}", file=location) from None


def decode(data: bytes, file: str) -> str:
    if len(data) > MAX_BYTES:
        raise ConfigError.one(f"document larger than {MAX_BYTES} bytes", file=file)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError.one(f"not UTF-8: {exc.reason} at byte {exc.start}", file=file) from None


def _plain(node: Any) -> Any:
    """YAML -> JSON data model: string keys, dates as ISO strings."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, dt.date | dt.datetime):
        return node.isoformat()
    return node


def parse_text(text: str, file: str) -> Any:
    text = text.removeprefix("\ufeff")
    if text.lstrip(" \t\r\n")[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError.one(
                f"invalid JSON: {exc.msg}", file=file, line=exc.lineno, column=exc.colno
            ) from None
    if _FastLoader is not None:
        try:
            return _plain(pyyaml.load(text, Loader=_FastLoader))  # noqa: S506 - a safe loader
        except pyyaml.YAMLError:
            pass  # fall through to ruamel for its error messages (line and column)
    yaml = YAML(typ="safe", pure=True)
    try:
        return _plain(yaml.load(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p) or str(exc)
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise ConfigError.one(
            f"invalid YAML: {message}", file=file, line=line, column=column
        ) from None
    except (YAMLError, ValueError, TypeError) as exc:
        raise ConfigError.one(f"invalid YAML: {exc}", file=file) from None


def load_document(
    location: str, timeout: float = DEFAULT_TIMEOUT, fetch: Fetcher | None = None
) -> tuple[Any, str]:
    """Read and parse one document; returns (data, canonical location)."""
    data, canonical = read_bytes(location, timeout, fetch)
    return parse_text(decode(data, location), location), canonical
