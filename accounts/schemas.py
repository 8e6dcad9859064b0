from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from accounts.credit_code import normalise_credit_code

CreditCode = Annotated[str, AfterValidator(normalise_credit_code)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
OrgKind = Literal["sme", "university", "bank", "guarantor", "insurer", "evaluator", "fund", "regulator"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Strict):
    org_name: Name
    org_kind: Literal["sme", "university"]
    credit_code: CreditCode
    email: EmailStr
    password: Password
    region: str | None = Field(default=None, max_length=12)
    industry: str | None = Field(default=None, max_length=80)


class OrgIn(Strict):
    name: Name
    kind: OrgKind
    credit_code: CreditCode
    region: str | None = Field(default=None, max_length=12)
    industry: str | None = Field(default=None, max_length=80)
    ip_honours: list[Literal["national_demonstration", "national_advantage", "provincial_demonstration",
                             "provincial_advantage", "standard_certified"]] = Field(default_factory=list)
    rd_spending_last_year: int | None = Field(default=None, ge=0, le=10**15)


HonourList = list[Literal["national_demonstration", "national_advantage", "provincial_demonstration",
                          "provincial_advantage", "standard_certified"]]


class ApprovalPolicy(Strict):
    """Which actions need a second person of the organisation (four-eyes). Amounts in fen."""

    disbursement_over: int | None = Field(default=None, ge=0, le=10**15,
                                          description="a disbursement above this principal needs approval (bank)")
    compensation_approval: bool = False
    recovery_distribution: bool = False
    ledger_entries: bool = Field(default=False, description="manual ledger entries and reversals (fund)")
    subsidy_approval: bool = False
    period_close: bool = False
    expiry_days: int | None = Field(default=None, ge=1, le=90, description="default 7")


class OrgPatch(Strict):
    """The profile an organisation keeps up to date; the statistics (IP index, innovation efficiency) read it."""

    name: Name | None = None
    region: str | None = Field(default=None, max_length=12)
    industry: str | None = Field(default=None, max_length=80)
    ip_honours: HonourList | None = Field(default=None, max_length=5)
    rd_spending_last_year: int | None = Field(default=None, ge=0, le=10**15)
    # Replaces the whole policy; null or {} switches four-eyes off.
    approval_policy: ApprovalPolicy | None = None


class UserIn(Strict):
    email: EmailStr
    password: Password
    role: Literal["org_admin", "checker", "member"] = "member"


class RegionIn(Strict):
    code: str = Field(min_length=2, max_length=12, pattern=r"^[0-9A-Za-z_-]+$")
    name: Name
    population: int = Field(gt=0, le=2_000_000_000)


class OrgOut(BaseModel):
    id: str
    name: str
    kind: str
    credit_code: str
    region: str | None
    industry: str | None
    ip_honours: list[str]
    rd_spending_last_year: int | None
    # Only to the organisation itself, its regulators and the platform admin.
    approval_policy: dict[str, Any] | None = None
    created_at: datetime


class UserOut(BaseModel):
    id: str
    email: str
    role: str
    org_id: str
    disabled: bool = False
    created_at: datetime | None = None


class OrgPublicOut(BaseModel):
    """The public directory entry of an institution."""

    id: str
    name: str
    kind: str
    region: str | None


class UserPatch(Strict):
    role: str | None = Field(default=None, min_length=1, max_length=20)
    disabled: bool | None = None


class PasswordChangeIn(Strict):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: Password


class RegisterOut(BaseModel):
    org: OrgOut
    user: UserOut


class MeOut(BaseModel):
    user: UserOut
    org: OrgOut


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


class RegionOut(BaseModel):
    code: str
    name: str
    population: int


class ApprovalRequestOut(BaseModel):
    id: str
    org_id: str
    action: str
    status: Literal["pending", "approved", "rejected", "expired"]
    requested_by: str
    requested_by_email: str | None
    request: dict[str, Any]  # {method, path, body, idempotency_key}: what runs on approval
    amount: int | None
    object_type: str | None
    object_id: str | None
    expires_on: date
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    result_status: int | None
    result: Any


class ApprovalPendingOut(BaseModel):
    """What a protected action answers (202) while it waits for a checker."""

    approval_request: ApprovalRequestOut


class DecisionIn(Strict):
    reason: str | None = Field(default=None, max_length=500)
