"""Listings, offers and deals (the market's trading floor). Thin: parse, call the service, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from api.deps import CallerDep, CurrentActor, Cursor, Limit, SessionDep
from api.responses import model_json
from api.routing import AreaRouter, TransactionalRoute
from kernel.pagination import Page, page_json
from market.trading import deals, service
from market.trading.schemas import (
    AcceptOut,
    DealOut,
    DealStatus,
    ListingIn,
    ListingMode,
    ListingOut,
    ListingStatus,
    OfferIn,
    OfferOut,
)

router = AreaRouter(tags=["market"], route_class=TransactionalRoute)


@router.post("/listings", status_code=201, response_model=ListingOut,
             summary="List assets for assignment or license (owner); 409 asset_encumbered when the law forbids it")
async def create_listing(body: ListingIn, actor: CurrentActor, session: SessionDep) -> ListingOut:
    return ListingOut.model_validate(await service.create_listing(session, actor, body))


@router.get("/listings", response_model=Page[ListingOut],
            summary="Search listings (any user); status defaults to open")
async def list_listings(
    request: Request, session: SessionDep, caller: CallerDep, limit: Limit = 20, cursor: Cursor = None,
    q: Annotated[str | None, Query(max_length=200, description="Chinese or English words")] = None,
    mode: ListingMode | None = None,
    ipc: Annotated[str | None, Query(max_length=20, description="IPC subclass (H01M) or code")] = None,
    status: ListingStatus | None = "open",
    seller_org_id: Annotated[str | None, Query(max_length=40)] = None,
    asset_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    # A page this worker answered under the listings' current version is still the answer: only its
    # version is read then, with the caller (one statement either way).
    key = (limit, cursor, q, mode, ipc, status, seller_org_id, asset_id)
    pages = service.search_pages(request.app)
    version = await service.listings_version(session, caller.read)
    body = pages.get(key, version)
    if body is None:
        body = await _search_page(session, key)
        pages.put(key, version, body)
    return Response(body, media_type="application/json")


async def _search_page(session: SessionDep, key: tuple[Any, ...]) -> bytes:
    limit, cursor, q, mode, ipc, status, seller_org_id, asset_id = key
    filters = service.ListingFilters(q=q, mode=mode, ipc=ipc, status=status, seller_org_id=seller_org_id,
                                     asset_id=asset_id)
    rows, has_more, next_cursor = await service.list_listings(session, filters, limit, cursor, as_json=True)
    if rows and hasattr(rows[0], "row_json"):  # PostgreSQL wrote each listing's JSON
        return page_json([r.row_json for r in rows], has_more, next_cursor).encode()
    # The page validated in one call (pydantic's core walks the rows), not one model_validate per row.
    return Page[ListingOut].model_validate({"data": rows, "has_more": has_more, "next_cursor": next_cursor},
                                           from_attributes=True).model_dump_json(by_alias=True).encode()


@router.get("/listings/{listing_id}", response_model=ListingOut, summary="One listing (any user)")
async def get_listing(listing_id: str, _: CurrentActor, session: SessionDep) -> Response:
    return model_json(ListingOut.model_validate(await service.get_listing(session, listing_id)))


@router.post("/listings/{listing_id}/withdraw", response_model=ListingOut, summary="Withdraw a listing (seller)")
async def withdraw_listing(listing_id: str, actor: CurrentActor, session: SessionDep) -> ListingOut:
    return ListingOut.model_validate(await service.withdraw_listing(session, actor, listing_id))


@router.post("/listings/{listing_id}/offers", status_code=201, response_model=OfferOut,
             summary="Make an offer on an open listing (another organisation)")
async def make_offer(listing_id: str, body: OfferIn, actor: CurrentActor, session: SessionDep) -> OfferOut:
    return OfferOut.model_validate(await service.make_offer(session, actor, listing_id, body.amount, body.message))


@router.get("/listings/{listing_id}/offers", response_model=Page[OfferOut],
            summary="Offers on a listing: all of them for the seller, its own for a buyer")
async def listing_offers(listing_id: str, actor: CurrentActor, session: SessionDep, limit: Limit = 20,
                         cursor: Cursor = None) -> Page[OfferOut]:
    rows, has_more, nxt = await service.list_offers(session, actor, listing_id=listing_id, status=None,
                                                    limit=limit, cursor=cursor)
    return Page[OfferOut](data=[OfferOut.model_validate(r) for r in rows], has_more=has_more, next_cursor=nxt)


@router.get("/offers", response_model=Page[OfferOut], summary="Offers the caller made or received")
async def my_offers(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                    status: Annotated[str | None, Query(max_length=20)] = None) -> Page[OfferOut]:
    rows, has_more, nxt = await service.list_offers(session, actor, listing_id=None, status=status,
                                                    limit=limit, cursor=cursor)
    return Page[OfferOut](data=[OfferOut.model_validate(r) for r in rows], has_more=has_more, next_cursor=nxt)


@router.get("/offers/{offer_id}", response_model=OfferOut, summary="One offer (buyer or seller)")
async def get_offer(offer_id: str, actor: CurrentActor, session: SessionDep) -> OfferOut:
    return OfferOut.model_validate(await service.get_offer(session, actor, offer_id))


@router.post("/offers/{offer_id}/accept", response_model=AcceptOut,
             summary="Accept an offer (seller): the deal awaits payment, other offers are declined")
async def accept_offer(offer_id: str, actor: CurrentActor, session: SessionDep) -> AcceptOut:
    offer, deal = await service.accept_offer(session, actor, offer_id)
    return AcceptOut(offer=OfferOut.model_validate(offer), deal=DealOut.model_validate(deal))


@router.post("/offers/{offer_id}/reject", response_model=OfferOut, summary="Reject an offer (seller)")
async def reject_offer(offer_id: str, actor: CurrentActor, session: SessionDep) -> OfferOut:
    return OfferOut.model_validate(await service.reject_offer(session, actor, offer_id))


@router.post("/offers/{offer_id}/withdraw", response_model=OfferOut, summary="Withdraw an offer (buyer)")
async def withdraw_offer(offer_id: str, actor: CurrentActor, session: SessionDep) -> OfferOut:
    return OfferOut.model_validate(await service.withdraw_offer(session, actor, offer_id))


@router.get("/deals", response_model=Page[DealOut], summary="The caller's deals (as buyer, seller or organiser)")
async def list_deals(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                     status: DealStatus | None = None) -> Page[DealOut]:
    rows, has_more, nxt = await deals.list_deals(session, actor, status=status, limit=limit, cursor=cursor)
    return Page[DealOut](data=[DealOut.model_validate(r) for r in rows], has_more=has_more, next_cursor=nxt)


@router.get("/deals/{deal_id}", response_model=DealOut, summary="One deal (its parties)")
async def get_deal(deal_id: str, actor: CurrentActor, session: SessionDep) -> DealOut:
    return DealOut.model_validate(await deals.get_deal(session, actor, deal_id))
