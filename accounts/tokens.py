"""Refresh tokens (opaque, rotating, stored as SHA-256) and revocation of every token a user holds.

An access token is valid while its ``ver`` claim equals the user's ``token_version``; a refresh token
while its row is unused, unrevoked, unexpired and of the user's current version. ``revoke_all`` bumps
the version: every access and refresh token of the user stops working at once, on every process.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import RefreshToken, User
from kernel import audit
from kernel.actor import Actor
from kernel.day_end import day_end_handler
from kernel.db import utcnow
from kernel.errors import NotAuthenticated
from kernel.ids import new_id
from kernel.settings import Settings


@dataclass(frozen=True, slots=True)
class Issued:
    user_id: str
    org_id: str
    token_version: int
    refresh_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_refresh_token(session: AsyncSession, user: User, settings: Settings,
                              family_id: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    session.add(RefreshToken(token_hash=_digest(token), family_id=family_id or new_id("rff"), user_id=user.id,
                             token_version=user.token_version,
                             expires_at=utcnow() + timedelta(seconds=settings.refresh_ttl_seconds)))
    await session.flush()
    return token


async def rotate(session: AsyncSession, token: str, settings: Settings) -> Issued:
    """Use a refresh token once: mark it used and issue its successor.

    A token used a second time means it was copied: the whole family is revoked (the caller commits
    that even though it answers 401), so whoever holds the newer token must log in again too.
    """
    stmt = select(RefreshToken).where(RefreshToken.token_hash == _digest(token)).with_for_update()
    row = (await session.exec(stmt)).first()
    now = utcnow()
    refused = NotAuthenticated("the refresh token is not valid")
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise refused
    if row.used_at is not None:
        await session.exec(sa.update(RefreshToken).where(col(RefreshToken.family_id) == row.family_id,
                                                         col(RefreshToken.revoked_at).is_(None))
                           .values(revoked_at=now))
        await session.flush()
        raise NotAuthenticated("the refresh token was already used; log in again")
    user = await session.get(User, row.user_id)
    if user is None or user.disabled or user.token_version != row.token_version:
        raise refused
    row.used_at = now
    session.add(row)
    successor = await issue_refresh_token(session, user, settings, family_id=row.family_id)
    return Issued(user.id, user.org_id, user.token_version, successor)


async def revoke_all(session: AsyncSession, actor: Actor, user_id: str, reason: str) -> None:
    """Revoke every access and refresh token of the user (logout, disabling, a password change, ...)."""
    await session.exec(sa.update(User).where(col(User.id) == user_id)
                       .values(token_version=User.token_version + 1))
    await session.exec(sa.delete(RefreshToken).where(col(RefreshToken.user_id) == user_id))
    await session.flush()
    await audit.record(session, actor, "user.tokens_revoked", "user", user_id, after={"reason": reason})


@day_end_handler("accounts.purge_refresh_tokens", order=900)
async def purge_expired(session: AsyncSession, run_date: date) -> None:
    """Expired refresh tokens serve no purpose once past: reuse of one is refused anyway."""
    await session.exec(sa.delete(RefreshToken)
                       .where(col(RefreshToken.expires_at) < utcnow()))
