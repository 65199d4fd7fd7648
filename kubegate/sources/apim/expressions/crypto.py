"""Hashing, symmetric encryption and pseudo-random helpers: ``SHA256.Create().ComputeHash``,
``new HMACSHA256(key).ComputeHash``, ``byte[].Encrypt("Aes", key, iv)``/``Decrypt``,
``Aes.Create()``, ``new Random(seed).Next``. Ciphers come from the ``cryptography``
package."""

from __future__ import annotations

import hashlib
import hmac
import os
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
    __cs_members__ = frozenset({"ComputeHash", "Key"})
    __cs_settable__ = frozenset({"Key"})
    __slots__ = ("_name", "_key")

    def __init__(self, name: str, key: bytes | None = None) -> None:
        self._name = name
        self._key = key  # None for a plain hash, bytes for an HMAC

    @property
    def Key(self) -> bytes:  # noqa: N802
        if self._key is None:
            raise ExpressionError("'Key' is not a member of a hash algorithm")
        return self._key

    @Key.setter
    def Key(self, value: Any) -> None:  # noqa: N802
        if self._key is None:
            raise ExpressionError("'Key' cannot be set on a hash algorithm")
        self._key = _bytes(value)

    def ComputeHash(self, data: Any) -> bytearray:  # noqa: N802
        if self._key is None:
            return bytearray(hashlib.new(self._name, _bytes(data)).digest())
        return bytearray(hmac.new(self._key, _bytes(data), self._name).digest())


def hash_factory(name: str) -> Any:
    return lambda: HashAlgorithm(name)


def hmac_factory(name: str) -> Any:
    """``new HMACSHA256([key])``: without a key .NET makes a random one."""
    def make(*key: Any) -> HashAlgorithm:
        return HashAlgorithm(name, _bytes(key[0]) if key else os.urandom(64))
    setattr(make, "__cs_settable__", HashAlgorithm.__cs_settable__)  # noqa: B010
    return make


class Random:
    __cs_type__ = "Random"
    __cs_members__ = frozenset({"Next", "NextDouble"})
    __slots__ = ("_rng",)

    def __init__(self, seed: Any = None) -> None:
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ExpressionError("a Random seed must be an int")
        self._rng = random.Random(seed)

    def Next(self, *bounds: Any) -> int:  # noqa: N802
        """``Next()`` is 0 <= x < int.MaxValue, ``Next(max)`` 0 <= x < max (0 when max
        is 0), ``Next(min, max)`` min <= x < max (min when they are equal)."""
        for b in bounds:
            if type(b) is not int or not -(2**31) <= b < 2**31:
                raise ExpressionError("Random.Next takes int bounds")
        if len(bounds) > 2:
            raise ExpressionError("Random.Next takes at most 2 arguments")
        if not bounds:
            low, high = 0, 2**31 - 1
        elif len(bounds) == 1:
            if bounds[0] < 0:
                raise ExpressionError("'maxValue' must be greater than or equal to zero. "
                                      "(Parameter 'maxValue')")
            low, high = 0, bounds[0]
        else:
            low, high = bounds
            if high < low:
                raise ExpressionError("'minValue' cannot be greater than maxValue. "
                                      "(Parameter 'minValue')")
        return low if high == low else self._rng.randrange(low, high)

    def NextDouble(self) -> float:  # noqa: N802
        return self._rng.random()


# -- symmetric encryption: byte[].Encrypt / Decrypt and Aes.Create() ---------------
# .NET's SymmetricAlgorithm defaults: CBC mode, PKCS7 padding; AES takes 128/192/256-bit
# keys and a 16-byte IV; TripleDES 128/192-bit keys and an 8-byte IV.

