"""Auctions: open a lot, bid (serialised on the auction row), extend on last-day bids, close at day-end.

A pledgee disposing of defaulted collateral calls ``create_auction`` directly (no HTTP) with the
borrower as ``seller_org_id`` and the loan whose pledge it enforces as ``allow_pledged_by``: that pledge
(and only that one) does not block the sale. The sold lot's deal carries the owner as seller and
``proceeds_to`` so finance can route the money.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.pagination import paginate
from market.assets import encumbrances
from market.assets.models import Encumbrance
from market.assets.service import ASSET_OWNER_KINDS, lock_assets
from market.auctions.models import AUCTION, Auction, AuctionAsset, Bid
from market.auctions.schemas import AuctionOut
from market.trading import inflight
from market.trading.deals import create_deal

MAX_AUCTION_DAYS = 365


async def create_auction(session: AsyncSession, actor: Actor, asset_ids: Sequence[str], *, start_price: int,
                         reserve_price: int, min_increment: int, ends_on: date, extension_days: int = 1,
                         seller_org_id: str | None = None, on_behalf_of: str | None = None,
                         allow_pledged_by: str | None = None, title: str | None = None,
                         relisted_from: str | None = None) -> Auction:
    """Open an auction of ``asset_ids``.

    ``seller_org_id`` is the assets' owner (the actor's organisation by default). Another organisation
    may run the sale only as the holder of the pledge ``allow_pledged_by`` over every asset (disposal).
    ``on_behalf_of`` is kept on the deal as ``proceeds_to`` (e.g. ``"loan:<id>"``).
    """
    seller = seller_org_id or actor.org_id
    assets = await lock_assets(session, list(asset_ids))
    for asset in assets:
        if asset.owner_org_id != seller:
            raise Forbidden(f"asset {asset.id} is not owned by the seller")
    if seller != actor.org_id:
        if not allow_pledged_by:
            raise Forbidden("only the owner auctions its assets")
        held = (await session.exec(select(Encumbrance.asset_id).where(
            Encumbrance.ref_id == allow_pledged_by, Encumbrance.kind == "pledge",
            Encumbrance.holder_org_id == actor.org_id, col(Encumbrance.released_on).is_(None)))).all()
        if set(held) != {a.id for a in assets}:
            raise Forbidden("a disposal auction needs the caller's pledge over every asset")
    elif not actor.is_kind(*ASSET_OWNER_KINDS):
        raise Forbidden("only SMEs and universities auction their IP")
    today = await business_date(session)
    if not today <= ends_on <= today + timedelta(days=MAX_AUCTION_DAYS):
        raise ValidationFailed.at(["body", "ends_on"], f"ends_on must be between today and {MAX_AUCTION_DAYS} days on")
    auction = Auction(seller_org_id=seller, organiser_org_id=actor.org_id, asset_ids=list(asset_ids),
                      title=title or (assets[0].title if len(assets) == 1 else f"{assets[0].title} 等{len(assets)}项"),
                      start_price=start_price, reserve_price=reserve_price, min_increment=min_increment,
                      opened_on=today, ends_on=ends_on, extension_days=extension_days,
                      allow_pledged_by=allow_pledged_by, proceeds_to=on_behalf_of, relisted_from=relisted_from)
    if not allow_pledged_by:
        await encumbrances.bind_consent(session, actor, assets, "auction", auction.id)
    await encumbrances.ensure_allowed(session, assets, "assign", ignore_ref=allow_pledged_by,
                                      consent_object=auction.id)
    await inflight.ensure_free(session, [a.id for a in assets])
    session.add(auction)
    session.add_all([AuctionAsset(auction_id=auction.id, asset_id=a.id) for a in assets])
    await session.flush()
    await audit.record(session, actor, "auction.opened", "auction", auction.id, after=auction.model_dump())
    return auction


async def get_auction(session: AsyncSession, auction_id: str, *, lock: bool = False) -> Auction:
    return await get_or_404(session, Auction, auction_id, lock=lock)


async def list_auctions(session: AsyncSession, *, status: str | None, limit: int,
                        cursor: str | None) -> tuple[list[Auction], bool, str | None]:
    stmt = select(Auction)
    if status:
        stmt = stmt.where(Auction.status == status)
    return await paginate(session, stmt, Auction.id, limit, cursor)


async def place_bid(session: AsyncSession, actor: Actor, auction_id: str, amount: int) -> tuple[Auction, Bid]:
    """Bids serialise on the auction row: each is checked against the highest bid committed before it."""
    if not actor.is_kind(*ASSET_OWNER_KINDS):
        raise Forbidden("only SMEs and universities bid")
    auction = await get_auction(session, auction_id, lock=True)
    if actor.org_id in (auction.seller_org_id, auction.organiser_org_id):
        raise InvalidState("you cannot bid on your own lot")
    today = await business_date(session)
    if auction.status != "open" or today > auction.ends_on:
        raise InvalidState("the auction is closed")
    minimum = auction.start_price if auction.highest_bid is None else auction.highest_bid + auction.min_increment
    if amount < minimum:
        raise InvalidState(f"a bid must be at least {minimum} fen", extra={"minimum_bid": minimum})
    bid = Bid(auction_id=auction.id, bidder_org_id=actor.org_id, amount=amount, placed_on=today)
    before = {"highest_bid": auction.highest_bid, "ends_on": auction.ends_on}
    if today == auction.ends_on and auction.extension_days:
        # Anti-sniping: a bid on the last day gives the others time to answer.
        auction.ends_on = today + timedelta(days=auction.extension_days)
        bid.extended_to = auction.ends_on
    auction.highest_bid, auction.highest_bidder_org_id = amount, actor.org_id
    auction.bid_count += 1
    session.add_all([auction, bid])
    await session.flush()
    await audit.record(session, actor, "auction.bid", "auction", auction.id, before=before,
                       after={"highest_bid": amount, "ends_on": auction.ends_on, "bid_id": bid.id})
    return auction, bid


async def close_due(session: AsyncSession, actor: Actor, run_date: date) -> int:
    """At the end of ``ends_on``: reserve met → sold with a deal awaiting the winner's payment; else unsold."""
    stmt = select(Auction).where(Auction.status == "open", col(Auction.ends_on) <= run_date).order_by(Auction.id)
    ids = list((await session.exec(stmt)).all())
    for row in ids:
        auction = await get_auction(session, row.id, lock=True)
        if auction.status != "open" or auction.ends_on > run_date:
            continue
        auction.closed_on = run_date
        if auction.highest_bid is not None and auction.highest_bid >= auction.reserve_price:
            assert auction.highest_bidder_org_id is not None
            deal = await create_deal(session, actor, source="auction", mode="assignment",
                                     asset_ids=auction.asset_ids, seller_org_id=auction.seller_org_id,
                                     buyer_org_id=auction.highest_bidder_org_id, amount=auction.highest_bid,
                                     auction=auction, organiser_org_id=auction.organiser_org_id,
                                     proceeds_to=auction.proceeds_to, allow_pledged_by=auction.allow_pledged_by)
            auction.deal_id = deal.id
            await AUCTION.apply(session, actor, auction, "sell", deal_id=deal.id)
        else:
            await AUCTION.apply(session, actor, auction, "close_unsold")
    await session.flush()
    return len(ids)


