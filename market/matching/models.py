from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, utcnow
from kernel.ids import new_id

NEED_STATUSES = ("open", "closed")
VERDICTS = ("interested", "not_relevant")


class TechNeed(SQLModel, table=True):
    __tablename__ = "tech_needs"
    __table_args__ = (sa.CheckConstraint(f"status IN {NEED_STATUSES!r}", name="status"),)
    id: str = Field(default_factory=lambda: new_id("ned"), primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    title: str = Field(max_length=300)
    description: str = Field(sa_type=sa.Text)
    ipc_codes: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    industry: str | None = Field(default=None, max_length=80, index=True)
    status: str = Field(default="open", max_length=20, index=True)
    search_text: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = created_at_field()


class MatchFeedback(SQLModel, table=True):
    """The need owner's verdict on a recommended pair; the latest verdict counts."""

    __tablename__ = "match_feedback"
    __table_args__ = (sa.UniqueConstraint("need_id", "asset_id"),
                      sa.CheckConstraint(f"verdict IN {VERDICTS!r}", name="verdict"))
    id: str = Field(default_factory=lambda: new_id("mfb"), primary_key=True, max_length=40)
    need_id: str = Field(foreign_key="tech_needs.id", index=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", index=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", max_length=40)
    verdict: str = Field(max_length=20)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
