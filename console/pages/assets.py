"""My IP assets: the list and the registration form (its errors shown at their fields)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.web import GI_FORMS, KINDS, PREFIX, Ctx, context, form, not_found, redirect, render

router = APIRouter()
FIELDS = ("kind", "number", "title", "abstract", "ipc_codes", "filing_date", "grant_date", "expiry_date",
          "fees_paid_until", "claims_count", "industry", "gi_form", "product", "region", "registrant", "nice_classes")


def _body(data: dict[str, str]) -> dict[str, Any]:
    """The form as the API's request body: blanks left out, lists split, counts as numbers when they are.

    Nothing is checked here: the API validates (a text that is not a number goes as it is and comes
    back as the API's own validation message at that field)."""
    body: dict[str, Any] = {}
    for name in FIELDS:
        value = data.get(name, "").strip()
        if not value:
            continue
        if name == "ipc_codes":
            body[name] = [c.strip() for c in value.replace("，", ",").split(",") if c.strip()]
        elif name == "nice_classes":
            body[name] = [int(c) if c.strip().isdigit() else c.strip()
                          for c in value.replace("，", ",").split(",") if c.strip()]
        elif name == "claims_count":
            body[name] = int(value) if value.isdigit() else value
        else:
            body[name] = value
    return body


async def _page(ctx: Ctx, status_code: int = 200, **values: Any) -> Response:
    assert ctx.me is not None
    mine = await ctx.api.get("/assets", owner_org_id=ctx.me["org"]["id"], limit=100)
    values.setdefault("errors", {})
    values.setdefault("values", {"kind": "invention_patent"})
    return render(ctx, "assets.html", status_code=status_code, assets=mine.data, kinds=KINDS,
                  gi_forms=GI_FORMS,
                  can_register=ctx.kind in ("sme", "university"), **values)


@router.get("/assets")
async def assets(request: Request) -> Response:
    ctx = await context(request)
    return await _page(ctx, notice=request.query_params.get("notice"))


@router.post("/assets")
async def register_asset(request: Request) -> Response:
    ctx = await context(request)
    data = await form(request)
    answer = await ctx.api.post("/assets", _body(data))
    if not answer.ok:
        return await _page(ctx, status_code=answer.status, values=data, errors=answer.field_errors(),
                           error=answer.problem())
    return redirect(ctx, f"{PREFIX}/assets/{answer.body['id']}?notice=asset_registered")


@router.get("/assets/{asset_id}")
async def asset(request: Request, asset_id: str) -> Response:
    ctx = await context(request)
    answer = await ctx.api.get(f"/assets/{asset_id}")
    if not answer.ok:
        return not_found(ctx, answer)
    return render(ctx, "asset.html", asset=answer.body, notice=request.query_params.get("notice"))
