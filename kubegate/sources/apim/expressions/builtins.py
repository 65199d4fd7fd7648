"""Method tables for built-in value types: strings, numbers, dates, GUIDs, bytes.

A table maps a C# member name to ``(kind, fn)``: ``prop`` is ``fn(obj)``,
``method`` is ``fn(obj, *args)``, ``generic`` is ``fn(obj, T, *args)`` where
``T`` is the generic type argument's name or None."""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .budget import FORMATTED_PER_STEP, PARTS_PER_STEP, charge, charge_chars
from .errors import ExpressionError
from .jwt import as_jwt
from .runtime import cs_str, cs_type_name, format_double

Entry = tuple[str, Callable[..., Any]]
MAX_STRING = 4 * 1024 * 1024


def check_length(length: int) -> None:
    """Refuse a string result of ``length`` characters before it is built; charge
    the work budget for building it."""
    if length > MAX_STRING:
        raise ExpressionError("string result too large")
    charge_chars(length)


def checked(text: str) -> str:
    if len(text) > MAX_STRING:
        raise ExpressionError("string result too large")
    return text


def join_bounded(sep: str, items: Any) -> str:
    """``string.Join``/``string.Concat``: each element costs work, and the result is
    refused as soon as it would pass MAX_STRING (before it is built)."""
    seq = items if isinstance(items, list | tuple | str | bytes | bytearray) else list(items)
    charge(len(seq) // FORMATTED_PER_STEP)
    parts: list[str] = []
    total = -len(sep)
    for x in seq:
        text = cs_str(x)
        total += len(sep) + len(text)
        if total > MAX_STRING:
            raise ExpressionError("string result too large")
        parts.append(text)
    check_length(max(total, 0))
    return sep.join(parts)


def is_digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts ``²`` and other digit characters)."""
    return bool(text) and all(c in "0123456789" for c in text)


def _ignore_case(comparison: Any) -> bool:
    return isinstance(comparison, str) and comparison.endswith("IgnoreCase")


def _fold(a: str, b: Any, comparison: Any) -> tuple[str, str]:
    if not isinstance(b, str):
        raise ExpressionError(f"expected a string argument, got {cs_type_name(b)}")
    return (a.lower(), b.lower()) if _ignore_case(comparison) else (a, b)


def _split(s: str, *args: Any) -> list[str]:
    seps: list[str] = []
    remove_empty = False
    count: int | None = None
    for a in args:
        if isinstance(a, str) and a in ("RemoveEmptyEntries", "TrimEntries", "None") and seps:
            remove_empty = remove_empty or a == "RemoveEmptyEntries"
        elif isinstance(a, str):
            seps.append(a)
        elif isinstance(a, list | tuple):
            seps.extend(str(x) for x in a)
        elif isinstance(a, int) and not isinstance(a, bool):
            count = a
        elif a is None:
            continue
        else:
            raise ExpressionError(f"Split does not accept {cs_type_name(a)}")
    seps = [x for x in seps if x] or [" "]
    if count != 0:  # each part is an element of the result: charge before splitting
        found = sum(s.count(x) for x in seps)
        charge(min(found, count or found) // PARTS_PER_STEP)
    pattern = "|".join(re.escape(x) for x in seps)
    parts = re.split(pattern, s, maxsplit=max(count - 1, 0) if count else 0)
    if count == 0:
        return []
    return [p for p in parts if p] if remove_empty else parts


def _substring(s: str, start: int, length: int | None = None) -> str:
    end = len(s) if length is None else start + length
    if start < 0 or start > len(s) or end < start or end > len(s):
        raise ExpressionError("index and length must refer to a location within the string")
    return s[start:end]


def _pad(left: bool) -> Callable[..., str]:
    def pad(s: str, width: int, char: str = " ") -> str:
        if width < 0 or width > MAX_STRING:
            raise ExpressionError("padding width out of range")
        check_length(width)
        return s.rjust(width, char) if left else s.ljust(width, char)
    return pad


def _trim(how: str) -> Callable[..., str]:
    def trim(s: str, *chars: Any) -> str:
        flat = "".join("".join(c) if isinstance(c, list) else str(c) for c in chars) or None
        return getattr(str, how)(s, flat)  # how is one of strip/lstrip/rstrip
    return trim


def _replace(s: str, old: str, new: str | None) -> str:
    if not isinstance(old, str) or not isinstance(new, str | None):
        raise ExpressionError("Replace takes two strings")
    if not old:
        raise ExpressionError("String cannot be of zero length")
    new = new or ""
    found = s.count(old)  # the result's size is known before it is built (and charged)
    check_length(len(s) + found * (len(new) - len(old)))
    return s.replace(old, new)


def _index_of(s: str, sub: str, *rest: Any) -> int:
    start = next((r for r in rest if isinstance(r, int) and not isinstance(r, bool)), 0)
    a, b = _fold(s, sub, next((r for r in rest if isinstance(r, str)), None))
    return a.find(b, start)


def stable_hash(value: Any) -> int:
    h = zlib.crc32(cs_str(value).encode())
    return h - (1 << 32) if h >= 1 << 31 else h


STRING: dict[str, Entry] = {
    "Length": ("prop", len),
    "Contains": ("method", lambda s, x, c=None: _fold(s, x, c)[1] in _fold(s, x, c)[0]),
    "StartsWith": ("method", lambda s, x, c=None: _fold(s, x, c)[0].startswith(_fold(s, x, c)[1])),
    "EndsWith": ("method", lambda s, x, c=None: _fold(s, x, c)[0].endswith(_fold(s, x, c)[1])),
    "Equals": ("method", lambda s, x, c=None: isinstance(x, str) and eq_fold(s, x, c)),
    "Split": ("method", _split),
    "Substring": ("method", _substring),
    "ToLower": ("method", lambda s: s.lower()),
    "ToUpper": ("method", lambda s: s.upper()),
    "ToLowerInvariant": ("method", lambda s: s.lower()),
    "ToUpperInvariant": ("method", lambda s: s.upper()),
    "Replace": ("method", _replace),
    "Trim": ("method", _trim("strip")),
    "TrimStart": ("method", _trim("lstrip")),
    "TrimEnd": ("method", _trim("rstrip")),
    "IndexOf": ("method", _index_of),
    "LastIndexOf": ("method", lambda s, x: s.rfind(x)),
    "PadLeft": ("method", _pad(True)),
    "PadRight": ("method", _pad(False)),
    "ToString": ("method", lambda s: s),
    "ToCharArray": ("method", lambda s: _char_array(s)),
    "Insert": ("method", lambda s, i, x: _insert(s, i, x)),
    "Remove": ("method", lambda s, i, n=None: s[:i] + ("" if n is None else s[i + n:])),
    "GetHashCode": ("method", stable_hash),
    "AsJwt": ("method", as_jwt),
    "AsBasic": ("method", lambda s: _as_basic(s)),
}


def _char_array(s: str) -> list[str]:
    from .budget import ELEMENTS_PER_STEP

    charge(len(s) // ELEMENTS_PER_STEP)  # an array of objects, as new T[n]
    return list(s)


def _insert(s: str, i: Any, x: Any) -> str:
    if type(i) is not int or not 0 <= i <= len(s):
        raise ExpressionError("index out of range")
    if not isinstance(x, str):
        raise ExpressionError(f"Insert takes a string, got {cs_type_name(x)}")
    check_length(len(s) + len(x))
    return s[:i] + x + s[i:]


def _as_basic(text: str) -> Any:
    from .uris import as_basic

    return as_basic(text)


def eq_fold(a: str, b: str, comparison: Any) -> bool:
    x, y = _fold(a, b, comparison)
    return x == y


def _format_number(value: int | float, fmt: str | None = None) -> str:
    if not fmt:
        return format_double(value) if isinstance(value, float) else str(value)
    kind, digits = fmt[0].upper(), fmt[1:]
    if digits and not is_digits(digits):
        raise ExpressionError(f"number format {fmt!r} is not supported")
    n = int(digits) if digits else None
    if n is not None:
        check_length(n)  # "D999999999" would build a 1 GB string
    if kind == "D" and isinstance(value, int):
        return str(value).zfill(n or 0)
    if kind == "N":
        return f"{value:,.{2 if n is None else n}f}"
    if kind == "F":
        return f"{value:.{2 if n is None else n}f}"
    if kind == "X" and isinstance(value, int):
        return format(value, "x" if fmt[0] == "x" else "X").zfill(n or 0)
    raise ExpressionError(f"number format {fmt!r} is not supported")


NUMBER: dict[str, Entry] = {
    "ToString": ("method", _format_number),
    "Equals": ("method", lambda a, b: a == b and not isinstance(b, bool)),
    "CompareTo": ("method", lambda a, b: (a > b) - (a < b)),
    "GetHashCode": ("method", stable_hash),
}
BOOL: dict[str, Entry] = {
    "ToString": ("method", cs_str),
    "Equals": ("method", lambda a, b: a is b),
}

_DATE_TOKENS = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("hh", "%I"),
                ("mm", "%M"), ("ss", "%S"), ("tt", "%p"), ("fff", "%f"), ("ddd", "%a"),
                ("MMM", "%b"), ("yy", "%y")]


def format_date(value: datetime, fmt: str | None = None) -> str:
    if fmt is None:
        return cs_str(value)
    if fmt in ("o", "O"):
        text = value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
        return text + ("Z" if value.tzinfo is not None else "")
    if fmt == "s":
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if fmt == "u":
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if fmt in ("r", "R"):
        return value.strftime("%a, %d %b %Y %H:%M:%S GMT")
    out = []
    i = 0
    while i < len(fmt):
        for token, code in sorted(_DATE_TOKENS, key=lambda t: -len(t[0])):
            if fmt.startswith(token, i):
                text = value.strftime(code)
                out.append(text[:3] if token == "fff" else text)
                i += len(token)
                break
        else:
            if fmt[i] == "K":
                out.append("Z" if value.tzinfo is not None else "")
            elif fmt[i] == "\\" and i + 1 < len(fmt):
                i += 1
                out.append(fmt[i])
            elif fmt[i] in "'\"":
                end = fmt.find(fmt[i], i + 1)
                end = len(fmt) if end < 0 else end
                out.append(fmt[i + 1:end])
                i = end
            else:
                out.append(fmt[i])
            i += 1
    return "".join(out)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _add(unit: str) -> Callable[[datetime, float], datetime]:
    def add(value: datetime, amount: float) -> datetime:
        try:
            return value + timedelta(**{unit: amount})
        except OverflowError:
            raise ExpressionError("the added or subtracted value results in an un-representable DateTime") from None
    return add


DATETIME: dict[str, Entry] = {
    "AddSeconds": ("method", _add("seconds")), "AddMinutes": ("method", _add("minutes")),
    "AddHours": ("method", _add("hours")), "AddDays": ("method", _add("days")),
    "AddMilliseconds": ("method", _add("milliseconds")),
    "Add": ("method", lambda d, t: d + t),
    "Subtract": ("method", lambda d, t: d - t),
    "ToString": ("method", format_date),
    "ToUniversalTime": ("method", lambda d: _aware(d).astimezone(UTC)),
    "ToUnixTimeSeconds": ("method", lambda d: int((_aware(d) - EPOCH).total_seconds())),
    "ToUnixTimeMilliseconds": ("method", lambda d: (_aware(d) - EPOCH) // timedelta(milliseconds=1)),
    "Ticks": ("prop", lambda d: (_aware(d) - datetime(1, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10),
    "Year": ("prop", lambda d: d.year), "Month": ("prop", lambda d: d.month),
    "Day": ("prop", lambda d: d.day), "Hour": ("prop", lambda d: d.hour),
    "Minute": ("prop", lambda d: d.minute), "Second": ("prop", lambda d: d.second),
    "Date": ("prop", lambda d: d.replace(hour=0, minute=0, second=0, microsecond=0)),
    "UtcDateTime": ("prop", lambda d: _aware(d).astimezone(UTC)),
}
TIMESPAN: dict[str, Entry] = {
    "TotalSeconds": ("prop", lambda t: t.total_seconds()),
    "TotalMilliseconds": ("prop", lambda t: t.total_seconds() * 1000),
    "TotalMinutes": ("prop", lambda t: t.total_seconds() / 60),
    "TotalHours": ("prop", lambda t: t.total_seconds() / 3600),
    "TotalDays": ("prop", lambda t: t.total_seconds() / 86400),
    "Days": ("prop", lambda t: t.days),
    "Hours": ("prop", lambda t: t.seconds // 3600),
    "Minutes": ("prop", lambda t: t.seconds // 60 % 60),
    "Seconds": ("prop", lambda t: t.seconds % 60),
    "Milliseconds": ("prop", lambda t: t.microseconds // 1000),
    "Ticks": ("prop", lambda t: t // timedelta(microseconds=1) * 10),
    "ToString": ("method", cs_str),
}
GUID: dict[str, Entry] = {
    "ToString": ("method", lambda g, f="D": g.hex if f in ("N", "n") else str(g)),
    "ToByteArray": ("method", lambda g: bytearray(g.bytes_le)),
}
BYTES: dict[str, Entry] = {
    "Length": ("prop", len),
    "ToString": ("method", cs_str),
}
TABLES: dict[type, dict[str, Entry]] = {
    str: STRING, bool: BOOL, int: NUMBER, float: NUMBER, datetime: DATETIME,
    timedelta: TIMESPAN, uuid.UUID: GUID, bytes: BYTES,
}
