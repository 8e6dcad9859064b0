"""Compensation claims (the fund approves; banks, guarantors and insurers see those where they bear a
share) and four-eyes requests, decided by a second person of the organisation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.client import new_key
from console.web import PREFIX, Ctx, context, form, names, not_found, redirect, render

router = APIRouter()


@router.get("/claims")
async def claims(request: Request, status: str = "") -> Response:
    ctx = await context(request)
    answer = await ctx.api.get("/compensation-claims", limit=100, status=status or None)
    return render(ctx, "claims.html", status_code=200 if answer.ok else answer.status, claims=answer.data,
                  error=None if answer.ok else answer.problem(), status=status)


async def _claim_page(ctx: Ctx, claim_id: str, status_code: int = 200, **values: Any) -> Response:
    claim = await ctx.api.get(f"/compensation-claims/{claim_id}")
    if not claim.ok:
        return not_found(ctx, claim)
    history = await ctx.api.get(f"/compensation-claims/{claim_id}/history")
    parties = await names(ctx, {s["org_id"] for s in claim.body["shares"] if s.get("org_id")}
                          | {claim.body["bank_org_id"]})
    can_approve = ctx.kind in ("fund", "bank") and claim.body["status"] == "pending"
    # Only the programme's fund refuses a claim, and only before approving it (the API says so too).
    can_reject = ctx.kind == "fund" and claim.body["status"] in ("pending", "queued")
    return render(ctx, "claim.html", status_code=status_code, claim=claim.body, history=history.data,
                  parties=parties, can_approve=can_approve, can_reject=can_reject, **values)


@router.get("/claims/{claim_id}")
async def claim(request: Request, claim_id: str) -> Response:
    ctx = await context(request)
    return await _claim_page(ctx, claim_id, notice=request.query_params.get("notice"))


@router.post("/claims/{claim_id}/approve")
async def approve(request: Request, claim_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    answer = await ctx.api.post(f"/compensation-claims/{claim_id}/approve",
                                idempotency_key=data.get("idempotency_key") or new_key())
    if not answer.ok:
        return await _claim_page(ctx, claim_id, status_code=answer.status, error=answer.problem())
    notice = "approval_pending" if answer.status == 202 else "done_notice"
    return redirect(ctx, f"{PREFIX}/claims/{claim_id}?notice={notice}")


@router.post("/claims/{claim_id}/reject")
async def reject(request: Request, claim_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    answer = await ctx.api.post(f"/compensation-claims/{claim_id}/reject", {"reason": data.get("reason", "")})
    if not answer.ok:
        return await _claim_page(ctx, claim_id, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/claims/{claim_id}?notice=done_notice")


@router.get("/approvals/{request_id}")
async def approval(request: Request, request_id: str) -> Response:
    ctx = await context(request)
    answer = await ctx.api.get(f"/approval-requests/{request_id}")
    if not answer.ok:
        return not_found(ctx, answer)
    return render(ctx, "approval.html", approval=answer.body, error=None,
                  notice=request.query_params.get("notice"))


@router.post("/approvals/{request_id}/{decision}")
async def decide(request: Request, request_id: str, decision: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    if decision not in ("approve", "reject"):
        return not_found(ctx)
    body = {"reason": data["reason"]} if decision == "reject" and data.get("reason") else {}
    answer = await ctx.api.post(f"/approval-requests/{request_id}/{decision}", body)
    if not answer.ok:
        current = await ctx.api.get(f"/approval-requests/{request_id}")
        if not current.ok:
            return not_found(ctx, current)
        return render(ctx, "approval.html", status_code=answer.status, approval=current.body,
                      error=answer.problem())
    return redirect(ctx, f"{PREFIX}/approvals/{request_id}?notice=done_notice")
