"""Argon2id password hashing (argon2-cffi). Tests use cheap parameters; everything else the defaults."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.settings import get_settings


@lru_cache
def _hasher(cheap: bool) -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1) if cheap else PasswordHasher()


def hasher() -> PasswordHasher:
    return _hasher(get_settings().env == "test")


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verified against when the email is unknown, so a miss costs as much time as a wrong password.
DUMMY_HASH = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$0eHkJx6yG4Yz0nq4eWm3Hq0vG6Qe0bqgYb4mS6b4n1Y"
