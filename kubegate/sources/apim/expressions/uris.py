"""``new Uri(...)``, ``AsBasic()`` credentials and form-encoded bodies."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import Any

from .collections import CsDictionary
from .errors import ExpressionError
from .runtime import cs_str, cs_type_name

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
PATH_SAFE = "/!$&'()*+,;=:@-._~%"


class Uri:
    """An absolute URI (``System.Uri``); ``new Uri(base, relative)`` resolves."""

    __cs_type__ = "Uri"
    __cs_members__ = frozenset({
        "AbsolutePath", "AbsoluteUri", "Authority", "Host", "Port", "Scheme", "Query",
        "Fragment", "PathAndQuery", "OriginalString", "IsAbsoluteUri", "IsDefaultPort",
        "Segments", "UserInfo", "ToString", "Equals", "IsLoopback", "DnsSafeHost",
    })
    __slots__ = ("OriginalString", "_parts", "_port")

    def __init__(self, value: Any, relative: Any = None) -> None:
        if isinstance(value, Uri):
            value = value.AbsoluteUri
        if not isinstance(value, str):
            raise ExpressionError(f"a Uri needs a string, got {cs_type_name(value)}")
        text = value.strip()
        if relative is not None:
            rel = relative.AbsoluteUri if isinstance(relative, Uri) else cs_str(relative)
            text = urllib.parse.urljoin(text, rel)
        self.OriginalString: str = value if relative is None else text
        parts = urllib.parse.urlsplit(text)
        if not parts.scheme or not parts.netloc or any(c in text for c in "\r\n\t"):
            raise ExpressionError("Invalid URI: The format of the URI could not be determined.")
        try:
            port = parts.port
        except ValueError:
            raise ExpressionError("Invalid URI: Invalid port specified.") from None
        self._parts = parts
        self._port = port if port is not None else DEFAULT_PORTS.get(parts.scheme.lower(), -1)

    @property
    def Scheme(self) -> str:  # noqa: N802
        return self._parts.scheme.lower()

    @property
    def Host(self) -> str:  # noqa: N802
        return (self._parts.hostname or "").lower()

    @property
    def DnsSafeHost(self) -> str:  # noqa: N802
        return self.Host

    @property
    def Port(self) -> int:  # noqa: N802
        return self._port

    @property
    def IsDefaultPort(self) -> bool:  # noqa: N802
        return self._port == DEFAULT_PORTS.get(self.Scheme, -1)

    @property
    def IsAbsoluteUri(self) -> bool:  # noqa: N802
        return True

    @property
    def IsLoopback(self) -> bool:  # noqa: N802
        return self.Host in ("localhost", "127.0.0.1", "[::1]", "::1")

    @property
    def UserInfo(self) -> str:  # noqa: N802
        netloc = self._parts.netloc
        return netloc.rsplit("@", 1)[0] if "@" in netloc else ""

    @property
    def Authority(self) -> str:  # noqa: N802
        host = self.Host if ":" not in self.Host else f"[{self.Host}]"
        return host if self.IsDefaultPort else f"{host}:{self._port}"

    @property
    def AbsolutePath(self) -> str:  # noqa: N802
        return urllib.parse.quote(self._parts.path or "/", safe=PATH_SAFE)

    @property
    def Query(self) -> str:  # noqa: N802
        q = self._parts.query
        return "?" + urllib.parse.quote(q, safe=PATH_SAFE + "?") if q else ""

    @property
    def Fragment(self) -> str:  # noqa: N802
        f = self._parts.fragment
        return "#" + urllib.parse.quote(f, safe=PATH_SAFE + "?#") if f else ""

    @property
    def PathAndQuery(self) -> str:  # noqa: N802
        return self.AbsolutePath + self.Query

    @property
    def Segments(self) -> list[str]:  # noqa: N802
        path = self.AbsolutePath
        out = ["/"] if path.startswith("/") else []
        rest = path[1:] if path.startswith("/") else path
        while rest:
            head, sep, rest = rest.partition("/")
            out.append(head + sep)
        return out

    @property
    def AbsoluteUri(self) -> str:  # noqa: N802
        user = self.UserInfo + "@" if self.UserInfo else ""
        return f"{self.Scheme}://{user}{self.Authority}{self.PathAndQuery}{self.Fragment}"

    def ToString(self) -> str:  # noqa: N802
        return urllib.parse.unquote(self.AbsoluteUri)

    def cs_string(self) -> str:
        return self.ToString()

    def Equals(self, other: Any) -> bool:  # noqa: N802
        return self == other

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Uri(other)
            except ExpressionError:
                return False
        return isinstance(other, Uri) and other.AbsoluteUri.split("#")[0] \
            == self.AbsoluteUri.split("#")[0]

    def __hash__(self) -> int:
        return hash(self.AbsoluteUri)


class BasicAuthCredentials:
    __cs_type__ = "BasicAuthCredentials"
    __cs_members__ = frozenset({"UserId", "Password"})
    __slots__ = ("UserId", "Password")

    def __init__(self, user: str, password: str) -> None:
        self.UserId = user
        self.Password = password


def as_basic(text: Any) -> BasicAuthCredentials | None:
    """``AsBasic()``: ``Basic base64(user:password)`` (the scheme name in any case),
    or null when the value is not Basic credentials."""
    if not isinstance(text, str):
        return None
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return BasicAuthCredentials(user, password) if sep else None


def parse_form(text: str) -> CsDictionary:
    """An ``application/x-www-form-urlencoded`` body as name -> list of values."""
    out = CsDictionary()
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        key = urllib.parse.unquote_plus(name)
        out.setdefault(key, []).append(urllib.parse.unquote_plus(value))
    return out
