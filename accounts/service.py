"""Registration, organisations, users, login with throttling, and the platform admin bootstrap."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts import approvals
from accounts.credit_code import make_credit_code
from accounts.models import Org, Region, User
from accounts.passwords import DUMMY_HASH, hash_password, verify_password
from accounts.schemas import OrgIn, OrgPatch, RegionIn, RegisterIn, UserIn
from kernel import audit
from kernel.actor import ORG_ADMIN, PLATFORM_ADMIN, Actor
from kernel.db import insert_unique, utcnow
from kernel.errors import AlreadyExists, Forbidden, NotAuthenticated, NotFound, RateLimited, ValidationFailed
from kernel.settings import Settings

PLATFORM_CREDIT_CODE = make_credit_code("91140000MA0000000")


async def _add_unique(session: AsyncSession, obj: object, what: str) -> None:
    await insert_unique(session, obj, AlreadyExists(f"{what} is already registered"))


async def _new_org(session: AsyncSession, actor: Actor, **fields: object) -> Org:
    org = Org(**fields)
    await _add_unique(session, org, f"credit code {org.credit_code}")
    await audit.record(session, actor, "org.created", "org", org.id, after=org.model_dump())
    return org


async def _new_user(session: AsyncSession, actor: Actor, org: Org, email: str, password: str,
                    role: str) -> User:
    user = User(org_id=org.id, email=email.lower(), password_hash=hash_password(password), role=role)
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


async def create_user(session: AsyncSession, actor: Actor, org_id: str, data: UserIn) -> User:
    org = await session.get(Org, org_id)
    if org is None or (not actor.is_platform_admin and actor.org_id != org_id):
        raise NotFound("organisation not found")
    if not actor.is_platform_admin and actor.role != ORG_ADMIN:
        raise Forbidden("only an organisation admin adds users")
    return await _new_user(session, actor, org, data.email, data.password, data.role)


async def update_org(session: AsyncSession, actor: Actor, org_id: str, data: OrgPatch) -> Org:
    """An organisation's own org_admin (or the platform admin) updates its profile."""
    stmt = select(Org).where(Org.id == org_id).with_for_update()
    org = (await session.exec(stmt)).first()
    if org is None or (not actor.is_platform_admin and actor.org_id != org_id):
        raise NotFound("organisation not found")
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
    org = await session.get(Org, org_id)
    if org is None:
        raise NotFound("organisation not found")
    return org


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


async def authenticate(session: AsyncSession, email: str, password: str, settings: Settings) -> User:
    """Check a password; count failures and lock the account after too many.

    The caller commits whatever this flushed even when it raises, so failures are remembered.
    """
    # Locked, so concurrent wrong guesses cannot lose each other's count.
    stmt = select(User).where(User.email == email.strip().lower()).with_for_update()
    user = (await session.exec(stmt)).first()
    now = utcnow()
    if user is None:
        verify_password(DUMMY_HASH, password)
        raise NotAuthenticated("wrong email or password")
    if user.locked_until is not None and user.locked_until > now:
        raise RateLimited("too many failed logins; try again later",
                          extra={"retry_after": _seconds_until(user.locked_until, now)})
    # Whoever is trying is not known yet: the audit names the account's organisation and "login".
    attempt = Actor(user_id="login", org_id=user.org_id, org_kind="", role="")
    before = {"failed_logins": user.failed_logins, "locked_until": user.locked_until}
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        locked = user.failed_logins >= settings.login_max_failures
        if locked:
            user.locked_until = now + timedelta(seconds=settings.login_lockout_seconds)
            user.failed_logins = 0
        session.add(user)
        await session.flush()
        await audit.record(session, attempt, "user.locked" if locked else "user.login_failed", "user",
                           user.id, before=before,
                           after={"failed_logins": user.failed_logins, "locked_until": user.locked_until})
        raise NotAuthenticated("wrong email or password")
    if user.failed_logins or user.locked_until:
        user.failed_logins, user.locked_until = 0, None
        session.add(user)
        await session.flush()
        await audit.record(session, attempt, "user.login_reset", "user", user.id, before=before,
                           after={"failed_logins": 0, "locked_until": None})
    return user


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(1, int((when - now).total_seconds()))


async def ensure_platform_admin(session: AsyncSession, settings: Settings) -> User:
    """Create the platform organisation and its admin from IPM_ADMIN_EMAIL / IPM_ADMIN_PASSWORD if absent."""
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
