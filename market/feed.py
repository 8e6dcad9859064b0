"""What the event feed shows of deals and auctions, and who may see it (``kernel.event_log`` describers)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.event_log import Described, describer
from market.auctions.models import Auction, Bid
from market.trading.models import Deal


@describer("deal")
async def describe_deals(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    rows = (await session.exec(select(Deal).where(col(Deal.id).in_(ids))
                               .execution_options(populate_existing=True))).all()
    return {d.id: Described(d.model_dump(), {d.seller_org_id, d.buyer_org_id, d.organiser_org_id or ""})
            for d in rows}


@describer("auction")
async def describe_auctions(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    rows = (await session.exec(select(Auction).where(col(Auction.id).in_(ids))
                               .execution_options(populate_existing=True))).all()
    bidders: dict[str, set[str]] = {}
    for auction_id, org_id in (await (await session.connection()).execute(sa.select(col(Bid.auction_id), col(Bid.bidder_org_id)).distinct()
                                                  .where(col(Bid.auction_id).in_(ids)))).all():
        bidders.setdefault(auction_id, set()).add(org_id)
    # The reserve stays hidden from bidders, in the feed too.
    return {a.id: Described(a.model_dump(exclude={"reserve_price"}),
                            {a.seller_org_id, a.organiser_org_id, *bidders.get(a.id, set())}) for a in rows}
