"""Technology needs: an SME posts what it needs and reads the patents matched to it, with the reasons."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.web import PREFIX, Ctx, context, form, not_found, redirect, render

router = APIRouter()


async def _page(ctx: Ctx, status_code: int = 200, **values: Any) -> Response:
    assert ctx.me is not None
    needs = await ctx.api.get("/tech-needs", org_id=ctx.me["org"]["id"], limit=100)
    values.setdefault("errors", {})
    values.setdefault("values", {})
    return render(ctx, "needs.html", status_code=status_code, needs=needs.data, **values)


@router.get("/needs")
async def needs(request: Request) -> Response:
    ctx = await context(request)
    return await _page(ctx, notice=request.query_params.get("notice"))


@router.post("/needs")
async def post_need(request: Request) -> Response:
    ctx = await context(request)
    data = await form(request)
    ipc = [c.strip() for c in data.get("ipc_codes", "").replace("，", ",").split(",") if c.strip()]
    body = {"title": data.get("title", ""), "description": data.get("description", ""), "ipc_codes": ipc,
            "industry": data.get("industry") or None}
    answer = await ctx.api.post("/tech-needs", body)
    if not answer.ok:
        return await _page(ctx, status_code=answer.status, values=data, errors=answer.field_errors(),
                           error=answer.problem())
    return redirect(ctx, f"{PREFIX}/needs/{answer.body['id']}?notice=done_notice")


@router.get("/needs/{need_id}")
async def need(request: Request, need_id: str) -> Response:
    ctx = await context(request)
    got = await ctx.api.get(f"/tech-needs/{need_id}")
    if not got.ok:
        return not_found(ctx, got)
    matches = await ctx.api.get(f"/tech-needs/{need_id}/matches")
    rows = matches.body if matches.ok and isinstance(matches.body, list) else []  # a ranked list, not a page
    return render(ctx, "need.html", need=got.body, matches=rows,
                  error=None if matches.ok or matches.status == 404 else matches.problem(),
                  notice=request.query_params.get("notice"))
