"""The business clock: the one place the business date comes from.

``system`` mode follows the calendar in the configured time zone; ``manual`` mode keeps the date in the
database and moves it only through ``kernel.day_end.advance``, which closes each day on the way.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.util import identity_key
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.settings import Settings, get_settings

if TYPE_CHECKING:
    from kernel.db import Driver


class ClockState(SQLModel, table=True):
    __tablename__ = "clock_state"
    id: int = Field(default=1, primary_key=True)
    business_date: date


def calendar_today(settings: Settings | None = None) -> date:
    settings = settings or get_settings()
    return datetime.now(ZoneInfo(settings.timezone)).date()


# The manual clock's date, read once per transaction: kept in ``session.info`` until the transaction
# ends (or the session changes a ClockState row), so a request's services can all ask for it.
_CACHE_KEY = "ipm.business_date"
# A request's date, read with its caller: kept for the request's whole session, across the commits of a
# two-phase money request, so one request works on one business date (the clock is shared by processes,
# so nothing longer-lived than a request may keep it).
_REQUEST_KEY = "ipm.request_business_date"


def remember_business_date(session: AsyncSession, value: date | None) -> None:
    """Pin the request's date, read alongside other columns (the caller's identity, api/deps.py)."""
    if value is not None:
        session.sync_session.info[_CACHE_KEY] = session.sync_session.info[_REQUEST_KEY] = value


def pinned(session: AsyncSession) -> dict[str, Any]:
    """The request's pinned date as ``session.info`` entries, to carry into the sessions of work the
    request runs itself (its provider call's settlement), so that work uses the request's date too."""
    value = session.sync_session.info.get(_REQUEST_KEY)
    return {_REQUEST_KEY: value} if value is not None else {}


async def business_date(session: AsyncSession, settings: Settings | None = None) -> date:
    settings = settings or get_settings()
    if settings.clock == "system":
        return calendar_today(settings)
    held = session.sync_session.identity_map.get(identity_key(ClockState, 1))
    if held is not None:  # this session holds (maybe just changed) the row: it is the truth
        return held.business_date
    info = session.sync_session.info
    cached = info.get(_CACHE_KEY, info.get(_REQUEST_KEY))
    if cached is not None:
        return cached
    state = await session.get(ClockState, 1)
    if state is None:
        return _never_moved(settings)
    session.sync_session.info[_CACHE_KEY] = state.business_date
    return state.business_date


def _never_moved(settings: Settings) -> date:
    """The business date before the clock's row is first written."""
    return settings.clock_start or calendar_today(settings)


_STATE = "SELECT business_date FROM clock_state WHERE id = 1"


async def business_date_on(driver: Driver, settings: Settings | None = None) -> date:
    """``business_date`` for work that runs outside a session, on a driver-level connection."""
    settings = settings or get_settings()
    if settings.clock == "system":
        return calendar_today(settings)
    stored: date | None = await driver.fetchval(_STATE, ())
    return stored if stored is not None else _never_moved(settings)


@event.listens_for(Session, "after_transaction_end")
def _forget_date(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction: a savepoint keeps the date
        session.info.pop(_CACHE_KEY, None)


@event.listens_for(Session, "before_flush")
def _forget_changed_date(session: Session, _ctx: Any, _instances: Any) -> None:
    if any(isinstance(o, ClockState) for o in (*session.new, *session.dirty)):
        session.info.pop(_CACHE_KEY, None)
        session.info.pop(_REQUEST_KEY, None)


async def ensure_clock_state(session: AsyncSession, settings: Settings) -> None:
    if settings.clock == "manual" and await session.get(ClockState, 1) is None:
        session.add(ClockState(id=1, business_date=settings.clock_start or calendar_today(settings)))
        await session.flush()


