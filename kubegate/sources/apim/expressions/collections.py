"""Method tables for collections: arrays/lists, dictionaries, JSON objects and arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .builtins import is_digits
from .errors import ExpressionError
from .runtime import (
    JArray,
    JObject,
    convert,
    cs_str,
    cs_type_name,
    iterate,
    json_text,
    parse_json,
    to_jtoken,
)

Entry = tuple[str, Callable[..., Any]]


class KeyValuePair:
    __cs_type__ = "KeyValuePair"
    __cs_members__ = frozenset({"Key", "Value"})
    __slots__ = ("Key", "Value")

    def __init__(self, key: Any, value: Any) -> None:
        self.Key = key
        self.Value = value


class CsDictionary(dict[Any, Any]):
    """A ``Dictionary<K, V>`` created by an expression (writable, unlike ``context``'s)."""


class AnonymousObject:
    """``new { a = 1, b }``: read-only named members in declaration order.

    ``JsonConvert.SerializeObject`` and ``JObject.FromObject`` see it as an object."""

    __cs_type__ = "AnonymousType"
    __cs_members__ = frozenset({"ToString"})  # data members are read in get_member
    __slots__ = ("members",)

    def __init__(self, members: dict[str, Any]) -> None:
        self.members = members

    def ToString(self) -> str:  # noqa: N802
        return self.cs_string()

    def cs_string(self) -> str:
        inner = ", ".join(f"{k} = {cs_str(v)}" for k, v in self.members.items())
        return "{ " + inner + " }" if inner else "{ }"

    def to_json(self) -> JObject:
        return JObject((k, to_jtoken(v)) for k, v in self.members.items())


class JProperty:
    __cs_type__ = "JProperty"
    __cs_members__ = frozenset({"Name", "Value", "ToString"})
    __slots__ = ("Name", "Value")

    def __init__(self, name: Any, value: Any = None) -> None:
        if not isinstance(name, str):
            raise ExpressionError("a JProperty name must be a string")
        self.Name = name
        self.Value = to_jtoken(value)

    def ToString(self) -> str:
        return f"{json_text(self.Name)}: {json_text(self.Value)}"


def _pred(fn: Any) -> Callable[[Any], bool]:
    def test(item: Any) -> bool:
        result = fn(item)
        if not isinstance(result, bool):
            raise ExpressionError("a predicate must return a bool")
        return result
    return test


def _first(items: Any, fn: Any = None, default: bool = False, last: bool = False) -> Any:
    seq = list(iterate(items))
    if last:
        seq.reverse()
    for item in seq:
        if fn is None or _pred(fn)(item):
            return item
    if default:
        return None
    raise ExpressionError("sequence contains no matching element")


def _single(items: Any, fn: Any = None, default: bool = False) -> Any:
    found = [x for x in iterate(items) if fn is None or _pred(fn)(x)]
    if len(found) == 1:
        return found[0]
    if not found and default:
        return None
    raise ExpressionError("sequence does not contain exactly one matching element")


def _contains(items: Any, value: Any, comparer: Any = None) -> bool:
    if isinstance(comparer, str) and comparer.endswith("IgnoreCase") and isinstance(value, str):
        return any(isinstance(x, str) and x.lower() == value.lower() for x in iterate(items))
    return value in list(iterate(items))


def _count(items: Any, fn: Any = None) -> int:
    return sum(1 for x in iterate(items) if fn is None or _pred(fn)(x))


def _join_index(items: list[Any], index: Any) -> Any:
    if not isinstance(index, int) or isinstance(index, bool):
        raise ExpressionError(f"array index must be an int, got {cs_type_name(index)}")
    if not 0 <= index < len(items):
        raise ExpressionError("index was outside the bounds of the array")
    return items[index]


def _add(items: list[Any], value: Any) -> None:
    items.append(to_jtoken(value) if isinstance(items, JArray) else value)


SEQUENCE: dict[str, Entry] = {
    "Count": ("prop", len), "Length": ("prop", len),
    "Item": ("method", _join_index),
    "Any": ("method", lambda s, f=None: any(f is None or _pred(f)(x) for x in iterate(s))),
    "All": ("method", lambda s, f: all(_pred(f)(x) for x in iterate(s))),
    "Where": ("method", lambda s, f: [x for x in iterate(s) if _pred(f)(x)]),
    "Select": ("method", lambda s, f: [f(x) for x in iterate(s)]),
    "First": ("method", lambda s, f=None: _first(s, f)),
    "FirstOrDefault": ("method", lambda s, f=None: _first(s, f, True)),
    "Last": ("method", lambda s, f=None: _first(s, f, last=True)),
    "LastOrDefault": ("method", lambda s, f=None: _first(s, f, True, True)),
    "Single": ("method", lambda s, f=None: _single(s, f)),
    "SingleOrDefault": ("method", lambda s, f=None: _single(s, f, True)),
    "Contains": ("method", lambda s, x, cmp=None: _contains(s, x, cmp)),
    "IndexOf": ("method", lambda s, x: s.index(x) if x in s else -1),
    "ToList": ("method", lambda s: list(iterate(s))),
    "ToArray": ("method", lambda s: list(iterate(s))),
    "Skip": ("method", lambda s, n: list(iterate(s))[max(n, 0):]),
    "Take": ("method", lambda s, n: list(iterate(s))[:max(n, 0)]),
    "Distinct": ("method", lambda s: list(dict.fromkeys(iterate(s)))),
    "Add": ("method", _add),
    "ToString": ("method", lambda s, *_: cs_str(s)),
}
# count with a predicate is a method in C#, without one a property; both resolve here.
SEQUENCE_COUNT_METHOD: Entry = ("method", _count)


def _dict_add(d: dict[Any, Any], key: Any, value: Any) -> None:
    if key is None:
        raise ExpressionError("a dictionary key cannot be null")
    if key in d:
        raise ExpressionError("an item with the same key has already been added")
    d[key] = value


def _dict_item(d: dict[str, Any], key: Any) -> Any:
    if key not in d:
        raise ExpressionError(f"the given key '{cs_str(key)}' was not present in the dictionary")
    return d[key]


def _get_or_default(d: dict[str, Any], t: str | None, key: Any, default: Any = None) -> Any:
    if key not in d:
        return default
    value = d[key]
    return value if t is None else convert(value, t, strict=False)


DICTIONARY: dict[str, Entry] = {
    "Item": ("method", _dict_item),
    "GetValueOrDefault": ("generic", _get_or_default),
    "ContainsKey": ("method", lambda d, k: k in d),
    "Count": ("prop", len),
    "Keys": ("prop", lambda d: list(d.keys())),
    "Values": ("prop", lambda d: list(d.values())),
    "ToString": ("method", cs_str),
}


def _select_token(obj: Any, path: str) -> Any:
    current = obj
    for raw in path.replace("[", ".[").split("."):
        if not raw or raw == "$":
            continue
        if raw.startswith("["):
            key: Any = raw.strip("[]'\"")
            key = int(key) if is_digits(key) else key
        else:
            key = raw
        if isinstance(current, JObject) and isinstance(key, str):
            current = current.get(key)
        elif isinstance(current, list) and isinstance(key, int) and key < len(current):
            current = current[key]
        else:
            return None
    return current


def _jobject_value(obj: JObject, t: str | None, key: str) -> Any:
    value = obj.get(key)
    return value if t is None or value is None else convert(value, t)


def _jobject_add(obj: JObject, name: Any, value: Any = None) -> None:
    if isinstance(name, JProperty):
        name, value = name.Name, name.Value
    if not isinstance(name, str):
        raise ExpressionError("a JObject property name must be a string")
    if name in obj:
        raise ExpressionError(f"property {name} already exists")
    obj[name] = to_jtoken(value)


def _to_string(value: Any, formatting: Any = None) -> str:
    return json_text(value, indent=formatting != "None")


JOBJECT: dict[str, Entry] = {
    "Item": ("method", lambda o, k: o.get(k) if isinstance(k, str) else _raise_key(k)),
    "Value": ("generic", _jobject_value),
    "GetValue": ("method", lambda o, k: o.get(k)),
    "Property": ("method", lambda o, k: JProperty(k, o[k]) if k in o else None),
    "Properties": ("method", lambda o: [JProperty(k, v) for k, v in o.items()]),
    "ContainsKey": ("method", lambda o, k: k in o),
    "SelectToken": ("method", _select_token),
    "ToObject": ("generic", lambda o, t: o if t is None else convert(o, t)),
    "ToString": ("method", _to_string),
    "Count": ("prop", len),
    "Add": ("method", _jobject_add),
    "Remove": ("method", lambda o, k: o.pop(k, None) is not None),
}
JARRAY: dict[str, Entry] = {
    **SEQUENCE,
    "ToString": ("method", _to_string),
    "SelectToken": ("method", _select_token),
    "ToObject": ("generic", lambda o, t: o if t is None else convert(o, t)),
    "Value": ("generic", lambda o, t, i: convert(_join_index(o, i), t or "object")),
}


def _raise_key(key: Any) -> Any:
    raise ExpressionError(f"JObject keys must be strings, got {cs_type_name(key)}")


def parse_jobject(text: Any) -> JObject:
    value = parse_json(cs_str(text))
    if not isinstance(value, JObject):
        raise ExpressionError("JSON text is not an object")
    return value


def parse_jarray(text: Any) -> JArray:
    value = to_jtoken(parse_json(cs_str(text)))
    if not isinstance(value, JArray):
        raise ExpressionError("JSON text is not an array")
    return value


_ABSENT: Any = object()
CS_DICTIONARY: dict[str, Entry] = {
    **DICTIONARY,
    "Add": ("method", _dict_add),
    "Remove": ("method", lambda d, k: d.pop(k, _ABSENT) is not _ABSENT),
    "ContainsValue": ("method", lambda d, v: v in d.values()),
}
TABLES: dict[type, dict[str, Entry]] = {
    JObject: JOBJECT, JArray: JARRAY, list: SEQUENCE, tuple: SEQUENCE, dict: DICTIONARY,
    CsDictionary: CS_DICTIONARY,
}
