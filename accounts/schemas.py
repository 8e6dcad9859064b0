from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

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


class OrgPatch(Strict):
    """The profile an organisation keeps up to date; the statistics (IP index, innovation efficiency) read it."""

    name: Name | None = None
    region: str | None = Field(default=None, max_length=12)
    industry: str | None = Field(default=None, max_length=80)
    ip_honours: HonourList | None = Field(default=None, max_length=5)
    rd_spending_last_year: int | None = Field(default=None, ge=0, le=10**15)


class UserIn(Strict):
    email: EmailStr
    password: Password
    role: Literal["org_admin", "member"] = "member"


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
