"""Request and response models of the subsidy API (money in fen, rates in bps, every number bounded)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_MONEY = 100_000_000_000_00  # ¥100bn
Money = Annotated[int, Field(ge=1, le=MAX_MONEY, strict=True)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Kind = Literal["interest", "appraisal_fee", "insurance_premium", "guarantee_fee"]
Basis = Literal["interest_paid", "lpr_principal", "fee"]
# Which basis each kind may use: interest subsidies are a share of interest, the others of a fee.
BASES_OF_KIND: dict[str, tuple[str, ...]] = {
    "interest": ("interest_paid", "lpr_principal"),
    "appraisal_fee": ("fee",),
    "insurance_premium": ("fee",),
    "guarantee_fee": ("fee",),
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Conditions(_In):
    """Every condition is optional (absent or null: not required); only those that hold are kept."""

    repaid_on_time: bool | None = None
    pledge_registered: bool | None = None
    # 14000 = the loan's rate may be at most 1.4 × the 1-year LPR in force when it was disbursed.
    max_rate_lpr_multiple_bps: int | None = Field(default=None, ge=1, le=100000)
    guaranteed_or_insured: bool | None = None

    def required(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None and v is not False}


class PolicyIn(_In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: Kind
    rate_bps: int = Field(ge=1, le=10000)
    guaranteed_rate_bps: int | None = Field(default=None, ge=1, le=10000)
    basis: Basis
    cap_per_org_year: Money
    cap_per_loan: Money | None = None
    budget: Money
    conditions: Conditions = Field(default_factory=Conditions)
    max_months: int | None = Field(default=None, ge=1, le=12)
    over_budget: Literal["refuse", "prorate"] = "refuse"
    period: int | None = Field(default=None, ge=2000, le=2200)

    @model_validator(mode="after")
    def _consistent(self) -> PolicyIn:
        if self.basis not in BASES_OF_KIND[self.kind]:
            raise ValueError(f"a {self.kind} subsidy is paid on basis {' or '.join(BASES_OF_KIND[self.kind])}")
        if self.max_months is not None and self.basis != "lpr_principal":
            raise ValueError("max_months applies to the lpr_principal basis only")
        if self.guaranteed_rate_bps is not None and self.guaranteed_rate_bps < self.rate_bps:
            raise ValueError("guaranteed_rate_bps is the higher share for guaranteed or insured loans")
        return self


class PolicyOut(BaseModel):
    id: str
    name: str
    kind: str
    rate_bps: int
    guaranteed_rate_bps: int | None
    basis: str
    max_months: int | None
    cap_per_org_year: int
    cap_per_loan: int | None
    budget: int
    paid_total: int
    budget_remaining: int
    over_budget: str
    period: int
    conditions: dict[str, Any]
    regulator_org_id: str
    created_on: date
    created_at: datetime


class ClaimIn(_In):
    policy_id: Id
    loan_id: Id
    # Appraisal-fee claims only: the loan records hold no appraisal fee, so the claimant declares it with
    # a reference to its invoice / appraisal report; the regulator checks the evidence before approving.
    appraisal_fee: Money | None = None
    evidence_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                   max_length=200)] | None = None


class RejectIn(_In):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ClaimOut(BaseModel):
    id: str
    policy_id: str
    loan_id: str
    claimant_org_id: str
    claimant_role: str
    status: str
    basis_amount: int
    amount: int
    amount_paid: int
    appraisal_fee: int | None
    evidence_ref: str | None
    working: dict[str, Any]
    approval_working: dict[str, Any] | None
    filed_on: date
    decided_on: date | None
    decided_by: str | None
    reject_reason: str | None
    ledger_entry_id: str | None
    payment_id: str | None
    created_at: datetime
