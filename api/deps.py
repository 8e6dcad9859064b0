"""Dependencies: the request's session, the current actor, and who may call an endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org, User
from api.approvals import replay_of
from api.security import decode_access_token
from kernel.actor import Actor
from kernel.clock import ClockState, remember_business_date
from kernel.db import table_of
from kernel.errors import Forbidden, NotAuthenticated
from kernel.settings import Settings

TOKEN_URL = "/api/v1/auth/token"
oauth2 = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


# Dependencies are ``async def``: FastAPI runs a plain ``def`` one in a thread pool, a costly hop for
# returning an attribute.
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]  # app.state is untyped


async def get_session(request: Request) -> AsyncSession:
    return request.state.session  # type: ignore[no-any-return]  # request.state is untyped


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]

# One Core statement per request (compiled once, cached by SQLAlchemy): the user's organisation, role,
# token version and whether it is disabled, with the organisation's kind, and the manual clock's business
# date, which the request's services then take from the session (kernel.clock) instead of reading again.
# Read fresh every request: disabling a user, a new role or a revoked token take effect at once.
_users, _orgs, _clock = table_of(User), table_of(Org), table_of(ClockState)
_ACTOR_ROW = (sa.select(_users.c.org_id, _users.c.role, _users.c.token_version, _users.c.disabled, _orgs.c.kind,
                        sa.select(_clock.c.business_date).where(_clock.c.id == 1).scalar_subquery()
                        .label("business_date"))
              .join_from(_users, _orgs, _users.c.org_id == _orgs.c.id)
              .where(_users.c.id == sa.bindparam("user_id")))


async def current_actor(request: Request, session: SessionDep, settings: SettingsDep,
                        token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    replay = replay_of(request)
    if replay is not None:  # an approved four-eyes request runs as its maker
        return replay.maker
    if not token:
        raise NotAuthenticated("send Authorization: Bearer <access_token>")
    claims = decode_access_token(token, settings)
    row = (await session.exec(_ACTOR_ROW, params={"user_id": claims["sub"]})).first()  # type: ignore[call-overload]
    if row is None or row.org_id != claims["org"]:
        raise NotAuthenticated("the access token's user no longer exists")
    if row.disabled or row.token_version != claims["ver"]:
        raise NotAuthenticated("the access token has been revoked")
    remember_business_date(session, row.business_date)
    return Actor(user_id=claims["sub"], org_id=row.org_id, org_kind=row.kind, role=row.role)


class _ActorScheme(OAuth2PasswordBearer):
    """The bearer scheme and ``current_actor`` as one dependency: every authenticated endpoint depends on it,
    and FastAPI solves each dependency layer per request (the session, the settings and the token were three
    more). The OpenAPI document is the same: the same scheme under the same name."""

    async def __call__(self, request: Request) -> Actor:  # type: ignore[override]  # the actor, not the token
        token = await super().__call__(request)
        return await current_actor(request, request.state.session, request.app.state.settings, token)


CurrentActor = Annotated[Actor, Depends(_ActorScheme(tokenUrl=TOKEN_URL, scheme_name=oauth2.scheme_name,
                                                      auto_error=False))]


def org_kinds(*kinds: str, admin: bool = False) -> Callable[[Actor], Awaitable[Actor]]:
    """Only users of these organisation kinds (and, with ``admin``, the platform admin)."""

    async def check(actor: CurrentActor) -> Actor:
        if actor.is_kind(*kinds) or (admin and actor.is_platform_admin):
            return actor
        allowed = ", ".join(kinds) + (" or the platform admin" if admin else "")
        raise Forbidden(f"only {allowed} may do this")

    return check


async def platform_admin(actor: CurrentActor) -> Actor:
    if not actor.is_platform_admin:
        raise Forbidden("only the platform admin may do this")
    return actor


AdminActor = Annotated[Actor, Depends(platform_admin)]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=200)]
# Lists are newest first unless the caller asks for ``order=oldest``.
Order = Annotated[Literal["newest", "oldest"], Query()]
