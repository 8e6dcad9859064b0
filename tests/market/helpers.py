"""Market test helpers: service-level steps the HTTP API does not (yet) expose."""

from __future__ import annotations

from typing import Any

from kernel.actor import SYSTEM
from market.assets import encumbrances
from market.assets.service import lock_assets
from market.trading import deals
from tests.helpers import open_session


async def pledge(app: Any, asset_ids: list[str], loan_id: str, bank_org_id: str) -> None:
    """Register a pledge directly (loans are another package)."""
    async with open_session(app) as session:
        assets = await lock_assets(session, asset_ids)
        await encumbrances.encumber(session, SYSTEM, assets, "pledge", loan_id, holder_org_id=bank_org_id)
        await session.commit()


async def settle(app: Any, deal_id: str, payment_id: str = "pay_test_1") -> dict[str, Any]:
    """What the payment gateway's callback does once the buyer's money is held."""
    async with open_session(app) as session:
        deal = await deals.settle_deal(session, SYSTEM, deal_id, payment_id)
        await session.commit()
        return deal.model_dump()


async def cancel(app: Any, deal_id: str, reason: str = "payment failed") -> dict[str, Any]:
    async with open_session(app) as session:
        deal = await deals.cancel_deal(session, SYSTEM, deal_id, reason)
        await session.commit()
        return deal.model_dump()


async def listing(api: Any, owner: Any, asset_ids: list[str], mode: str = "assignment", price: int = 50_000_000,
                  **extra: Any) -> dict[str, Any]:
    r = await api.client.post("/listings", json={"asset_ids": asset_ids, "mode": mode, "price": price, **extra},
                              headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def offer(api: Any, buyer: Any, listing_id: str, amount: int = 45_000_000) -> dict[str, Any]:
    r = await api.client.post(f"/listings/{listing_id}/offers", json={"amount": amount}, headers=buyer.headers)
    assert r.status_code == 201, r.text
    return r.json()


