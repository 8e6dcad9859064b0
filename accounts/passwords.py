"""Argon2id password hashing (argon2-cffi) in a bounded pool of worker threads.

Hashing costs ~100 ms of CPU by design; run on the event loop it would stall every other request, and
unbounded it would let a login storm take every thread. Tests use cheap parameters; everything else
argon2-cffi's defaults (RFC 9106 low-memory profile).
"""

from __future__ import annotations

from functools import lru_cache

import anyio.to_thread
from anyio import CapacityLimiter
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.settings import get_settings


@lru_cache
def _hasher(cheap: bool) -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1) if cheap else PasswordHasher()


def hasher() -> PasswordHasher:
    return _hasher(get_settings().env == "test")


@lru_cache
def _limiter(threads: int) -> CapacityLimiter:
    return CapacityLimiter(threads)


def limiter() -> CapacityLimiter:
    return _limiter(get_settings().password_hash_threads)


@lru_cache
def _dummy_hash(cheap: bool) -> str:
    return _hasher(cheap).hash("not-a-password: verified against when the email is unknown")


def dummy_hash() -> str:
    """A hash made with the current parameters, so an unknown email costs as much as a wrong password."""
    return _dummy_hash(get_settings().env == "test")


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return hasher().verify(password_hash or dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(hasher().hash, password, limiter=limiter())


async def verify_password(password_hash: str | None, password: str) -> bool:
    """False for a wrong password, and for ``None`` (no such user) after the same work as a real check."""
    return await anyio.to_thread.run_sync(_verify, password_hash, password, limiter=limiter())
