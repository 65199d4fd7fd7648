"""Rewrite where a spec says its API lives, keeping the rest of the document.

`fix_host` is for people who still import into a hosted gateway (the hand edit
of `host`/`schemes` this project exists to remove); `client_spec` is the spec
the gateway serves to its own clients at `/<api-path>/openapi.json`.
"""

from __future__ import annotations

import copy
import io
import json
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML

from kubegate.sources.openapi.normalise import METHODS, detect


def fix_host(doc: dict[str, Any], host: str, scheme: str = "http") -> dict[str, Any]:
    """A copy of `doc` whose host (2.0) or servers (3.x) point at `scheme://host`.

    For 2.0 `basePath` is kept; for 3.x the path of the old `servers[0]` is kept.
    """
    dialect, _ = detect(doc)
    if not host or "/" in host:
        raise ValueError(f"expected HOST[:PORT], got {host!r}")
    out = copy.deepcopy(doc)
    if dialect == "2.0":
        out["host"] = host
        out["schemes"] = [scheme]
        return out
    servers = doc.get("servers")
    old = (
        servers[0].get("url", "")
        if isinstance(servers, list) and servers and isinstance(servers[0], dict)
        else ""
    )
    rest = old.split("://", 1)[1] if "://" in old else "/" + old.lstrip("/")
    path = "/" + rest.split("/", 1)[1] if "/" in rest else ""
    out["servers"] = [{"url": f"{scheme}://{host}{path.rstrip('/')}"}]
    return out


def client_spec(doc: dict[str, Any], gateway_url: str, api_path: str) -> dict[str, Any]:
    """A copy of `doc` for the gateway's clients: one server, the gateway + API path.

    Path- and operation-level servers are removed (the gateway routes every operation).
    """
    dialect, _ = detect(doc)
    parts = urlsplit(gateway_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"gateway URL must be absolute http(s): {gateway_url!r}")
    prefix = (parts.path.rstrip("/") + "/" + api_path.strip("/")).rstrip("/")
    out = copy.deepcopy(doc)
    if dialect == "2.0":
        out["host"] = parts.netloc
        out["schemes"] = [parts.scheme]
        out["basePath"] = prefix or "/"
        out.pop("x-servers", None)
        return out
    out["servers"] = [{"url": f"{parts.scheme}://{parts.netloc}{prefix}"}]
    for item in (out.get("paths") or {}).values():
        if isinstance(item, dict):
            item.pop("servers", None)
            for method in METHODS:
                if isinstance(item.get(method), dict):
                    item[method].pop("servers", None)
    return out


def dump(doc: Any, yaml_output: bool) -> str:
    if not yaml_output:
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined,assignment]
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    return buffer.getvalue()
