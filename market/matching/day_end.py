"""Day-end upkeep of the matching index, so that match queries rarely have to index anything."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.day_end import day_end_handler
from market.matching import index


async def refresh(session: AsyncSession) -> int:
    """Index every stale asset and unindexed need, then recompute frequencies and lengths exactly."""
    indexed = await index.refresh_all_assets(session)
    indexed += await index.refresh_needs(session)
    await index.recompute_frequencies(session)
    await index.reweigh_drifted(session)
    return indexed


@day_end_handler("market.matching.refresh", order=90)
async def refresh_index(session: AsyncSession, run_date: date) -> None:
    await refresh(session)
