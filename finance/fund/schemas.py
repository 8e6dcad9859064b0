"""Requests and responses of the fund's HTTP API. Money is fen, shares basis points."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# ¥1 trillion: far above any programme, far inside BIGINT even multiplied by a leverage.
MAX_MONEY = 10**14
RESERVED_PARTIES = ("fund", "guarantor", "insurer", "bank", "borrower")

Money = Annotated[int, Field(ge=1, le=MAX_MONEY)]
Bps = Annotated[int, Field(ge=0, le=10000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OrgRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
PartyName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,29}$")]


class Shares(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fund: Bps
    guarantor: Bps = 0
    insurer: Bps = 0


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_principal: Money
    fund_bps: Bps


class ExtraParty(BaseModel):
    """A further loss bearer named by the programme (Zhongshan's evaluator bears 4%)."""

    model_config = ConfigDict(extra="forbid")
    party: PartyName
    share_bps: Annotated[int, Field(ge=1, le=10000)]
    org_id: OrgRef | None = None

    @model_validator(mode="after")
    def _not_reserved(self) -> ExtraParty:
        if self.party in RESERVED_PARTIES:
            raise ValueError(f"{self.party!r} is a standard party; use shares_bps")
        return self


class RulesIn(BaseModel):
    """The versioned rules of a programme."""

    model_config = ConfigDict(extra="forbid")
    shares_bps: Shares
    tiers: list[Tier] | None = Field(default=None, max_length=20)
    leverage_max: Annotated[int, Field(ge=1, le=100)]
    npl_pause_bps: Bps
    per_loan_cap: Money | None = None
    per_borrower_year_cap: Money | None = None
    annual_cap: Money | None = None
    default_days: Annotated[int, Field(ge=1, le=3650)] = 90
    min_ip_share_bps: Bps = 0
    insufficient_cash: Literal["refuse", "queue"] = "refuse"
    extra_parties: list[ExtraParty] | None = Field(default=None, max_length=5)
    # Servicing: whether a restructured loan leaves the cover, and the highest annual rate a restructuring
    # of a covered loan may set (none: no limit).
    restructured_leave_cover: bool = False
    max_annual_rate_bps: Annotated[int, Field(ge=1, le=3600)] | None = None
    # The margin over the outstanding principal a covered loan's borrowing base must keep (0: none).
    collateral_margin_bps: Annotated[int, Field(ge=0, le=10000)] = 0

    @model_validator(mode="after")
    def _consistent(self) -> RulesIn:
        tiers = self.tiers or []
        bounds = [t.max_principal for t in tiers]
        if bounds != sorted(set(bounds)):
            raise ValueError("tiers must have strictly increasing max_principal")
        extras = self.extra_parties or []
        names = [p.party for p in extras]
        if len(names) != len(set(names)):
            raise ValueError("an extra party is named twice")
        fund_max = max([self.shares_bps.fund, *(t.fund_bps for t in tiers)])
        total = fund_max + self.shares_bps.guarantor + self.shares_bps.insurer + sum(p.share_bps for p in extras)
        if total > 10000:
            raise ValueError(f"shares add up to {total} bps, more than 10000 (the bank bears the rest)")
        return self


class ProgramIn(RulesIn):
    name: Name
    capital: Money


class CapitalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Money


class TierOut(BaseModel):
    max_principal: int
    fund_bps: int


class ExtraPartyOut(BaseModel):
    party: str
    share_bps: int
    org_id: str | None


class VersionOut(BaseModel):
    version: int
    effective_from: date
    shares_bps: Shares
    tiers: list[TierOut]
    leverage_max: int
    npl_pause_bps: int
    per_loan_cap: int | None
    per_borrower_year_cap: int | None
    annual_cap: int | None
    default_days: int
    min_ip_share_bps: int
    insufficient_cash: str
    extra_parties: list[ExtraPartyOut]
    restructured_leave_cover: bool = False
    max_annual_rate_bps: int | None = None
    collateral_margin_bps: int = 0
    created_at: datetime


class ProgramOut(VersionOut):
    id: str
    fund_org_id: str
    name: str
    capital: int
    cash: int
    current_version: int
    versions: list[VersionOut]


class AgreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bank_org_id: OrgRef
    deposit: Money
    leverage: Annotated[int, Field(ge=1, le=100)] | None = None


class AgreementOut(BaseModel):
    id: str
    program_id: str
    bank_org_id: str
    deposit: int
    leverage: int
    quota: int
    created_on: date


class ShareOut(BaseModel):
    party: str
    org_id: str | None
    amount: int


class ClaimOut(BaseModel):
    id: str
    loan_id: str
    program_id: str | None
    bank_org_id: str
    loss: int
    shares: list[ShareOut]
    fund_amount: int
    status: str
    opened_on: date
    paid_on: date | None
    ledger_entry_id: str | None
    payment_id: str | None
    reject_reason: str | None = None
    rejected_on: date | None = None


class RecoveryOut(BaseModel):
    id: str
    claim_id: str
    party: str
    org_id: str | None
    amount: int
    source_ref: str
    recovered_on: date
    status: str = Field(description="paying until the party's payment lands (paid); payout_failed if it failed")
    payment_id: str | None


class GroupExposure(BaseModel):
    key: str | None
    covered_outstanding: int
    fund_exposure: int
    loans: int


class BankExposure(BaseModel):
    bank_org_id: str
    covered_outstanding: int = Field(description="covered outstanding principal: what the quota caps")
    fund_exposure: int = Field(description="the fund's share of it")
    quota: int
    quota_available: int = Field(description="covered principal the bank may still add under the quota")
    quota_use_bps: int
    deposit: int
    npl_ratio_bps: int
    paused: bool


class ExposureOut(BaseModel):
    program_id: str
    as_of: date
    capital: int
    cash: int
    committed_exposure: int
    covered_outstanding: int
    deposits: int
    by_bank: list[BankExposure]
    by_guarantor: list[GroupExposure]
    by_industry: list[GroupExposure]
    by_region: list[GroupExposure]
    # Covered outstanding principal per yuan deposited with the banks, as a decimal string ("8.25").
    leverage_used: str
    leverage_used_bps: int
    # The month's provisions on the dashboard: required now, and what the allowance holds (finance.fund.provisions).
    provisions_required: int
    provisions_allowance: int
    compensation_paid: int
    recovered: int
    compensation_rate_bps: int
    recovery_rate_bps: int


class ClaimRejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="Why the fund refuses the claim; the lending bank reads it")


class StressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenarios: Annotated[int, Field(ge=100, le=100_000)]
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)]
    pd_bps: Annotated[int, Field(ge=1, le=10000)] = 300
    lgd_bps: Annotated[int, Field(ge=0, le=10000)] = 6000
    correlation_bps: Annotated[int, Field(ge=1, le=9999)] = 1500


ProvisionRates = dict[Literal["normal", "special_mention", "substandard", "doubtful", "loss"],
                      Annotated[int, Field(ge=0, le=10000)]]


class ControlsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provision_rates_bps: ProvisionRates | None = Field(
        default=None, description="bps of the fund's exposure per classification; a class left out takes the "
                                  "default (normal 100, special_mention 200, substandard 2500, doubtful 5000, "
                                  "loss 10000)")
    auto_close_periods: bool | None = Field(default=None,
                                            description="the day-end closes the fund's previous month")
    requires_claim_evidence: bool | None = Field(
        default=None, description="a claim is approved only with a claim_evidence document attached")


class ControlsOut(BaseModel):
    program_id: str
    provision_rates_bps: dict[str, int]
    own_provision_rates_bps: dict[str, int]
    auto_close_periods: bool
    requires_claim_evidence: bool = False


class ProvisionRow(BaseModel):
    classification: str
    loans: int
    exposure: int
    rate_bps: int
    provision: int


class ProvisionsOut(BaseModel):
    program_id: str
    as_of: date
    basis: str = Field(description="`current`, `month_end YYYY-MM-DD` (the run in force on as_of) or `none`")
    rows: list[ProvisionRow]
    total: int
    allowance: int = Field(description="what the ledger's allowance held (current) or was booked to (month-end)")
    rates_bps: dict[str, int]
    ledger_entry_id: str | None = None


class RecoveryIn(BaseModel):
    """Money the lending bank recovered after compensation (outside a disposal auction), to distribute."""

    model_config = ConfigDict(extra="forbid")

    amount: Money
    source_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80,
                                                 pattern=r"^[\w.:/-]+$")] = Field(
        description="the recovery's own reference (a court order, a receipt): one distribution per reference")
