"""Run-time values and C# semantics shared by compiled expressions.

JSON objects/arrays are ``JObject``/``JArray`` (dict/list subclasses, so JSON
semantics differ from plain dictionaries such as ``context.Variables``).
``cs_str`` is C#'s ``ToString`` and string concatenation; ``convert`` is a cast
or a generic type argument; both raise ``ExpressionError`` on failure."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .errors import ExpressionError


class JObject(dict[str, Any]):
    """A JSON object (Newtonsoft ``JObject``): a missing key reads as null."""


class JArray(list[Any]):
    """A JSON array (Newtonsoft ``JArray``)."""


def parse_json(text: str) -> Any:
    try:
        return to_jtoken(json.loads(text, parse_constant=_bad_constant)) if text.strip() else None
    except (ValueError, RecursionError) as e:
        raise ExpressionError(f"invalid JSON: {e}") from None


def _bad_constant(name: str) -> Any:
    raise ValueError(f"unexpected {name}")


def to_jtoken(value: Any) -> Any:
    """Turn lists and dictionaries (at any depth) into ``JArray``/``JObject``."""
    try:
        if isinstance(value, list | tuple):
            return JArray(to_jtoken(v) for v in value)
        if isinstance(value, dict):
            return JObject((cs_str(k), to_jtoken(v)) for k, v in value.items())
        to_json = getattr(value, "to_json", None)
        if callable(to_json):
            return to_jtoken(to_json())
    except RecursionError:
        raise ExpressionError("JSON nested too deeply") from None
    return value


def json_text(value: Any, indent: bool = True) -> str:
    return json.dumps(value, indent=2 if indent else None, ensure_ascii=False,
                      separators=None if indent else (",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if isinstance(value, bytes | bytearray):
        import base64
        return base64.b64encode(value).decode("ascii")  # as Newtonsoft writes byte[]
    return cs_str(value)


def cs_str(value: Any) -> str:
    """C# ``ToString()`` of a value, with null as the empty string (as ``+`` does)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_double(value)
    if isinstance(value, JObject | JArray):
        return json_text(value)
    if isinstance(value, datetime):
        return value.strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return "System.Byte[]"
    if isinstance(value, list | tuple):
        return "System.String[]" if all(isinstance(v, str) for v in value) else "System.Object[]"
    if isinstance(value, dict):
        return "System.Collections.Generic.Dictionary`2[System.String,System.Object]"
    text = getattr(value, "cs_string", None)
    if callable(text):
        return str(text())
    return type(value).__name__


def format_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    return text.replace("e+", "E+").replace("e-", "E-")


def format_timespan(value: timedelta) -> str:
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(int(total), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    frac = round((total - int(total)) * 10_000_000)
    text = f"{sign}{days}." if days else sign
    text += f"{hours:02}:{minutes:02}:{seconds:02}"
    return text + (f".{frac:07}" if frac else "")


TYPE_ALIASES = {
    "String": "string", "Int32": "int", "Int64": "long", "Double": "double", "Boolean": "bool",
    "float": "double", "decimal": "double", "short": "int", "uint": "long", "ulong": "long",
    "sbyte": "int", "ushort": "int", "Int16": "int", "UInt16": "int", "UInt32": "long",
    "UInt64": "long", "Byte": "byte", "SByte": "int", "Single": "double", "Decimal": "double",
    "Object": "object", "dynamic": "object", "IResponse": "Response", "IRequest": "Request",
    "JValue": "JToken",
}


def type_key(name: str) -> str:
    short = name.split(".")[-1]
    return TYPE_ALIASES.get(short, short)


def convert(value: Any, type_name: str, *, strict: bool = False) -> Any:
    """Cast ``value`` to the C# type ``type_name`` (``(T)value`` / ``GetValueOrDefault<T>``).

    Integral targets are range-checked (as Newtonsoft's and ``Convert``'s conversions are)."""
    result = _convert(value, type_name, strict)
    limits = INTEGRAL_RANGES.get(type_name.split(".")[-1])
    if limits is not None and type(result) is int and not limits[0] <= result <= limits[1]:
        raise ExpressionError(f"value was either too large or too small for {type_name}")
    return result


INTEGRAL_RANGES = {
    "sbyte": (-128, 127), "SByte": (-128, 127), "byte": (0, 255), "Byte": (0, 255),
    "short": (-(2**15), 2**15 - 1), "Int16": (-(2**15), 2**15 - 1),
    "ushort": (0, 2**16 - 1), "UInt16": (0, 2**16 - 1),
    "int": (-(2**31), 2**31 - 1), "Int32": (-(2**31), 2**31 - 1),
    "uint": (0, 2**32 - 1), "UInt32": (0, 2**32 - 1),
    "ulong": (0, 2**64 - 1), "UInt64": (0, 2**64 - 1),
}


def _convert(value: Any, type_name: str, strict: bool) -> Any:
    key = type_key(type_name)
    if key in ("object", "JToken", "var"):
        return value
    if key == "string":
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool | int | float) and not strict:
            return cs_str(value)
        if isinstance(value, JObject | JArray) and not strict:
            return json_text(value)
        explicit = getattr(value, "cs_explicit_string", None)
        if callable(explicit):  # (string)XElement, (string)XAttribute
            return str(explicit())
        raise ExpressionError(f"cannot convert {cs_type_name(value)} to string")
    if key in ("int", "long", "byte"):
        if isinstance(value, bool) or value is None:
            raise ExpressionError(f"cannot convert {cs_type_name(value)} to {key}")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value) or abs(value) >= 2**63:
                raise ExpressionError("value was either too large or too small")
            return int(value)
        if isinstance(value, str) and not strict:
            return parse_int(value)
        raise ExpressionError(f"cannot convert {cs_type_name(value)} to {key}")
    if key == "double":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and not strict:
            return parse_double(value)
        raise ExpressionError(f"cannot convert {cs_type_name(value)} to double")
    if key == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and not strict:
            return parse_bool(value)
        raise ExpressionError(f"cannot convert {cs_type_name(value)} to bool")
    if key == "char" and isinstance(value, str) and len(value) == 1:
        return value
    if is_instance(value, key):
        return value
    if value is None:
        return None
    raise ExpressionError(f"cannot convert {cs_type_name(value)} to {type_name}")


