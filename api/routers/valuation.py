from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query

from api.deps import CurrentActor, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from valuation import scores, service
from valuation.schemas import AssetScoreOut, CertifyIn, Scenario, ValuationIn, ValuationOut

router = AreaRouter(tags=["valuation"], route_class=TransactionalRoute)


@router.post("/valuations", status_code=201, response_model=ValuationOut,
             summary="Value an asset or a bundle (owner of every asset, a bank or an evaluator)")
async def create_valuation(body: ValuationIn, actor: CurrentActor, session: SessionDep) -> ValuationOut:
    valuation = await service.create_valuation(session, actor, body)
    return await service.describe(session, valuation)


@router.get("/valuations/{valuation_id}", response_model=ValuationOut,
            summary="One valuation (requester, asset owners, banks, evaluators)")
async def get_valuation(valuation_id: str, actor: CurrentActor, session: SessionDep) -> ValuationOut:
    return await service.describe(session, await service.get_valuation(session, actor, valuation_id))


@router.post("/valuations/{valuation_id}/certify", response_model=ValuationOut,
             summary="Certify a draft valuation as an appraisal report (evaluator)")
async def certify_valuation(valuation_id: str, actor: CurrentActor, session: SessionDep,
                            body: Annotated[CertifyIn | None, Body()] = None) -> ValuationOut:
    valuation = await service.certify(session, actor, valuation_id, body.valid_days if body else None)
    return await service.describe(session, valuation)


@router.get("/assets/{asset_id}/score", response_model=AssetScoreOut,
            summary="Indicator scores (GB/T 42748-2023) and the high-value verdict (any user)")
async def asset_score(asset_id: str, _: CurrentActor, session: SessionDep,
                      scenario: Annotated[Scenario, Query()] = "financing") -> AssetScoreOut:
    return await scores.asset_score(session, asset_id, scenario)
