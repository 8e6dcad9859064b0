"""Dependencies: the request's session, the current actor, and who may call an endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org, User
from accounts.service import actor_for
from api.approvals import replay_of
from api.security import decode_access_token
from kernel.actor import Actor
from kernel.errors import Forbidden, NotAuthenticated
from kernel.settings import Settings

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> AsyncSession:
    return request.state.session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def current_actor(request: Request, session: SessionDep, settings: SettingsDep,
                        token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    replay = replay_of(request)
    if replay is not None:  # an approved four-eyes request runs as its maker
        return replay.maker
    if not token:
        raise NotAuthenticated("send Authorization: Bearer <access_token>")
    claims = decode_access_token(token, settings)
    user = await session.get(User, claims["sub"])
    if user is None or user.org_id != claims["org"]:
        raise NotAuthenticated("the access token's user no longer exists")
    org = await session.get(Org, user.org_id)
    assert org is not None
    return actor_for(user, org)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def org_kinds(*kinds: str, admin: bool = False) -> Callable[[Actor], Actor]:
    """Only users of these organisation kinds (and, with ``admin``, the platform admin)."""

    def check(actor: CurrentActor) -> Actor:
        if actor.is_kind(*kinds) or (admin and actor.is_platform_admin):
            return actor
        allowed = ", ".join(kinds) + (" or the platform admin" if admin else "")
        raise Forbidden(f"only {allowed} may do this")

    return check


def platform_admin(actor: CurrentActor) -> Actor:
    if not actor.is_platform_admin:
        raise Forbidden("only the platform admin may do this")
    return actor


AdminActor = Annotated[Actor, Depends(platform_admin)]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=200)]
