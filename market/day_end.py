"""Market housekeeping at the end of each business day."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.actor import SYSTEM
from kernel.day_end import day_end_handler
from market.assets import service as assets
from market.auctions import service as auctions
from market.licensing import service as licensing
from market.trading import service as trading


@day_end_handler("market.assets.expire", order=10)
async def expire_assets(session: AsyncSession, run_date: date) -> None:
    """Assets whose term ended on or before the closing day are expired."""
    await assets.expire_due(session, SYSTEM, run_date)


@day_end_handler("market.assets.lapse", order=11)
async def lapse_patents(session: AsyncSession, run_date: date) -> None:
    """Patents whose annual fees are more than 6 months overdue lapse (Patent Law art. 44)."""
    await assets.lapse_unpaid(session, SYSTEM, run_date)


@day_end_handler("market.listings.expire", order=20)
async def expire_listings(session: AsyncSession, run_date: date) -> None:
    """Open listings whose ``expires_on`` is the closing day (or earlier) expire."""
    await trading.expire_listings(session, SYSTEM, run_date)


@day_end_handler("market.auctions.close", order=20)
async def close_auctions(session: AsyncSession, run_date: date) -> None:
    """Auctions whose last day is the closing day close: sold (a deal for the winner) or unsold."""
    await auctions.close_due(session, SYSTEM, run_date)


@day_end_handler("market.licenses.end", order=20)
async def end_licenses(session: AsyncSession, run_date: date) -> None:
    """Licenses whose last day is the closing day end, releasing their encumbrances."""
    await licensing.end_expired(session, SYSTEM, run_date)


@day_end_handler("market.royalties.minimum", order=25)
async def charge_minimum_royalties(session: AsyncSession, run_date: date) -> None:
    """License years ending on the closing day are settled against their minimum annual royalty."""
    await licensing.charge_minimums(session, SYSTEM, run_date)


@day_end_handler("market.royalties.overdue", order=30)
async def flag_overdue_royalties(session: AsyncSession, run_date: date) -> None:
    """Royalties still unpaid after their due date are flagged overdue."""
    await licensing.flag_overdue(session, SYSTEM, run_date)
