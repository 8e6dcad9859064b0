"""Market housekeeping at the end of each business day."""

from __future__ import annotations

from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.actor import SYSTEM
from kernel.clock import day_end_handler
from market.assets.models import Asset


@day_end_handler("market.assets.expire", order=10)
async def expire_assets(session: AsyncSession, run_date: date) -> None:
    """Assets whose term ended on or before the closing day are expired."""
    stmt = select(Asset).where(col(Asset.expiry_date) <= run_date, col(Asset.status).in_(("valid", "lapsed")))
    for asset in (await session.exec(stmt)).all():
        asset.status = "expired"
        session.add(asset)
    await session.flush()


@day_end_handler("market.listings.expire", order=20)
async def expire_listings(session: AsyncSession, run_date: date) -> None:
    """Open listings whose ``expires_on`` is the closing day (or earlier) expire."""
    from market.trading.service import expire_listings as expire

    await expire(session, SYSTEM, run_date)