async def relist(session: AsyncSession, actor: Actor, auction_id: str, *, reserve_price: int,
                 start_price: int | None, ends_on: date) -> Auction:
    old = await get_auction(session, auction_id, lock=True)
    if actor.org_id != old.organiser_org_id:
        raise Forbidden("only the organiser re-lists a lot")
    if old.status != "unsold" or old.relisted_as:
        raise InvalidState("only an unsold lot not yet re-listed can be re-listed")
    if reserve_price >= old.reserve_price:
        raise ValidationFailed.at(["body", "reserve_price"], "a re-listed lot needs a lower reserve")
    new = await create_auction(session, actor, old.asset_ids, start_price=start_price or old.start_price,
                               reserve_price=reserve_price, min_increment=old.min_increment, ends_on=ends_on,
                               extension_days=old.extension_days, seller_org_id=old.seller_org_id,
                               on_behalf_of=old.proceeds_to, allow_pledged_by=old.allow_pledged_by,
                               title=old.title, relisted_from=old.id)
    old.relisted_as = new.id
    session.add(old)
    await session.flush()
    await audit.record(session, actor, "auction.relisted", "auction", old.id, before={"relisted_as": None},
                       after={"relisted_as": new.id, "reserve_price": reserve_price})
    return new


def auction_out(auction: Auction, actor: Actor) -> AuctionOut:
    """The reserve itself is shown to the seller and organiser only; bidders see whether it is met."""
    data = auction.model_dump(exclude={"reserve_price", "allow_pledged_by"})
    data["reserve_met"] = auction.highest_bid is not None and auction.highest_bid >= auction.reserve_price
    data["reserve_price"] = (auction.reserve_price if actor.org_id in (auction.seller_org_id, auction.organiser_org_id)
                             else None)
    data["minimum_next_bid"] = (auction.start_price if auction.highest_bid is None
                                else auction.highest_bid + auction.min_increment)
    return AuctionOut.model_validate(data)
