"""Helpers for valuation tests: request a valuation, publish a recorded deal."""

from __future__ import annotations

from datetime import date
from typing import Any

from kernel import events
from tests.helpers import Party, assert_problem, open_session  # noqa: F401  (re-exported for the tests)

# The vector's case in fen and bps: ¥10m revenue, 5% royalty, 25% tax, 12% discount, 5 years.
VECTOR_INPUTS = {"annual_revenue": 1_000_000_000, "royalty_rate_bps": 500, "tax_rate_bps": 2500,
                 "growth_bps": 0, "discount_rate_bps": 1200, "remaining_life_years": 5}


async def value(api, party: Party, asset_ids: list[str], scenario: str = "financing", expect: int = 201,
                **body: Any) -> dict[str, Any]:
    r = await api.client.post("/valuations", json={"asset_ids": asset_ids, "scenario": scenario, **body},
                              headers=party.headers)
    assert r.status_code == expect, r.text
    return r.json()


async def record_deal(app, deal_id: str, asset_ids: list[str], amount: int, *, mode: str = "assignment",
                      recorded_on: date = date(2026, 1, 15), seller: str = "org_s", buyer: str = "org_b") -> None:
    """Announce a recorded deal the way the market package does, in a committed transaction."""
    async with open_session(app) as session:
        await events.publish(session, events.DEAL_RECORDED,
                             {"deal_id": deal_id, "mode": mode, "asset_ids": asset_ids, "amount": amount,
                              "recorded_on": recorded_on, "seller_org_id": seller, "buyer_org_id": buyer})
        await session.commit()

