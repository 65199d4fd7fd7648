"""Static members of the .NET types expressions may name (``String.IsNullOrEmpty``...).

``STATICS[type][member] = (kind, fn)``: ``prop`` is ``fn(env)`` (the clock lives
on the context), ``method`` is ``fn(*args)``, ``generic`` is ``fn(T, *args)``."""

from __future__ import annotations

import base64
import binascii
import html
import math
import re
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from . import arrays, regexes, xlinq
from .builtins import EPOCH, MAX_STRING, check_length, format_date, join_bounded
from .builtins import _format_number as format_number
from .collections import JProperty, parse_jarray, parse_jobject
from .crypto import Random, hash_factory, hmac_factory, symmetric_factory
from .errors import ExpressionError
from .runtime import (
    JArray,
    JObject,
    convert,
    cs_str,
    cs_type_name,
    iterate,
    json_text,
    parse_bool,
    parse_double,
    parse_int,
    to_jtoken,
)
from .uris import Uri

Entry = tuple[str, Callable[..., Any]]


def _now(env: Any) -> datetime:
    clock = getattr(env.ctx, "now", None)
    return clock() if callable(clock) else datetime.now(UTC)


def _format(fmt: Any, *args: Any) -> str:
    if len(args) == 1 and isinstance(args[0], list):
        args = tuple(args[0])
    fmt = cs_str(fmt)
    size = [len(fmt)]  # the result's length so far, checked as each hole is filled

    def hole(m: re.Match[str]) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        i = int(m.group(1))
        if i >= len(args):
            raise ExpressionError("index must be less than the size of the argument list")
        text = cs_str(args[i])
        if m.group(2):
            value = args[i]
            if type(value) in (int, float):
                text = format_number(value, m.group(2))
            elif isinstance(value, datetime):
                text = format_date(value, m.group(2))
        size[0] += len(text) - len(m.group(0))
        if size[0] > MAX_STRING:
            raise ExpressionError("string result too large")
        return text
    text = re.sub(r"\{\{|\}\}|\{([0-9]+)(?::([^}]*))?\}", hole, fmt)
    check_length(len(text))
    return text


def _join(sep: Any, *items: Any) -> str:
    seq = iterate(items[0]) if len(items) == 1 and not isinstance(items[0], str) else items
    return join_bounded(cs_str(sep), seq)


def _b64decode(text: Any) -> bytearray:
    try:
        return bytearray(base64.b64decode(cs_str(text), validate=True))
    except (binascii.Error, ValueError):
        raise ExpressionError("the input is not a valid Base-64 string") from None


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise ExpressionError(f"expected a byte array, got {cs_type_name(value)}")


class TextEncoding:
    __cs_type__ = "Encoding"
    __cs_members__ = frozenset({"GetBytes", "GetString"})
    __slots__ = ("codec",)

    def __init__(self, codec: str) -> None:
        self.codec = codec

    def GetBytes(self, text: Any) -> bytearray:
        return bytearray(cs_str(text).encode(self.codec, errors="replace"))

    def GetString(self, data: Any) -> str:
        return _bytes(data).decode(self.codec, errors="replace")


def _guid(text: Any) -> uuid.UUID:
    try:
        return uuid.UUID(cs_str(text))
    except ValueError:
        raise ExpressionError(f"unrecognized Guid format: {text!r}") from None


