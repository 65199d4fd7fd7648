"""Integral types: C# widths, unchecked wrapping and a small static type inference.

Run-time integers are Python ints, so the width of an operation comes from the
compile-time type of its operands where that is known: literals, casts, typed
locals and parameters, local function results and a few well-known members.
``int`` arithmetic then wraps at 32 bits and shift counts are masked as in C#;
where the type is unknown, arithmetic wraps at 64 bits (``long``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ast as A
from .errors import ExpressionError

if TYPE_CHECKING:
    from .codegen import Scope

# name -> (bits, signed)
INTEGRAL: dict[str, tuple[int, bool]] = {
    "sbyte": (8, True), "byte": (8, False), "short": (16, True), "ushort": (16, False),
    "int": (32, True), "uint": (32, False), "long": (64, True), "ulong": (64, False),
}
ALIASES = {"SByte": "sbyte", "Byte": "byte", "Int16": "short", "UInt16": "ushort",
           "Int32": "int", "UInt32": "uint", "Int64": "long", "UInt64": "ulong",
           "String": "string", "Double": "double", "Boolean": "bool", "Char": "char",
           "float": "double", "decimal": "double", "Single": "double", "Decimal": "double"}
ARITHMETIC = {"+", "-", "*", "/", "%", "&", "|", "^"}
COMPARISON = {"==", "!=", "<", ">", "<=", ">=", "&&", "||"}
# (static type, member) -> result type of a few well-known static calls and properties
STATIC_RESULTS = {
    ("int", "Parse"): "int", ("long", "Parse"): "long", ("int", "MaxValue"): "int",
    ("int", "MinValue"): "int", ("long", "MaxValue"): "long", ("long", "MinValue"): "long",
    ("Convert", "ToInt32"): "int", ("Convert", "ToInt64"): "long", ("Convert", "ToByte"): "byte",
    ("Convert", "ToInt16"): "short", ("Convert", "ToUInt32"): "uint",
    ("BitConverter", "ToInt32"): "int", ("BitConverter", "ToInt64"): "long",
    ("BitConverter", "ToInt16"): "short", ("BitConverter", "ToUInt32"): "uint",
    ("BitConverter", "ToUInt16"): "ushort", ("BitConverter", "ToUInt64"): "ulong",
}
MEMBER_RESULTS = {"Length": "int", "Count": "int", "IndexOf": "int", "LastIndexOf": "int",
                  "Ticks": "long", "ToUnixTimeSeconds": "long",
                  "ToUnixTimeMilliseconds": "long", "Year": "int", "Month": "int", "Day": "int",
                  "Hour": "int", "Minute": "int", "Second": "int", "StatusCode": "int"}


def canonical(name: str) -> str:
    short = name.split(".")[-1]
    return ALIASES.get(short, short)


def wrap(value: int, type_name: str) -> int:
    """Unchecked conversion of an integer to the integral type ``type_name``."""
    bits, signed = INTEGRAL[type_name]
    value &= (1 << bits) - 1
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def to_integral(value: Any, type_name: str) -> Any:
    """An explicit cast ``(T)value`` to an integral type: integers and chars wrap,
    doubles truncate toward zero (then wrap)."""
    if isinstance(value, bool):
        raise ExpressionError(f"cannot convert bool to {type_name}")
    if isinstance(value, int):
        return wrap(value, type_name)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or abs(value) >= 2**64:
            raise ExpressionError("value was either too large or too small")
        return wrap(int(value), type_name)
    return None  # not numeric: the caller applies the lenient conversions


def promote(a: str | None, b: str | None) -> str | None:
    """C# binary numeric promotion for two integral operand types."""
    if a not in INTEGRAL or b not in INTEGRAL:
        if "double" in (a, b) and (a in INTEGRAL or a == "double") \
                and (b in INTEGRAL or b == "double"):
            return "double"
        return None
    assert a is not None and b is not None
    if "ulong" in (a, b):
        return "ulong"
    if "long" in (a, b):
        return "long"
    if "uint" in (a, b):
        return "long" if INTEGRAL[a][1] or INTEGRAL[b][1] else "uint"
    return "int"


def unary_promote(a: str | None) -> str | None:
    if a in ("sbyte", "byte", "short", "ushort", "char"):
        return "int"
    return a


def shift(op: str, a: Any, n: Any, type_name: str | None) -> Any:
    if type(a) is not int or type(n) is not int:
        raise ExpressionError(f"operator '{op}' needs integer operands")
    bits = INTEGRAL[type_name][0] if type_name in INTEGRAL else 64
    n &= bits - 1
    if op == "<<":
        return wrap(a << n, type_name or "long")
    if type_name in INTEGRAL and not INTEGRAL[type_name][1] and a < 0:
        a = wrap(a, type_name)
    return a >> n


def static_type(node: A.Node, scope: Scope) -> str | None:
    """The compile-time type of ``node`` where it is simply known, else None."""
    if isinstance(node, A.Literal):
        if isinstance(node.value, bool):
            return "bool"
        return node.kind
    if isinstance(node, A.Interp):
        return "string"
    if isinstance(node, A.Name):
        return scope.types.get(node.name)
    if isinstance(node, A.Cast):
        return None if node.type.array else canonical(node.type.name)
    if isinstance(node, A.Unary):
        if node.op == "!":
            return "bool"
        inner = unary_promote(static_type(node.operand, scope))
        if node.op == "-" and inner == "uint":
            return "long"
        return inner
    if isinstance(node, A.Binary):
        if node.op in COMPARISON:
            return "bool"
        left = static_type(node.left, scope)
        if node.op in ("<<", ">>"):
            return unary_promote(left)
        right = static_type(node.right, scope)
        if node.op == "+" and "string" in (left, right):
            return "string"
        if node.op in ARITHMETIC:
            if left == right == "bool" and node.op in ("&", "|", "^"):
                return "bool"
            return promote(unary_promote(left), unary_promote(right))
        return None
    if isinstance(node, A.Conditional):
        a, b = static_type(node.then, scope), static_type(node.other, scope)
        return a if a == b else None
    if isinstance(node, A.Invoke):
        fn = scope.functions.get(node.name)
        return None if fn is None else fn.ret
    if isinstance(node, A.Chain):
        return _chain_type(node, scope)
    return None


def _chain_type(node: A.Chain, scope: Scope) -> str | None:
    last = node.ops[-1]
    if isinstance(node.base, A.Name) and node.base.name not in scope.names \
            and len(node.ops) == 1 and isinstance(last, A.Member | A.Call):
        return STATIC_RESULTS.get((canonical(node.base.name), last.name))
    if isinstance(last, A.Member | A.Call) and last.name in MEMBER_RESULTS:
        if last.name == "IndexOf" and isinstance(last, A.Member):
            return None
        return MEMBER_RESULTS[last.name]
    if isinstance(last, A.Call) and last.name in ("ToString", "Substring", "ToLower", "ToUpper",
                                                  "Trim", "Replace"):
        return "string"
    return None
