"""Tables of the risk-sharing fund: programmes and their rule versions, bank agreements, covers, claims,
recovery rows.

Money is fen (BIGINT), shares and rates are basis points. The fund keeps its own copy of what it needs
about each covered loan (loans push changes through ``service.update_loan``), so it never imports loans.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, money_field
from kernel.ids import new_id

INSUFFICIENT_CASH = ("refuse", "queue")
CLASSIFICATIONS = ("normal", "special_mention", "substandard", "doubtful", "loss")
NON_PERFORMING = ("substandard", "doubtful", "loss")
COVER_STATUSES = ("active", "claimed", "closed")
# A claim is ``paid`` only once its payout has landed: approving reserves the fund's cash (a pending
# ledger entry) and asks for the payout (``paying``); a failed payout voids the reservation.
CLAIM_STATUSES = ("pending", "queued", "approved", "paying", "paid", "payout_failed", "rejected")
RECOVERY_STATUSES = ("paying", "paid", "payout_failed")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class FundProgram(SQLModel, table=True):
    __tablename__ = "fund_programs"
    __table_args__ = (sa.CheckConstraint("capital >= 0", name="capital_not_negative"),
                      sa.CheckConstraint("current_version >= 1", name="current_version"))
    id: str = Field(default_factory=lambda: new_id("fpg"), primary_key=True, max_length=40)
    fund_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    # Paid-in capital (sum of capital entries); the cash itself lives in the ledger.
    capital: int = money_field()
    current_version: int = Field(default=1)
    # Controls (finance.fund.provisions, finance.ledger.periods): provision rate per classification in bps
    # ({} = the defaults), and whether the day-end closes the fund's previous month by itself.
    provision_rates_bps: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON,
                                                sa_column_kwargs={"server_default": "{}"})
    auto_close_periods: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # A claim is approved only once a claim_evidence document is attached to it (kernel.documents).
    requires_claim_evidence: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = created_at_field()


class FundProgramVersion(SQLModel, table=True):
    """One immutable set of rules. A cover keeps the version in force when it was granted."""

    __tablename__ = "fund_program_versions"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "version"),
        sa.CheckConstraint("fund_bps >= 0 AND guarantor_bps >= 0 AND insurer_bps >= 0", name="shares"),
        sa.CheckConstraint("leverage_max >= 1", name="leverage_max"),
        sa.CheckConstraint(f"insufficient_cash IN {_in(INSUFFICIENT_CASH)}", name="insufficient_cash"),
    )
    id: str = Field(default_factory=lambda: new_id("fpv"), primary_key=True, max_length=40)
    program_id: str = Field(foreign_key="fund_programs.id", index=True, max_length=40)
    version: int
    effective_from: date
    fund_bps: int
    guarantor_bps: int = 0
    insurer_bps: int = 0
    # [{"max_principal": fen, "fund_bps": bps}] ascending; a loan above the top tier is ineligible.
    tiers: list[dict[str, int]] = Field(default_factory=list, sa_type=sa.JSON)
    # [{"party": name, "share_bps": bps, "org_id": str|None}], e.g. Zhongshan's evaluator 4%.
    extra_parties: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    leverage_max: int
    npl_pause_bps: int
    per_loan_cap: int | None = money_field(default=None)
    per_borrower_year_cap: int | None = money_field(default=None)
    annual_cap: int | None = money_field(default=None)
    default_days: int = 90
    min_ip_share_bps: int = 0
    insufficient_cash: str = Field(default="refuse", max_length=10)
    # Servicing rules: a restructured loan leaves the cover; the highest rate a restructuring may set.
    restructured_leave_cover: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    max_annual_rate_bps: int | None = None
    # The margin over the outstanding principal a covered loan's borrowing base must keep (margin calls).
    collateral_margin_bps: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()


class FundAgreement(SQLModel, table=True):
    """A cooperation agreement with a bank: the fund's deposit there and the leverage give its quota."""

    __tablename__ = "fund_agreements"
    __table_args__ = (
        sa.UniqueConstraint("program_id", "bank_org_id"),
        sa.CheckConstraint("deposit > 0", name="deposit_positive"),
        sa.CheckConstraint("leverage >= 1", name="leverage"),
    )
    id: str = Field(default_factory=lambda: new_id("fag"), primary_key=True, max_length=40)
    program_id: str = Field(foreign_key="fund_programs.id", index=True, max_length=40)
    bank_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    deposit: int = money_field()
    leverage: int
    created_on: date
    created_at: datetime = created_at_field()

    @property
    def quota(self) -> int:
        return self.deposit * self.leverage


