"""Opaque, time-ordered string ids: ``<prefix>_<ms since epoch, hex><random>``.

Ordering by id is ordering by creation, which is what cursor pagination needs.
"""

import secrets
import time


def new_id(prefix: str) -> str:
    return f"{prefix}_{int(time.time() * 1000):011x}{secrets.token_hex(6)}"
