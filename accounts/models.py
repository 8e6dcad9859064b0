from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field
from kernel.ids import new_id

ORG_KINDS = ("sme", "university", "bank", "guarantor", "insurer", "evaluator", "fund", "regulator", "platform")
SELF_REGISTERING_KINDS = ("sme", "university")
USER_ROLES = ("admin", "org_admin", "checker", "member")


class Org(SQLModel, table=True):
    __tablename__ = "orgs"
    __table_args__ = (sa.CheckConstraint(f"kind IN {ORG_KINDS!r}", name="kind"),)
    id: str = Field(default_factory=lambda: new_id("org"), primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20, index=True)
    credit_code: str = Field(max_length=18, unique=True)
    region: str | None = Field(default=None, max_length=12, index=True)
    industry: str | None = Field(default=None, max_length=80)
    # Profile facts the enterprise IP index (domain §9) is computed from.
    ip_honours: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    rd_spending_last_year: int | None = Field(default=None, sa_type=sa.BigInteger)
    # Which actions need a second person (four-eyes), see ``accounts.approvals``: {} means none.
    approval_policy: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON,
                                            sa_column_kwargs={"server_default": "{}"})
    created_at: datetime = created_at_field()


class Region(SQLModel, table=True):
    __tablename__ = "regions"
    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=100)
    population: int = Field(sa_type=sa.BigInteger)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint(f"role IN {USER_ROLES!r}", name="role"),)
    id: str = Field(default_factory=lambda: new_id("usr"), primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=20)
    # Every token carries the version it was issued under; bumping it (accounts.tokens.revoke_all)
    # revokes the user's access and refresh tokens at once. A disabled user's tokens stop working too.
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    disabled: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = created_at_field()


class LoginThrottle(SQLModel, table=True):
    """Failed logins of one account from one client address, and that address's lockout.

    Keyed by the email as typed (normalised), not the user, so an unknown email behaves exactly
    like a known one. Another address, or the right password from an address without failures,
    is never held up by someone else's guesses.
    """

    __tablename__ = "login_throttles"
    email: str = Field(primary_key=True, max_length=254)
    client: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    lockouts: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=TZDateTime)
    updated_at: datetime = created_at_field()


class RefreshToken(SQLModel, table=True):
    """One refresh token (only its SHA-256 is stored). Each use rotates it: the row is marked used and
    a new one of the same family issued; a used token presented again revokes its whole family."""

    __tablename__ = "refresh_tokens"
    id: str = Field(default_factory=lambda: new_id("rft"), primary_key=True, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    family_id: str = Field(max_length=40, index=True)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40, ondelete="CASCADE")
    token_version: int
    expires_at: datetime = Field(sa_type=TZDateTime, index=True)
    used_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    created_at: datetime = created_at_field()
