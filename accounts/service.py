"""Registration, organisations, users, login with throttling, and the platform admin bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts import approvals
from accounts.credit_code import make_credit_code
from accounts.models import LoginThrottle, Org, Region, User
from accounts.passwords import hash_password, verify_password
from accounts.schemas import OrgIn, OrgPatch, RegionIn, RegisterIn, UserIn
from kernel import audit
from kernel.actor import ORG_ADMIN, PLATFORM_ADMIN, Actor
from kernel.db import get_or_404, insert_if_absent, insert_unique, utcnow
from kernel.errors import AlreadyExists, Forbidden, NotAuthenticated, RateLimited, ValidationFailed
from kernel.settings import Settings

PLATFORM_CREDIT_CODE = make_credit_code("91140000MA0000000")


async def _add_unique(session: AsyncSession, obj: object, what: str) -> None:
    await insert_unique(session, obj, AlreadyExists(f"{what} is already registered"))


async def _new_org(session: AsyncSession, actor: Actor, **fields: Any) -> Org:
    org = Org(**fields)
    await _add_unique(session, org, f"credit code {org.credit_code}")
    await audit.record(session, actor, "org.created", "org", org.id, after=org.model_dump())
    return org


async def _new_user(session: AsyncSession, actor: Actor, org: Org, email: str, password: str,
                    role: str) -> User:
    user = User(org_id=org.id, email=email.lower(), password_hash=await hash_password(password), role=role)
    await _add_unique(session, user, f"email {user.email}")
    await audit.record(session, actor, "user.created", "user", user.id,
                       after={"email": user.email, "org_id": org.id, "role": role})
    return user


async def register(session: AsyncSession, data: RegisterIn) -> tuple[Org, User]:
    org = Org(name=data.org_name, kind=data.org_kind, credit_code=data.credit_code, region=data.region,
              industry=data.industry)
    actor = Actor(user_id="self-registration", org_id=org.id, org_kind=org.kind, role=ORG_ADMIN)
    await _add_unique(session, org, f"credit code {org.credit_code}")
    await audit.record(session, actor, "org.registered", "org", org.id, after=org.model_dump())
    user = await _new_user(session, actor, org, data.email, data.password, ORG_ADMIN)
    return org, user


async def create_org(session: AsyncSession, actor: Actor, data: OrgIn) -> Org:
    if not actor.is_platform_admin:
        raise Forbidden("only the platform admin onboards organisations")
    return await _new_org(session, actor, **data.model_dump())


def _own_or_admin(actor: Actor) -> Callable[[Org], bool]:
    """An organisation's users are managed by itself and the platform admin; to others it is 404."""
    return lambda org: actor.is_platform_admin or actor.org_id == org.id


async def create_user(session: AsyncSession, actor: Actor, org_id: str, data: UserIn) -> User:
    org = await get_or_404(session, Org, org_id, visible=_own_or_admin(actor), label="organisation")
    if not actor.is_platform_admin and actor.role != ORG_ADMIN:
        raise Forbidden("only an organisation admin adds users")
    return await _new_user(session, actor, org, data.email, data.password, data.role)


async def update_org(session: AsyncSession, actor: Actor, org_id: str, data: OrgPatch) -> Org:
    """An organisation's own org_admin (or the platform admin) updates its profile."""
    org = await get_or_404(session, Org, org_id, lock=True, visible=_own_or_admin(actor), label="organisation")
    if not actor.is_platform_admin and actor.role != ORG_ADMIN:
        raise Forbidden("only an organisation admin changes its profile")
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed.at(["body", "name"], "name cannot be empty")
    if "approval_policy" in changes:
        changes["approval_policy"] = approvals.check_policy(org.kind, changes["approval_policy"] or {})
    before = org.model_dump()
    for field, value in changes.items():
        setattr(org, field, value if value is not None or field != "ip_honours" else [])
    session.add(org)
    await session.flush()
    await audit.record(session, actor, "org.updated", "org", org.id, before=before, after=org.model_dump())
    return org


def may_see_private_profile(actor: Actor, org: Org) -> bool:
    """R&D spending is the organisation's own business, its regulator's and the platform's."""
    return actor.org_id == org.id or actor.is_platform_admin or actor.is_kind("regulator")


async def get_org(session: AsyncSession, org_id: str) -> Org:
    return await get_or_404(session, Org, org_id, label="organisation")


async def upsert_region(session: AsyncSession, actor: Actor, data: RegionIn) -> Region:
    if not (actor.is_platform_admin or actor.is_kind("regulator")):
        raise Forbidden("only the admin or a regulator maintains regions")
    region = await session.get(Region, data.code)
    before = region.model_dump() if region else None
    if region is None:
        region = Region(**data.model_dump())
    else:
        region.name, region.population = data.name, data.population
    session.add(region)
    await session.flush()
    await audit.record(session, actor, "region.saved", "region", region.code, before=before,
                       after=region.model_dump())
    return region


