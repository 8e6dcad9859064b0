"""Reading the audit log: the trail of an organisation (or, for the admin and regulators, everyone's),
and the history of one object. One query per page, the acting organisation's name joined in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.actor import ORG_ADMIN, Actor
from kernel.audit import AuditEvent
from kernel.db import table_of
from kernel.errors import Forbidden
from kernel.pagination import cut_page, page_window

T = table_of(AuditEvent)
ORGS = sa.table("orgs", sa.column("id"), sa.column("name"))  # kernel knows the table, not the model


class AuditEventOut(BaseModel):
    id: str
    at: datetime
    business_date: date
    actor_user_id: str
    actor_org_id: str
    actor_org_name: str | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _select() -> Any:
    return (sa.select(T, ORGS.c.name.label("actor_org_name"))
            .outerjoin(ORGS, ORGS.c.id == T.c.actor_org_id))


async def _page(session: AsyncSession, stmt: Any, limit: int, cursor: str | None,
                oldest_first: bool) -> tuple[list[AuditEventOut], bool, str | None]:
    window = page_window(stmt, T.c.id, limit, cursor, oldest_first=oldest_first)
    rows, more, nxt = cut_page(list((await session.exec(window)).all()), limit)
    return [AuditEventOut.model_validate(dict(r._mapping)) for r in rows], more, nxt


async def trail(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None, oldest_first: bool,
                object_type: str | None = None, object_id: str | None = None, actor_org_id: str | None = None,
                action: str | None = None, from_: date | datetime | None = None,
                to: date | datetime | None = None) -> tuple[list[AuditEventOut], bool, str | None]:
    """The platform admin and regulators read every record; an organisation's admin its own organisation's."""
    stmt = _select()
    if not (actor.is_platform_admin or actor.is_kind("regulator")):
        if actor.role != ORG_ADMIN:
            raise Forbidden("only an organisation's admin, a regulator or the platform admin reads the audit trail")
        stmt = stmt.where(T.c.actor_org_id == actor.org_id)
    for column, value in ((T.c.object_type, object_type), (T.c.object_id, object_id),
                          (T.c.actor_org_id, actor_org_id), (T.c.action, action)):
        if value is not None:
            stmt = stmt.where(column == value)
    if from_ is not None:
        stmt = stmt.where(T.c.business_date >= from_ if type(from_) is date else T.c.at >= from_)
    if to is not None:
        stmt = stmt.where(T.c.business_date <= to if type(to) is date else T.c.at <= to)
    return await _page(session, stmt, limit, cursor, oldest_first)


async def history(session: AsyncSession, objects: Sequence[tuple[str, str]], *, limit: int, cursor: str | None,
                  oldest_first: bool = True) -> tuple[list[AuditEventOut], bool, str | None]:
    """What happened to these objects ((object_type, object_id) pairs), oldest first by default. The caller
    has already checked that the reader may see the object."""
    cond = sa.or_(*(sa.and_(T.c.object_type == t, T.c.object_id == i) for t, i in objects))
    return await _page(session, _select().where(cond), limit, cursor, oldest_first)
