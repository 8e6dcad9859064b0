"""Technology needs, matches both ways, and feedback on matches."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import CurrentActor, Cursor, Limit, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from kernel.pagination import Page
from market.matching import service
from market.matching.schemas import AssetMatchOut, FeedbackIn, FeedbackOut, NeedIn, NeedMatchOut, NeedOut

router = AreaRouter(tags=["market"], route_class=TransactionalRoute)


@router.post("/tech-needs", status_code=201, response_model=NeedOut, summary="Post a technology need (SME)")
async def create_need(body: NeedIn, actor: CurrentActor, session: SessionDep) -> NeedOut:
    return NeedOut.model_validate(await service.create_need(session, actor, title=body.title,
                                                            description=body.description,
                                                            ipc_codes=body.ipc_codes, industry=body.industry))


@router.get("/tech-needs", response_model=Page[NeedOut], summary="Open technology needs (any user)")
async def list_needs(_: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                     q: Annotated[str | None, Query(max_length=200)] = None,
                     org_id: Annotated[str | None, Query(max_length=40)] = None) -> Page[NeedOut]:
    rows, has_more, nxt = await service.list_needs(session, q=q, org_id=org_id, limit=limit, cursor=cursor)
    return Page[NeedOut](data=[NeedOut.model_validate(r) for r in rows], has_more=has_more, next_cursor=nxt)


@router.get("/tech-needs/{need_id}", response_model=NeedOut, summary="One technology need (any user)")
async def get_need(need_id: str, _: CurrentActor, session: SessionDep) -> NeedOut:
    return NeedOut.model_validate(await service.get_need(session, need_id))


@router.get("/tech-needs/{need_id}/matches", response_model=list[AssetMatchOut],
            summary="Patents ranked for a need, with reasons (need owner)")
async def need_matches(need_id: str, actor: CurrentActor, session: SessionDep,
                       limit: Limit = 20) -> list[AssetMatchOut]:
    return await service.matches_for_need(session, actor, need_id, limit)


@router.get("/assets/{asset_id}/matches", response_model=list[NeedMatchOut],
            summary="Technology needs ranked for an asset, with reasons (asset owner)")
async def asset_matches(asset_id: str, actor: CurrentActor, session: SessionDep,
                        limit: Limit = 20) -> list[NeedMatchOut]:
    return await service.matches_for_asset(session, actor, asset_id, limit)


@router.post("/matches/feedback", status_code=201, response_model=FeedbackOut,
             summary="Interested / not relevant on a matched pair (need owner); moves later rankings")
async def feedback(body: FeedbackIn, actor: CurrentActor, session: SessionDep) -> FeedbackOut:
    return FeedbackOut.model_validate(await service.record_feedback(session, actor, body.need_id, body.asset_id,
                                                                    body.verdict))
