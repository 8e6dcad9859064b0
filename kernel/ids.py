"""Opaque, time-ordered string ids: ``<prefix>_<ms since epoch, hex><random>``.

Ordering by id is ordering by creation, which is what cursor pagination needs.
"""

import os
import threading
import time

import sqlalchemy as sa

_last_sql_ms = 0

# The random part comes from the OS's CSPRNG, as secrets.token_hex would give it, read 512 ids at a time: one
# getrandom() call per id was a twentieth of a ledger posting's CPU. A forked child draws its own.
_TAIL = 12  # hex digits (48 bits)
_lock = threading.Lock()
_hex = ""
_at = 0


def _reset() -> None:
    global _hex, _at
    _hex, _at = "", 0


os.register_at_fork(after_in_child=_reset)


def _tail() -> str:
    global _hex, _at
    with _lock:
        if _at >= len(_hex):
            _hex, _at = os.urandom(_TAIL // 2 * 512).hex(), 0
        _at += _TAIL
        return _hex[_at - _TAIL:_at]


def new_id(prefix: str) -> str:
    return f"{prefix}_{int(time.time() * 1000):011x}{_tail()}"


def new_id_sql(prefix: str, dialect: str) -> sa.ColumnElement[str]:
    """``new_id`` made by the database, one per row of an INSERT … SELECT: the same shape, the time part
    taken now, 48 random bits per row. Each call takes a later millisecond than the one before, so the
    rows of two statements keep their order by id."""
    global _last_sql_ms
    _last_sql_ms = max(int(time.time() * 1000), _last_sql_ms + 1)
    if dialect == "postgresql":  # gen_random_uuid: built in since PostgreSQL 13; its first 12 digits are random
        tail = sa.func.substr(sa.func.replace(sa.cast(sa.func.gen_random_uuid(), sa.Text), "-", ""), 1, 12,
                              type_=sa.String)
    else:
        tail = sa.func.lower(sa.func.hex(sa.func.randomblob(6)), type_=sa.String)
    return sa.literal(f"{prefix}_{_last_sql_ms:011x}", sa.String) + tail
