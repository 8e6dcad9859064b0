"""White lists, their entries (each firm's indicators as published) and the firms' consents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, utcnow
from kernel.ids import new_id
from kernel.workflow import Workflow

# A list is published at once; the regulator may withdraw it (banks stop seeing it).
WHITELIST = Workflow("whitelist", {("published", "withdraw"): "withdrawn"}, initial="published")
# A firm agrees to be recommended (its indicators shown to banks); it may withdraw that for future lists.
WHITELIST_CONSENT = Workflow("whitelist_consent", {("given", "withdraw"): "withdrawn"}, initial="given")


class Whitelist(SQLModel, table=True):
    __tablename__ = "whitelists"
    __table_args__ = (sa.CheckConstraint("status IN ('published', 'withdrawn')", name="status"),)
    id: str = Field(default_factory=lambda: new_id("wl"), primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    year: int = Field(index=True)
    regulator_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    status: str = Field(default="published", max_length=20)
    published_on: date
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class WhitelistEntry(SQLModel, table=True):
    __tablename__ = "whitelist_entries"
    __table_args__ = (sa.UniqueConstraint("whitelist_id", "org_id"),)
    id: str = Field(default_factory=lambda: new_id("wle"), primary_key=True, max_length=40)
    whitelist_id: str = Field(foreign_key="whitelists.id", index=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    consent_id: str = Field(foreign_key="whitelist_consents.id", max_length=40)
    # The firm's IP indicators as computed when the list was published (what the banks were shown).
    indicators: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class WhitelistConsent(SQLModel, table=True):
    __tablename__ = "whitelist_consents"
    __table_args__ = (sa.CheckConstraint("status IN ('given', 'withdrawn')", name="status"),)
    id: str = Field(default_factory=lambda: new_id("wlc"), primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    status: str = Field(default="given", max_length=20)
    given_on: date
    given_by_user_id: str = Field(max_length=40)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
