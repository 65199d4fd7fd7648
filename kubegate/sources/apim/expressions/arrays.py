"""``System.Array``, ``BitConverter``, ``IPAddress`` and byte-array members.

Arrays are Python lists, and ``byte[]`` is ``bytes`` (read from a body or a
decoder) or ``bytearray`` (made by ``new byte[n]``, so it can be written).
``BitConverter`` is little-endian, as .NET is on every platform it runs on."""

from __future__ import annotations

import ipaddress
import struct
import uuid
from collections.abc import Callable
from typing import Any

from .errors import ExpressionError
from .numeric import INTEGRAL, wrap
from .runtime import cs_str, cs_type_name, iterate

Entry = tuple[str, Callable[..., Any]]


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise ExpressionError(f"{what} must be an int, got {cs_type_name(value)}")
    return value


def _array(value: Any, what: str = "array") -> Any:
    if value is None:
        raise ExpressionError(f"{what} cannot be null")
    if not isinstance(value, list | bytearray | bytes | tuple):
        raise ExpressionError(f"{what} must be an array, got {cs_type_name(value)}")
    return value


def array_copy(src: Any, *args: Any) -> None:
    """``Array.Copy(src, dst, length)`` or ``Array.Copy(src, srcIndex, dst, dstIndex, length)``."""
    if len(args) == 2:
        dst, length = args
        src_index = dst_index = 0
    elif len(args) == 4:
        src_index, dst, dst_index, length = args
    else:
        raise ExpressionError("Array.Copy takes 3 or 5 arguments")
    _array(src, "sourceArray")
    _array(dst, "destinationArray")
    src_index, dst_index = _int(src_index, "sourceIndex"), _int(dst_index, "destinationIndex")
    length = _int(length, "length")
    if min(src_index, dst_index, length) < 0 or src_index + length > len(src) \
            or dst_index + length > len(dst):
        raise ExpressionError("source or destination array was not long enough, "
                              "or an index or length was negative")
    if isinstance(dst, bytes | tuple):
        raise ExpressionError("the destination array cannot be written")
    chunk = list(src[src_index:src_index + length])
    if isinstance(dst, bytearray) and not all(type(b) is int and 0 <= b <= 255 for b in chunk):
        raise ExpressionError("array types do not match")
    dst[dst_index:dst_index + length] = bytearray(chunk) if isinstance(dst, bytearray) else chunk


def _predicate(fn: Any) -> Callable[[Any], bool]:
    def test(item: Any) -> bool:
        result = fn(item)
        if not isinstance(result, bool):
            raise ExpressionError("a predicate must return a bool")
        return result
    return test


ARRAY: dict[str, Entry] = {
    "Copy": ("method", array_copy),
    "Exists": ("method", lambda a, f: any(_predicate(f)(x) for x in _array(a))),
    "TrueForAll": ("method", lambda a, f: all(_predicate(f)(x) for x in _array(a))),
    "Find": ("method", lambda a, f: next((x for x in _array(a) if _predicate(f)(x)), None)),
    "FindAll": ("method", lambda a, f: [x for x in _array(a) if _predicate(f)(x)]),
    "FindIndex": ("method", lambda a, f: next(
        (i for i, x in enumerate(_array(a)) if _predicate(f)(x)), -1)),
    "IndexOf": ("method", lambda a, v: next((i for i, x in enumerate(_array(a)) if x == v), -1)),
    "Reverse": ("method", lambda a: _reverse(_array(a))),
    "Sort": ("method", lambda a: _sort(_array(a))),
}


def _reverse(a: Any) -> None:
    if isinstance(a, bytes | tuple):
        raise ExpressionError("the array cannot be written")
    a.reverse()


def _sort(a: Any) -> None:
    if isinstance(a, bytes | tuple):
        raise ExpressionError("the array cannot be written")
    try:
        a.sort(key=lambda x: (x is not None, x))
    except TypeError:
        raise ExpressionError("failed to compare two elements in the array") from None


