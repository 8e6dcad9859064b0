"""Ownership cannot move while another listing, deal or auction of the asset is in flight."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from market.assets.errors import AssetEncumbered
from market.auctions.models import Auction, AuctionAsset
from market.trading.models import Deal, DealAsset, Listing, ListingAsset

ACTIVE_LISTING = ("open", "under_contract")
ACTIVE_DEAL = ("awaiting_payment", "paid")


async def engagements(session: AsyncSession, asset_ids: Sequence[str], *, assignment_only: bool = False,
                      listings: bool = True, exclude: Sequence[str] = ()) -> list[dict[str, str]]:
    """Listings, open auctions and unfinished deals holding any of the assets (minus ``exclude`` ids)."""
    ids = list(asset_ids)
    found: list[dict[str, str]] = []
    if listings:
        stmt = (select(ListingAsset.asset_id, Listing.id, Listing.mode)
                .join(Listing, col(Listing.id) == ListingAsset.listing_id)
                .where(col(ListingAsset.asset_id).in_(ids), col(Listing.status).in_(ACTIVE_LISTING)))
        if assignment_only:
            stmt = stmt.where(Listing.mode == "assignment")
        found += [{"asset_id": a, "kind": "listing", "ref_id": r, "mode": m}
                  for a, r, m in (await session.exec(stmt)).all()]
    stmt_a = (select(AuctionAsset.asset_id, Auction.id)
              .join(Auction, col(Auction.id) == AuctionAsset.auction_id)
              .where(col(AuctionAsset.asset_id).in_(ids), Auction.status == "open"))
    found += [{"asset_id": a, "kind": "auction", "ref_id": r, "mode": "assignment"}
              for a, r in (await session.exec(stmt_a)).all()]
    stmt_d = (select(DealAsset.asset_id, Deal.id, Deal.mode)
              .join(Deal, col(Deal.id) == DealAsset.deal_id)
              .where(col(DealAsset.asset_id).in_(ids), col(Deal.status).in_(ACTIVE_DEAL)))
    if assignment_only:
        stmt_d = stmt_d.where(Deal.mode == "assignment")
    found += [{"asset_id": a, "kind": "deal", "ref_id": r, "mode": m} for a, r, m in (await session.exec(stmt_d)).all()]
    return [f for f in found if f["ref_id"] not in exclude]


async def ensure_free(session: AsyncSession, asset_ids: Sequence[str], *, assignment_only: bool = False,
                      listings: bool = True, exclude: Sequence[str] = ()) -> None:
    busy = await engagements(session, asset_ids, assignment_only=assignment_only, listings=listings,
                             exclude=exclude)
    if busy:
        first = busy[0]
        raise AssetEncumbered(
            f"asset {first['asset_id']} is already in {first['kind']} {first['ref_id']} "
            f"({first['mode'].replace('_', ' ')}); finish or withdraw that first",
            extra={"in_flight": busy})
