from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

LicenseKind = Literal["exclusive", "sole", "nonexclusive", "open"]
LicenseStatus = Literal["active", "ended", "terminated"]


class Royalty(BaseModel):
    fixed_fee: int | None = None
    rate_bps: int | None = None
    free_months: int | None = None
    minimum_annual: int | None = None


class LicenseOut(BaseModel):
    id: str
    kind: str
    asset_ids: list[str]
    licensor_org_id: str
    licensee_org_id: str
    deal_id: str | None
    declaration_id: str | None
    royalty: Royalty
    starts_on: date
    ends_on: date
    free_until: date
    status: str
    created_at: datetime


class RoyaltyReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period_start: date
    period_end: date
    net_sales: Annotated[int, Field(ge=0, le=10**15)]


class RoyaltyReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    license_id: str
    kind: str
    period_start: date
    period_end: date
    net_sales: int
    chargeable_days: int
    royalty_due: int
    due_on: date
    status: str
    paid_on: date | None
    reported_on: date


class OpenLicenseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate_bps: int | None = Field(default=None, ge=0, le=10000)
    fixed_fee: int | None = Field(default=None, ge=0, le=10**14)
    term_months: int = Field(ge=1, le=600)
    free_months: int | None = Field(default=None, ge=0, le=120)
    evaluation_report_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                            max_length=100)] | None = None

    @model_validator(mode="after")
    def _some_price(self) -> OpenLicenseIn:
        if self.rate_bps is None and self.fixed_fee is None:
            raise ValueError("declare a royalty rate, a fixed fee or both")
        if self.free_months is not None and self.free_months >= self.term_months:
            raise ValueError("free_months must be shorter than the term")
        return self


class OpenLicenseOut(BaseModel):
    id: str
    asset_id: str
    owner_org_id: str
    status: str
    rate_bps: int | None
    fixed_fee: int | None
    term_months: int
    free_months: int | None
    evaluation_report_ref: str | None
    warnings: list[str]
    annual_fee_reduction_bps: int
    declared_on: date
    withdrawn_on: date | None