class FundCover(SQLModel, table=True):
    """A loan under a programme's cover, with the fund's copy of the loan facts it needs."""

    __tablename__ = "fund_covers"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {_in(COVER_STATUSES)}", name="status"),
        sa.CheckConstraint(f"classification IN {_in(CLASSIFICATIONS)}", name="classification"),
        sa.CheckConstraint("covered_principal > 0 AND covered_principal <= principal", name="covered_principal"),
        sa.CheckConstraint("outstanding_principal >= 0", name="outstanding"),
        sa.Index("ix_fund_covers_program_bank", "program_id", "bank_org_id"),
        sa.Index("ix_fund_covers_program_borrower", "program_id", "borrower_org_id", "covered_on"),
    )
    id: str = Field(default_factory=lambda: new_id("fcv"), primary_key=True, max_length=40)
    loan_id: str = Field(max_length=40, unique=True)
    program_id: str = Field(foreign_key="fund_programs.id", max_length=40)
    version_id: str = Field(foreign_key="fund_program_versions.id", max_length=40)
    agreement_id: str = Field(foreign_key="fund_agreements.id", index=True, max_length=40)
    bank_org_id: str = Field(max_length=40)
    borrower_org_id: str = Field(max_length=40)
    guarantor_org_id: str | None = Field(default=None, max_length=40)
    insurer_org_id: str | None = Field(default=None, max_length=40)
    industry: str | None = Field(default=None, max_length=80)
    region: str | None = Field(default=None, max_length=12)
    principal: int = money_field()
    # The principal the programme counts (at most the per-loan cap).
    covered_principal: int = money_field()
    # The fund's share of a loss after tiers, fixed at cover time.
    fund_bps: int
    outstanding_principal: int = money_field()
    # Cached from the facts above by ``cover.refresh`` (monitoring and the quota sum them in SQL):
    # min(outstanding, covered principal) while active, and the fund's share of it.
    covered_outstanding: int = money_field(default=0)
    exposure: int = money_field(default=0)
    # The fund's share of the covered principal when granted: what the year caps count.
    granted_exposure: int = money_field(default=0)
    classification: str = Field(default="normal", max_length=20)
    loan_status: str = Field(default="pending_security", max_length=20)
    ip_collateral_value: int = money_field()
    total_collateral_value: int = money_field()
    status: str = Field(default="active", max_length=10)
    covered_on: date
    claimed_on: date | None = None
    created_at: datetime = created_at_field()


class CompensationClaim(SQLModel, table=True):
    __tablename__ = "compensation_claims"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {_in(CLAIM_STATUSES)}", name="status"),
        sa.CheckConstraint("loss > 0 AND fund_amount >= 0 AND fund_amount <= loss", name="amounts"),
    )
    id: str = Field(default_factory=lambda: new_id("clm"), primary_key=True, max_length=40)
    loan_id: str = Field(max_length=40, unique=True)
    program_id: str | None = Field(default=None, foreign_key="fund_programs.id", index=True, max_length=40)
    cover_id: str | None = Field(default=None, foreign_key="fund_covers.id", max_length=40)
    fund_org_id: str | None = Field(default=None, max_length=40)
    bank_org_id: str = Field(max_length=40, index=True)
    borrower_org_id: str = Field(max_length=40)
    principal: int = money_field()
    loss: int = money_field()
    # [{"party", "org_id", "amount"}]: sums to ``loss`` exactly.
    shares: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    fund_amount: int = money_field(default=0)
    status: str = Field(default="pending", max_length=20)
    opened_on: date
    queued_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    paid_on: date | None = None
    paid_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    # The pending (two-phase) entry and the payout of the latest attempt; a retry makes new ones.
    ledger_entry_id: str | None = Field(default=None, max_length=40)
    payment_id: str | None = Field(default=None, max_length=40)
    payout_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Why the fund refused the claim (``rejected``), and on which business date.
    reject_reason: str | None = Field(default=None, max_length=500)
    rejected_on: date | None = None
    created_at: datetime = created_at_field()


class RecoveryRow(SQLModel, table=True):
    """One party's part of one recovery (disposal proceeds or a later recovery)."""

    __tablename__ = "fund_recoveries"
    __table_args__ = (sa.UniqueConstraint("source_ref", "line_no"),
                      sa.CheckConstraint("amount >= 0", name="amount"),
                      sa.CheckConstraint(f"status IN {_in(RECOVERY_STATUSES)}", name="status"))
    id: str = Field(default_factory=lambda: new_id("frc"), primary_key=True, max_length=40)
    loan_id: str = Field(max_length=40, index=True)
    claim_id: str = Field(foreign_key="compensation_claims.id", index=True, max_length=40)
    source_ref: str = Field(max_length=100)
    line_no: int
    party: str = Field(max_length=30)  # fund | guarantor | insurer | bank | <extra party> | borrower
    org_id: str | None = Field(default=None, max_length=40)
    amount: int = money_field()
    recovered_on: date
    # ``paying`` until the payout to the party lands (``paid``); the fund's inflow is a pending ledger
    # entry until then, voided if the payout fails (``payout_failed``, retried by the fund).
    status: str = Field(default="paying", max_length=20, sa_column_kwargs={"server_default": "paying"})
    ledger_entry_id: str | None = Field(default=None, max_length=40)
    payment_id: str | None = Field(default=None, max_length=40)
    payout_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()
