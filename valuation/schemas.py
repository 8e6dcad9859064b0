from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from market.assets.schemas import AssetKind

Scenario = Literal["financing", "transfer"]
Bps = Annotated[int, Field(ge=0, le=10000)]
# Revenue may decline: growth down to −50% a year is a real (if grim) case; below that the asset is not
# earning a royalty stream worth valuing by income.
MIN_GROWTH_BPS = -5000
GrowthBps = Annotated[int, Field(ge=MIN_GROWTH_BPS, le=10000)]
Fen = Annotated[int, Field(ge=0, le=10**13)]  # up to ¥100bn: beyond any single IP valuation
AssetId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class ValuationInputs(BaseModel):
    """Inputs of the money approaches; any left out falls back to a documented default (see the result)."""

    model_config = ConfigDict(extra="forbid")

    annual_revenue: Fen | None = Field(default=None, description="first year's revenue the assets earn, fen; "
                                       "without it the income approach drops out")
    royalty_rate_bps: Bps | None = Field(default=None, description="default by industry, else by kind")
    growth_bps: GrowthBps | None = Field(default=None, description="yearly revenue growth, negative for a "
                                         "declining revenue (down to −5000); default 0")
    discount_rate_bps: Bps | None = Field(default=None, description="default 1200; must exceed growth")
    tax_rate_bps: Bps | None = Field(default=None, description="default 2500 (enterprise income tax)")
    remaining_life_years: int | None = Field(default=None, ge=1, le=30,
                                             description="default: years to expiry, capped by the kind's "
                                                         "economic life; the bundle takes the longest")
    rd_cost: Fen | None = Field(default=None, description="R&D cost, fen; without it the cost approach drops out")
    functional_obsolescence_bps: Bps | None = Field(default=None, description="default 1000")


class ValuationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_ids: list[AssetId] = Field(min_length=1, max_length=50)
    scenario: Scenario
    inputs: ValuationInputs | None = None
    ltv_bps: dict[AssetKind, Bps] | None = Field(default=None, description="loan-to-value per kind, overriding "
                                                 "the defaults for this valuation")

    @field_validator("asset_ids")
    @classmethod
    def _no_duplicates(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("an asset is named twice")
        return ids


class CertifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    valid_days: int | None = Field(default=None, ge=1, le=1825, description="default 365")


class MethodValues(BaseModel):
    income: int | None
    market: int | None
    cost: int | None


class ScoreOut(BaseModel):
    legal: int
    technical: int
    economic: int
    total: int


class PerAssetOut(BaseModel):
    asset_id: str
    kind: str
    value: int
    ltv_bps: int
    borrowing_base: int
    score: int


class ValuationOut(BaseModel):
    id: str
    status: str
    scenario: str
    asset_ids: list[str]
    valuation_date: date
    value: int
    low: int
    high: int
    method_values: MethodValues
    method_weights_bps: dict[str, int]
    method_notes: dict[str, str]
    score: ScoreOut
    per_asset: list[PerAssetOut]
    borrowing_base: int
    inputs: dict[str, Any]
    defaults_applied: list[str]
    default_basis: dict[str, str]
    market_note: str | None
    comparable_ids: list[str]
    seed: str
    requested_by_org_id: str
    supersedes_id: str | None
    superseded_by_id: str | None
    certified_by: str | None
    certified_on: date | None
    valid_until: date | None
    stale_reason: str | None
    created_at: datetime


class IndicatorOut(BaseModel):
    name: str
    dimension: str
    score: int | None
    weight_bps: int
    raw: Any
    basis: str


class HighValueOut(BaseModel):
    is_high_value: bool
    criteria: list[str]


class AssetScoreOut(BaseModel):
    asset_id: str
    scenario: str
    legal: int
    technical: int
    economic: int
    total: int
    indicators: list[IndicatorOut]
    weights_bps: dict[str, int]
    high_value: HighValueOut