class SymmetricAlgorithm:
    """``Aes.Create()`` / ``TripleDES.Create()`` with settable Key, IV, Mode, Padding."""

    __cs_type__ = "SymmetricAlgorithm"
    __cs_members__ = frozenset({"Key", "IV", "Mode", "Padding", "BlockSize", "KeySize",
                                "GenerateKey", "GenerateIV"})
    __cs_settable__ = frozenset({"Key", "IV", "Mode", "Padding"})
    __slots__ = ("_name", "_key", "_iv", "_mode", "_padding")

    def __init__(self, name: str) -> None:
        self._name = name
        self._key: bytes | None = None
        self._iv: bytes | None = None
        self._mode = "CBC"
        self._padding = "PKCS7"

    @property
    def BlockSize(self) -> int:  # noqa: N802
        return 128 if self._name == "AES" else 64

    @property
    def KeySize(self) -> int:  # noqa: N802
        return len(self.Key) * 8

    @property
    def Key(self) -> bytes:  # noqa: N802
        if self._key is None:
            self._key = os.urandom(32 if self._name == "AES" else 24)
        return self._key

    @Key.setter
    def Key(self, value: Any) -> None:  # noqa: N802
        self._key = _key(self._name, value)

    @property
    def IV(self) -> bytes:  # noqa: N802
        if self._iv is None:
            self._iv = os.urandom(self.BlockSize // 8)
        return self._iv

    @IV.setter
    def IV(self, value: Any) -> None:  # noqa: N802
        self._iv = _iv(self._name, value)

    @property
    def Mode(self) -> str:  # noqa: N802
        return self._mode

    @Mode.setter
    def Mode(self, value: Any) -> None:  # noqa: N802
        if value not in ("CBC", "ECB"):
            raise ExpressionError(f"cipher mode {value!r} is not supported (CBC or ECB)")
        self._mode = value

    @property
    def Padding(self) -> str:  # noqa: N802
        return self._padding

    @Padding.setter
    def Padding(self, value: Any) -> None:  # noqa: N802
        if value not in PADDINGS:
            raise ExpressionError(f"padding mode {value!r} is not supported")
        self._padding = value

    def GenerateKey(self) -> None:  # noqa: N802
        self._key = None

    def GenerateIV(self) -> None:  # noqa: N802
        self._iv = None

    def transform(self, data: Any, encrypt: bool, key: Any = None, iv: Any = None) -> bytes:
        k = self.Key if key is None else _key(self._name, key)
        v = (self.IV if iv is None else _iv(self._name, iv)) if self._mode == "CBC" else None
        return _transform(self._name, _bytes(data), k, v, self._mode, self._padding, encrypt)


PADDINGS = ("PKCS7", "None", "Zeros", "ANSIX923", "ISO10126")
ALGORITHMS = {"AES": "AES", "AESMANAGED": "AES", "AESCRYPTOSERVICEPROVIDER": "AES",
              "SYSTEM.SECURITY.CRYPTOGRAPHY.AES": "AES", "TRIPLEDES": "3DES", "3DES": "3DES",
              "SYSTEM.SECURITY.CRYPTOGRAPHY.TRIPLEDES": "3DES"}


def _algorithm(name: Any) -> str:
    found = ALGORITHMS.get(str(name).upper()) if isinstance(name, str) else None
    if found is None:
        raise ExpressionError(f"symmetric algorithm {name!r} is not supported (Aes or TripleDES)")
    return found


def _key(alg: str, value: Any) -> bytes:
    key = _bytes(value)
    sizes = (16, 24, 32) if alg == "AES" else (16, 24)
    if len(key) not in sizes:
        raise ExpressionError("Specified key is not a valid size for this algorithm.")
    return key


def _iv(alg: str, value: Any) -> bytes:
    iv = _bytes(value)
    if len(iv) != (16 if alg == "AES" else 8):
        raise ExpressionError("Specified initialization vector (IV) does not match the block "
                              "size for this algorithm.")
    return iv


def _transform(alg: str, data: bytes, key: bytes, iv: bytes | None, mode_name: str,
               padding_name: str, encrypt: bool) -> bytes:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    cipher_alg = algorithms.AES(key) if alg == "AES" else TripleDES(key)
    block = cipher_alg.block_size // 8
    mode = modes.CBC(iv) if mode_name == "CBC" and iv is not None else modes.ECB()
    cipher = Cipher(cipher_alg, mode)
    if encrypt:
        padded = _pad(data, block, padding_name, padding)
        ctx = cipher.encryptor()
        return ctx.update(padded) + ctx.finalize()
    if len(data) % block:
        raise ExpressionError("The input data is not a complete block.")
    ctx = cipher.decryptor()
    plain = ctx.update(data) + ctx.finalize()
    return _unpad(plain, block, padding_name, padding)


def _pad(data: bytes, block: int, name: str, padding: Any) -> bytes:
    if name == "PKCS7":
        p = padding.PKCS7(block * 8).padder()
        return bytes(p.update(data) + p.finalize())
    if name == "ANSIX923":
        p = padding.ANSIX923(block * 8).padder()
        return bytes(p.update(data) + p.finalize())
    fill = -len(data) % block
    if name == "None":
        if fill:
            raise ExpressionError("The input data is not a complete block.")
        return data
    if name == "ISO10126":
        fill = fill or block
        return data + os.urandom(fill - 1) + bytes([fill])
    return data + bytes(fill)  # Zeros


def _unpad(data: bytes, block: int, name: str, padding: Any) -> bytes:
    if name in ("None", "Zeros"):
        return data  # .NET leaves zero padding in place when decrypting
    if name == "ISO10126":
        n = data[-1] if data else 0
        if not 1 <= n <= block:
            raise ExpressionError("Padding is invalid and cannot be removed.")
        return data[:-n]
    unpadder = (padding.PKCS7 if name == "PKCS7" else padding.ANSIX923)(block * 8).unpadder()
    try:
        return bytes(unpadder.update(data) + unpadder.finalize())
    except ValueError:
        raise ExpressionError("Padding is invalid and cannot be removed.") from None


def encrypt(data: Any, alg: Any, key: Any = None, iv: Any = None) -> bytearray:
    """``input.Encrypt("Aes", key, iv)`` or ``input.Encrypt(aes[, key, iv])``."""
    return bytearray(_symmetric(alg).transform(data, True, key, iv) if _given(alg, key, iv)
                     else alg.transform(data, True))


def decrypt(data: Any, alg: Any, key: Any = None, iv: Any = None) -> bytearray:
    return bytearray(_symmetric(alg).transform(data, False, key, iv) if _given(alg, key, iv)
                     else alg.transform(data, False))


def _given(alg: Any, key: Any, iv: Any) -> bool:
    if isinstance(alg, SymmetricAlgorithm):
        if (key is None) != (iv is None):
            raise ExpressionError("Encrypt/Decrypt take both a key and an IV, or neither")
        return key is not None
    if key is None or iv is None:
        raise ExpressionError("Encrypt/Decrypt with an algorithm name need a key and an IV")
    return True


def _symmetric(alg: Any) -> SymmetricAlgorithm:
    if isinstance(alg, SymmetricAlgorithm):
        return alg
    if alg is None:
        raise ExpressionError("the algorithm cannot be null")
    return SymmetricAlgorithm(_algorithm(alg))


def symmetric_factory(name: str) -> Any:
    return lambda *args: SymmetricAlgorithm(_algorithm(args[0]) if args else name)
