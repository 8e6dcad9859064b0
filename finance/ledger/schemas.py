from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from finance.ledger.core import MAX_AMOUNT, MAX_LINES

Side = Literal["debit", "credit"]
AccountType = Literal["asset", "liability", "equity", "income", "expense"]
LimitRule = Literal["none", "no_negative"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=1, max_length=160, description="account code or id")
    side: Side
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="fen")


class ManualEntryIn(BaseModel):
    """A fund administrator's manual adjustment. The Idempotency-Key header is required."""

    model_config = ConfigDict(extra="forbid")

    lines: list[LineIn] = Field(min_length=2, max_length=MAX_LINES)
    description: Text
    effective_date: date | None = None
    object_type: Ref | None = None
    object_id: Ref | None = None


class ReverseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text


class AccountOut(BaseModel):
    id: str
    code: str
    name: str
    owner_org_id: str | None
    type: AccountType
    normal_side: Side
    limit_rule: LimitRule
    currency: str
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    balance: int = Field(description="fen posted, positive on the account's normal side")
    pending_balance: int = Field(description="fen reserved by pending entries, not yet posted or voided")
    available: int = Field(description="fen that may still be spent: posted less reserved outflows")
    version: int
    created_at: datetime


class PostingOut(BaseModel):
    id: str
    line_no: int
    account_id: str
    account_code: str
    side: Side
    amount: int


class EntryOut(BaseModel):
    id: str
    seq: int | None = Field(description="its place in the hash chain; null until the sealer links it")
    idempotency_key: str
    effective_date: date
    description: str
    kind: str
    reverses_entry_id: str | None
    reversed_by_entry_id: str | None
    phase: Literal["posted", "pending", "post_pending", "void_pending"]
    pending_entry_id: str | None
    object_type: str | None
    object_id: str | None
    prev_hash: str | None = Field(description="null until sealed")
    hash: str | None = Field(description="null until sealed")
    created_at: datetime
    created_by_org_id: str
    created_by_user_id: str
    postings: list[PostingOut]


class BalanceOut(BaseModel):
    account_id: str
    code: str
    name: str
    type: AccountType
    normal_side: Side
    debits: int
    credits: int
    balance: int = Field(description="posted")
    debits_pending: int
    credits_pending: int
    pending: int = Field(description="reserved by pending entries")
    available: int


class BalancesOut(BaseModel):
    as_of: date | None = Field(description="null: every posting so far (the cached balances)")
    accounts: list[BalanceOut]
    total_debits: int
    total_credits: int
    balanced: bool


class VerifyOut(BaseModel):
    balanced: bool
    chain_intact: bool
    entries_checked: int = Field(description="every entry: the sealed and the unsealed")
    entries_sealed: int = Field(0, description="the chain's length (proved link by link)")
    entries_unsealed: int = Field(0, description="committed, not yet linked by the sealer (checked against "
                                                 "their digests and balanced)")
    accounts_checked: int
    pending_debits: int
    pending_credits: int
    problems: list[dict[str, Any]]


class TrialBalanceRow(BaseModel):
    account_id: str
    code: str
    name: str
    type: AccountType
    normal_side: Side
    opening: int
    debits: int
    credits: int
    closing: int


class TrialBalanceOut(BaseModel):
    accounts: list[TrialBalanceRow]
    total_debits: int
    total_credits: int
    balanced: bool


class PeriodOut(BaseModel):
    id: str
    fund_org_id: str
    month: str
    status: Literal["closed"]
    starts_on: date
    ends_on: date
    closed_at: datetime
    closed_by_user_id: str
    trial_balance: TrialBalanceOut
