"""The market for an SME or university: my listings, the offers I made or received (accept, reject,
withdraw) and my deals, with the deals to pay."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.client import new_key
from console.web import PREFIX, Ctx, context, form, names, not_found, redirect, render

router = APIRouter()
OFFER_STEPS = {"accept", "reject", "withdraw"}


async def _page(ctx: Ctx, status_code: int = 200, error: str | None = None, notice: str | None = None) -> Response:
    assert ctx.me is not None
    org_id = ctx.me["org"]["id"]
    listings = await ctx.api.get("/listings", seller_org_id=org_id, status=None, limit=100)
    offers = await ctx.api.get("/offers", limit=100)
    deals = await ctx.api.get("/deals", limit=100)
    who = await names(ctx, {o["buyer_org_id"] for o in offers.data} | {o["seller_org_id"] for o in offers.data}
                      | {d["seller_org_id"] for d in deals.data} | {d["buyer_org_id"] for d in deals.data})
    return render(ctx, "market.html", status_code=status_code, listings=listings.data, offers=offers.data,
                  deals=deals.data, who=who, org_id=org_id, error=error, notice=notice)


@router.get("/market")
async def market(request: Request) -> Response:
    ctx = await context(request)
    return await _page(ctx, notice=request.query_params.get("notice"))


@router.post("/market/offers/{offer_id}/{step}")
async def offer_step(request: Request, offer_id: str, step: str) -> Response:
    ctx = await context(request)
    await form(request)
    if step not in OFFER_STEPS:
        return not_found(ctx)
    answer = await ctx.api.post(f"/offers/{offer_id}/{step}")
    if not answer.ok:
        return await _page(ctx, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/market?notice=done_notice")


@router.post("/market/deals/{deal_id}/pay")
async def pay(request: Request, deal_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    answer = await ctx.api.post(f"/deals/{deal_id}/pay", idempotency_key=data.get("idempotency_key") or new_key())
    if not answer.ok:
        return await _page(ctx, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/market?notice=done_notice")
