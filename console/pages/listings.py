"""Listings: an SME or university lists its patents for assignment or license; anyone browses the open
listings and offers on one; the seller reads the offers on its listing and accepts or rejects them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.forms import Reader, integer
from console.pages.market import OFFER_STEPS
from console.web import PREFIX, Ctx, context, form, names, not_found, redirect, render

router = APIRouter()
MODES = ("assignment", "exclusive_license", "sole_license", "nonexclusive_license")
SELLERS = ("sme", "university")
LISTABLE = ("valid", "pending")  # an asset that lapsed or was invalidated cannot be sold


async def _list_page(ctx: Ctx, status_code: int = 200, **values: Any) -> Response:
    assert ctx.me is not None
    q, mode = ctx.request.query_params.get("q", ""), ctx.request.query_params.get("mode", "")
    found = await ctx.api.get("/listings", q=q or None, mode=mode if mode in MODES else None, limit=100)
    mine: list[dict[str, Any]] = []
    if ctx.kind in SELLERS:
        assets = await ctx.api.get("/assets", owner_org_id=ctx.me["org"]["id"], limit=100)
        mine = [a for a in assets.data if a.get("status") in LISTABLE]
    sellers = await names(ctx, {row["seller_org_id"] for row in found.data})
    values.setdefault("errors", {})
    values.setdefault("values", {"mode": "assignment"})
    return render(ctx, "listings.html", status_code=status_code, listings=found.data, sellers=sellers,
                  mine=mine, modes=MODES, q=q, mode=mode, can_sell=ctx.kind in SELLERS,
                  org_id=ctx.me["org"]["id"], **values)


@router.get("/listings")
async def listings(request: Request) -> Response:
    ctx = await context(request)
    return await _list_page(ctx, notice=request.query_params.get("notice"))


@router.post("/listings")
async def create(request: Request) -> Response:
    ctx = await context(request)
    data = await form(request)
    raw = await request.form()
    read = Reader(data, ctx.lang)
    body: dict[str, Any] = {"asset_ids": [v for v in raw.getlist("asset_ids") if isinstance(v, str)],
                            "mode": read.text("mode"), "price": read.yuan("price"),
                            "title": read.text("title") or None, "description": read.text("description") or None}
    if body["mode"] != "assignment":  # a license's term and running royalty; blanks are the API's to refuse
        body["term_months"] = integer(read.text("term_months")) if read.text("term_months") else None
        body["rate_bps"] = read.percent("royalty") if read.text("royalty") else None
    if read.errors:
        return await _list_page(ctx, status_code=422, values=data, errors=read.errors)
    answer = await ctx.api.post("/listings", body)
    if not answer.ok:
        errors = answer.field_errors()
        if "rate_bps" in errors:
            errors["royalty"] = errors.pop("rate_bps")
        return await _list_page(ctx, status_code=answer.status, values=data, errors=errors, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/listings/{answer.body['id']}?notice=listing_created")


async def _detail(ctx: Ctx, listing_id: str, status_code: int = 200, **values: Any) -> Response:
    assert ctx.me is not None
    listing = await ctx.api.get(f"/listings/{listing_id}")
    if not listing.ok:
        return not_found(ctx, listing)
    body = listing.body
    offers = await ctx.api.get(f"/listings/{listing_id}/offers", limit=100)
    assets = [a.body for a in [await ctx.api.get(f"/assets/{i}") for i in body["asset_ids"]] if a.ok]
    deal = await ctx.api.get(f"/deals/{body['deal_id']}") if body.get("deal_id") else None
    who = await names(ctx, {body["seller_org_id"]} | {o["buyer_org_id"] for o in offers.data})
    is_seller = ctx.me["org"]["id"] == body["seller_org_id"]
    values.setdefault("errors", {})
    values.setdefault("values", {})
    return render(ctx, "listing.html", status_code=status_code, listing=body, offers=offers.data, assets=assets,
                  deal=deal.body if deal is not None and deal.ok else None, who=who, is_seller=is_seller,
                  org_id=ctx.me["org"]["id"], can_offer=not is_seller and body["status"] == "open", **values)


@router.get("/listings/{listing_id}")
async def listing(request: Request, listing_id: str) -> Response:
    ctx = await context(request)
    return await _detail(ctx, listing_id, notice=request.query_params.get("notice"))


@router.post("/listings/{listing_id}/offers")
async def make_offer(request: Request, listing_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    read = Reader(data, ctx.lang)
    body = {"amount": read.yuan("amount"), "message": read.text("message") or None}
    if read.errors:
        return await _detail(ctx, listing_id, status_code=422, values=data, errors=read.errors)
    answer = await ctx.api.post(f"/listings/{listing_id}/offers", body)
    if not answer.ok:
        return await _detail(ctx, listing_id, status_code=answer.status, values=data,
                             errors=answer.field_errors(), error=answer.problem())
    return redirect(ctx, f"{PREFIX}/listings/{listing_id}?notice=market_offer_made")


@router.post("/listings/{listing_id}/offers/{offer_id}/{step}")
async def offer_step(request: Request, listing_id: str, offer_id: str, step: str) -> Response:
    """The seller accepts or rejects an offer on its listing, the buyer withdraws its own."""
    ctx = await context(request)
    await form(request)
    if step not in OFFER_STEPS:
        return not_found(ctx)
    answer = await ctx.api.post(f"/offers/{offer_id}/{step}")
    if not answer.ok:
        return await _detail(ctx, listing_id, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/listings/{listing_id}?notice=done_notice")


@router.post("/listings/{listing_id}/withdraw")
async def withdraw(request: Request, listing_id: str) -> Response:
    ctx = await context(request)
    await form(request)
    answer = await ctx.api.post(f"/listings/{listing_id}/withdraw")
    if not answer.ok:
        return await _detail(ctx, listing_id, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/listings/{listing_id}?notice=done_notice")
