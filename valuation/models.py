from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import created_at_field, money_field
from kernel.ids import new_id
from kernel.workflow import Workflow

VALUATION_STATUSES = ("draft", "certified", "superseded", "stale")

# A later valuation of the same bundle supersedes; a lapse or change of owner makes a live one stale.
VALUATION = Workflow("valuation", {
    ("draft", "certify"): "certified",
    ("draft", "supersede"): "superseded",
    ("draft", "mark_stale"): "stale",
    ("certified", "supersede"): "superseded",
    ("certified", "mark_stale"): "stale",
    ("stale", "supersede"): "superseded",
}, initial="draft")


class Valuation(SQLModel, table=True):
    """A valuation of one asset or a bundle. Never edited after it is made, except for its status
    (draft → certified; → superseded or stale) and the certification and staleness facts."""

    __tablename__ = "valuations"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {VALUATION_STATUSES!r}", name="status"),
        sa.CheckConstraint("scenario IN ('financing', 'transfer')", name="scenario"),
        sa.CheckConstraint("low >= 0 AND low <= value AND value <= high", name="range"),
        sa.CheckConstraint("borrowing_base >= 0 AND borrowing_base <= value", name="borrowing_base"),
    )
    id: str = Field(default_factory=lambda: new_id("val"), primary_key=True, max_length=40)
    scenario: str = Field(max_length=20)
    status: str = Field(default="draft", max_length=20, index=True)
    asset_ids: list[str] = Field(sa_type=sa.JSON)
    # sha256 of the sorted asset ids: a later valuation of the same bundle supersedes this one.
    bundle_key: str = Field(max_length=64, index=True)
    requested_by_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    requested_by_user_id: str = Field(max_length=40)
    valuation_date: date
    value: int = money_field()
    low: int = money_field()
    high: int = money_field()
    income_value: int | None = money_field(default=None)
    market_value: int | None = money_field(default=None)
    cost_value: int | None = money_field(default=None)
    approach_weights: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    approach_notes: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    score_legal: int
    score_technical: int
    score_economic: int
    score_total: int
    borrowing_base: int = money_field()
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    defaults_applied: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    default_basis: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    market_note: str | None = Field(default=None, sa_type=sa.Text)
    comparable_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    seed: str = Field(max_length=20)
    supersedes_id: str | None = Field(default=None, foreign_key="valuations.id", max_length=40)
    superseded_by_id: str | None = Field(default=None, max_length=40)
    certified_by: str | None = Field(default=None, foreign_key="orgs.id", max_length=40)
    certified_by_user_id: str | None = Field(default=None, max_length=40)
    certified_on: date | None = None
    valid_until: date | None = None
    stale_reason: str | None = Field(default=None, max_length=300)
    stale_on: date | None = None
    created_at: datetime = created_at_field()


class ValuationAsset(SQLModel, table=True):
    """One asset's share of a valuation: its value, loan-to-value and borrowing base."""

    __tablename__ = "valuation_assets"
    __table_args__ = (
        sa.UniqueConstraint("valuation_id", "asset_id"),
        sa.CheckConstraint("ltv_bps >= 0 AND ltv_bps <= 10000", name="ltv_bps"),
        sa.CheckConstraint("value >= 0 AND borrowing_base >= 0", name="amounts"),
    )
    id: str = Field(default_factory=lambda: new_id("vla"), primary_key=True, max_length=40)
    valuation_id: str = Field(foreign_key="valuations.id", index=True, max_length=40)
    asset_id: str = Field(foreign_key="assets.id", index=True, max_length=40)
    position: int
    kind: str = Field(max_length=30)
    value: int = money_field()
    ltv_bps: int
    borrowing_base: int = money_field()
    score_total: int


class ValuationComparable(SQLModel, table=True):
    """A recorded deal's price for one asset, kept as a comparable for the market approach."""

    __tablename__ = "valuation_comparables"
    __table_args__ = (
        sa.UniqueConstraint("deal_id", "asset_id"),
        sa.CheckConstraint("amount >= 0", name="amount"),
    )
    id: str = Field(default_factory=lambda: new_id("cmp"), primary_key=True, max_length=40)
    deal_id: str = Field(max_length=40, index=True)
    asset_id: str = Field(foreign_key="assets.id", index=True, max_length=40)
    kind: str = Field(max_length=30)
    ipc_subclass: str | None = Field(default=None, max_length=8, index=True)
    amount: int = money_field()  # this asset's share of the deal (largest remainder over the bundle)
    deal_amount: int = money_field()
    recorded_on: date = Field(index=True)
    mode: str = Field(max_length=30)
    remaining_life_days: int | None = None  # at the time of the deal; None when the asset has no expiry
    score_total: int  # indicator score (financing scenario) at the time of the deal
    created_at: datetime = created_at_field()
