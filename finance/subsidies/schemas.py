"""Request and response models of the subsidy API (money in fen, rates in bps, every number bounded)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_MONEY = 100_000_000_000_00  # ¥100bn
Money = Annotated[int, Field(ge=1, le=MAX_MONEY, strict=True)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
LoanKind = Literal["interest", "appraisal_fee", "insurance_premium", "guarantee_fee"]
RewardKind = Literal["high_value_patent", "foreign_patent", "gi_mark", "madrid_mark", "ip_management_certification",
                     "patent_portfolio"]
Kind = LoanKind | RewardKind
Basis = Literal["interest_paid", "lpr_principal", "fee", "per_item"]
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


class RewardTerms(_In):
    """The numbers of a reward kind beyond its amount per item; absent ones take the seeds' defaults
    (``finance.subsidies.rewards.DEFAULTS``), and each kind takes only its own."""

    bonus_threshold: int | None = Field(default=None, ge=0, le=100000)  # high_value_patent: 10
    bonus_per_item: Money | None = None  # high_value_patent: ¥3,000 for each beyond the threshold
    bonus_cap: Money | None = None  # high_value_patent: the bonus at most ¥300,000 per firm and year
    items_per_award: int | None = Field(default=None, ge=1, le=100)  # madrid_mark: 2 applications, ¥30,000
    min_countries: int | None = Field(default=None, ge=1, le=200)  # madrid_mark: extending to 10 or more
    min_invention_patents: int | None = Field(default=None, ge=1, le=100000)  # patent_portfolio: 50
    min_pct_applications: int | None = Field(default=None, ge=0, le=100000)  # patent_portfolio: 10
    max_awards: int | None = Field(default=None, ge=1, le=10000)  # patent_portfolio: 10 firms a year


class PolicyIn(_In):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: Kind
    rate_bps: int | None = Field(default=None, ge=1, le=10000)
    guaranteed_rate_bps: int | None = Field(default=None, ge=1, le=10000)
    basis: Basis | None = None
    cap_per_org_year: Money | None = None
    cap_per_loan: Money | None = None
    # Rewards: the amount per qualifying item (default: the seeds' figure for the kind) and its terms.
    amount_per_item: Money | None = None
    terms: RewardTerms | None = None
    budget: Money
    conditions: Conditions = Field(default_factory=Conditions)
    max_months: int | None = Field(default=None, ge=1, le=12)
    over_budget: Literal["refuse", "prorate"] = "refuse"
    period: int | None = Field(default=None, ge=2000, le=2200)

    @model_validator(mode="after")
    def _consistent(self) -> PolicyIn:
        if self.kind not in BASES_OF_KIND:
            return self._reward()
        if self.rate_bps is None or self.basis is None or self.cap_per_org_year is None:
            raise ValueError(f"a {self.kind} subsidy needs rate_bps, basis and cap_per_org_year")
        if self.amount_per_item is not None or self.terms is not None:
            raise ValueError("amount_per_item and terms belong to the reward kinds")
        if self.basis not in BASES_OF_KIND[self.kind]:
            raise ValueError(f"a {self.kind} subsidy is paid on basis {' or '.join(BASES_OF_KIND[self.kind])}")
        if self.max_months is not None and self.basis != "lpr_principal":
            raise ValueError("max_months applies to the lpr_principal basis only")
        if self.guaranteed_rate_bps is not None and self.guaranteed_rate_bps < self.rate_bps:
            raise ValueError("guaranteed_rate_bps is the higher share for guaranteed or insured loans")
        return self

    def _reward(self) -> PolicyIn:
        from finance.subsidies.rewards import DEFAULTS  # the seeds' numbers live with the reward rules

        loan_only = {"rate_bps": self.rate_bps, "guaranteed_rate_bps": self.guaranteed_rate_bps,
                     "cap_per_loan": self.cap_per_loan, "max_months": self.max_months}
        given = [k for k, v in loan_only.items() if v is not None] + (
            ["conditions"] if self.conditions.required() else [])
        if given:
            raise ValueError(f"{', '.join(given)} belong to loan subsidies, not a {self.kind} reward")
        if self.basis not in (None, "per_item"):
            raise ValueError("a reward is paid per_item")
        self.basis = "per_item"
        amount, defaults = DEFAULTS[self.kind]
        self.amount_per_item = self.amount_per_item or amount
        terms = self.terms.model_dump(exclude_none=True) if self.terms else {}
        foreign = sorted(set(terms) - set(defaults))
        if foreign:
            raise ValueError(f"a {self.kind} reward has no {', '.join(foreign)}")
        self.terms = RewardTerms(**{**defaults, **terms})
        return self


class PolicyOut(BaseModel):
    id: str
    name: str
    kind: str
    rate_bps: int | None
    guaranteed_rate_bps: int | None
    basis: str
    max_months: int | None
    cap_per_org_year: int | None
    cap_per_loan: int | None
    amount_per_item: int | None
    terms: dict[str, Any]
    budget: int
    paid_total: int
    budget_remaining: int
    over_budget: str
    period: int
    conditions: dict[str, Any]
    regulator_org_id: str
    created_on: date
    created_at: datetime


class ItemIn(_In):
    asset_id: Id


class ClaimIn(_In):
    policy_id: Id
    loan_id: Id | None = None  # loan subsidies
    # Rewards: the items claimed for (assets of the registry); none for the firm-level kinds
    # (ip_management_certification, patent_portfolio), which are checked against the firm's own record.
    items: list[ItemIn] | None = Field(default=None, max_length=500)
    # Appraisal-fee claims only: the loan records hold no appraisal fee, so the claimant declares it with
    # a reference to its invoice / appraisal report; the regulator checks the evidence before approving.
    appraisal_fee: Money | None = None
    evidence_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                   max_length=200)] | None = None

    @model_validator(mode="after")
    def _loan_or_items(self) -> ClaimIn:
        if self.loan_id is not None and self.items is not None:
            raise ValueError("a claim names a loan (loan subsidies) or items (rewards), not both")
        return self


class ItemVerdictOut(BaseModel):
    asset_id: str | None = None
    org_id: str | None = None
    verdict: str  # qualifies | not_found | not_claimants | not_qualifying | already_rewarded | incomplete_award
    reasons: list[str] = []
    amount: int = 0
    bonus: int = 0
    rank_in_year: int | None = None  # high_value_patent: the firm's n-th high-value patent granted that year


class RejectIn(_In):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ClaimOut(BaseModel):
    id: str
    policy_id: str
    loan_id: str | None
    items: list[ItemVerdictOut] = []
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
