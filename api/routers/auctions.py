"""Auctions: open, read, bid, re-list. Closing runs in the day-end (market.day_end)."""

from __future__ import annotations

from api.deps import CurrentActor, Cursor, Limit, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from kernel.pagination import Page
from market.auctions import service
from market.auctions.schemas import (
    AuctionIn,
    AuctionOut,
    AuctionStatus,
    BidIn,
    BidOut,
    BidResultOut,
    RelistIn,
)

router = AreaRouter(tags=["market"], route_class=TransactionalRoute)


@router.post("/auctions", status_code=201, response_model=AuctionOut, summary="Auction assets (owner)")
async def create_auction(body: AuctionIn, actor: CurrentActor, session: SessionDep) -> AuctionOut:
    auction = await service.create_auction(
        session, actor, body.asset_ids, start_price=body.start_price, reserve_price=body.reserve_price,
        min_increment=body.min_increment, ends_on=body.ends_on, extension_days=body.extension_days, title=body.title)
    return service.auction_out(auction, actor)


@router.get("/auctions", response_model=Page[AuctionOut], summary="Auctions (any user)")
async def list_auctions(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                        status: AuctionStatus | None = None) -> Page[AuctionOut]:
    rows, has_more, nxt = await service.list_auctions(session, status=status, limit=limit, cursor=cursor)
    return Page[AuctionOut](data=[service.auction_out(a, actor) for a in rows], has_more=has_more, next_cursor=nxt)


@router.get("/auctions/{auction_id}", response_model=AuctionOut,
            summary="One auction (any user); the reserve is shown to the seller only")
async def get_auction(auction_id: str, actor: CurrentActor, session: SessionDep) -> AuctionOut:
    return service.auction_out(await service.get_auction(session, auction_id), actor)


@router.post("/auctions/{auction_id}/bids", status_code=201, response_model=BidResultOut,
             summary="Bid (another organisation); 409 below highest + increment, closed, or own lot")
async def bid(auction_id: str, body: BidIn, actor: CurrentActor, session: SessionDep) -> BidResultOut:
    auction, placed = await service.place_bid(session, actor, auction_id, body.amount)
    return BidResultOut(bid=BidOut.model_validate(placed), auction=service.auction_out(auction, actor))


@router.post("/auctions/{auction_id}/relist", status_code=201, response_model=AuctionOut,
             summary="Re-list an unsold lot with a lower reserve (organiser)")
async def relist(auction_id: str, body: RelistIn, actor: CurrentActor, session: SessionDep) -> AuctionOut:
    auction = await service.relist(session, actor, auction_id, reserve_price=body.reserve_price,
                                   start_price=body.start_price, ends_on=body.ends_on)
    return service.auction_out(auction, actor)
