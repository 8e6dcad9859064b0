"""Deals: agreed (awaiting payment) → paid (escrow) → recorded (合同备案), or cancelled.

The payment gateway (finance) calls ``settle_deal`` once the buyer's money is held and ``cancel_deal``
when it is refunded or never arrives; market never imports finance. Recording re-checks the law at
that moment: a pledge registered after the offer was accepted still blocks an assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from kernel import audit, events
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404, is_unique_violation
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.money import apply_bps
from kernel.pagination import paginate
from kernel.settings import get_settings
from market.assets import consents, encumbrances
from market.assets.errors import AssetEncumbered
from market.assets.models import Asset
from market.assets.service import lock_assets, transfer_ownership
from market.auctions.models import AUCTION, Auction
from market.licensing.service import KIND_FOR_MODE, check_grantable, grant_license
from market.trading import inflight
from market.trading.models import (
    DEAL,
    LISTING,
    OFFER,
    ContractCounter,
    Deal,
    DealAsset,
    Listing,
    ListingAsset,
    Offer,
)


async def next_contract_no(session: AsyncSession, year: int) -> str:
    """IPM-<year>-<6 digits>, gap-free per year: the counter row is locked until the deal commits."""
    stmt = select(ContractCounter).where(ContractCounter.year == year).with_for_update()
    counter = (await session.exec(stmt.execution_options(populate_existing=True))).first()
    if counter is None:
        try:
            async with session.begin_nested():
                session.add(ContractCounter(year=year, last_no=0))
                await session.flush()
        except sa.exc.IntegrityError as exc:  # another transaction created this year's row first
            if not is_unique_violation(exc):
                raise
        counter = (await session.exec(stmt.execution_options(populate_existing=True))).one()
    counter.last_no += 1
    session.add(counter)
    await session.flush()
    return f"IPM-{year}-{counter.last_no:06d}"


async def create_deal(session: AsyncSession, actor: Actor, *, source: str, mode: str, asset_ids: Sequence[str],
                      seller_org_id: str, buyer_org_id: str, amount: int, listing: Listing | None = None,
                      offer: Offer | None = None, auction: Auction | None = None,
                      organiser_org_id: str | None = None, proceeds_to: str | None = None,
                      allow_pledged_by: str | None = None, **terms: Any) -> Deal:
    today = await business_date(session)
    if proceeds_to is None and (listing or auction):
        # A sale of pledged assets under the pledgee's consent: the proceeds go where the consent says.
        consent = await consents.bound_to(session, listing.id if listing else auction.id)  # type: ignore[union-attr]  # listing or auction is set (the if)
        if consent is not None:
            proceeds_to = f"{consents.PROCEEDS_KIND}:{consent.id}"
    seller, buyer = await session.get(Org, seller_org_id), await session.get(Org, buyer_org_id)
    industries = (await session.exec(select(Asset.industry).where(col(Asset.id).in_(list(asset_ids)),
                                                                  col(Asset.industry).is_not(None))
                                     .order_by(Asset.id))).all()
    deal = Deal(contract_no=await next_contract_no(session, today.year), source=source, mode=mode,
                seller_region=seller.region if seller else None, buyer_region=buyer.region if buyer else None,
                industry=industries[0] if industries else (seller.industry if seller else None),
                listing_id=listing.id if listing else None, offer_id=offer.id if offer else None,
                auction_id=auction.id if auction else None, asset_ids=list(asset_ids),
                seller_org_id=seller_org_id, buyer_org_id=buyer_org_id, organiser_org_id=organiser_org_id,
                proceeds_to=proceeds_to, allow_pledged_by=allow_pledged_by, amount=amount, agreed_on=today,
                platform_fee=apply_bps(amount, get_settings().deal_fee_bps), **terms)
    session.add(deal)
    session.add_all([DealAsset(deal_id=deal.id, asset_id=a) for a in asset_ids])
    await session.flush()
    await audit.record(session, actor, "deal.agreed", "deal", deal.id, after=deal.model_dump())
    return deal


def is_party(deal: Deal, actor: Actor) -> bool:
    return actor.org_id in (deal.seller_org_id, deal.buyer_org_id, deal.organiser_org_id)


async def get_deal(session: AsyncSession, actor: Actor, deal_id: str, *, lock: bool = False) -> Deal:
    """A deal its parties (and the platform admin) may see; anyone else gets 404."""
    return await get_or_404(session, Deal, deal_id, lock=lock,
                            visible=lambda d: is_party(d, actor) or actor.is_platform_admin)


async def list_deals(session: AsyncSession, actor: Actor, *, status: str | None, limit: int,
                     cursor: str | None) -> tuple[list[Deal], bool, str | None]:
    stmt = select(Deal).where(or_(Deal.seller_org_id == actor.org_id, Deal.buyer_org_id == actor.org_id,
                                  Deal.organiser_org_id == actor.org_id))
    if status:
        stmt = stmt.where(Deal.status == status)
    return await paginate(session, stmt, Deal.id, limit, cursor)




async def _check_recordable(session: AsyncSession, deal: Deal, assets: Sequence[Asset]) -> None:
    """Raise unless the law lets this deal be recorded now (nothing is written)."""
    for asset in assets:
        if asset.owner_org_id != deal.seller_org_id:
            raise InvalidState(f"asset {asset.id} is no longer owned by the seller")
    if deal.mode == "assignment":
        await encumbrances.ensure_allowed(session, assets, "assign", ignore_ref=deal.allow_pledged_by,
                                          consent_object=deal.listing_id or deal.auction_id)
        # The old owner's own listings close on transfer; other deals and auctions must finish first.
        await inflight.ensure_free(session, deal.asset_ids, listings=False,
                                   exclude=[deal.id, *([deal.auction_id] if deal.auction_id else [])])
    else:
        await check_grantable(session, assets, KIND_FOR_MODE[deal.mode], consent_object=deal.listing_id,
                              licensee_org_id=deal.buyer_org_id)


async def _close_old_owner_listings(session: AsyncSession, actor: Actor, deal: Deal) -> None:
    stmt = (select(Listing).join(ListingAsset, col(ListingAsset.listing_id) == Listing.id)
            .where(col(ListingAsset.asset_id).in_(deal.asset_ids), Listing.seller_org_id == deal.seller_org_id,
                   col(Listing.status).in_(("open", "under_contract")))
            .order_by(Listing.id).with_for_update())
    for listing in {lst.id: lst for lst in (await session.exec(stmt)).all()}.values():
        if listing.id == deal.listing_id:
            continue
        await close_listing(session, actor, listing, "withdraw", reason=f"ownership moved by deal {deal.id}")


async def close_listing(session: AsyncSession, actor: Actor, listing: Listing, action: str, *,
                        reason: str) -> None:
    """Close a listing (``withdraw`` or ``expire``) and decline its pending offers."""
    await LISTING.apply(session, actor, listing, action, reason=reason)
    offers = (await session.exec(select(Offer).where(Offer.listing_id == listing.id, Offer.status == "pending")
                                 .order_by(Offer.id).with_for_update())).all()
    for offer in offers:
        await OFFER.apply(session, actor, offer, "decline", reason=reason)


async def _record(session: AsyncSession, actor: Actor, deal: Deal) -> None:
    assets = await lock_assets(session, deal.asset_ids)
    try:
        await _check_recordable(session, deal, assets)
    except (AssetEncumbered, InvalidState) as exc:
        # The buyer's money stays in escrow; the deal waits (consent, release) or is cancelled.
        deal.blocked_reason = exc.detail[:500]
        session.add(deal)
        await audit.record(session, actor, "deal.recording_blocked", "deal", deal.id, after={"reason": exc.detail})
        await session.flush()
        return
    today = await business_date(session)
    if deal.mode == "assignment":
        via = "disposal" if deal.allow_pledged_by else "deal"
        for asset in assets:
            await transfer_ownership(session, actor, asset, deal.buyer_org_id, via=via, ref_id=deal.id)
        await _close_old_owner_listings(session, actor, deal)
    else:
        lic = await grant_license(session, actor, assets, kind=KIND_FOR_MODE[deal.mode],
                                  licensor_org_id=deal.seller_org_id, licensee_org_id=deal.buyer_org_id,
                                  term_months=deal.term_months or 60, fixed_fee=deal.amount, rate_bps=deal.rate_bps,
                                  free_months=deal.free_months, minimum_annual=deal.minimum_annual, deal_id=deal.id,
                                  consent_object=deal.listing_id)
        deal.license_id = lic.id
    if deal.listing_id:
        listing = await get_or_404(session, Listing, deal.listing_id, lock=True)
        if listing.status == "under_contract":
            await LISTING.apply(session, actor, listing, "sell", deal_id=deal.id)
    deal.recorded_on, deal.blocked_reason = today, None
    await DEAL.apply(session, actor, deal, "record", contract_no=deal.contract_no)
    await session.flush()
    await publish_recorded(session, deal)


async def publish_recorded(session: AsyncSession, deal: Deal) -> None:
    await events.publish(session, events.DEAL_RECORDED, {
        "deal_id": deal.id,
        "mode": "auction" if deal.source == "auction" else deal.mode,
        "asset_ids": list(deal.asset_ids),
        "amount": deal.amount,
        "recorded_on": deal.recorded_on,
        "seller_org_id": deal.seller_org_id,
        "buyer_org_id": deal.buyer_org_id,
    })


async def settle_deal(session: AsyncSession, actor: Actor, deal_id: str, payment_id: str) -> Deal:
    """The gateway holds the buyer's money: mark the deal paid and record it (safe to call again).

    Returns the deal: ``recorded``, or ``paid`` with ``blocked_reason`` when the law forbids recording
    now (the money stays in escrow until the block is lifted — ``record_deal`` — or the deal is cancelled).
    """
    if not payment_id or len(payment_id) > 80:
        raise ValidationFailed.at(["payment_id"], "payment_id must be 1 to 80 characters")
    deal = await get_or_404(session, Deal, deal_id, lock=True)
    if deal.payment_id is not None:
        if deal.payment_id != payment_id:
            raise InvalidState("this deal was already paid by another payment")
        return deal  # a retried callback
    if deal.status != "awaiting_payment":
        raise InvalidState(f"a deal that is {deal.status.replace('_', ' ')} cannot be paid")
    deal.payment_id, deal.paid_on = payment_id, await business_date(session)
    await DEAL.apply(session, actor, deal, "pay", payment_id=payment_id)
    await _record(session, actor, deal)
    return deal


async def record_deal(session: AsyncSession, actor: Actor, deal_id: str) -> Deal:
    """Try again to record a paid deal whose recording was blocked."""
    deal = await get_deal(session, actor, deal_id, lock=True)
    if deal.status != "paid":
        raise InvalidState(f"only a paid deal can be recorded; this one is {deal.status.replace('_', ' ')}")
    await _record(session, actor, deal)
    return deal


async def cancel_deal(session: AsyncSession, actor: Actor, deal_id: str, reason: str) -> Deal:
    """Cancel an unrecorded deal: its listing reopens (or expires), its auction lot becomes unsold."""
    if not reason or len(reason) > 500:
        raise ValidationFailed.at(["reason"], "a reason of 1 to 500 characters is required")
    deal = await get_deal(session, actor, deal_id, lock=True)
    if deal.status == "paid" and not actor.is_platform_admin:
        raise Forbidden("a paid deal is cancelled only by the payment gateway, which refunds the escrow")
    deal.cancel_reason, deal.cancelled_on = reason, await business_date(session)
    await DEAL.apply(session, actor, deal, "cancel", reason=reason)
    today = await business_date(session)
    if deal.listing_id:
        listing = await get_or_404(session, Listing, deal.listing_id, lock=True)
        if listing.status == "under_contract":
            expired = listing.expires_on is not None and listing.expires_on < today
            await LISTING.apply(session, actor, listing, "withdraw" if expired else "reopen",
                                reason=f"deal {deal.id} cancelled")
            if not expired:
                listing.deal_id = None
    if deal.auction_id:
        auction = await get_or_404(session, Auction, deal.auction_id, lock=True)
        if auction.status == "sold":
            await AUCTION.apply(session, actor, auction, "cancel_sale", reason=f"deal {deal.id} cancelled")
    await session.flush()
    return deal
