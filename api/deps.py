"""Dependencies: the request's session, the current actor, and who may call an endpoint."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org, User
from api.approvals import replay_of
from api.security import decode_access_token
from kernel.actor import Actor
from kernel.clock import ClockState, remember_business_date
from kernel.db import read_rows, table_of
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


def _actor_row(param: str) -> sa.Select[Any]:
    return (sa.select(_users.c.org_id, _users.c.role, _users.c.token_version, _users.c.disabled, _orgs.c.kind,
                      sa.select(_clock.c.business_date).where(_clock.c.id == 1).scalar_subquery()
                      .label("business_date"))
            .join_from(_users, _orgs, _users.c.org_id == _orgs.c.id)
            .where(_users.c.id == sa.bindparam(param)))


_ACTOR_ROW = _actor_row("user_id")


async def current_actor(request: Request, session: SessionDep, settings: SettingsDep,
                        token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    replay = replay_of(request)
    if replay is not None:  # an approved four-eyes request runs as its maker
        return replay.maker
    claims = _claims(token, settings)
    rows = await read_rows(session, _ACTOR_ROW, {"user_id": claims["sub"]})
    return _verified(session, claims, rows[0] if rows else None)


def _claims(token: str | None, settings: Settings) -> dict[str, Any]:
    if not token:
        raise NotAuthenticated("send Authorization: Bearer <access_token>")
    return decode_access_token(token, settings)


def _verified(session: AsyncSession, claims: dict[str, Any], row: Any) -> Actor:
    """The token's actor if its user still exists, is enabled and the token is not revoked (401 otherwise)."""
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


class Caller:
    """The bearer token's caller for an endpoint whose first act is one read (``read``): the check of the
    token against the database (``current_actor``'s) joins that read's statement, one round trip instead
    of two. ``actor`` is set once ``read`` has run; a token that fails the check answers 401 from it, so
    before anything the endpoint reads is used (a missing object's 404 included)."""

    __slots__ = ("actor", "claims")

    def __init__(self, claims: dict[str, Any] | None, actor: Actor | None = None) -> None:
        self.claims = claims
        self.actor = actor

    async def read(self, session: AsyncSession, stmt: sa.Select[Any], params: dict[str, Any]) -> list[Any]:
        """``read_rows(session, stmt, params)``, the caller checked in the same statement. For statements
        whose rows' order does not matter (the join may not keep it)."""
        if self.claims is None:  # already known (an approved request's maker)
            return await read_rows(session, stmt, params)
        joined = _JOINED.get(stmt) or _JOINED.setdefault(stmt, _Joined(stmt))
        rows = await read_rows(session, joined.stmt, {**params, _CALLER_PARAM: self.claims["sub"]})
        self.actor = _verified(session, self.claims, joined.actor_of(rows[0]) if rows else None)
        self.claims = None
        return joined.rows_of(rows)


_CALLER_PARAM = "ipm_caller_id"
_CALLER_ROW = _actor_row(_CALLER_PARAM).subquery("caller")
_ActorRow = namedtuple("_ActorRow", list(_CALLER_ROW.c.keys()))  # type: ignore[misc]  # built from the statement


class _Joined:
    """``stmt`` beside the caller's row: ``caller LEFT JOIN (stmt) ON true``, so the caller's row comes back
    once even when ``stmt`` finds nothing; a marker column tells its own rows from that empty one."""

    __slots__ = ("row", "stmt", "width")

    def __init__(self, stmt: sa.Select[Any]) -> None:
        inner = stmt.add_columns(sa.literal_column("1").label("ipm_found")).subquery("found")
        self.width = len(_CALLER_ROW.c)
        self.stmt = (sa.select(*(c.label(f"ipm_a{i}") for i, c in enumerate(_CALLER_ROW.c)),
                               *(c.label(f"ipm_c{i}") for i, c in enumerate(inner.c)))
                     .select_from(_CALLER_ROW.outerjoin(inner, sa.true())))
        self.row: Any = namedtuple("Row", list(stmt.selected_columns.keys()))  # type: ignore[misc]  # per statement

    def actor_of(self, row: Any) -> Any:
        return _ActorRow._make(row[:self.width])

    def rows_of(self, rows: list[Any]) -> list[Any]:
        return [self.row._make(r[self.width:-1]) for r in rows if r[-1] is not None]


_JOINED: dict[sa.Select[Any], _Joined] = {}


class _CallerScheme(OAuth2PasswordBearer):
    """The bearer scheme as ``CurrentActor``'s (the same in the OpenAPI document), the check deferred."""

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]  # the caller, not the token
        token = await super().__call__(request)
        replay = replay_of(request)
        if replay is not None:  # an approved four-eyes request runs as its maker
            return Caller(None, replay.maker)
        return Caller(_claims(token, request.app.state.settings))


CallerDep = Annotated[Caller, Depends(_CallerScheme(tokenUrl=TOKEN_URL, scheme_name=oauth2.scheme_name,
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
