from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, Query
from fastapi.responses import JSONResponse, Response

from api.deps import AdminActor, CurrentActor, SessionDep, org_kinds
from api.lang import Language, file_response
from api.routing import AreaRouter, TransactionalRoute
from finance.charts import MEDIA_TYPES
from finance.rates import service as lpr
from finance.rates.schemas import LprIn, LprOut
from finance.statistics import indicators, service
from finance.statistics.report import Report
from kernel.actor import Actor

router = AreaRouter(tags=["statistics"], route_class=TransactionalRoute)
StatsReader = Annotated[Actor, Depends(org_kinds("regulator", "fund", admin=True))]
Format = Annotated[Literal["json", "csv", "xlsx", "png", "svg"],
                   Query(description="json, a csv or xlsx file (money in 元), or a png/svg chart")]
RegionQ = Annotated[str | None, Query(max_length=12)]


def render(report: Report, fmt: str, lang: str, name: str) -> Response:
    if fmt in ("csv", "xlsx"):
        return file_response(report.as_table(name), fmt, lang)
    if fmt in MEDIA_TYPES:
        return Response(report.as_chart(fmt, lang), media_type=MEDIA_TYPES[fmt])
    return JSONResponse(report.as_json())


@router.post("/lpr", status_code=201, response_model=LprOut, summary="Publish an LPR (platform admin)")
async def publish_lpr(body: LprIn, actor: AdminActor, session: SessionDep) -> LprOut:
    return LprOut.model_validate(await lpr.publish(session, actor, body), from_attributes=True)


@router.get("/lpr", response_model=list[LprOut], summary="The LPR table, newest first (any user)")
async def lpr_history(_: CurrentActor, session: SessionDep) -> list[LprOut]:
    return [LprOut.model_validate(r, from_attributes=True) for r in await lpr.history(session)]


@router.get("/stats/high-value-patents", summary="High-value invention patents and per 10,000 people "
            "(regulator, admin)")
async def high_value_patents(session: SessionDep, lang: Language, _: Annotated[Actor, Depends(org_kinds("regulator", admin=True))],
                             region: RegionQ = None, format: Format = "json") -> Response:
    return render(await service.high_value_patents(session, region), format, lang, "high-value-patents")


@router.get("/stats/enterprise-ip-index", summary="Enterprise IP index by region (regulator, fund, admin)")
async def enterprise_ip_index(session: SessionDep, lang: Language, _: StatsReader, region: RegionQ = None,
                              format: Format = "json") -> Response:
    return render(await service.enterprise_ip_index(session, region), format, lang, "enterprise-ip-index")


@router.get("/stats/innovation-efficiency", summary="Invention patents granted per ¥100m of R&D, by region "
            "(regulator, fund, admin)")
async def innovation_efficiency(session: SessionDep, lang: Language, _: StatsReader, region: RegionQ = None,
                                year: Annotated[int | None, Query(ge=1986, le=2200)] = None,
                                format: Format = "json") -> Response:
    return render(await service.innovation_efficiency(session, year, region), format, lang,
                  "innovation-efficiency")


FromQ = Annotated[date | None, Query(alias="from", description="first day (default: 1 January of this year)")]
ToQ = Annotated[date | None, Query(alias="to", description="last day, inclusive (default: today)")]


@router.get("/stats/pledge-financing", summary="Registered pledge-financing amount and count, by month, region, "
            "industry or bank (regulator, fund, admin)")
async def pledge_financing(session: SessionDep, lang: Language, _: StatsReader, from_: FromQ = None, to: ToQ = None,
                           group_by: Literal["month", "region", "industry", "bank"] = "month",
                           format: Format = "json") -> Response:
    return render(await service.pledge_financing(session, from_, to, group_by), format, lang, "pledge-financing")


@router.get("/stats/transactions", summary="Recorded licenses and transfers: count and amount, by month, region "
            "or industry, and by mode (regulator, fund, admin)")
async def transactions(session: SessionDep, lang: Language, _: StatsReader, from_: FromQ = None, to: ToQ = None,
                       group_by: Literal["month", "region", "industry"] = "month",
                       format: Format = "json") -> Response:
    return render(await service.transactions(session, from_, to, group_by), format, lang, "transactions")


@router.get("/stats/indicators", summary="The pilot zone's annual indicators: each figure, its target where the "
            "seeds give one and whether it is met (regulator, admin)")
async def zone_indicators(session: SessionDep, lang: Language,
                          _: Annotated[Actor, Depends(org_kinds("regulator", admin=True))], region: RegionQ = None,
                          year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
                          format: Format = "json") -> Response:
    return render(await indicators.indicators(session, year, region), format, lang, "indicators")
