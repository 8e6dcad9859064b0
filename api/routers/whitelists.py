"""White lists over HTTP: firms consent, the regulator publishes, banks read (rules in finance.whitelists)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response

from api.deps import CurrentActor, Cursor, Limit, SessionDep, org_kinds
from api.routing import AreaRouter, TransactionalRoute
from finance.whitelists import service
from finance.whitelists.schemas import WhitelistConsentOut, WhitelistIn, WhitelistOut
from kernel.actor import Actor
from kernel.pagination import Page

router = AreaRouter(tags=["whitelists"], route_class=TransactionalRoute)
Reader = Annotated[Actor, Depends(org_kinds(*service.READER_KINDS, admin=True))]


@router.post("/whitelists", status_code=201, response_model=WhitelistOut,
             summary="Publish a white list of firms recommended for IP-pledge lending, each with its IP "
                     "indicators computed now; every firm must have consented (regulator)")
async def publish(body: WhitelistIn, actor: CurrentActor, session: SessionDep) -> WhitelistOut:
    wl = await service.publish(session, actor, body)
    return (await service.describe(session, [wl], entries=True))[0]


@router.get("/whitelists", response_model=Page[WhitelistOut],
            summary="Published white lists (banks, the fund, regulators, admin; regulators see withdrawn ones too)")
async def list_whitelists(actor: Reader, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                          year: Annotated[int | None, Query(ge=2000, le=2200)] = None) -> Page[WhitelistOut]:
    rows, has_more, next_cursor = await service.list_whitelists(session, actor, year, limit, cursor)
    return Page[WhitelistOut](data=await service.describe(session, rows), has_more=has_more, next_cursor=next_cursor)


@router.get("/whitelists/{whitelist_id}", response_model=WhitelistOut,
            summary="One white list with each firm and its IP indicators as published")
async def get_whitelist(whitelist_id: str, actor: Reader, session: SessionDep) -> WhitelistOut:
    wl = await service.get_whitelist(session, actor, whitelist_id)
    return (await service.describe(session, [wl], entries=True))[0]


@router.post("/whitelists/{whitelist_id}/withdraw", response_model=WhitelistOut,
             summary="Withdraw a published white list (the regulator that published it)")
async def withdraw(whitelist_id: str, actor: CurrentActor, session: SessionDep) -> WhitelistOut:
    wl = await service.withdraw(session, actor, whitelist_id)
    return (await service.describe(session, [wl]))[0]


@router.post("/whitelist-consents", response_model=WhitelistConsentOut, status_code=201,
             summary="Consent to be recommended to banks with your IP indicators (firm, university); 200 when "
                     "already given")
async def give_consent(actor: CurrentActor, session: SessionDep, response: Response) -> Any:
    consent, new = await service.give_consent(session, actor)
    if not new:
        response.status_code = 200
    return consent


@router.get("/whitelist-consents/mine", response_model=WhitelistConsentOut | None,
            summary="Your organisation's consent in force, or null")
async def my_consent(actor: CurrentActor, session: SessionDep) -> Any:
    return await service.live_consent(session, actor.org_id)


@router.post("/whitelist-consents/withdraw", response_model=WhitelistConsentOut,
             summary="Withdraw the consent: no later list may name you (published ones keep what they showed)")
async def withdraw_consent(actor: CurrentActor, session: SessionDep) -> Any:
    return await service.withdraw_consent(session, actor)