def _from_bytes(size: int, signed: bool) -> Callable[..., int]:
    def convert(data: Any, start: Any = 0) -> int:
        data, start = _array(data, "value"), _int(start, "startIndex")
        if not isinstance(data, bytes | bytearray):
            raise ExpressionError("BitConverter needs a byte array")
        if start < 0 or start + size > len(data):
            raise ExpressionError("destination array is not long enough to copy all the "
                                  "items in the collection")
        return int.from_bytes(data[start:start + size], "little", signed=signed)
    return convert


UNSIGNED = {"sbyte": "byte", "short": "ushort", "int": "uint", "long": "ulong"}


def get_bytes(value: Any, static: str | None = None) -> bytearray:
    """``BitConverter.GetBytes``: the overload (so the width) is the argument's static
    type when the compiler knows it (``byte``/``sbyte``/``short``/``ushort`` 2 bytes, ``int``/
    ``uint`` 4, ``long``/``ulong`` 8, ``char`` 2, ``double`` 8, ``bool`` 1). Otherwise it is guessed from the value: an
    integer of ``int``/``uint`` range gives 4 bytes and any other 8 (so a ``long``
    holding a small number, read from JSON or a variable, gives 4 bytes where .NET gives 8)."""
    if isinstance(value, bool):
        return bytearray([1 if value else 0])
    if static == "char" and isinstance(value, str) and len(value) == 1:
        return bytearray(ord(value).to_bytes(2, "little"))
    if isinstance(value, float) or (static == "double" and type(value) is int):
        return bytearray(struct.pack("<d", float(value)))
    if type(value) is int:
        if static in INTEGRAL:  # byte and sbyte have no overload: C# picks short
            size = max(INTEGRAL[static][0] // 8, 2)
            unsigned = UNSIGNED.get(static, static) if size > 2 else "ushort"
        else:  # unknown static type: guess the overload from the value
            size, unsigned = (4, "uint") if -(2**31) <= value < 2**32 else (8, "ulong")
        return bytearray(wrap(value, unsigned).to_bytes(size, "little"))
    raise ExpressionError(f"BitConverter.GetBytes does not take {cs_type_name(value)}")


def _out_of_range(name: str) -> ExpressionError:
    return ExpressionError("Specified argument was out of the range of valid values. "
                           f"(Parameter '{name}')")


def _bit_string(data: Any, *args: Any) -> str:
    """``BitConverter.ToString(value[, startIndex[, length]])`` with .NET's checks."""
    data = _array(data, "value")
    if len(args) > 2:
        raise ExpressionError("BitConverter.ToString takes at most 3 arguments")
    start = _int(args[0], "startIndex") if args else 0
    length = _int(args[1], "length") if len(args) == 2 else len(data) - start
    if start < 0 or (start >= len(data) and start > 0):
        raise _out_of_range("startIndex")
    if length < 0:
        raise _out_of_range("length")
    if start > len(data) - length:
        raise ExpressionError("Destination array is not long enough to copy all the items in "
                              "the collection. Check array index and length.")
    return "-".join(f"{b:02X}" for b in data[start:start + length])


BIT_CONVERTER: dict[str, Entry] = {
    "ToInt16": ("method", _from_bytes(2, True)), "ToUInt16": ("method", _from_bytes(2, False)),
    "ToInt32": ("method", _from_bytes(4, True)), "ToUInt32": ("method", _from_bytes(4, False)),
    "ToInt64": ("method", _from_bytes(8, True)), "ToUInt64": ("method", _from_bytes(8, False)),
    "GetBytes": ("method", get_bytes),
    "ToString": ("method", _bit_string),
    "IsLittleEndian": ("prop", lambda env: True),
}


def to_byte(value: Any) -> int:
    """``Convert.ToByte``: checked, rounding doubles to even as .NET does."""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, float):
        value = round(value)
    if isinstance(value, str):
        from .runtime import parse_int
        value = parse_int(value)
    if type(value) is not int or not 0 <= value <= 255:
        raise ExpressionError("value was either too large or too small for an unsigned byte")
    return value


