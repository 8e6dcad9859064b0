"""Subsidies: the policies, a borrower's claim on its loan, and the regulator's decisions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.client import new_key
from console.web import PREFIX, Ctx, context, form, names, not_found, redirect, render

router = APIRouter()
CLAIMANTS = ("sme", "university", "guarantor", "insurer")


async def _page(ctx: Ctx, status_code: int = 200, error: str | None = None, notice: str | None = None) -> Response:
    policies = await ctx.api.get("/subsidy-policies", limit=100)
    claims = await ctx.api.get("/subsidy-claims", limit=100)
    loans = await ctx.api.get("/loans", limit=100) if ctx.kind in CLAIMANTS else None
    claimants = await names(ctx, {c["claimant_org_id"] for c in claims.data}) if ctx.kind == "regulator" else {}
    return render(ctx, "subsidies.html", status_code=status_code, policies=policies.data, claims=claims.data,
                  loans=loans.data if loans is not None else [], claimants=claimants,
                  policy_names={p["id"]: p["name"] for p in policies.data},
                  can_claim=ctx.kind in CLAIMANTS, can_decide=ctx.kind == "regulator", error=error, notice=notice)


@router.get("/subsidies")
async def subsidies(request: Request) -> Response:
    ctx = await context(request)
    return await _page(ctx, notice=request.query_params.get("notice"))


@router.post("/subsidies/claims")
async def file_claim(request: Request) -> Response:
    ctx = await context(request)
    data = await form(request)
    answer = await ctx.api.post("/subsidy-claims", {"policy_id": data.get("policy_id", ""),
                                                    "loan_id": data.get("loan_id") or None})
    if not answer.ok:
        return await _page(ctx, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/subsidies?notice=done_notice")


@router.post("/subsidies/claims/{claim_id}/{decision}")
async def decide(request: Request, claim_id: str, decision: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    if decision not in ("approve", "reject"):
        return not_found(ctx)
    key = data.get("idempotency_key") or new_key() if decision == "approve" else None
    body = {"reason": data["reason"]} if decision == "reject" and data.get("reason") else {}
    answer = await ctx.api.post(f"/subsidy-claims/{claim_id}/{decision}", body, idempotency_key=key)
    if not answer.ok:
        return await _page(ctx, status_code=answer.status, error=answer.problem())
    notice = "approval_pending" if answer.status == 202 else "done_notice"
    return redirect(ctx, f"{PREFIX}/subsidies?notice={notice}")
