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


# --- a page's JSON made by PostgreSQL ------------------------------------------------------------------
# A hot list can have PostgreSQL write each row's JSON exactly as pydantic writes the row's response model
# (compact, fields in order, timestamps in UTC with "Z"): the server then neither decodes the columns nor
# validates and dumps a model per row. ``page_json`` wraps such rows as ``Page.model_dump_json`` does.

def _sql(value: str | int) -> Any:
    """A constant written into the statement (no parameter to send with every request)."""
    if isinstance(value, int):
        return sa.literal_column(str(value), sa.Integer)
    return sa.literal_column("'" + value.replace("'", "''") + "'", sa.String)


def _json_text_sql(column: Any) -> Any:
    """``column``'s value as pydantic's JSON of it (``null`` for NULL), as PostgreSQL text."""
    from kernel.db import TZDateTime

    kind = column.type
    if isinstance(kind, TZDateTime):  # pydantic: microseconds only when there are any, "Z" for UTC
        utc = sa.func.timezone(_sql("UTC"), column, type_=sa.DateTime)
        stamp = sa.func.to_char(utc, _sql('\\"YYYY-MM-DD"T"HH24:MI:SS.US"Z"\\"'), type_=sa.String)  # \" a quote
        text: Any = sa.func.replace(stamp, _sql('.000000Z"'), _sql('Z"'), type_=sa.String)
    elif isinstance(kind, sa.JSON):
        # A list of strings as Python's json.dumps stored it: its ", " separators closed up (a quote inside
        # a string is escaped, so ", " is only ever a separator); with a \u escape (ensure_ascii), each
        # element decoded and written again, since pydantic writes such characters as they are.
        stored = column.cast(sa.Text)
        elements = (sa.func.json_array_elements_text(column).table_valued("value", with_ordinality="n")
                    .render_derived())
        rewritten = (sa.select(sa.func.concat(_sql("["), sa.func.string_agg(
            sa.func.to_json(elements.c.value).cast(sa.Text), sa.literal_column("',' ORDER BY n")), _sql("]")))
            .select_from(elements).scalar_subquery())
        text = sa.case((sa.func.strpos(stored, _sql("\\u")) == _sql(0),
                        sa.func.replace(stored, _sql('", "'), _sql('","'))), else_=rewritten)
    elif isinstance(kind.impl if isinstance(kind, sa.TypeDecorator) else kind, sa.Integer | sa.String | sa.Date):
        text = sa.func.to_json(column).cast(sa.Text)
    else:
        raise TypeError(f"no JSON text for a {kind} column ({column.name})")
    return sa.func.coalesce(text, _sql("null"), type_=sa.String)


def row_json_text(columns: list[Any]) -> Any:
    """The JSON object of ``columns`` (named by their names, in order) as PostgreSQL text."""
    pieces: list[Any] = []
    for i, column in enumerate(columns):
        pieces += [_sql(("{" if i == 0 else ",") + f'"{column.name}":'), _json_text_sql(column)]
    return sa.func.concat(*pieces, _sql("}"), type_=sa.String)


def page_json(rows_json: list[str], has_more: bool, next_cursor: str | None) -> str:
    """``Page(data=..., has_more=..., next_cursor=...).model_dump_json()`` of rows already in JSON."""
    cursor = "null" if next_cursor is None else f'"{next_cursor}"'  # base64url: nothing to escape
    return f'{{"data":[{",".join(rows_json)}],"has_more":{"true" if has_more else "false"},"next_cursor":{cursor}}}'
