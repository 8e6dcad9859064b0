"""Day-end upkeep of the matching index, so that match queries rarely have to index anything."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.clock import day_end_handler
from market.matching import index
from market.matching.models import MatchDoc
from market.matching.service import pool_condition


async def refresh(session: AsyncSession, today: date) -> int:
    """Index every stale asset (in the pool, or indexed before) and unindexed need; recompute statistics."""
    indexed = await index.refresh_assets(session, sa.or_(pool_condition(today), col(MatchDoc.doc_id).is_not(None)))
    indexed += await index.refresh_needs(session)
    await index.recompute_statistics(session)
    return indexed


@day_end_handler("market.matching.refresh", order=90)
async def refresh_index(session: AsyncSession, run_date: date) -> None:
    await refresh(session, run_date)
