"""Day-end: handlers registered here run once per business date each, in ``order``; a row in
``day_end_runs`` written in the handler's own transaction makes every (handler, date) run at most once,
even with several processes. ``advance`` closes days of the manual clock; on the system clock the
workers run the day-end of each past day (an outbox periodic job).

Apart from ``kernel.clock`` so the date (read by the audit log) and the day-end (which audits) do not
import each other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit, metrics, outbox
from kernel.actor import SYSTEM, Actor
from kernel.clock import ClockState, business_date, calendar_today, ensure_clock_state
from kernel.db import TZDateTime, is_unique_violation, utcnow
from kernel.errors import InvalidState
from kernel.settings import Settings, get_settings

log = logging.getLogger(__name__)

DayEndHandler = Callable[[AsyncSession, date], Awaitable[None]]


class DayEndRun(SQLModel, table=True):
    __tablename__ = "day_end_runs"
    handler: str = Field(primary_key=True, max_length=100)
    run_date: date = Field(primary_key=True)
    finished_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


@dataclass(frozen=True)
class _Registered:
    name: str
    order: int
    fn: DayEndHandler


_handlers: dict[str, _Registered] = {}


def day_end_handler(name: str, order: int = 100) -> Callable[[DayEndHandler], DayEndHandler]:
    """Register ``fn(session, business_date)`` to run at the end of every business day.

    Lower ``order`` runs first (e.g. accrual before classification). The handler must only flush.
    """

    def register(fn: DayEndHandler) -> DayEndHandler:
        _handlers[name] = _Registered(name, order, fn)
        return fn

    return register


def registered_handlers() -> list[_Registered]:
    return sorted(_handlers.values(), key=lambda h: (h.order, h.name))


async def run_day_end(factory: async_sessionmaker[AsyncSession], run_date: date) -> int:
    """Run every handler not yet run for ``run_date``, each in its own transaction. Returns how many ran."""
    ran = 0
    async with factory() as session:  # skip what is done without provoking a duplicate key each poll
        done = set((await session.exec(select(DayEndRun.handler).where(DayEndRun.run_date == run_date))).all())
    for handler in registered_handlers():
        if handler.name in done:
            continue
        async with factory() as session:
            try:
                session.add(DayEndRun(handler=handler.name, run_date=run_date))
                await session.flush()
            except sa.exc.IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
                await session.rollback()
                continue  # already run for this date (perhaps by another process)
            started = time.perf_counter()
            await handler.fn(session, run_date)
            await session.commit()
            metrics.DAY_END_SECONDS.labels(handler.name).observe(time.perf_counter() - started)
            ran += 1
            # Provider calls the step queued (e.g. payouts of queued claims) run now, after its commit and
            # before the date moves on; a worker takes over any this process does not finish.
            await outbox.run_now(factory, outbox.take_now(session), get_settings().payment_wait_seconds)
    return ran


async def advance(factory: async_sessionmaker[AsyncSession], days: int,
                  settings: Settings | None = None, actor: Actor = SYSTEM) -> tuple[date, int]:
    """Manual mode: close each business day in turn, then move the date on. Returns (new date, days).

    Each step of the date is audited in the transaction that makes it, as done by ``actor``.
    """
    settings = settings or get_settings()
    if settings.clock != "manual":
        raise InvalidState("the clock can only be advanced when IPM_CLOCK=manual")
    processed = 0
    for _ in range(days):
        # Lock the clock row, run the day-end of the current date, then step the date.
        async with factory() as session:
            await ensure_clock_state(session, settings)
            state = (await session.exec(select(ClockState).where(ClockState.id == 1).with_for_update())).one()
            closing = state.business_date
            await session.commit()
        await run_day_end(factory, closing)
        async with factory() as session:
            state = (await session.exec(select(ClockState).where(ClockState.id == 1).with_for_update())).one()
            if state.business_date == closing:
                state.business_date = closing + timedelta(days=1)
                session.add(state)
                await session.flush()
                await audit.record(session, actor, "clock.advanced", "clock", "business_date",
                                   before={"business_date": closing}, after={"business_date": state.business_date})
            await session.commit()
        processed += 1
    async with factory() as session:
        return await business_date(session, settings), processed


async def catch_up_system_day_end(factory: async_sessionmaker[AsyncSession], settings: Settings,
                                  lookback_days: int = 7) -> int:
    """System mode: run the day-end of every past day (up to ``lookback_days``) not yet run."""
    today = calendar_today(settings)
    ran = 0
    for back in range(lookback_days, 0, -1):
        ran += await run_day_end(factory, today - timedelta(days=back))
    return ran


@outbox.periodic("clock.day_end", every=lambda s: s.day_end_poll_seconds, enabled=lambda s: s.clock == "system")
async def _system_day_end(ctx: outbox.JobContext, payload: dict[str, Any]) -> None:
    """The system clock's day-end runs on the workers: each poll slot is one outbox job (any worker)."""
    ran = await catch_up_system_day_end(ctx.session_factory, ctx.settings)
    if ran:
        log.info("day_end.ran handlers=%s", ran)
