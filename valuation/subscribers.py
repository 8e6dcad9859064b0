"""What valuation hears from the market: recorded deals (comparables), lapses and changes of owner."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import events
from valuation import service


@events.subscribe(events.DEAL_RECORDED)
async def keep_comparables(session: AsyncSession, payload: dict[str, Any]) -> None:
    await service.record_comparables(session, payload)


@events.subscribe(events.ASSET_STATUS_CHANGED)
async def stale_on_status(session: AsyncSession, payload: dict[str, Any]) -> None:
    if payload["after"] in service.STALE_ASSET_STATUSES:
        await service.mark_stale(session, payload["asset_id"],
                                 f"asset {payload['asset_id']} became {payload['after']} (was {payload['before']})")


@events.subscribe(events.ASSET_OWNER_CHANGED)
async def stale_on_owner(session: AsyncSession, payload: dict[str, Any]) -> None:
    await service.mark_stale(session, payload["asset_id"],
                             f"asset {payload['asset_id']} changed owner from {payload['before']} to "
                             f"{payload['after']}")
