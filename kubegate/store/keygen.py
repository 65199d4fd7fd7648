"""Subscription keys and user passwords.

Keys: 16 bytes from `secrets` (the OS CSPRNG) as 32 hex characters, like APIM's.
Only their SHA-256 is stored. A fast hash is right here: a key has 128 bits of
entropy, so there is nothing to guess by brute force, and the data plane must
hash the presented key on every request. (kubegate.services.keys.hash_key must
compute the same function; a test checks they agree.)

Passwords are low-entropy and chosen by people, so they get a slow, salted hash:
argon2id (argon2-cffi) when installed, else scrypt from the standard library.
Both formats verify, whichever wrote them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

KEY_BYTES = 16

try:  # pragma: no branch
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    _argon2: PasswordHasher | None = PasswordHasher()
except ImportError:  # pragma: no cover - argon2-cffi absent
    _argon2 = None

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def generate_key() -> str:
    return secrets.token_hex(KEY_BYTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def hash_password(password: str, *, prefer_argon2: bool = True) -> str:
    if _argon2 is not None and prefer_argon2:
        return _argon2.hash(password)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        try:
            _, n, r, p, salt, digest = stored.split("$")
            want = base64.b64decode(digest)
            got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt),
                                 n=int(n), r=int(r), p=int(p), dklen=len(want))
        except ValueError:
            return False
        return hmac.compare_digest(got, want)
    if stored.startswith("$argon2") and _argon2 is not None:
        try:
            return _argon2.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    return False
