"""Loan applications: an SME applies and compares the banks' offers side by side; a bank answers with an
offer, seeing the valuation and borrowing base behind the application."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.client import Answer
from console.forms import Reader, integer
from console.web import PREFIX, Ctx, context, form, names, not_found, redirect, render
from finance.loans.schedule import build_schedule

router = APIRouter()
METHODS = ("equal_installment", "equal_principal", "interest_only")
BORROWERS = ("sme", "university")


def total_interest(offer: dict[str, Any], start: date) -> int | None:
    """The interest the offer's schedule would charge if paid out today: the loan engine's own schedule."""
    try:
        rows = build_schedule(offer["amount"], offer["annual_rate_bps"], offer["term_months"],
                              offer["repayment_method"], start)
    except (ValueError, KeyError):
        return None
    return sum(r.interest for r in rows)


async def _list_page(ctx: Ctx, status_code: int = 200, **values: Any) -> Response:
    assert ctx.me is not None
    apps = await ctx.api.get("/loan-applications", limit=100)
    pledgeable: list[dict[str, Any]] = []
    if ctx.kind in BORROWERS:
        mine = await ctx.api.get("/assets", owner_org_id=ctx.me["org"]["id"], limit=100)
        pledgeable = [a for a in mine.data if a.get("status") in ("valid", "pending")]
    applicants = await names(ctx, {a["applicant_org_id"] for a in apps.data}) if ctx.kind not in BORROWERS else {}
    values.setdefault("errors", {})
    values.setdefault("values", {"term_months": "12", "repayment_method": "equal_installment"})
    return render(ctx, "applications.html", status_code=status_code, applications=apps.data,
                  applicants=applicants, pledgeable=pledgeable, methods=METHODS,
                  can_apply=ctx.kind in BORROWERS, **values)


@router.get("/applications")
async def applications(request: Request) -> Response:
    ctx = await context(request)
    return await _list_page(ctx, notice=request.query_params.get("notice"))


@router.post("/applications")
async def apply(request: Request) -> Response:
    ctx = await context(request)
    data = await form(request)
    raw = await request.form()
    read = Reader(data, ctx.lang)
    body = {"asset_ids": [v for v in raw.getlist("asset_ids") if isinstance(v, str)], "amount": read.yuan("amount"),
            "term_months": integer(read.text("term_months")), "purpose": read.text("purpose"),
            "repayment_method": read.text("repayment_method")}
    if read.errors:
        return await _list_page(ctx, status_code=422, values=data, errors=read.errors)
    answer = await ctx.api.post("/loan-applications", body)
    if not answer.ok:
        return await _list_page(ctx, status_code=answer.status, values=data, errors=answer.field_errors(),
                                error=answer.problem())
    return redirect(ctx, f"{PREFIX}/applications/{answer.body['id']}?notice=application_submitted")


async def _detail(ctx: Ctx, application_id: str, status_code: int = 200, **values: Any) -> Response:
    app = await ctx.api.get(f"/loan-applications/{application_id}")
    if not app.ok:
        return not_found(ctx, app)
    offers: Answer = await ctx.api.get(f"/loan-applications/{application_id}/offers", limit=100)
    start = date.fromisoformat(ctx.today) if ctx.today else date.today()
    rows = [{**o, "total_interest": total_interest(o, start)} for o in offers.data]
    banks = await names(ctx, {o["bank_org_id"] for o in rows} | {app.body["applicant_org_id"]})
    assets = [(await ctx.api.get(f"/assets/{a}")).body for a in app.body["asset_ids"]]
    defaults = {"amount": f"{app.body['amount'] // 100}.{app.body['amount'] % 100:02d}", "term_months": str(app.body["term_months"]),
                "repayment_method": app.body["repayment_method"], "annual_rate": "",
                "expires_on": (start + timedelta(days=30)).isoformat()}
    values.setdefault("errors", {})
    values.setdefault("values", defaults)
    return render(ctx, "application.html", status_code=status_code, app=app.body, offers=rows, banks=banks,
                  assets=assets, methods=METHODS, is_applicant=ctx.kind in BORROWERS,
                  can_offer=ctx.kind == "bank" and app.body["status"] == "submitted", **values)


@router.get("/applications/{application_id}")
async def application(request: Request, application_id: str) -> Response:
    ctx = await context(request)
    return await _detail(ctx, application_id, notice=request.query_params.get("notice"))


@router.post("/applications/{application_id}/offers")
async def make_offer(request: Request, application_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    read = Reader(data, ctx.lang)
    body = {"amount": read.yuan("amount"), "annual_rate_bps": read.percent("annual_rate"),
            "term_months": integer(read.text("term_months")), "repayment_method": read.text("repayment_method"),
            "requires_guarantee": data.get("requires_guarantee") == "on", "expires_on": read.text("expires_on")}
    if read.errors:
        return await _detail(ctx, application_id, status_code=422, values=data, errors=read.errors)
    answer = await ctx.api.post(f"/loan-applications/{application_id}/offers", body)
    if not answer.ok:
        errors = answer.field_errors()
        if "annual_rate_bps" in errors:
            errors["annual_rate"] = errors.pop("annual_rate_bps")
        return await _detail(ctx, application_id, status_code=answer.status, values=data, errors=errors,
                             error=answer.problem())
    return redirect(ctx, f"{PREFIX}/applications/{application_id}?notice=offer_made")


@router.post("/offers/{offer_id}/accept")
async def accept_offer(request: Request, offer_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    answer = await ctx.api.post(f"/loan-offers/{offer_id}/accept")
    if not answer.ok:
        application_id = data.get("application_id", "")
        return await _detail(ctx, application_id, status_code=answer.status, error=answer.problem())
    return redirect(ctx, f"{PREFIX}/loans/{answer.body['id']}?notice=done_notice")
