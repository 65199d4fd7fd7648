"""Hashing and pseudo-random helpers: ``SHA256.Create().ComputeHash``,
``new HMACSHA256(key).ComputeHash``, ``new Random(seed).Next``."""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import Any

from .errors import ExpressionError
from .runtime import cs_type_name


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise ExpressionError(f"expected a byte array, got {cs_type_name(value)}")


class HashAlgorithm:
    __cs_type__ = "HashAlgorithm"
    __cs_members__ = frozenset({"ComputeHash"})
    __slots__ = ("_name", "_key")

    def __init__(self, name: str, key: bytes | None = None) -> None:
        self._name = name
        self._key = key

    def ComputeHash(self, data: Any) -> bytes:  # noqa: N802
        if self._key is None:
            return hashlib.new(self._name, _bytes(data)).digest()
        return hmac.new(self._key, _bytes(data), self._name).digest()


def hash_factory(name: str) -> Any:
    return lambda: HashAlgorithm(name)


def hmac_factory(name: str) -> Any:
    return lambda key: HashAlgorithm(name, _bytes(key))


class Random:
    __cs_type__ = "Random"
    __cs_members__ = frozenset({"Next", "NextDouble"})
    __slots__ = ("_rng",)

    def __init__(self, seed: Any = None) -> None:
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ExpressionError("a Random seed must be an int")
        self._rng = random.Random(seed)

    def Next(self, low: int = 0, high: int | None = None) -> int:  # noqa: N802
        if high is None:
            low, high = 0, (2**31 - 1 if low == 0 else low)
        if high < low:
            raise ExpressionError("minValue cannot be greater than maxValue")
        return low if high == low else self._rng.randrange(low, high)

    def NextDouble(self) -> float:  # noqa: N802
        return self._rng.random()
