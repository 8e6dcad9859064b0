"""The audit log: every state change and money movement, who did it, before and after, and when."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import event_log
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import TZDateTime, table_of, utcnow
from kernel.ids import new_id, new_id_sql


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    id: str = Field(default_factory=lambda: new_id("aud"), primary_key=True, max_length=40)
    at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    business_date: date
    actor_user_id: str = Field(max_length=40)
    actor_org_id: str = Field(max_length=40, index=True)
    action: str = Field(max_length=80)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=40, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


async def record(session: AsyncSession, actor: Actor, action: str, object_type: str, object_id: str, *,
                 before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditEvent:
    event = AuditEvent(
        business_date=await business_date(session),
        actor_user_id=actor.user_id,
        actor_org_id=actor.org_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
    )
    session.add(event)
    await event_log.record(session, [event_log.Change(action, object_type, object_id, event.before)])
    return event


async def record_bulk(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert many audit records at once (the day-end's set-based moves), and the events they make.
    Each row has every column of ``audit_events``."""
    if not rows:
        return
    await (await session.connection()).execute(sa.insert(table_of(AuditEvent)), rows)
    await event_log.record(session, [event_log.Change(r["action"], r["object_type"], r["object_id"], r["before"])
                                     for r in rows])


async def record_select(session: AsyncSession, actor: Actor, business_date: date, records: sa.Select[Any]) -> int:
    """``record_bulk`` for records a query makes (the day-end's set-based moves): ``records`` gives
    (action, object_type, object_id, before, after), the JSON built by the database
    (``event_log.json_object_sql``). The caller writes the events these actions make
    (``event_log.record_select``). Returns the records written."""
    conn = await session.connection()
    made = records.subquery()
    result = await conn.execute(sa.insert(table_of(AuditEvent)).from_select(
        ["id", "at", "business_date", "actor_user_id", "actor_org_id", "action", "object_type", "object_id",
         "before", "after"],
        sa.select(new_id_sql("aud", conn.dialect.name), sa.literal(utcnow(), TZDateTime),
                  sa.literal(business_date, sa.Date), sa.literal(actor.user_id, sa.String),
                  sa.literal(actor.org_id, sa.String), *made.c)))
    return result.rowcount
