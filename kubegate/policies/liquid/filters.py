"""The Liquid filters APIM's set-body supports, by their Pascal-case names.

APIM runs DotLiquid in "C# mode": filter names are Pascal case (``AtLeast``, not
``at_least``) and ``Date`` takes .NET format strings. Semantics follow the Liquid
documentation (Shopify), with C# integer arithmetic (division and modulo
truncate toward zero). A filter that cannot apply raises ``LiquidError``, as
does one whose text result would be longer than ``MAX_OUTPUT`` (checked before
the text is built) or whose whole-number result has more than ``MAX_INT_BITS``
bits. ``ARITY`` gives each filter's (fewest, most) arguments, checked when the
template is parsed.
"""

from __future__ import annotations

import html
import inspect
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from kubegate.sources.apim.expressions.builtins import format_date

from .values import LiquidError, check_length, member, to_text

Filter = Callable[..., Any]
MAX_INT_BITS = 128


def _num(value: Any) -> int | float:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return value
    text = to_text(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return 0


def _arith(name: str, op: Callable[[Any, Any], Any]) -> Filter:
    def run(value: Any, other: Any = 0) -> Any:
        result = op(_num(value), _num(other))
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise LiquidError(f"{name}: the result is too large")
        return result
    return run


def _divided_by(a: Any, b: Any) -> Any:
    x, y = _num(a), _num(b)
    if y == 0:
        raise LiquidError("DividedBy: division by zero")
    if isinstance(x, int) and isinstance(y, int):
        q = abs(x) // abs(y)  # C#: integer division truncates toward zero
        return q if (x < 0) == (y < 0) else -q
    return x / y


def _modulo(a: Any, b: Any) -> Any:
    x, y = _num(a), _num(b)
    if y == 0:
        raise LiquidError("Modulo: division by zero")
    r = math.fmod(x, y)
    return int(r) if isinstance(x, int) and isinstance(y, int) else r


def _round(value: Any, places: Any = 0) -> Any:
    n = int(_num(places))
    try:
        d = Decimal(str(_num(value))).quantize(Decimal(1).scaleb(-n), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise LiquidError(f"Round: cannot round {to_text(value)!r}") from None
    return int(d) if n <= 0 else float(d)


def _seq(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, dict):
        return [value]
    return [value]


def _first(value: Any) -> Any:
    if isinstance(value, str):
        return value[:1] or None
    items = _seq(value)
    return items[0] if items else None


def _last(value: Any) -> Any:
    if isinstance(value, str):
        return value[-1:] or None
    items = _seq(value)
    return items[-1] if items else None


def _size(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    return 0


def _slice(value: Any, start: Any, length: Any = 1) -> Any:
    s, n = int(_num(start)), int(_num(length))
    seq: Any = value if isinstance(value, str) else _seq(value)
    if s < 0:
        s += len(seq)
    s = max(s, 0)
    return seq[s:s + max(n, 0)]


def _sort(value: Any, prop: Any = None) -> list[Any]:
    items = _seq(value)
    key = (lambda x: member(x, to_text(prop))) if prop is not None else (lambda x: x)
    present = [x for x in items if key(x) is not None]
    missing = [x for x in items if key(x) is None]
    try:
        present.sort(key=key)
    except TypeError:
        present.sort(key=lambda x: to_text(key(x)))
    return present + missing


def _uniq(value: Any) -> list[Any]:
    out: list[Any] = []
    seen: set[Any] = set()
    unhashable: list[Any] = []  # maps and lists: compared one by one
    for item in _seq(value):
        try:
            if item in seen:
                continue
            seen.add(item)
        except TypeError:
            if item in unhashable:
                continue
            unhashable.append(item)
        out.append(item)
    return out


def _split(value: Any, sep: Any = " ") -> list[str]:
    text, pattern = to_text(value), to_text(sep)
    if not text:
        return []
    parts = list(text) if pattern == "" else text.split(pattern)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _truncate(value: Any, length: Any = 50, ellipsis: Any = "...") -> str:
    text, n, tail = to_text(value), int(_num(length)), to_text(ellipsis)
    if len(text) <= n:
        return text
    return text[:max(n - len(tail), 0)] + tail


def _truncate_words(value: Any, count: Any = 15, ellipsis: Any = "...") -> str:
    words, n = to_text(value).split(), max(int(_num(count)), 1)
    if len(words) <= n:
        return to_text(value)
    return " ".join(words[:n]) + to_text(ellipsis)


def _escape(value: Any) -> str:
    return html.escape(to_text(value), quote=True).replace("&#x27;", "&#39;")


def _strip_html(value: Any) -> str:
    text = re.sub(r"(?is)<script.*?</script>|<style.*?</style>|<!--.*?-->", "", to_text(value))
    return re.sub(r"<[^>]*>", "", text)


def _currency(value: Any, culture: Any = None) -> str:
    if culture not in (None, "en-US", "en-us", ""):
        raise LiquidError(f"Currency: culture {to_text(culture)!r} is not supported (en-US only)")
    n = _num(value)
    text = f"${abs(n):,.2f}"
    return "-" + text if n < 0 else text


def _parse_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, ValueError, OSError):
            return None
    text = to_text(value).strip()
    if text.lower() in ("now", "today"):
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _date(value: Any, fmt: Any = None) -> Any:
    when = _parse_date(value)
    if when is None or fmt is None or to_text(fmt) == "":
        return value
    return format_date(when, to_text(fmt))


def _default(value: Any, fallback: Any = "") -> Any:
    if value is None or value is False or value == "" or value == [] or value == {}:
        return fallback
    return value


def _join(value: Any, sep: Any = " ") -> str:
    parts, glue = [to_text(v) for v in _seq(value)], to_text(sep)
    check_length(sum(map(len, parts)) + len(glue) * max(len(parts) - 1, 0), "Join")
    return glue.join(parts)


def _append(value: Any, other: Any = "") -> str:
    a, b = to_text(value), to_text(other)
    check_length(len(a) + len(b), "Append")
    return a + b


def _prepend(value: Any, other: Any = "") -> str:
    a, b = to_text(value), to_text(other)
    check_length(len(a) + len(b), "Prepend")
    return b + a


def _replace(value: Any, old: Any = "", new: Any = "", count: int = -1) -> str:
    text, a, b = to_text(value), to_text(old), to_text(new)
    if not a:
        return text
    if len(b) > len(a):
        found = text.count(a) if count < 0 else min(text.count(a), count)
        check_length(len(text) + found * (len(b) - len(a)), "Replace")
    return text.replace(a, b, count)


def _map(value: Any, prop: Any) -> list[Any]:
    return [member(item, to_text(prop)) for item in _seq(value)]


def _capitalize(value: Any) -> str:
    text = to_text(value)
    return text[:1].upper() + text[1:].lower()


FILTERS: dict[str, Filter] = {
    "Abs": lambda v: abs(_num(v)),
    "Append": _append,
    "AtLeast": lambda v, n=0: max(_num(v), _num(n)),
    "AtMost": lambda v, n=0: min(_num(v), _num(n)),
    "Capitalize": _capitalize,
    "Compact": lambda v: [x for x in _seq(v) if x is not None],
    "Currency": _currency,
    "Date": _date,
    "Default": _default,
    "DividedBy": _divided_by,
    "Downcase": lambda v: to_text(v).lower(),
    "Escape": _escape,
    "First": _first,
    "H": _escape,
    "Join": _join,
    "Last": _last,
    "Lstrip": lambda v: to_text(v).lstrip(),
    "Map": _map,
    "Minus": _arith("Minus", lambda a, b: a - b),
    "Modulo": _modulo,
    "NewlineToBr": lambda v: re.sub(r"(\r?\n)", r"<br />\1", to_text(v)),
    "Plus": _arith("Plus", lambda a, b: a + b),
    "Prepend": _prepend,
    "Remove": lambda v, s="": to_text(v).replace(to_text(s), "") if to_text(s) else to_text(v),
    "RemoveFirst": lambda v, s="": to_text(v).replace(to_text(s), "", 1),
    "Replace": lambda v, a="", b="": _replace(v, a, b),
    "ReplaceFirst": lambda v, a="", b="": _replace(v, a, b, 1),
    "Round": _round,
    "Rstrip": lambda v: to_text(v).rstrip(),
    "Size": _size,
    "Slice": _slice,
    "Sort": _sort,
    "Split": _split,
    "Strip": lambda v: to_text(v).strip(),
    "StripHtml": _strip_html,
    "StripNewlines": lambda v: re.sub(r"\r?\n", "", to_text(v)),
    "Times": _arith("Times", lambda a, b: a * b),
    "Truncate": _truncate,
    "TruncateWords": _truncate_words,
    "Uniq": _uniq,
    "Upcase": lambda v: to_text(v).upper(),
    "UrlDecode": lambda v: unquote_plus(to_text(v)),
    "UrlEncode": lambda v: quote_plus(to_text(v)),
}
_BY_FOLDED = {name.lower(): name for name in FILTERS}


def _arity(f: Filter) -> tuple[int, int]:
    params = list(inspect.signature(f).parameters.values())[1:]  # the first is the input
    return sum(p.default is p.empty for p in params), len(params)


ARITY: dict[str, tuple[int, int]] = {name: _arity(f) for name, f in FILTERS.items()}


def filter_hint(name: str) -> str:
    """A suggestion for a filter written in Ruby style (``at_least``, ``upcase``)."""
    pascal = _BY_FOLDED.get(name.replace("_", "").lower())
    return f" (APIM filter names are Pascal case: {pascal})" if pascal else ""