def _parse_date(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(cs_str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ExpressionError(f"string {text!r} was not recognized as a valid DateTime") from None


def _round(x: Any, digits: int = 0) -> Any:
    return round(x, digits) if isinstance(x, float) else x


def _pow(a: Any, b: Any) -> float:
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        return float("nan")


def _numbers(fn: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        for a in args:
            if not isinstance(a, int | float) or isinstance(a, bool):
                raise ExpressionError(f"expected a number, got {cs_type_name(a)}")
        return fn(*args)
    return apply


def _from_unix(unit: float) -> Callable[[Any], datetime]:
    def make(n: Any) -> datetime:
        try:
            return EPOCH + timedelta(seconds=n * unit)
        except (OverflowError, TypeError):
            raise ExpressionError("value out of range for a DateTimeOffset") from None
    return make


def _const(value: Any) -> Entry:
    return ("prop", lambda env: value)


def _enum(*names: str) -> dict[str, Entry]:
    return {n: _const(n) for n in names}


_INT = {"Parse": ("method", lambda s: parse_int(cs_str(s))),
        "MaxValue": _const(2**31 - 1), "MinValue": _const(-(2**31))}
_LONG = {"Parse": ("method", lambda s: parse_int(cs_str(s))),
         "MaxValue": _const(2**63 - 1), "MinValue": _const(-(2**63))}
_DATETIME: dict[str, Entry] = {
    "UtcNow": ("prop", _now), "Now": ("prop", _now),
    "Today": ("prop", lambda env: _now(env).replace(hour=0, minute=0, second=0, microsecond=0)),
    "Parse": ("method", _parse_date), "MinValue": _const(datetime(1, 1, 1, tzinfo=UTC)),
    "FromUnixTimeSeconds": ("method", _from_unix(1)),
    "FromUnixTimeMilliseconds": ("method", _from_unix(0.001)),
}
_STRING: dict[str, Entry] = {
    "IsNullOrEmpty": ("method", lambda s: s is None or s == ""),
    "IsNullOrWhiteSpace": ("method", lambda s: s is None or cs_str(s).strip() == ""),
    "Join": ("method", _join),
    "Format": ("method", _format),
    "Concat": ("method", lambda *a: join_bounded("", iterate(a[0]) if len(a) == 1 and
                                                 isinstance(a[0], list) else a)),
    "Equals": ("method", lambda a, b, *c: a == b if not c else
               (a or "").lower() == (b or "").lower()),
    "Empty": _const(""),
}
STATICS: dict[str, dict[str, Entry]] = {
    "string": _STRING,
    "Convert": {
        "ToBase64String": ("method", lambda b: base64.b64encode(_bytes(b)).decode("ascii")),
        "FromBase64String": ("method", _b64decode),
        "ToString": ("method", cs_str),
        "ToInt32": ("method", lambda v: convert(_rounded(v), "int")),
        "ToInt64": ("method", lambda v: convert(_rounded(v), "long")),
        "ToInt16": ("method", lambda v: convert(_rounded(v), "short")),
        "ToUInt32": ("method", lambda v: convert(_rounded(v), "uint")),
        "ToByte": ("method", arrays.to_byte),
        "ToDouble": ("method", lambda v: convert(v, "double")),
        "ToBoolean": ("method", lambda v: convert(v, "bool")),
    },
    "Encoding": {"UTF8": _const(TextEncoding("utf-8")), "ASCII": _const(TextEncoding("ascii")),
                 "Unicode": _const(TextEncoding("utf-16-le"))},
    "DateTime": _DATETIME,
    "DateTimeOffset": _DATETIME,
    "TimeSpan": {"FromSeconds": ("method", lambda n: timedelta(seconds=n)),
                 "FromMinutes": ("method", lambda n: timedelta(minutes=n)),
                 "FromHours": ("method", lambda n: timedelta(hours=n)),
                 "FromDays": ("method", lambda n: timedelta(days=n)),
                 "FromMilliseconds": ("method", lambda n: timedelta(milliseconds=n)),
                 "Zero": _const(timedelta(0))},
    "Guid": {"NewGuid": ("method", uuid.uuid4), "Parse": ("method", _guid),
             "Empty": _const(uuid.UUID(int=0))},
    "Math": {"Min": ("method", _numbers(min)), "Max": ("method", _numbers(max)),
             "Abs": ("method", _numbers(abs)), "Round": ("method", _numbers(_round)),
             "Floor": ("method", _numbers(math.floor)), "Ceiling": ("method", _numbers(math.ceil)),
             "Pow": ("method", _numbers(_pow))},
    "int": _INT, "long": _LONG,
    "double": {"Parse": ("method", lambda s: parse_double(cs_str(s)))},
    "bool": {"Parse": ("method", lambda s: parse_bool(cs_str(s)))},
    "StringComparison": _enum("Ordinal", "OrdinalIgnoreCase", "InvariantCulture",
                              "InvariantCultureIgnoreCase", "CurrentCulture",
                              "CurrentCultureIgnoreCase"),
    "StringSplitOptions": _enum("None", "RemoveEmptyEntries", "TrimEntries"),
    "Formatting": _enum("None", "Indented"),
    "Uri": {"EscapeDataString": ("method", lambda s: urllib.parse.quote(cs_str(s), safe="-_.~")),
            "UnescapeDataString": ("method", lambda s: urllib.parse.unquote(cs_str(s)))},
    "WebUtility": {"UrlEncode": ("method", lambda s: urllib.parse.quote_plus(cs_str(s))),
                   "UrlDecode": ("method", lambda s: urllib.parse.unquote_plus(cs_str(s))),
                   "HtmlEncode": ("method", lambda s: html.escape(cs_str(s))),
                   "HtmlDecode": ("method", lambda s: html.unescape(cs_str(s)))},
    "JObject": {"Parse": ("method", parse_jobject),
                "FromObject": ("method", lambda v: to_jtoken(v))},
    "JArray": {"Parse": ("method", parse_jarray),
               "FromObject": ("method", lambda v: JArray(to_jtoken(x) for x in iterate(v)))},
    "JToken": {"Parse": ("method", lambda s: parse_jobject(s) if cs_str(s).lstrip()[:1] == "{"
                         else parse_jarray(s))},
    "JsonConvert": {"SerializeObject": ("method", lambda v, *f: json_text(
        v, indent="Indented" in f))},
}
STATICS.update({
    "SHA256": {"Create": ("method", hash_factory("sha256"))},
    "SHA1": {"Create": ("method", hash_factory("sha1"))},
    "SHA512": {"Create": ("method", hash_factory("sha512"))},
    "MD5": {"Create": ("method", hash_factory("md5"))},
    "StringComparer": _enum("Ordinal", "OrdinalIgnoreCase", "InvariantCultureIgnoreCase",
                            "CurrentCultureIgnoreCase"),
})
STATICS.update({
    "Array": arrays.ARRAY,
    "BitConverter": arrays.BIT_CONVERTER,
    "IPAddress": arrays.IP_ADDRESS,
    "Regex": regexes.REGEX,
    "RegexOptions": regexes.REGEX_OPTIONS,
    "Aes": {"Create": ("method", symmetric_factory("AES"))},
    "TripleDES": {"Create": ("method", symmetric_factory("3DES"))},
    "SymmetricAlgorithm": {"Create": ("method", symmetric_factory("AES"))},
    "CipherMode": _enum("CBC", "ECB", "CFB", "CTS", "OFB"),
    "PaddingMode": _enum("PKCS7", "None", "Zeros", "ANSIX923", "ISO10126"),
    "XDocument": {"Parse": ("method", xlinq.parse_document)},
    "XElement": {"Parse": ("method", xlinq.parse_element)},
    "SHA384": {"Create": ("method", hash_factory("sha384"))},
})
ALIASES = {"String": "string", "Int32": "int", "Int64": "long", "Double": "double",
           "Boolean": "bool", "HttpUtility": "WebUtility"}
NAMESPACES = {"System", "Text", "Net", "Newtonsoft", "Json", "Linq", "Web", "Collections",
              "Generic", "Security", "Cryptography", "RegularExpressions", "Xml"}


def _rounded(value: Any) -> Any:
    """``Convert.ToInt32(double)`` rounds half to even (not truncation, as a cast does)."""
    return round(value) if isinstance(value, float) and math.isfinite(value) else value


def _new_jobject(*args: Any) -> JObject:
    obj = JObject()
    for a in args:
        if isinstance(a, JProperty):
            obj[a.Name] = a.Value
        elif isinstance(a, list):
            for p in a:
                if isinstance(p, JProperty):
                    obj[p.Name] = p.Value
        elif isinstance(a, JObject):
            obj.update(a)
        else:
            raise ExpressionError(f"cannot add {cs_type_name(a)} to a JObject")
    return obj


def _new_datetimeoffset(*parts: Any) -> datetime:
    """``new DateTimeOffset(DateTime)`` or ``(y, M, d, h, m, s[, ms], TimeSpan offset)``."""
    if len(parts) == 1 and isinstance(parts[0], datetime):
        value = parts[0]
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if len(parts) >= 7 and isinstance(parts[-1], timedelta):
        *fields, offset = parts
        if len(fields) == 7:
            fields = [*fields[:6], fields[6] * 1000]
        try:
            return datetime(*fields).replace(tzinfo=timezone(offset))
        except (TypeError, ValueError, OverflowError):
            raise ExpressionError("invalid date or offset") from None
    raise ExpressionError("DateTimeOffset takes a DateTime, or date parts and an offset")


def _new_datetime(*parts: Any) -> datetime:
    try:
        return datetime(*parts).replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        raise ExpressionError("invalid date") from None


CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "JObject": _new_jobject,
    "JProperty": JProperty,
    "JArray": lambda *items: JArray(to_jtoken(x) for x in (
        items[0] if len(items) == 1 and isinstance(items[0], list) else items)),
    "DateTime": _new_datetime,
    "TimeSpan": lambda h, m, s: timedelta(hours=h, minutes=m, seconds=s),
    "List": lambda *a: list(iterate(a[0])) if a else [],
    "Random": Random,
    "HMACSHA256": hmac_factory("sha256"),
    "HMACSHA1": hmac_factory("sha1"),
    "HMACSHA512": hmac_factory("sha512"),
    "HMACSHA384": hmac_factory("sha384"),
    "HMACMD5": hmac_factory("md5"),
    "Guid": arrays.new_guid,
    "Uri": Uri,
    "Regex": regexes.Regex,
    "DateTimeOffset": _new_datetimeoffset,
}
