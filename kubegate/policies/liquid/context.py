"""What a set-body Liquid template sees: ``context`` and ``body``.

``context`` exposes what APIM documents for Liquid — ``Request`` (``Url``,
``Method``, ``OriginalMethod``, ``OriginalUrl``, ``IpAddress``,
``MatchedParameters``, ``HasBody``, ``ClientCertificates``, ``Headers``) and
``Response`` (``StatusCode``, ``StatusReason``, ``Headers``) — plus
``Variables`` (policy variables), as APIM templates use them. A header reads as
its values joined with ``,``; iterating headers gives ``Key``/``Value`` pairs.
``body`` is the message body parsed by its Content-Type: JSON
(``application/json``, ``text/json``, ``*+json``) or XML (``application/xml``,
``text/xml``, ``*+xml``, as ``{root: {child: ...}}``, attributes ``@name``);
otherwise (or when it does not parse, or nests too deeply) ``nil``.
"""

from __future__ import annotations

import json
from typing import Any

from defusedxml.ElementTree import ParseError, fromstring

from .values import Drop, Pair


class HeadersDrop(Drop):
    def __init__(self, headers: Any) -> None:
        self.headers = headers

    def liquid_member(self, name: str) -> Any:
        if name in ("size", "Count"):
            return len(self.headers.names())
        return self.headers.get(name)

    def liquid_items(self) -> list[Any]:
        return [Pair(n, self.headers.get(n)) for n in self.headers.names()]


class MapDrop(Drop):
    """A read-only string map (query, matched parameters, variables)."""

    def __init__(self, get: Any, names: Any) -> None:
        self.get, self.names = get, names

    def liquid_member(self, name: str) -> Any:
        return plain(self.get(name))

    def liquid_items(self) -> list[Any]:
        return [Pair(n, plain(self.get(n))) for n in self.names()]


class UrlDrop(Drop):
    def __init__(self, url: Any) -> None:
        self.url = url

    def liquid_member(self, name: str) -> Any:
        u = self.url
        if name in ("Scheme", "Host", "Port", "Path", "QueryString"):
            return getattr(u, name)
        if name == "Query":
            q = u.Query
            return MapDrop(lambda n: q.get(n), q.names)
        if name in ("ToString", "ToUri"):
            return u.ToString()
        return None

    def liquid_text(self) -> str:
        return str(self.url.ToString())


class RequestDrop(Drop):
    def __init__(self, request: Any) -> None:
        self.r = request

    def liquid_member(self, name: str) -> Any:
        r = self.r
        if name in ("Method", "OriginalMethod"):
            return r.Method
        if name == "Url":
            return UrlDrop(r.Url)
        if name == "OriginalUrl":
            return UrlDrop(r.OriginalUrl)
        if name == "IpAddress":
            return r.IpAddress
        if name == "Headers":
            return HeadersDrop(r.Headers)
        if name == "MatchedParameters":
            params = r.MatchedParameters
            return MapDrop(params.get, lambda: list(params))
        if name == "HasBody":
            return bool(r.Body.content)
        if name == "ClientCertificates":
            return [] if r.Certificate is None else [r.Certificate]
        return None


class ResponseDrop(Drop):
    def __init__(self, response: Any) -> None:
        self.r = response

    def liquid_member(self, name: str) -> Any:
        if name in ("StatusCode", "StatusReason"):
            return getattr(self.r, name)
        if name == "Headers":
            return HeadersDrop(self.r.Headers)
        return None


class ContextDrop(Drop):
    def __init__(self, ctx: Any, with_response: bool) -> None:
        self.ctx, self.with_response = ctx, with_response

    def liquid_member(self, name: str) -> Any:
        ctx = self.ctx
        if name == "Request":
            return RequestDrop(ctx.Request)
        if name == "Response":
            return ResponseDrop(ctx.Response) if self.with_response else None
        if name == "Variables":
            v = ctx.Variables
            return MapDrop(v.get, lambda: list(v))
        if name == "RequestId":
            return str(ctx.RequestId)
        return None


def plain(value: Any) -> Any:
    """A policy variable as a template value (a stored response becomes a drop)."""
    if value is None or isinstance(value, str | int | float | bool | list | dict | Drop):
        return value
    if hasattr(value, "StatusCode") and hasattr(value, "Headers"):
        return ResponseDrop(value)
    return str(value)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_obj(el: Any) -> Any:
    out: dict[str, Any] = {f"@{_local(k)}": v for k, v in el.attrib.items()}
    for child in el:
        name, value = _local(child.tag), _xml_obj(child)
        if name in out:
            prev = out[name]
            out[name] = prev + [value] if isinstance(prev, list) else [prev, value]
        else:
            out[name] = value
    text = (el.text or "").strip()
    if not out:
        return text
    if text:
        out["#text"] = text
    return out


def parse_body(content: bytes | None, content_type: str | None) -> Any:
    """The ``body`` variable: JSON or XML by Content-Type, else ``None``."""
    if not content:
        return None
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        if ctype in ("application/json", "text/json") or ctype.endswith("+json"):
            return json.loads(content)
        if ctype in ("application/xml", "text/xml") or ctype.endswith("+xml"):
            root = fromstring(content)
            return {_local(root.tag): _xml_obj(root)}
    except (ValueError, ParseError, RecursionError):  # RecursionError: nested too deeply
        return None
    return None
