"""The fund's dashboard and the regulator's statistics: the API's figures as tables, its own charts (SVG)
and its CSV/XLSX files, fetched with the user's token through ``/console/files``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.client import API
from console.web import Ctx, context, names, not_found, render

router = APIRouter()
# Only these read-only API reports may be fetched through the console, in these formats.
FILES = (re.compile(r"^stats/(pledge-financing|transactions|high-value-patents)$"),
         re.compile(r"^fund/programs/[A-Za-z0-9_-]+/(exposure|scorecards)$"),
         re.compile(r"^stats/indicators$"), re.compile(r"^imports/[A-Za-z0-9_-]+/errors$"))
FORMATS = {"csv", "xlsx", "svg", "png"}
PASSED = ("group_by", "from", "to", "region", "year")
MONEY_COLUMNS = re.compile(r"(amount|outstanding|exposure|quota|deposit|capital|cash|paid|recovered)$")
GROUPS = {"stats/pledge-financing": ("month", "region", "industry", "bank"),
          "stats/transactions": ("month", "region", "industry")}


def file_url(path: str, fmt: str, **params: Any) -> str:
    query = urlencode({"format": fmt, **{k: v for k, v in params.items() if v}})
    return f"/console/files/{path}?{query}"


@router.get("/files/{path:path}")
async def files(request: Request, path: str, format: str) -> Response:
    ctx = await context(request)
    if format not in FORMATS or not any(p.match(path) for p in FILES):
        return not_found(ctx)
    params = {k: v for k, v in request.query_params.items() if k in PASSED}
    answer = await raw_get(ctx, f"/{path}", {**params, "format": format})
    if answer.status_code >= 400:
        return not_found(ctx)
    headers = {k: v for k, v in answer.headers.items() if k.lower() in ("content-disposition", "content-language")}
    return Response(answer.content, status_code=200, media_type=answer.headers.get("content-type"), headers=headers)


async def raw_get(ctx: Ctx, path: str, params: dict[str, str]) -> httpx.Response:
    session = ctx.api.renewed or ctx.api.session
    token = session.access_token if session else ""
    transport = httpx.ASGITransport(app=ctx.request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.internal") as c:
        return await c.get(API + path, params=params,
                           headers={"Authorization": f"Bearer {token}", "Accept-Language": ctx.lang})


@router.get("/fund")
async def fund(request: Request) -> Response:
    ctx = await context(request)
    programs = await ctx.api.get("/fund/programs", limit=100)
    if not programs.ok:
        return not_found(ctx, programs)
    dashboards = []
    for p in programs.data:
        exposure = await ctx.api.get(f"/fund/programs/{p['id']}/exposure")
        if exposure.ok:
            ex = exposure.body
            banks = await names(ctx, {b["bank_org_id"] for b in ex["by_bank"]})
            dashboards.append({"program": p, "x": ex, "banks": banks,
                               "chart": file_url(f"fund/programs/{p['id']}/exposure", "svg"),
                               "csv": file_url(f"fund/programs/{p['id']}/exposure", "csv"),
                               "xlsx": file_url(f"fund/programs/{p['id']}/exposure", "xlsx")})
    return render(ctx, "fund.html", dashboards=dashboards)


@router.get("/stats")
async def stats(request: Request, group_by: str = "month") -> Response:
    ctx = await context(request)
    params = {k: v for k, v in request.query_params.items() if k in PASSED}
    reports: list[dict[str, Any]] = []
    for path, title in (("stats/pledge-financing", "stats_pledge"), ("stats/transactions", "stats_transactions"),
                        ("stats/high-value-patents", "stats_high_value")):
        groups = GROUPS.get(path, ())
        own = {**params, "group_by": group_by if group_by in groups else "month"} if groups else \
            {k: v for k, v in params.items() if k == "region"}
        answer = await ctx.api.get(f"/{path}", **own)
        if not answer.ok:
            if answer.status in (401, 403):
                return not_found(ctx, answer)
            reports.append({"title": title, "error": answer.problem()})
            continue
        body = answer.body
        reports.append({"title": title, "columns": body["columns"], "rows": body["data"],
                        "totals": body.get("totals") or {}, "money": [c for c in body["columns"] if MONEY_COLUMNS.search(c)],
                        "chart": file_url(path, "svg", **own), "csv": file_url(path, "csv", **own),
                        "xlsx": file_url(path, "xlsx", **own), "error": None})
    return render(ctx, "stats.html", reports=reports, group_by=group_by, groups=GROUPS["stats/pledge-financing"],
                  values=params)
