"""Cursor pagination over time-ordered ids, newest first: ``{data, has_more, next_cursor}``."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from kernel.errors import ValidationFailed

T = TypeVar("T", bound=SQLModel)


class Page(BaseModel):
    data: list[Any]
    has_more: bool
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except Exception as exc:
        raise ValidationFailed.at(["query", "cursor"], "cursor is not valid") from exc


async def paginate(session: AsyncSession, stmt: SelectOfScalar[T], id_column: Any, limit: int,
                   cursor: str | None) -> tuple[list[T], bool, str | None]:
    if not 1 <= limit <= 100:
        raise ValidationFailed.at(["query", "limit"], "limit must be between 1 and 100")
    if cursor:
        stmt = stmt.where(id_column < decode_cursor(cursor))
    rows = list((await session.exec(stmt.order_by(id_column.desc()).limit(limit + 1))).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].id) if has_more and rows else None
    return rows, has_more, next_cursor
