from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response

from api.deps import CallerDep, CurrentActor, Cursor, Limit, SessionDep, org_kinds
from api.responses import model_json
from api.routing import AreaRouter, TransactionalRoute
from kernel.actor import Actor
from kernel.pagination import Page
from market.assets import service
from market.assets.schemas import AssetIn, AssetKind, AssetOut, AssetPatch, AssetStatus, AssetSummaryOut

router = AreaRouter(tags=["assets"], route_class=TransactionalRoute)
AssetOwner = Annotated[Actor, Depends(org_kinds(*service.ASSET_OWNER_KINDS))]


@router.post("/assets", status_code=201, response_model=AssetOut,
             summary="Register an IP asset owned by the caller's organisation (SME, university)")
async def create_asset(body: AssetIn, actor: AssetOwner, session: SessionDep) -> AssetOut:
    asset = await service.create_asset(session, actor, body)
    return await service.describe(session, asset)


@router.get("/assets", response_model=Page[AssetSummaryOut], summary="Search the registry (any user)")
async def list_assets(
    session: SessionDep, _: CurrentActor, limit: Limit = 20, cursor: Cursor = None,
    q: Annotated[str | None, Query(max_length=200, description="words in the title or abstract")] = None,
    kind: AssetKind | None = None,
    ipc: Annotated[str | None, Query(max_length=20, description="IPC subclass (H01M) or code")] = None,
    owner_org_id: Annotated[str | None, Query(max_length=40)] = None,
    dormant: bool | None = None,
    status: AssetStatus | None = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="geographical indications of this "
                                        "region or inside it (GB/T 2260 code)")] = None,
) -> Response:
    filters = service.AssetFilters(q=q, kind=kind, ipc=ipc, owner_org_id=owner_org_id, dormant=dormant,
                                   status=status, region=region)
    rows, has_more, next_cursor = await service.list_assets(session, filters, limit, cursor)
    return model_json(Page[AssetSummaryOut](data=[service.summarise(a) for a in rows], has_more=has_more,
                                            next_cursor=next_cursor))


@router.get("/assets/{asset_id}", response_model=AssetOut, summary="One asset in full (any user)")
async def get_asset(asset_id: str, caller: CallerDep, request: Request) -> Response:
    # The request's session from the request itself: a dependency fewer for FastAPI to solve on a hot read.
    return model_json(await service.read_asset(request.state.session, asset_id, caller.read))


@router.patch("/assets/{asset_id}", response_model=AssetOut, summary="Update an asset's facts (owner)")
async def patch_asset(asset_id: str, body: AssetPatch, actor: CurrentActor, session: SessionDep) -> AssetOut:
    asset = await service.update_asset(session, actor, asset_id, body)
    return await service.describe(session, asset)
