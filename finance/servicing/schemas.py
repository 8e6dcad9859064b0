"""Request and response models of the servicing calls (api-contract "Servicing")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from finance.loans.schemas import Id, Money

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
IdList = Annotated[list[Id], Field(min_length=1, max_length=50)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChargeIn(_In):
    kind: Literal["appraisal_fee", "processing_fee", "prepayment_fee", "other"]
    amount: Money
    due_on: date
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None


class WaiveIn(_In):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None


class ChargeOut(BaseModel):
    id: str
    loan_id: str
    kind: str
    amount: int
    paid: int
    due_on: date
    description: str | None
    status: str
    waived_on: date | None
    waived_reason: str | None
    created_at: datetime


class PayoffOut(BaseModel):
    loan_id: str
    on: date
    principal: int
    interest: int
    penalty: int
    charges: int
    total: int


class ConsentIn(_In):
    loan_id: Id
    action: Literal["listing", "license", "open_license", "auction", "assignment"]
    object_id: Id | None = None
    proceeds: Literal["prepay", "escrow"]
    # The pledged assets concerned (default: every asset the loan pledges).
    asset_ids: IdList | None = None
    note: Text | None = None


class DecisionIn(_In):
    note: Text | None = None


class ConsentOut(BaseModel):
    id: str
    loan_id: str
    bank_org_id: str
    borrower_org_id: str
    action: str
    asset_ids: list[str]
    object_id: str | None
    proceeds: str
    note: str | None
    status: str
    requested_on: date
    decided_on: date | None
    decision_note: str | None


class EscrowOut(BaseModel):
    id: str
    loan_id: str
    consent_id: str
    deal_id: str
    payment_id: str
    amount: int
    status: str
    held_on: date
    released_on: date | None


class RestructureIn(_In):
    kind: Literal["extension", "reschedule"]
    term_months: int | None = Field(default=None, ge=1, le=360)
    annual_rate_bps: int | None = Field(default=None, ge=1, le=3600)
    repayment_method: Literal["equal_installment", "equal_principal", "interest_only"] | None = None
    effective_on: date
    reason: Text
    # Restructured because the borrower is in financial difficulty (default: the loan is overdue).
    borrower_in_difficulty: bool | None = None


class RestructureOut(BaseModel):
    id: str
    loan_id: str
    kind: str
    term_months: int
    annual_rate_bps: int
    repayment_method: str
    effective_on: date
    reason: str
    borrower_in_difficulty: bool
    classification_floor: str
    status: str
    proposed_on: date
    accepted_on: date | None
    observation_until: date | None
    principal: int | None
    carried_interest: int | None


class RevaluationIn(_In):
    valuation_id: Id
    # The bank's margin over the outstanding principal the borrowing base must keep (default: as before, 0).
    margin_bps: int | None = Field(default=None, ge=0, le=10000)


class RevaluationOut(BaseModel):
    id: str
    loan_id: str
    source: str
    ref_id: str | None
    valuation_id: str
    margin_bps: int
    borrowing_base_before: int
    borrowing_base: int
    outstanding_principal: int
    margin_call_id: str | None
    on: date


class MarginCallOut(BaseModel):
    id: str
    loan_id: str
    trigger: str
    valuation_id: str | None
    asset_id: str | None
    borrowing_base: int
    outstanding_principal: int
    shortfall: int
    issued_on: date
    cure_by: date
    status: str
    cured_on: date | None
    cured_by: str | None


class CollateralIn(_In):
    asset_ids: IdList
    # A certified valuation of exactly these assets: they count as soon as their pledge is registered.
    valuation_id: Id | None = None


class CollateralAdditionOut(BaseModel):
    id: str
    loan_id: str
    asset_ids: list[str]
    valuation_id: str | None
    status: str
    requested_on: date
    registered_on: date | None
    registration_no: str | None


class ReleaseIn(_In):
    asset_ids: IdList
    substitute_asset_ids: Annotated[list[Id], Field(max_length=50)] | None = None
    # A certified valuation of exactly the substitutes (required with them).
    valuation_id: Id | None = None


class ReleaseOut(BaseModel):
    id: str
    loan_id: str
    asset_ids: list[str]
    substitute_asset_ids: list[str]
    valuation_id: str | None
    status: str
    requested_on: date
    decided_on: date | None
    remaining_borrowing_base: int | None
    decision_note: str | None
