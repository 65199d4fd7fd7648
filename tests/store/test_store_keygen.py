from __future__ import annotations

import re

from kubegate.services.keys import hash_key as index_hash
from kubegate.store.keygen import generate_key, hash_key, hash_password, verify_password


def test_generated_keys_are_32_hex_and_distinct() -> None:
    keys = {generate_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)


def test_store_and_index_hash_keys_the_same_way() -> None:
    for key in ("abc", generate_key(), "ключ-ü"):
        assert hash_key(key) == index_hash(key)
        assert re.fullmatch(r"[0-9a-f]{64}", hash_key(key))
    assert hash_key("a") != hash_key("b")


def test_password_hashes_verify_in_both_formats() -> None:
    for prefer in (True, False):
        stored = hash_password("s3cret", prefer_argon2=prefer)
        assert stored.startswith("$argon2" if prefer else "scrypt$")
        assert "s3cret" not in stored
        assert verify_password("s3cret", stored)
        assert not verify_password("s3cret!", stored)
    assert hash_password("x", prefer_argon2=False) != hash_password("x", prefer_argon2=False)


def test_malformed_password_hashes_do_not_verify() -> None:
    for stored in ("", "plain", "scrypt$1$2", "scrypt$x$y$z$a$b", "$argon2id$garbage"):
        assert not verify_password("x", stored)
