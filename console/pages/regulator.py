"""The regulator's pages: the pilot zone's indicators against their targets (table, the API's chart and
files), the white lists it publishes, and one subsidy claim with each item's verdict, to decide."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.pages.reports import file_url
from console.web import PREFIX, Ctx, context, form, names, not_found, redirect, render

router = APIRouter()


@router.get("/indicators")
async def indicators(request: Request) -> Response:
    ctx = await context(request)
    year = request.query_params.get("year", "").strip()
    answer = await ctx.api.get("/stats/indicators", year=year or None)
    if answer.status in (401, 403):
        return not_found(ctx, answer)
    body = answer.body if answer.ok else {}
    shown = str(body.get("filters", {}).get("year", year))
    return render(ctx, "indicators.html", status_code=200 if answer.ok else answer.status, report=body,
                  error=None if answer.ok else answer.problem(), year=year, shown_year=shown,
                  chart=file_url("stats/indicators", "svg", year=shown),
                  csv=file_url("stats/indicators", "csv", year=shown),
                  xlsx=file_url("stats/indicators", "xlsx", year=shown))


async def _whitelists(ctx: Ctx, status_code: int = 200, **values: object) -> Response:
    lists = await ctx.api.get("/whitelists", limit=100)
    if lists.status in (401, 403):
        return not_found(ctx, lists)
    firms = await ctx.api.get("/orgs", kind="sme", limit=100) if ctx.kind == "regulator" else None
    return render(ctx, "whitelists.html", status_code=status_code, lists=lists.data,
                  firms=firms.data if firms is not None and firms.ok else [], can_publish=ctx.kind == "regulator",
                  default_year=(ctx.today or "")[:4], **values)


@router.get("/whitelists")
async def whitelists(request: Request) -> Response:
    ctx = await context(request)
    return await _whitelists(ctx, notice=request.query_params.get("notice"))


@router.get("/whitelists/{whitelist_id}")
async def whitelist(request: Request, whitelist_id: str) -> Response:
    ctx = await context(request)
    answer = await ctx.api.get(f"/whitelists/{whitelist_id}")
    if not answer.ok:
        return not_found(ctx, answer)
    return render(ctx, "whitelist.html", wl=answer.body, notice=request.query_params.get("notice"))


@router.post("/whitelists")
async def publish(request: Request) -> Response:
    ctx = await context(request)
    fields = await form(request)
    data = await request.form()
    org_ids = [v for v in data.getlist("org_ids") if isinstance(v, str)]
    year = fields.get("year", "").strip()
    answer = await ctx.api.post("/whitelists", {"name": fields.get("name", ""), "org_ids": org_ids,
                                                "year": int(year) if year.isdigit() else year})
    if not answer.ok:
        return await _whitelists(ctx, status_code=answer.status, error=answer.problem(),
                                 errors=answer.field_errors(), values=fields, chosen=set(org_ids))
    return redirect(ctx, f"{PREFIX}/whitelists/{answer.body['id']}?notice=whitelist_published")


@router.get("/subsidies/claims/{claim_id}")
async def subsidy_claim(request: Request, claim_id: str) -> Response:
    """One claim with the verdict on each item claimed; the decision posts to the subsidies page's forms."""
    ctx = await context(request)
    claim = await ctx.api.get(f"/subsidy-claims/{claim_id}")
    if not claim.ok:
        return not_found(ctx, claim)
    policy = await ctx.api.get(f"/subsidy-policies/{claim.body['policy_id']}")
    claimant = await names(ctx, {claim.body["claimant_org_id"]})
    return render(ctx, "subsidy_claim.html", claim=claim.body, policy=policy.body if policy.ok else None,
                  claimant=claimant.get(claim.body["claimant_org_id"]), can_decide=ctx.kind == "regulator")
