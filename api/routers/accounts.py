from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from accounts import service, tokens
from accounts.models import User
from accounts.schemas import (
    MeOut,
    OrgIn,
    OrgOut,
    OrgPatch,
    RefreshIn,
    RegionIn,
    RegionOut,
    RegisterIn,
    RegisterOut,
    TokenOut,
    UserIn,
    UserOut,
)
from api.deps import AdminActor, CurrentActor, SessionDep, org_kinds
from api.routing import AreaRouter, TransactionalRoute
from api.security import create_access_token
from kernel.actor import Actor
from kernel.errors import DomainError
from kernel.settings import Settings

router = AreaRouter(tags=["accounts"], route_class=TransactionalRoute)
# The token endpoint keeps its own transaction: failed attempts must be remembered although it answers 401.
token_router = AreaRouter(tags=["accounts"])


def _user_out(user: object) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.post("/auth/register", status_code=201, response_model=RegisterOut,
             summary="Register an SME or university and its first user (anyone)")
async def register(body: RegisterIn, session: SessionDep) -> RegisterOut:
    org, user = await service.register(session, body)
    return RegisterOut(org=OrgOut.model_validate(org, from_attributes=True), user=_user_out(user))


def _client(request: Request) -> str:
    # The peer address; behind a proxy run uvicorn with --forwarded-allow-ips so this is the client's.
    return request.client.host if request.client else "unknown"


def _tokens(user_id: str, org_id: str, version: int, refresh_token: str, settings: Settings) -> TokenOut:
    return TokenOut(access_token=create_access_token(user_id, org_id, settings, version),
                    expires_in=settings.jwt_ttl_seconds, refresh_token=refresh_token)


@token_router.post("/auth/token", response_model=TokenOut,
                   summary="Log in: OAuth2 password form → access and refresh tokens (anyone)")
async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    settings = request.app.state.settings
    async with request.app.state.session_factory() as session:
        try:
            user = await service.authenticate(session, form.username, form.password, _client(request), settings)
            refresh = await tokens.issue_refresh_token(session, user, settings)
        except DomainError:
            await session.commit()
            raise
        await session.commit()
    return _tokens(user.id, user.org_id, user.token_version, refresh, settings)


@token_router.post("/auth/refresh", response_model=TokenOut,
                   summary="Trade a refresh token for new access and refresh tokens; each works once (anyone)")
async def refresh(request: Request, body: RefreshIn) -> TokenOut:
    settings = request.app.state.settings
    async with request.app.state.session_factory() as session:
        try:
            issued = await tokens.rotate(session, body.refresh_token, settings)
        except DomainError:
            await session.commit()  # a reused token's family stays revoked
            raise
        await session.commit()
    return _tokens(issued.user_id, issued.org_id, issued.token_version, issued.refresh_token, settings)


@router.post("/auth/logout", status_code=204, response_class=Response,
             summary="Log out: revoke every access and refresh token of the current user (any user)")
async def logout(actor: CurrentActor, session: SessionDep) -> Response:
    await tokens.revoke_all(session, actor, actor.user_id, "logout")
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, summary="The current user and organisation (any user)")
async def me(actor: CurrentActor, session: SessionDep) -> MeOut:
    user = await session.get(User, actor.user_id)
    org = await service.get_org(session, actor.org_id)
    return MeOut(user=_user_out(user), org=OrgOut.model_validate(org, from_attributes=True))


@router.post("/orgs", status_code=201, response_model=OrgOut, summary="Onboard an organisation (platform admin)")
async def create_org(body: OrgIn, actor: AdminActor, session: SessionDep) -> OrgOut:
    return OrgOut.model_validate(await service.create_org(session, actor, body), from_attributes=True)


def _org_out(actor: Actor, org: object) -> OrgOut:
    out = OrgOut.model_validate(org, from_attributes=True)
    if not service.may_see_private_profile(actor, org):  # type: ignore[arg-type]
        out.rd_spending_last_year = None
        out.approval_policy = None
    return out


@router.get("/orgs/{org_id}", response_model=OrgOut,
            summary="An organisation's profile (any user; R&D spending only to itself, regulators, admin)")
async def get_org(org_id: str, actor: CurrentActor, session: SessionDep) -> OrgOut:
    return _org_out(actor, await service.get_org(session, org_id))


@router.patch("/orgs/{org_id}", response_model=OrgOut,
              summary="Update an organisation's profile (platform admin, or that organisation's org_admin)")
async def update_org(org_id: str, body: OrgPatch, actor: CurrentActor, session: SessionDep) -> OrgOut:
    return _org_out(actor, await service.update_org(session, actor, org_id, body))


@router.post("/orgs/{org_id}/users", status_code=201, response_model=UserOut,
             summary="Add a user to an organisation (platform admin, or that organisation's org_admin)")
async def create_user(org_id: str, body: UserIn, actor: CurrentActor, session: SessionDep) -> UserOut:
    return _user_out(await service.create_user(session, actor, org_id, body))


@router.post("/regions", status_code=201, response_model=RegionOut,
             summary="Create or update a region and its population (platform admin, regulator)")
async def upsert_region(body: RegionIn, session: SessionDep,
                        actor: Annotated[Actor, Depends(org_kinds("regulator", admin=True))]) -> RegionOut:
    return RegionOut.model_validate(await service.upsert_region(session, actor, body), from_attributes=True)