async def authenticate(session: AsyncSession, email: str, password: str, client: str,
                       settings: Settings) -> User:
    """Check a password, counting failures per (email, client address) and locking that pair out.

    The password is checked outside any transaction (a SQLite write lock or a row lock must never be
    held for the ~100 ms of argon2). The caller commits whatever this flushed even when it raises, so
    failures are remembered.
    """
    email = email.strip().lower()
    client = client[:64]
    now = utcnow()
    stmt = sa.select(col(User.id), col(User.password_hash), col(User.disabled)).where(col(User.email) == email)
    found = (await session.exec(stmt)).first()  # type: ignore[call-overload]  # exec() is typed for sqlmodel.select; a Core select runs alike
    throttle = await session.get(LoginThrottle, (email, client))
    if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
        raise RateLimited("too many failed logins from this address; try again later",
                          extra={"retry_after": _seconds_until(throttle.locked_until, now)})
    await session.rollback()  # end the read before hashing
    ok = await verify_password(found.password_hash if found else None, password)
    if not ok:
        await _count_failure(session, email, client, found.id if found else None, settings)
        raise NotAuthenticated("wrong email or password")
    user = await session.get(User, found.id)
    if user is None:
        raise NotAuthenticated("wrong email or password")
    if user.disabled:
        raise NotAuthenticated("this user is disabled")
    throttle = await session.get(LoginThrottle, (email, client), with_for_update=True)
    if throttle is not None:
        before = {"failed_logins": throttle.failures, "locked_until": throttle.locked_until}
        await session.delete(throttle)
        await session.flush()
        await audit.record(session, _login_actor(user.org_id), "user.login_reset", "user", user.id,
                           before=before, after={"failed_logins": 0, "locked_until": None, "client": client})
    return user


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(1, int((when - now).total_seconds()))


def _login_actor(org_id: str) -> Actor:
    # Whoever is trying is not known yet: the audit names the account's organisation and "login".
    return Actor(user_id="login", org_id=org_id, org_kind="", role="")


async def _count_failure(session: AsyncSession, email: str, client: str, user_id: str | None,
                         settings: Settings) -> None:
    """One more failure for (email, client), under the row's lock so concurrent guesses all count."""
    await insert_if_absent(session, LoginThrottle(email=email, client=client))
    throttle = await session.get(LoginThrottle, (email, client), with_for_update=True, populate_existing=True)
    assert throttle is not None
    now = utcnow()
    before = {"failed_logins": throttle.failures, "locked_until": throttle.locked_until}
    throttle.failures += 1
    throttle.updated_at = now
    locked = throttle.failures >= settings.login_max_failures
    if locked:
        # Each further lockout of the same pair doubles the wait, up to the maximum.
        delay = min(settings.login_lockout_seconds * 2 ** min(throttle.lockouts, 30),
                    settings.login_lockout_max_seconds)
        throttle.locked_until = now + timedelta(seconds=delay)
        throttle.lockouts += 1
        throttle.failures = 0
    session.add(throttle)
    await session.flush()
    after = {"failed_logins": throttle.failures, "locked_until": throttle.locked_until, "client": client,
             "lockouts": throttle.lockouts}
    if user_id is not None:
        org_id = (await session.exec(select(col(User.org_id)).where(col(User.id) == user_id))).one()
        await audit.record(session, _login_actor(org_id), "user.locked" if locked else "user.login_failed",
                           "user", user_id, before=before, after=after)
    elif locked:
        # Lockouts of unknown emails are recorded too: they show someone probing for accounts.
        await audit.record(session, _login_actor("unknown"), "login.locked", "login", email[:40],
                           before=before, after={**after, "email": email})


async def ensure_platform_admin(session: AsyncSession, settings: Settings) -> User:
    """Create the platform organisation and its admin from IPM_ADMIN_EMAIL / IPM_ADMIN_PASSWORD if absent.

    Any number of processes may start at once: the caller holds the bootstrap lock
    (``kernel.db.serialise``), so the second one finds what the first created.
    """
    email = settings.admin_email.lower()
    user = (await session.exec(select(User).where(User.email == email))).first()
    if user is not None:
        return user
    org = (await session.exec(select(Org).where(Org.kind == "platform"))).first()
    system = Actor(user_id="bootstrap", org_id="platform", org_kind="platform", role=PLATFORM_ADMIN)
    if org is None:
        org = await _new_org(session, system, name="IP Pledge Market platform", kind="platform",
                             credit_code=PLATFORM_CREDIT_CODE)
    return await _new_user(session, system, org, email, settings.admin_password, PLATFORM_ADMIN)


def actor_for(user: User, org: Org) -> Actor:
    return Actor(user_id=user.id, org_id=org.id, org_kind=org.kind, role=user.role)
