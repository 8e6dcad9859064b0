"""Request and response models of the loan API (money in fen, rates in bps, every number bounded)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from finance.fund.schemas import RecoveryOut

RepaymentMethod = Literal["equal_installment", "equal_principal", "interest_only"]
MAX_MONEY = 100_000_000_000_00  # ¥100bn in fen: far beyond any pledge loan, well inside BIGINT
# Strict: "100" or 100.0 for an amount of money is a client bug, not something to coerce.
Money = Annotated[int, Field(ge=1, le=MAX_MONEY, strict=True)]
OptMoney = Annotated[int | None, Field(default=None, ge=1, le=MAX_MONEY, strict=True)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Term = Annotated[int, Field(ge=1, le=360)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicationIn(_In):
    asset_ids: list[Id] = Field(min_length=1, max_length=50)
    amount: Money
    term_months: Term
    purpose: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    repayment_method: RepaymentMethod
    valuation_id: Id | None = None

    @field_validator("asset_ids")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("an asset is named twice")
        return v


class OfferIn(_In):
    amount: Money
    annual_rate_bps: int = Field(ge=1, le=3600)
    term_months: Term
    repayment_method: RepaymentMethod
    penalty_markup_bps: int = Field(default=5000, ge=0, le=10000)
    requires_guarantee: bool = False
    # The bank's lending policy: lend only within the borrowing base of a current certified valuation.
    requires_certified_valuation: bool = False
    expires_on: date
    # Charges the contract names, at most this much per kind (fen); the bank may levy no others.
    disclosed_charges: dict[Literal["appraisal_fee", "processing_fee", "prepayment_fee", "other"], Money] = {}


class InvitationIn(_In):
    org_id: str = Field(min_length=1, max_length=40)
    kind: Literal["guarantee", "insurance"]


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    loan_id: str
    org_id: str
    kind: Literal["guarantee", "insurance"]
    status: Literal["pending", "accepted"]
    created_at: datetime


class GuaranteeIn(_In):
    share_bps: int = Field(ge=1, le=10000)
    fee_rate_bps: int = Field(ge=0, le=5000)


class InsuranceIn(_In):
    share_bps: int = Field(ge=1, le=10000)
    premium: int = Field(ge=0, le=MAX_MONEY, strict=True)


class FundCoverIn(_In):
    program_id: Id


class PledgeRegistrationIn(_In):
    registration_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    registered_on: date


class RepaymentIn(_In):
    amount: Money
    # An amount beyond what is due prepays principal: re-spread the later instalments, or keep their size
    # and end sooner.
    prepayment: Literal["reduce_payment", "reduce_term"] = "reduce_payment"


class DisposalIn(_In):
    reserve_price: OptMoney = None
    start_price: OptMoney = None
    min_increment: OptMoney = None
    ends_on: date | None = None


class ValuationSummaryOut(BaseModel):
    """The valuation behind an application, as banks see it (the full report is GET /valuations/{id})."""

    id: str
    scenario: str
    status: str
    value: int
    low: int
    high: int
    borrowing_base: int
    certified_by: str | None
    certified_on: date | None
    valid_until: date | None
    stale_reason: str | None


class ApplicationOut(BaseModel):
    id: str
    applicant_org_id: str
    asset_ids: list[str]
    amount: int
    term_months: int
    purpose: str
    repayment_method: str
    valuation_id: str | None
    valuation: ValuationSummaryOut | None = None
    # The applicant is on a published white list of the regulator (the lists that name it).
    whitelisted: bool = False
    whitelist_ids: list[str] = []
    status: str
    submitted_on: date
    loan_id: str | None
    created_at: datetime


class OfferOut(BaseModel):
    id: str
    application_id: str
    bank_org_id: str
    amount: int
    annual_rate_bps: int
    term_months: int
    repayment_method: str
    penalty_markup_bps: int
    requires_guarantee: bool
    requires_certified_valuation: bool
    disclosed_charges: dict[str, int] = {}
    valuation_id: str | None
    borrowing_base: int | None
    lpr_tenor: str | None
    lpr_effective_on: date | None
    lpr_bps: int | None
    spread_bps: int | None
    expires_on: date
    status: str
    created_at: datetime


class NextDueOut(BaseModel):
    n: int
    due_on: date
    amount: int


class CollateralAlertOut(BaseModel):
    id: str
    kind: str
    asset_id: str | None
    valuation_id: str | None
    detail: str
    raised_on: date
    cleared_on: date | None


class CollateralAssetOut(BaseModel):
    asset_id: str
    valuation_id: str | None
    value: int
    ltv_bps: int
    borrowing_base: int
    status: str


class CollateralOut(BaseModel):
    valuation_id: str
    valuation_status: str
    security_value: int
    borrowing_base: int
    outstanding_principal: int
    shortfall: int
    lost_assets: list[str]
    # What the borrowing base must reach (outstanding + the bank's margin) and how each asset counts.
    margin_bps: int = 0
    required: int = 0
    valuation_ids: list[str] = []
    assets: list[CollateralAssetOut] = []


class ClassificationOut(BaseModel):
    business_date: date
    from_classification: str | None
    to_classification: str
    days_past_due: int


class PledgeOut(BaseModel):
    registration_no: str
    registered_on: date | None


class GuaranteeOut(BaseModel):
    id: str
    loan_id: str
    guarantor_org_id: str
    share_bps: int
    fee_rate_bps: int
    fee: int
    joined_on: date


class InsuranceOut(BaseModel):
    id: str
    loan_id: str
    insurer_org_id: str
    share_bps: int
    premium: int
    joined_on: date


class FundCoverRefOut(BaseModel):
    program_id: str | None
    cover_id: str


class LoanOut(BaseModel):
    id: str
    application_id: str
    offer_id: str
    borrower_org_id: str
    bank_org_id: str
    asset_ids: list[str]
    valuation_id: str | None
    status: str
    principal: int
    outstanding_principal: int
    annual_rate_bps: int
    penalty_markup_bps: int
    term_months: int
    repayment_method: str
    requires_guarantee: bool
    signed_on: date | None
    lpr_tenor: str | None
    lpr_effective_on: date | None
    lpr_bps: int | None
    spread_bps: int | None
    days_past_due: int
    classification: str
    classification_floor: str | None
    next_due: NextDueOut | None
    next_due_on: date | None
    overdue_amount: int
    penalty_outstanding: int
    payoff_amount: int
    disbursed_on: date | None
    maturity_on: date | None
    pledge: PledgeOut | None
    guarantee: GuaranteeOut | None
    insurance: InsuranceOut | None
    fund_cover: FundCoverRefOut | None
    defaulted_on: date | None
    loss_at_default: int | None
    claim_id: str | None
    closed_on: date | None
    collateral_alerts: list[CollateralAlertOut]
    collateral: CollateralOut | None
    classification_history: list[ClassificationOut]
    created_at: datetime


class InstallmentOut(BaseModel):
    n: int
    due_on: date
    payment: int
    principal: int
    interest: int
    balance_after: int
    paid_principal: int
    paid_interest: int
    paid_penalty: int
    penalty_accrued: int
    carried_interest: int
    accrues_from: date | None
    status: str
    paid_on: date | None


class ScheduleOut(BaseModel):
    loan_id: str
    version: int
    current_version: int
    superseded_by: str | None = None
    installments: list[InstallmentOut]


class AllocationOut(BaseModel):
    penalty: int
    charges: int
    interest: int
    principal: int
    prepaid_principal: int


class RepaymentOut(BaseModel):
    id: str
    amount: int
    status: str
    allocation: AllocationOut
    loan: LoanOut


class RepaymentRecordOut(BaseModel):
    """One payment towards a loan: ``processing`` until the gateway settles it; its allocation is made then."""
    id: str
    amount: int
    status: str
    allocation: AllocationOut
    prepayment: str
    source: str = Field(description="borrower; deal: the proceeds of a consented sale of the collateral; "
                                    "import: a paid instalment of an imported loan book")
    deal_id: str | None
    paid_on: date
    payment_id: str | None


class RecoveriesOut(BaseModel):
    loan_id: str
    proceeds: int
    data: list[RecoveryOut]


class DisposalOut(BaseModel):
    id: str
    loan_id: str
    auction_id: str
    reserve_price: int
    start_price: int
    min_increment: int
    ends_on: date
    relisted_from: str | None
    status: str
    loan_status: str


class DisposalRowOut(BaseModel):
    id: str
    loan_id: str
    auction_id: str
    reserve_price: int
    start_price: int
    ends_on: date
    status: str
    deal_id: str | None
    proceeds: int | None
    auction_status: str | None
    highest_bid: int | None
    auction_deal_id: str | None


class DisposalsOut(BaseModel):
    loan_id: str
    data: list[DisposalRowOut]


class WriteOffRowOut(BaseModel):
    party: str
    org_id: str | None
    paid: int
    recovered: int
    loss: int


class WriteOffOut(BaseModel):
    loan_id: str
    status: str
    written_off_on: date | None
    total_loss: int
    data: list[WriteOffRowOut]
