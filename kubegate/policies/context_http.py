"""Request/response pieces of the policy context: headers, URL, body.

``Headers`` keeps header names case-insensitively with their first spelling
and every value in order; policies mutate it (``set``/``append``/``delete``)
and the proxy writes it back with ``to_list()``. ``MessageBody`` follows
APIM: reading it without ``preserveContent`` consumes it (later reads see an
empty body)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote

from kubegate.sources.apim.expressions import (
    CONTEXT_MEMBERS,
    ExpressionError,
    JArray,
    JObject,
    ReadOnlyMultiMap,
    parse_form,
    parse_json,
    xml_body,
)

_UNSAFE = re.compile(r"[\r\n\x00]")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def checked(name: str, value: str) -> str:
    """A header a policy sets must stay one header: no CR, LF or NUL in the value, a
    token for the name. Anything else is an error (on-error runs), never a split."""
    if not _TOKEN.match(name):
        raise ValueError(f"invalid header name {name!r}")
    if _UNSAFE.search(value):
        raise ValueError(f"header {name} value holds CR, LF or NUL")
    return value


SCANNED_READS = 3  # reads of received headers answered by a scan before they are grouped


class Headers(ReadOnlyMultiMap):
    """Invariant: `_items` maps each lower-case name to (name as first spelt, values);
    for the headers of a received request it is made from `_raw` on first use (most
    requests are forwarded without a policy reading their headers). The first
    SCANNED_READS reads (`values_of`) scan `_raw` instead of grouping it: a policy
    reading one header (a token, a key) costs a scan, not a grouping. Received lines
    whose name is in `removed` (taken by `pop` before grouping) count as absent."""

    __cs_type__ = "Headers"
    __cs_members__ = CONTEXT_MEMBERS["Headers"]
    __slots__ = ("_items", "edited", "removed", "_raw", "_scans")

    def __init__(self, pairs: list[tuple[str, str]] | None = None) -> None:
        self._items: dict[str, tuple[str, list[str]]] = {}
        for name, value in pairs or ():
            self.append(name, value)
        # what policies changed, so the proxy can reuse the head it received: `edited`
        # once a value was set or appended (it then writes them all anew), `removed` the
        # lower-case names deleted
        self.edited = False
        self.removed: list[str] = []
        self._raw: tuple[list[tuple[bytes, bytes]], frozenset[bytes],
                         tuple[tuple[str, str], ...]] | None = None
        self._scans = 0

    @classmethod
    def received(cls, raw: list[tuple[bytes, bytes]], hidden: frozenset[bytes],
                 extra: tuple[tuple[str, str], ...] = ()) -> Headers:
        """The headers of a request as the HTTP parser accepted them (names are tokens,
        values hold no CR, LF or NUL): `raw` byte pairs but those whose lower-case name
        is in `hidden`, then `extra` pairs replacing any of the same name. Grouped on
        first use, without re-checking each one."""
        headers = cls.__new__(cls)
        headers._raw = (raw, hidden, extra)
        headers.edited = False
        headers.removed = []
        headers._scans = 0
        return headers

    def __getattr__(self, name: str) -> Any:
        if name != "_items":
            raise AttributeError(name)
        assert self._raw is not None, "Headers made without _items or _raw"
        raw, hidden, extra = self._raw
        removed = self.removed  # taken by pop before grouping
        items: dict[str, tuple[str, list[str]]] = {}
        for n, v in raw:
            low = n.lower()
            if low in hidden:
                continue
            key = low.decode("latin-1")
            if removed and key in removed:
                continue
            found = items.get(key)
            if found is None:
                items[key] = (n.decode("latin-1"), [v.decode("latin-1")])
            else:
                found[1].append(v.decode("latin-1"))
        for added, value in extra:
            items[added.lower()] = (added, [value])
        self._items = items
        self._raw = None
        return items

    def _scan(self, low: str) -> list[str] | None:
        """The values of the lower-case name `low` among the received lines (`_raw` is
        set), unless hidden; the gateway's own `extra` lines are the caller's concern."""
        assert self._raw is not None
        pairs, hidden, _ = self._raw
        try:
            wanted = low.encode("latin-1")
        except UnicodeEncodeError:  # no received name holds such a character
            return None
        if wanted in hidden or low in self.removed:
            return None
        size = len(wanted)  # most names differ in length: no lower() for them
        found: list[str] = []
        for n, v in pairs:
            if len(n) == size and n.lower() == wanted:
                found.append(v.decode("latin-1"))
        return found or None

    def pop(self, name: str) -> list[str] | None:
        """The values of `name`, which is then deleted (as by `delete`). On received
        headers not grouped yet, without grouping them."""
        low = name.lower()
        raw = self._raw
        if raw is not None:
            for added, _ in raw[2]:
                if added.lower() == low:
                    break  # one the gateway adds: taken from the grouped headers
            else:
                found = self._scan(low)
                if found is not None:
                    self.removed.append(low)  # from now on as if not received
                return found
        values = self.values_of(name)
        if values is not None:
            self.delete(name)
        return values

    def values_of(self, name: str) -> list[str] | None:
        low = name.lower()
        raw = self._raw
        if raw is not None and self._scans < SCANNED_READS:
            self._scans += 1
            for added, value in raw[2]:
                if added.lower() == low:
                    return [value]  # the gateway's own value replaces any received one
            return self._scan(low)
        found = self._items.get(low)
        return None if found is None else found[1]

    def names(self) -> list[str]:
        return [n for n, _ in self._items.values()]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.values_of(name)
        return default if values is None else ",".join(values)

    def get_all(self, name: str) -> list[str]:
        return list(self.values_of(name) or ())

    def set(self, name: str, values: str | list[str]) -> None:
        values = [values] if isinstance(values, str) else list(values)
        self._items[name.lower()] = (name, [checked(name, v) for v in values])
        self.edited = True

    def append(self, name: str, value: str) -> None:
        checked(name, value)
        self.edited = True
        found = self._items.get(name.lower())
        if found is None:
            self._items[name.lower()] = (name, [value])
        else:
            found[1].append(value)

    def delete(self, name: str) -> None:
        low = name.lower()
        if self._items.pop(low, None) is not None:
            self.removed.append(low)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def to_list(self) -> list[tuple[str, str]]:
        return [(n, v) for n, values in self._items.values() for v in values]


class QueryParameters(ReadOnlyMultiMap):
    """Query parameters (case-sensitive names), mutable like ``Headers``."""

    __cs_type__ = "Query"
    __slots__ = ("_items",)

    def __init__(self, query: str = "") -> None:
        self._items: dict[str, list[str]] = {}
        for name, value in parse_qsl(query.lstrip("?"), keep_blank_values=True):
            self._items.setdefault(name, []).append(value)

    def values_of(self, name: str) -> list[str] | None:
        return self._items.get(name)

    def names(self) -> list[str]:
        return list(self._items)

    def set(self, name: str, values: str | list[str]) -> None:
        self._items[name] = [values] if isinstance(values, str) else list(values)

    def append(self, name: str, value: str) -> None:
        self._items.setdefault(name, []).append(value)

    def delete(self, name: str) -> None:
        self._items.pop(name, None)

    def to_query_string(self) -> str:
        parts = [f"{quote(n, safe='')}={quote(v, safe='')}" for n, vs in self._items.items()
                 for v in vs]
        return "?" + "&".join(parts) if parts else ""


class Url:
    __cs_type__ = "Url"
    __cs_members__ = CONTEXT_MEMBERS["Url"]
    __slots__ = ("Scheme", "Host", "Port", "Path", "_raw_query", "_query")

    def __init__(self, scheme: str, host: str, port: int, path: str, query: str = "") -> None:
        self.Scheme = scheme
        self.Host = host
        self.Port = port
        self.Path = path
        self._raw_query = query.lstrip("?")
        self._query: QueryParameters | None = None

    @property
    def Query(self) -> QueryParameters:
        if self._query is None:
            self._query = QueryParameters(self._raw_query)
        return self._query

    @property
    def QueryString(self) -> str:
        if self._query is None:
            return "?" + self._raw_query if self._raw_query else ""
        return self._query.to_query_string()

    def ToString(self) -> str:
        default = {"http": 80, "https": 443}.get(self.Scheme.lower())
        port = "" if self.Port == default else f":{self.Port}"
        return f"{self.Scheme}://{self.Host}{port}{self.Path}{self.QueryString}"

    def copy(self) -> Url:
        return Url(self.Scheme, self.Host, self.Port, self.Path, self.QueryString)


class MessageBody:
    __cs_type__ = "Body"
    __cs_members__ = CONTEXT_MEMBERS["Body"]
    __slots__ = ("content",)

    def __init__(self, content: bytes | None = None) -> None:
        self.content = content

    def As(self, T: str | None = None, preserveContent: bool = False) -> Any:  # noqa: N802, N803
        data = self.content or b""
        if not preserveContent:
            self.content = b""
        kind = (T or "string").split(".")[-1]
        if kind in ("string", "String"):
            return data.decode("utf-8", errors="replace")
        if kind == "byte[]":
            return data
        if kind in ("JObject", "JArray", "JToken"):
            value = parse_json(data.decode("utf-8", errors="replace"))
            if kind == "JObject" and value is not None and not isinstance(value, JObject):
                raise ExpressionError("the body is not a JSON object")
            if kind == "JArray" and value is not None and not isinstance(value, JArray):
                raise ExpressionError("the body is not a JSON array")
            return value
        if kind in ("XDocument", "XElement", "XNode"):
            return xml_body(data.decode("utf-8", errors="replace"), kind)
        raise ExpressionError(f"Body.As<{T}>() is not supported")

    def AsFormUrlEncodedContent(self, preserveContent: bool = False) -> Any:  # noqa: N802, N803
        """The body as ``application/x-www-form-urlencoded`` fields: name -> values."""
        data = self.content or b""
        if not preserveContent:
            self.content = b""
        return parse_form(data.decode("utf-8", errors="replace"))


class Request:
    __cs_type__ = "Request"
    __cs_members__ = CONTEXT_MEMBERS["Request"]
    __slots__ = ("Method", "Url", "_original", "Headers", "IpAddress", "Body",
                 "MatchedParameters", "Certificate")

    def __init__(self, method: str, url: Url, headers: Headers, ip: str, body: MessageBody,
                 matched: dict[str, str] | None = None) -> None:
        self.Method = method
        self.Url = url
        self._original: Url | tuple[str, str, int, str, str] = (
            url.Scheme, url.Host, url.Port, url.Path, url._raw_query)
        self.Headers = headers
        self.IpAddress = ip
        self.Body = body
        self.MatchedParameters: dict[str, str] = matched or {}
        self.Certificate: object = None

    @property
    def OriginalUrl(self) -> Url:
        """The URL as received, whatever policies later do to ``Url``."""
        if isinstance(self._original, tuple):
            self._original = Url(*self._original)
        return self._original


class Response:
    __cs_type__ = "Response"
    __cs_members__ = CONTEXT_MEMBERS["Response"]
    __slots__ = ("StatusCode", "StatusReason", "Headers", "Body")

    def __init__(self, status: int = 200, reason: str = "OK",
                 headers: list[tuple[str, str]] | None = None, body: bytes | None = None) -> None:
        self.StatusCode = status
        self.StatusReason = reason
        self.Headers = Headers(headers)
        self.Body = MessageBody(body)
