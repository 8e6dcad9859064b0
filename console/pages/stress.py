"""The fund's risk pages: each programme's provisions by classification, its partners' scorecards (with the
API's CSV/XLSX) and a Vasicek stress test whose loss distribution is drawn on the server as SVG.

The stress test is the API's synchronous call (bounded by the API's own size limit), so its answer is the
page: no job to follow.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.forms import Reader, integer
from console.pages.reports import file_url
from console.web import Ctx, context, form, not_found, render

router = APIRouter()
# The scorecard's columns shown on screen (the files carry every column).
SCORE_COLUMNS = ("name", "partner_kind", "loans_covered", "covered_amount", "quota_use_bps", "leverage_achieved_bps",
                 "average_rate_bps", "npl_ratio_bps", "compensation_rate_bps", "recovery_rate_bps",
                 "avg_days_default_to_claim", "avg_days_claim_to_payment")
SCORE_MONEY = {"covered_amount"}
STRESS_DEFAULTS = {"scenarios": "2000", "seed": "2026", "pd": "3.00", "lgd": "60.00", "correlation": "15.00"}
API_FIELDS = {"pd_bps": "pd", "lgd_bps": "lgd", "correlation_bps": "correlation"}
PERCENTILE_LABELS = {"50.0": "P50", "90.0": "P90", "95.0": "P95", "99.0": "P99", "99.9": "P99.9"}


async def _page(ctx: Ctx, status_code: int = 200, stress: dict[str, Any] | None = None, **values: Any) -> Response:
    q = ctx.request.query_params
    as_of, year = q.get("as_of", "").strip(), q.get("year", "").strip() or (ctx.today or "")[:4]
    programs = await ctx.api.get("/fund/programs", limit=100)
    if not programs.ok:
        return not_found(ctx, programs)
    sections = []
    for p in programs.data:
        provisions = await ctx.api.get(f"/fund/programs/{p['id']}/provisions", as_of=as_of or None)
        if provisions.status in (401, 403):  # the programme is visible to its banks, its risk figures not
            return not_found(ctx, provisions)
        cards = await ctx.api.get(f"/fund/programs/{p['id']}/scorecards", year=year)
        sections.append({
            "program": p, "provisions": provisions.body if provisions.ok else None,
            "scorecards": cards.body["data"] if cards.ok else [],
            "errors": [a.problem() for a in (provisions, cards) if not a.ok],
            "csv": file_url(f"fund/programs/{p['id']}/scorecards", "csv", year=year),
            "xlsx": file_url(f"fund/programs/{p['id']}/scorecards", "xlsx", year=year)})
    return render(ctx, "fund_risk.html", status_code=status_code, sections=sections, as_of=as_of, year=year,
                  score_columns=SCORE_COLUMNS, score_money=SCORE_MONEY, stress=stress, stress_defaults=STRESS_DEFAULTS,
                  stress_values=values.pop("stress_values", STRESS_DEFAULTS), **values)


@router.get("/fund/risk")
async def risk(request: Request) -> Response:
    return await _page(await context(request))


def distribution(report: dict[str, Any]) -> list[tuple[str, int]]:
    """The portfolio loss at each percentile the API gives, in order, for the chart."""
    pct = report.get("portfolio_percentiles") or {}
    return [(PERCENTILE_LABELS.get(k, k), int(v)) for k, v in sorted(pct.items(), key=lambda kv: float(kv[0]))]


@router.post("/fund/risk/{program_id}/stress-test")
async def stress_test(request: Request, program_id: str) -> Response:
    ctx = await context(request)
    data = await form(request)
    read = Reader(data, ctx.lang)
    pd, lgd, rho = read.percent("pd"), read.percent("lgd"), read.percent("correlation")
    values = {k: read.text(k) for k in STRESS_DEFAULTS}
    if read.errors:
        return await _page(ctx, status_code=422, stress_errors=read.errors, stress_values=values,
                           stress_program=program_id)
    answer = await ctx.api.post(f"/fund/programs/{program_id}/stress-test", {
        "scenarios": integer(read.text("scenarios")), "seed": integer(read.text("seed")), "pd_bps": pd, "lgd_bps": lgd,
        "correlation_bps": rho})
    if not answer.ok:
        return await _page(ctx, status_code=answer.status, stress_error=answer.problem(),
                           stress_errors={API_FIELDS.get(k, k): v for k, v in answer.field_errors().items()}, stress_values=values, stress_program=program_id)
    report = answer.body
    return await _page(ctx, stress={**report, "distribution": distribution(report)}, stress_values=values,
                       stress_program=program_id)
