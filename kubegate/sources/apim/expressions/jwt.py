"""``AsJwt()``: an unverified view of a JSON Web Token's header and claims (as APIM)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any


class ReadOnlyMultiMap:
    """Expression view of ``name -> [values]`` (headers, claims, query parameters).

    Subclasses provide ``values_of(name)``; keys compare case-insensitively
    only if the subclass says so."""

    __cs_type__ = "MultiMap"
    __cs_members__ = frozenset({"GetValueOrDefault", "Item", "ContainsKey", "Count", "Keys"})
    __slots__ = ()

    def values_of(self, name: str) -> list[str] | None:
        raise NotImplementedError

    def names(self) -> list[str]:
        raise NotImplementedError

    def GetValueOrDefault(self, name: str, default: Any = None, T: str | None = None) -> Any:
        values = self.values_of(name)
        return default if values is None else ",".join(values)

    def Item(self, name: str) -> list[str]:
        from .errors import ExpressionError

        values = self.values_of(name)
        if values is None:
            raise ExpressionError(f"the given key '{name}' was not present in the dictionary")
        return list(values)

    def ContainsKey(self, name: str) -> bool:
        return self.values_of(name) is not None

    @property
    def Count(self) -> int:
        return len(self.names())

    @property
    def Keys(self) -> list[str]:
        return self.names()

    def cs_items(self) -> list[Any]:
        from .collections import KeyValuePair

        return [KeyValuePair(n, self.values_of(n) or []) for n in self.names()]


class Claims(ReadOnlyMultiMap):
    __slots__ = ("_claims",)

    def __init__(self, payload: dict[str, Any]) -> None:
        self._claims = payload

    def values_of(self, name: str) -> list[str] | None:
        if name not in self._claims:
            return None
        value = self._claims[name]
        items = value if isinstance(value, list) else [value]
        return [v if isinstance(v, str) else json.dumps(v) for v in items]

    def names(self) -> list[str]:
        return list(self._claims)


def _time(payload: dict[str, Any], name: str) -> datetime | None:
    value = payload.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


class Jwt:
    __cs_type__ = "Jwt"
    __cs_members__ = frozenset({
        "Algorithm", "Audiences", "Claims", "ExpirationTime", "Id", "Issuer", "IssuedAt",
        "NotBefore", "Subject", "Type", "Header",
    })
    __slots__ = ("_header", "_payload", "Claims")

    def __init__(self, header: dict[str, Any], payload: dict[str, Any]) -> None:
        self._header = header
        self._payload = payload
        self.Claims = Claims(payload)

    def _str(self, name: str, where: dict[str, Any] | None = None) -> str | None:
        value = (self._payload if where is None else where).get(name)
        return value if isinstance(value, str) else None

    @property
    def Algorithm(self) -> str | None:
        return self._str("alg", self._header)

    @property
    def Type(self) -> str | None:
        return self._str("typ", self._header)

    @property
    def Header(self) -> Claims:
        return Claims(self._header)

    @property
    def Subject(self) -> str | None:
        return self._str("sub")

    @property
    def Issuer(self) -> str | None:
        return self._str("iss")

    @property
    def Id(self) -> str | None:
        return self._str("jti")

    @property
    def Audiences(self) -> list[str]:
        aud = self._payload.get("aud")
        if isinstance(aud, str):
            return [aud]
        return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []

    @property
    def ExpirationTime(self) -> datetime | None:
        return _time(self._payload, "exp")

    @property
    def NotBefore(self) -> datetime | None:
        return _time(self._payload, "nbf")

    @property
    def IssuedAt(self) -> datetime | None:
        return _time(self._payload, "iat")


def _segment(text: str) -> dict[str, Any]:
    padded = text + "=" * (-len(text) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def as_jwt(text: str) -> Jwt | None:
    """Parse ``header.payload.signature`` without verifying it; None when malformed.

    A ``Bearer `` prefix is ignored, as APIM does."""
    token = text[7:] if text[:7].lower() == "bearer " else text
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        return Jwt(_segment(parts[0]), _segment(parts[1]))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        return None
