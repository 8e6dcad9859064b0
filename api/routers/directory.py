"""The organisation directory, an organisation's users, and a user's own password."""

from __future__ import annotations

from fastapi import Query, Response

from accounts import directory
from accounts.models import ORG_KINDS
from accounts.schemas import OrgOut, OrgPublicOut, PasswordChangeIn, UserOut, UserPatch
from api.deps import CurrentActor, Cursor, Limit, Order, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from kernel.errors import ValidationFailed
from kernel.pagination import Page

router = AreaRouter(tags=["accounts"], route_class=TransactionalRoute)


@router.get("/orgs", response_model=Page[OrgOut | OrgPublicOut],
            summary="Organisations: every profile for the admin and regulators, the institutions' public "
                    "directory (id, name, kind, region) for everyone else (any user)")
async def list_orgs(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                    order: Order = "newest", kind: str | None = Query(default=None, max_length=20),
                    region: str | None = Query(default=None, max_length=12),
                    q: str | None = Query(default=None, max_length=100)) -> Page[OrgOut | OrgPublicOut]:
    if kind is not None and kind not in ORG_KINDS:
        raise ValidationFailed.at(["query", "kind"], f"kind must be one of {', '.join(ORG_KINDS)}")
    data, more, nxt = await directory.list_orgs(session, actor, limit=limit, cursor=cursor,
                                                oldest_first=order == "oldest", kind=kind, region=region, q=q)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.get("/orgs/{org_id}/users", response_model=Page[UserOut],
            summary="An organisation's users (platform admin, or that organisation's org_admin)")
async def list_users(org_id: str, actor: CurrentActor, session: SessionDep, limit: Limit = 20,
                     cursor: Cursor = None, order: Order = "newest") -> Page[UserOut]:
    data, more, nxt = await directory.list_users(session, actor, org_id, limit=limit, cursor=cursor,
                                                 oldest_first=order == "oldest")
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.patch("/users/{user_id}", response_model=UserOut,
              summary="Change a user's role or disable it; disabling revokes its tokens (platform admin, or the "
                      "user's org_admin)")
async def update_user(user_id: str, body: UserPatch, actor: CurrentActor, session: SessionDep) -> UserOut:
    return UserOut.model_validate(await directory.update_user(session, actor, user_id, body), from_attributes=True)


@router.post("/me/password", status_code=204, response_class=Response,
             summary="Change your password; every token issued before is revoked (any user)")
async def change_password(body: PasswordChangeIn, actor: CurrentActor, session: SessionDep) -> Response:
    await directory.change_password(session, actor, body)
    return Response(status_code=204)
