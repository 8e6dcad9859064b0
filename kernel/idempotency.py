"""Stored responses for ``Idempotency-Key``: a replay returns the first response, a different body 409s.

The key row is inserted in the request's own transaction before the work runs and completed with the
response before commit. A concurrent request with the same key blocks on the unique index until the
first commits, then replays its response; if the first failed (rolled back) the second runs afresh.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.day_end import day_end_handler
from kernel.db import TZDateTime, utcnow
from kernel.ids import new_id
from kernel.settings import get_settings


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("scope", "key"),)
    id: str = Field(default_factory=lambda: new_id("idk"), primary_key=True, max_length=40)
    scope: str = Field(max_length=60)  # the caller's organisation, or "public" before login
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_type=sa.Text)
    response_headers: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime, index=True)


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(method.encode())
    digest.update(b"\0")
    digest.update(path.encode())
    digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


@day_end_handler("kernel.idempotency.purge", order=1000)
async def purge_expired(session: AsyncSession, _: date) -> None:
    """Forget stored responses older than ``IPM_IDEMPOTENCY_TTL_HOURS`` (kept at least that long)."""
    cutoff = utcnow() - timedelta(hours=get_settings().idempotency_ttl_hours)
    await session.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < cutoff))
