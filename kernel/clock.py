"""The business clock: the one place the business date comes from.

``system`` mode follows the calendar in the configured time zone; ``manual`` mode keeps the date in the
database and moves it only through ``kernel.day_end.advance``, which closes each day on the way.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.settings import Settings, get_settings


class ClockState(SQLModel, table=True):
    __tablename__ = "clock_state"
    id: int = Field(default=1, primary_key=True)
    business_date: date


def calendar_today(settings: Settings | None = None) -> date:
    settings = settings or get_settings()
    return datetime.now(ZoneInfo(settings.timezone)).date()


async def business_date(session: AsyncSession, settings: Settings | None = None) -> date:
    settings = settings or get_settings()
    if settings.clock == "system":
        return calendar_today(settings)
    state = await session.get(ClockState, 1)
    if state is None:
        return settings.clock_start or calendar_today(settings)
    return state.business_date


async def ensure_clock_state(session: AsyncSession, settings: Settings) -> None:
    if settings.clock == "manual" and await session.get(ClockState, 1) is None:
        session.add(ClockState(id=1, business_date=settings.clock_start or calendar_today(settings)))
        await session.flush()