def new_guid(value: Any) -> uuid.UUID:
    """``new Guid(byte[16])`` (the .NET mixed-endian layout) or ``new Guid(string)``."""
    if isinstance(value, bytes | bytearray):
        if len(value) != 16:
            raise ExpressionError("byte array for Guid must be exactly 16 bytes long")
        return uuid.UUID(bytes_le=bytes(value))
    try:
        return uuid.UUID(cs_str(value))
    except ValueError:
        raise ExpressionError(f"unrecognized Guid format: {value!r}") from None


class IPAddress:
    """``System.Net.IPAddress``: parsing, bytes, byte order helpers."""

    __cs_type__ = "IPAddress"
    __cs_members__ = frozenset({"GetAddressBytes", "ToString", "AddressFamily", "IsIPv4MappedToIPv6",
                                "MapToIPv4", "Equals"})
    __slots__ = ("_ip",)

    def __init__(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        self._ip = ip

    def GetAddressBytes(self) -> bytearray:  # noqa: N802
        return bytearray(self._ip.packed)

    def ToString(self) -> str:  # noqa: N802
        return str(self._ip)

    def cs_string(self) -> str:
        return str(self._ip)

    @property
    def AddressFamily(self) -> str:  # noqa: N802
        return "InterNetwork" if self._ip.version == 4 else "InterNetworkV6"

    @property
    def IsIPv4MappedToIPv6(self) -> bool:  # noqa: N802
        return isinstance(self._ip, ipaddress.IPv6Address) and self._ip.ipv4_mapped is not None

    def MapToIPv4(self) -> IPAddress:  # noqa: N802
        mapped = getattr(self._ip, "ipv4_mapped", None)
        return IPAddress(mapped) if mapped is not None else self

    def Equals(self, other: Any) -> bool:  # noqa: N802
        return isinstance(other, IPAddress) and other._ip == self._ip

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IPAddress) and other._ip == self._ip

    def __hash__(self) -> int:
        return hash(self._ip)


def _parse_ip(text: Any) -> IPAddress:
    try:
        return IPAddress(ipaddress.ip_address(cs_str(text).strip().strip("[]")))
    except ValueError:
        raise ExpressionError("an invalid IP address was specified") from None


def _swap(value: Any) -> int:
    """``IPAddress.HostToNetworkOrder``: the byte order of a (little-endian) host
    value reversed; the width is that of the value (int unless it needs a long)."""
    if type(value) is not int:
        raise ExpressionError("HostToNetworkOrder needs an integer")
    size, kind = (4, "int") if -(2**31) <= value < 2**31 else (8, "long")
    raw = wrap(value, "uint" if size == 4 else "ulong").to_bytes(size, "little")
    return wrap(int.from_bytes(raw, "big"), kind)


IP_ADDRESS: dict[str, Entry] = {
    "Parse": ("method", _parse_ip),
    "HostToNetworkOrder": ("method", _swap),
    "NetworkToHostOrder": ("method", _swap),
    "IsLoopback": ("method", lambda ip: isinstance(ip, IPAddress) and ip._ip.is_loopback),
    "Loopback": ("prop", lambda env: IPAddress(ipaddress.IPv4Address("127.0.0.1"))),
    "Any": ("prop", lambda env: IPAddress(ipaddress.IPv4Address("0.0.0.0"))),
}


def sequence_to_bytes(items: Any) -> bytearray:
    """``ToArray()`` of a byte sequence stays a byte array."""
    return bytearray(iterate(items))


def _byte_array_table() -> dict[str, Entry]:
    from .collections import SEQUENCE
    from .crypto import decrypt, encrypt

    table = {k: v for k, v in SEQUENCE.items() if k != "Add"}
    table.update({
        "Encrypt": ("method", encrypt),
        "Decrypt": ("method", decrypt),
        "ToArray": ("method", lambda b: bytearray(b)),
        "Clone": ("method", lambda b: bytearray(b)),
        "ToString": ("method", cs_str),
    })
    return table


BYTE_ARRAY: dict[str, Entry] = _byte_array_table()
