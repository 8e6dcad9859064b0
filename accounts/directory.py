"""The organisation directory and user management: who is on the platform, who works for an organisation.

The platform admin and regulators see every organisation with its profile; everyone else sees the public
directory of institutions (name, kind, region) and never an SME's or university's private data. An
organisation's admin manages its own users; disabling a user or changing a password revokes the user's
tokens (``User.token_version``, checked on every request).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import USER_ROLES, Org, User
from accounts.passwords import hash_password, verify_password
from accounts.schemas import OrgOut, OrgPublicOut, PasswordChangeIn, UserOut, UserPatch
from kernel import audit
from kernel.actor import ORG_ADMIN, PLATFORM_ADMIN, Actor
from kernel.db import get_or_404, table_of
from kernel.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from kernel.pagination import cut_page, page_window

# Organisations that register themselves hold private data; the public directory lists institutions.
PRIVATE_KINDS = ("sme", "university", "platform")
ORGS, U = table_of(Org), table_of(User)


def sees_all_orgs(actor: Actor) -> bool:
    return actor.is_platform_admin or actor.is_kind("regulator")


async def list_orgs(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None, oldest_first: bool,
                    kind: str | None, region: str | None, q: str | None) -> tuple[list[Any], bool, str | None]:
    full = sees_all_orgs(actor)
    stmt = sa.select(ORGS) if full else sa.select(ORGS.c.id, ORGS.c.name, ORGS.c.kind, ORGS.c.region)
    if not full:
        stmt = stmt.where(ORGS.c.kind.not_in(PRIVATE_KINDS))
    if kind is not None:
        stmt = stmt.where(ORGS.c.kind == kind)
    if region is not None:
        stmt = stmt.where(ORGS.c.region == region)
    if q:
        stmt = stmt.where(ORGS.c.name.contains(q, autoescape=True))
    rows, more, nxt = cut_page(list((await session.exec(page_window(stmt, ORGS.c.id, limit, cursor,
                                                                       oldest_first=oldest_first))).all()), limit)
    out = OrgOut if full else OrgPublicOut
    return [out.model_validate(dict(r._mapping)) for r in rows], more, nxt


def _manages(actor: Actor, org_id: str) -> bool:
    return actor.is_platform_admin or (actor.org_id == org_id and actor.role == ORG_ADMIN)


async def _org_for_manager(session: AsyncSession, actor: Actor, org_id: str) -> Org:
    org = await session.get(Org, org_id)
    if org is None or (actor.org_id != org_id and not actor.is_platform_admin):
        raise NotFound("organisation not found")
    if not _manages(actor, org_id):
        raise Forbidden("only the organisation's admin manages its users")
    return org


async def list_users(session: AsyncSession, actor: Actor, org_id: str, *, limit: int, cursor: str | None,
                     oldest_first: bool) -> tuple[list[UserOut], bool, str | None]:
    await _org_for_manager(session, actor, org_id)
    stmt = sa.select(U).where(U.c.org_id == org_id)
    rows, more, nxt = cut_page(list((await session.exec(page_window(stmt, U.c.id, limit, cursor,
                                                                       oldest_first=oldest_first))).all()), limit)
    return [UserOut.model_validate(dict(r._mapping)) for r in rows], more, nxt


async def _active_admins(session: AsyncSession, org_id: str) -> int:
    stmt = select(sa.func.count()).select_from(U).where(U.c.org_id == org_id, U.c.role == ORG_ADMIN,
                                                    U.c.disabled.is_(False))
    return int((await session.exec(stmt)).one())


async def update_user(session: AsyncSession, actor: Actor, user_id: str, data: UserPatch) -> User:
    user = await get_or_404(session, User, user_id, lock=True)
    if actor.org_id != user.org_id and not actor.is_platform_admin:
        raise NotFound(f"user {user_id} not found")
    if not _manages(actor, user.org_id):
        raise Forbidden("only the organisation's admin manages its users")
    if user.role == PLATFORM_ADMIN:
        raise Forbidden("the platform admin is managed through IPM_ADMIN_EMAIL, not here")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "role" in changes and (changes["role"] not in USER_ROLES or changes["role"] == PLATFORM_ADMIN):
        raise ValidationFailed.at(["body", "role"], "not a role an organisation gives")
    before = {"role": user.role, "disabled": user.disabled}
    # Lock the organisation's admins so two admins cannot demote each other at once.
    await session.exec(select(U.c.id).where(U.c.org_id == user.org_id, U.c.role == ORG_ADMIN)
                          .order_by(U.c.id).with_for_update())
    loses_admin = user.role == ORG_ADMIN and not user.disabled and (
        changes.get("role", ORG_ADMIN) != ORG_ADMIN or changes.get("disabled", False))
    if loses_admin and await _active_admins(session, user.org_id) <= 1:
        raise InvalidState("the organisation's last active admin cannot be demoted or disabled")
    user.role = changes.get("role", user.role)
    if changes.get("disabled", user.disabled) != user.disabled:
        user.disabled = changes["disabled"]
        user.token_version += 1
    session.add(user)
    await session.flush()
    await audit.record(session, actor, "user.updated", "user", user.id, before=before,
                       after={"role": user.role, "disabled": user.disabled})
    return user


async def change_password(session: AsyncSession, actor: Actor, data: PasswordChangeIn) -> User:
    user = await get_or_404(session, User, actor.user_id, lock=True)
    if not await verify_password(user.password_hash, data.current_password):
        raise ValidationFailed.at(["body", "current_password"], "the current password is wrong")
    if data.new_password == data.current_password:
        raise ValidationFailed.at(["body", "new_password"], "the new password must differ from the current one")
    user.password_hash = await hash_password(data.new_password)
    user.token_version += 1
    session.add(user)
    await session.flush()
    await audit.record(session, actor, "user.password_changed", "user", user.id, after={"tokens_revoked": True})
    return user
