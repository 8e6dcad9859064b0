"""Upkeep of the matching index, so that match queries only read: an outbox job after each write that
changes an asset's text, and the day-end's full refresh (every stale document, exact frequencies)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import outbox
from kernel.day_end import day_end_handler
from market.assets.service import MATCH_INDEX_JOB
from market.matching import index


async def refresh(session: AsyncSession) -> int:
    """Index every stale asset and unindexed need, then recompute frequencies and lengths exactly."""
    indexed = await index.refresh_all_assets(session)
    indexed += await index.refresh_needs(session)
    await index.recompute_frequencies(session)
    await index.reweigh_drifted(session)
    return indexed


@outbox.handler(MATCH_INDEX_JOB)
async def refresh_after_write(ctx: outbox.JobContext, _payload: dict[str, Any]) -> None:
    """(Re)index the assets changed since the index was last brought up to date, and needs loaded without
    an index row; a no-op (one indexed read) when an earlier job already did it."""
    await index.refresh_recent_assets(ctx.session)
    await index.refresh_needs(ctx.session)


@day_end_handler("market.matching.refresh", order=90)
async def refresh_index(session: AsyncSession, run_date: date) -> None:
    await refresh(session)