def is_instance(value: Any, type_name: str) -> bool:
    key = type_key(type_name)
    checks: dict[str, Any] = {
        "string": str, "int": int, "long": int, "double": float, "bool": bool,
        "JObject": JObject, "JArray": JArray, "DateTime": datetime, "TimeSpan": timedelta,
        "DateTimeOffset": datetime, "byte[]": bytes | bytearray,
        "Guid": uuid.UUID, "object": object,
    }
    if value is None:
        return False
    if key in checks:
        if key in ("int", "long") and isinstance(value, bool):
            return False
        return isinstance(value, checks[key])
    if key == "JToken":
        return isinstance(value, JObject | JArray | str | int | float | bool)
    if key in LIST_TYPES:
        return isinstance(value, list | tuple) or (
            key in ("IEnumerable", "ICollection") and isinstance(value, bytes | bytearray))
    if key in DICTIONARY_TYPES:
        return isinstance(value, dict) and not isinstance(value, JObject)
    return getattr(type(value), "__cs_type__", None) == key


LIST_TYPES = frozenset({"List", "IList", "IEnumerable", "ICollection", "IReadOnlyList",
                        "IReadOnlyCollection", "Array"})
DICTIONARY_TYPES = frozenset({"Dictionary", "IDictionary", "IReadOnlyDictionary"})


def cs_type_name(value: Any) -> str:
    if value is None:
        return "null"
    names = {str: "string", bool: "bool", int: "int", float: "double", JObject: "JObject",
             JArray: "JArray", bytes: "byte[]", bytearray: "byte[]", list: "array",
             dict: "dictionary"}
    return names.get(type(value), getattr(type(value), "__cs_type__", type(value).__name__))


def parse_int(text: str) -> int:
    if len(text) > 40:
        raise ExpressionError("value was either too large or too small")
    try:
        value = int(text.strip(), 10)
        if not -(2**63) <= value < 2**63:
            raise ExpressionError("value was either too large or too small")
        return value
    except (ValueError, AttributeError):
        raise ExpressionError(f"input string {text!r} was not in a correct format") from None


def parse_double(text: str) -> float:
    try:
        return float(text.strip())
    except (ValueError, AttributeError):
        raise ExpressionError(f"input string {text!r} was not in a correct format") from None


def parse_bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("true", "false"):
        return low == "true"
    raise ExpressionError(f"string {text!r} was not recognized as a valid Boolean")


def iterate(value: Any) -> Iterable[Any]:
    if value is None:
        raise ExpressionError("cannot enumerate null")
    if isinstance(value, str | list | tuple | bytes | bytearray):
        return value
    if isinstance(value, dict):
        if isinstance(value, JObject):
            return list(value.values())
        from .collections import KeyValuePair
        return [KeyValuePair(k, v) for k, v in value.items()]
    items = getattr(value, "cs_items", None)
    if callable(items):
        return list(items())
    raise ExpressionError(f"cannot enumerate {cs_type_name(value)}")
