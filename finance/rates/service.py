"""The LPR in force on a date is the latest ``effective_on`` not after it."""

from __future__ import annotations

from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.rates.models import LprRate
from finance.rates.schemas import LprIn
from kernel import audit
from kernel.actor import Actor
from kernel.errors import AlreadyExists, Forbidden


async def publish(session: AsyncSession, actor: Actor, data: LprIn) -> LprRate:
    if not actor.is_platform_admin:
        raise Forbidden("only the platform admin maintains the LPR table")
    if await session.get(LprRate, data.effective_on) is not None:
        raise AlreadyExists(f"an LPR effective on {data.effective_on} is already published")
    rate = LprRate(**data.model_dump())
    session.add(rate)
    await session.flush()
    await audit.record(session, actor, "lpr.published", "lpr", data.effective_on.isoformat(),
                       after=rate.model_dump(exclude={"created_at"}))
    return rate


async def history(session: AsyncSession) -> list[LprRate]:
    return list((await session.exec(select(LprRate).order_by(col(LprRate.effective_on).desc()))).all())


async def in_force(session: AsyncSession, on: date) -> LprRate | None:
    stmt = select(LprRate).where(col(LprRate.effective_on) <= on).order_by(col(LprRate.effective_on).desc())
    return (await session.exec(stmt.limit(1))).first()
