"""Cursor pagination over time-ordered ids, newest first: ``{data, has_more, next_cursor}``."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from kernel.errors import ValidationFailed

T = TypeVar("T", bound=SQLModel)
Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of any list: ``Page[LoanOut]`` in a route's ``response_model`` documents the item type."""

    data: list[Item]
    has_more: bool
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


# What ``kernel.ids.new_id`` makes: a cursor must decode to one, not to any string a client chose.
_ID = re.compile(r"^[a-z][a-z0-9]{0,15}_[0-9a-f]{11,40}$")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ValidationFailed.at(["query", "cursor"], "cursor is not valid") from exc
    if not _ID.match(value):
        raise ValidationFailed.at(["query", "cursor"], "cursor is not valid")
    return value


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= 100:
        raise ValidationFailed.at(["query", "limit"], "limit must be between 1 and 100")


def page_window(stmt: Any, id_column: Any, limit: int, cursor: str | None, *, oldest_first: bool = False) -> Any:
    """``stmt`` narrowed to one page (plus one row, to know whether more follow), newest first unless asked.
    Works on any select whose rows carry the id as ``id`` (ORM rows or Core rows)."""
    _check_limit(limit)
    if cursor:
        last = decode_cursor(cursor)
        stmt = stmt.where(id_column > last if oldest_first else id_column < last)
    return stmt.order_by(id_column.asc() if oldest_first else id_column.desc()).limit(limit + 1)


def page_window_template(stmt: Any, id_column: Any, *, after_cursor: bool) -> Any:
    """``page_window`` (newest first) with the cursor and the limit left as parameters, for a statement
    built once and run with ``page_params``: a hot list builds no statement per request."""
    if after_cursor:
        stmt = stmt.where(id_column < sa.bindparam("page_last", type_=id_column.type))
    return stmt.order_by(id_column.desc()).limit(sa.bindparam("page_limit", type_=sa.Integer))


def page_params(limit: int, cursor: str | None) -> dict[str, Any]:
    """The parameters of a ``page_window_template`` statement (``after_cursor`` is ``bool(cursor)``)."""
    _check_limit(limit)
    return {"page_limit": limit + 1, **({"page_last": decode_cursor(cursor)} if cursor else {})}


def cut_page(rows: list[Item], limit: int) -> tuple[list[Item], bool, str | None]:
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].id) if has_more and rows else None  # type: ignore[attr-defined]  # rows are models or Rows with an id
    return rows, has_more, next_cursor


async def paginate(session: AsyncSession, stmt: SelectOfScalar[T], id_column: Any, limit: int,
                   cursor: str | None, *, oldest_first: bool = False) -> tuple[list[T], bool, str | None]:
    stmt = page_window(stmt, id_column, limit, cursor, oldest_first=oldest_first)
    return cut_page(list((await session.exec(stmt)).all()), limit)
