"""Loans: the list by role (filters by status and classification, overdue first) and one loan's page
(schedule, next due, collateral, alerts, history) with what its parties may do next."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.client import new_key
from console.forms import Reader
from console.web import PREFIX, Ctx, context, form, names, not_found, redirect, render
from finance.loans.models import CLASSIFICATIONS, LOAN_STATUSES

router = APIRouter()
# The lending bank's steps, by the loan workflow's action (GET /workflows): the API call each makes.
BANK_STEPS = {"register_pledge": "pledge-registration", "disburse": "disburse", "declare_default": "default",
              "compensate": "compensation-claims", "dispose": "disposal", "write_off": "write-off"}
STEP_LABELS = {"register_pledge": "register_pledge", "disburse": "disburse", "declare_default": "declare_default",
               "compensate": "claim_compensation", "dispose": "start_disposal", "write_off": "write_off"}
MONEY_STEPS = {"disburse"}  # these move money: each form carries its own Idempotency-Key


async def next_actions(ctx: Ctx, workflow: str, status: str) -> list[str]:
    """The actions the workflow table allows from ``status`` (GET /workflows)."""
    answer = await ctx.api.get("/workflows")
    for w in answer.body if isinstance(answer.body, list) else []:
        if w["name"] == workflow:
            return [tr["action"] for tr in w["transitions"] if tr["from"] == status]
    return []


@router.get("/loans")
async def loans(request: Request, status: str = "", classification: str = "", overdue: str = "") -> Response:
    """The loan book: filtered by status, classification and overdue as the API filters, overdue first."""
    ctx = await context(request)
    answer = await ctx.api.get("/loans", limit=100, status=status or None, classification=classification or None,
                               overdue="true" if overdue else None)
    filters: dict[str, Any] = {"statuses": LOAN_STATUSES, "classifications": CLASSIFICATIONS, "status": status,
               "classification": classification, "overdue": bool(overdue)}
    if not answer.ok:
        return render(ctx, "loans.html", status_code=answer.status, loans=[], error=answer.problem(),
                      total_outstanding=0, **filters)
    rows = sorted(answer.data, key=lambda r: -int(r["days_past_due"]))  # overdue first, most overdue on top
    return render(ctx, "loans.html", loans=rows, error=None,
                  total_outstanding=sum(int(r["outstanding_principal"]) for r in rows), **filters)


async def _loan_page(ctx: Ctx, loan_id: str, status_code: int = 200, **values: Any) -> Response:
    loan = await ctx.api.get(f"/loans/{loan_id}")
    if not loan.ok:
        return not_found(ctx, loan)
    body = loan.body
    schedule = await ctx.api.get(f"/loans/{loan_id}/schedule")
    history = await ctx.api.get(f"/loans/{loan_id}/history")
    paid = await ctx.api.get(f"/loans/{loan_id}/repayments")
    who = await names(ctx, {body["borrower_org_id"], body["bank_org_id"]})
    actions = await next_actions(ctx, "loan", body["status"])
    is_bank = ctx.me is not None and ctx.me["org"]["id"] == body["bank_org_id"]
    is_borrower = ctx.me is not None and ctx.me["org"]["id"] == body["borrower_org_id"]
    steps = [a for a in actions if a in BANK_STEPS and not (a == "compensate" and body.get("claim_id"))] if is_bank else []
    programmes: list[dict[str, Any]] = []
    if is_bank and body.get("fund_cover") is None and body["status"] in ("pending_security", "secured"):
        listed = await ctx.api.get("/fund/programs", limit=100)
        programmes = [p for p in listed.data if p.get("agreement")]
    cover = {"guarantor": "guarantee", "insurer": "insurance"}.get(ctx.kind)
    can_join = cover if cover and body.get(cover) is None and body["status"] in ("pending_security", "secured") else None
    invitations = await ctx.api.get(f"/loans/{loan_id}/invitations")
    can_invite = is_bank and body["status"] in ("pending_security", "secured")
    cover_orgs = {k: (await ctx.api.get("/orgs", kind=k, limit=100)).data if can_invite else []
                  for k in ("guarantor", "insurer")}
    who.update(await names(ctx, {i["org_id"] for i in invitations.data}))
    values.setdefault("errors", {})
    values.setdefault("values", {"registered_on": ctx.today or ""})
    return render(ctx, "loan.html", status_code=status_code, loan=body, programmes=programmes, can_join=can_join,
                  invitations=invitations.data, can_invite=can_invite, cover_orgs=cover_orgs,
                  schedule=schedule.body.get("installments", []) if schedule.ok else [],
                  history=history.data, repayments=paid.body if paid.ok else [], who=who, next_actions=actions, steps=steps, step_labels=STEP_LABELS,
                  can_repay=is_borrower and body["status"] in ("active", "overdue"), **values)


@router.get("/loans/{loan_id}")
async def loan(request: Request, loan_id: str) -> Response:
    ctx = await context(request)
    return await _loan_page(ctx, loan_id, notice=request.query_params.get("notice"))


@router.post("/loans/{loan_id}/repay")
async def repay(request: Request, loan_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    read = Reader(data, ctx.lang)
    amount = read.yuan("amount")
    if read.errors:
        return await _loan_page(ctx, loan_id, status_code=422, values=data, errors=read.errors)
    answer = await ctx.api.post(f"/loans/{loan_id}/repayments", {"amount": amount},
                                idempotency_key=data.get("idempotency_key") or new_key())
    if not answer.ok:
        return await _loan_page(ctx, loan_id, status_code=answer.status, values=data,
                                errors=answer.field_errors(), error=answer.problem())
    return redirect(ctx, f"{PREFIX}/loans/{loan_id}?notice=repaid_notice")


@router.post("/loans/{loan_id}/fund-cover")
async def fund_cover(request: Request, loan_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    answer = await ctx.api.post(f"/loans/{loan_id}/fund-cover", {"program_id": data.get("program_id", "")})
    if not answer.ok:
        return await _loan_page(ctx, loan_id, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/loans/{loan_id}?notice=done_notice")


@router.post("/loans/{loan_id}/invitations")
async def invite(request: Request, loan_id: str) -> Response:
    """The lending bank invites a guarantor or an insurer; only the invited may then join the loan."""
    ctx = await context(request)
    data = await form(request)
    answer = await ctx.api.post(f"/loans/{loan_id}/invitations",
                                {"org_id": data.get("org_id", ""), "kind": data.get("kind", "")})
    if not answer.ok:
        return await _loan_page(ctx, loan_id, status_code=answer.status, values=data,
                                errors=answer.field_errors(), error=answer.problem())
    return redirect(ctx, f"{PREFIX}/loans/{loan_id}?notice=invited_notice")


@router.post("/loans/{loan_id}/join/{cover}")
async def join(request: Request, loan_id: str, cover: str) -> Response:
    """The invited guarantor or insurer joins the loan with its share and its fee or premium."""
    ctx = await context(request)
    data = await form(request)
    if cover not in ("guarantee", "insurance"):
        return not_found(ctx)
    read = Reader(data, ctx.lang)
    body: dict[str, Any] = {"share_bps": read.percent("share")}
    if cover == "guarantee":
        body["fee_rate_bps"] = read.percent("fee_rate")
    else:
        body["premium"] = read.yuan("premium")
    if read.errors:
        return await _loan_page(ctx, loan_id, status_code=422, values=data, errors=read.errors)
    answer = await ctx.api.post(f"/loans/{loan_id}/{cover}", body)
    if not answer.ok:
        return await _loan_page(ctx, loan_id, status_code=answer.status, values=data, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/loans/{loan_id}?notice=done_notice")


@router.post("/loans/{loan_id}/steps/{step}")
async def bank_step(request: Request, loan_id: str, step: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    if step not in BANK_STEPS:
        return not_found(ctx)
    body: dict[str, Any] = {}
    if step == "register_pledge":
        body = {"registration_no": data.get("registration_no", "").strip(),
                "registered_on": data.get("registered_on", "").strip()}
    key = (data.get("idempotency_key") or new_key()) if step in MONEY_STEPS else None
    answer = await ctx.api.post(f"/loans/{loan_id}/{BANK_STEPS[step]}", body, idempotency_key=key)
    if not answer.ok:
        return await _loan_page(ctx, loan_id, status_code=answer.status, values=data,
                                errors=answer.field_errors(), error=answer.problem())
    notice = "approval_pending" if answer.status == 202 else "done_notice"
    return redirect(ctx, f"{PREFIX}/loans/{loan_id}?notice={notice}")
