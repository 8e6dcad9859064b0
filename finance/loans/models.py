"""Pledge-loan tables: applications, competing offers, loans, their schedules, security and history.

Money is BIGINT fen, rates integer bps. Penalty interest is kept as an exact accumulator of overdue
fen-days per instalment (the contract rate and markup are fixed per loan, so the penalty is
``fen_days × rate × (1 + markup) / 360`` rounded half-up once when it is read or charged).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import TZDateTime, created_at_field, money_field, utcnow
from kernel.ids import new_id

REPAYMENT_METHODS = ("equal_installment", "equal_principal", "interest_only")
APPLICATION_STATUSES = ("submitted", "accepted", "withdrawn")
OFFER_STATUSES = ("pending", "accepted", "declined", "withdrawn")
LOAN_STATUSES = ("pending_security", "secured", "active", "overdue", "repaid", "defaulted", "compensated",
                 "disposing", "closed", "written_off")
CLASSIFICATIONS = ("normal", "special_mention", "substandard", "doubtful", "loss")
INSTALLMENT_STATUSES = ("pending", "partial", "paid", "overdue")


class LoanApplication(SQLModel, table=True):
    __tablename__ = "loan_applications"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("term_months > 0", name="term_positive"),
        sa.CheckConstraint(f"status IN {APPLICATION_STATUSES!r}", name="status"),
        sa.CheckConstraint(f"repayment_method IN {REPAYMENT_METHODS!r}", name="method"),
    )
    id: str = Field(default_factory=lambda: new_id("lap"), primary_key=True, max_length=40)
    applicant_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    amount: int = money_field()
    term_months: int
    purpose: str = Field(max_length=500)
    repayment_method: str = Field(max_length=20)
    valuation_id: str | None = Field(default=None, max_length=40)
    status: str = Field(default="submitted", max_length=20, index=True)
    submitted_on: date
    loan_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class LoanOffer(SQLModel, table=True):
    __tablename__ = "loan_offers"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("annual_rate_bps >= 0", name="rate"),
        sa.CheckConstraint("penalty_markup_bps >= 0", name="markup"),
        sa.CheckConstraint(f"status IN {OFFER_STATUSES!r}", name="status"),
        sa.CheckConstraint(f"repayment_method IN {REPAYMENT_METHODS!r}", name="method"),
    )
    id: str = Field(default_factory=lambda: new_id("lof"), primary_key=True, max_length=40)
    application_id: str = Field(foreign_key="loan_applications.id", index=True, max_length=40)
    bank_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    amount: int = money_field()
    annual_rate_bps: int
    term_months: int
    repayment_method: str = Field(max_length=20)
    penalty_markup_bps: int = 5000
    requires_guarantee: bool = False
    requires_certified_valuation: bool = False
    # The charges the offer discloses: kind -> the most that may be levied (fen).
    disclosed_charges: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON)
    # The certified valuation and borrowing base the offer was checked against, when the bank required one.
    valuation_id: str | None = Field(default=None, max_length=40)
    borrowing_base: int | None = money_field(default=None)
    # The rate as LPR + spread (domain §6): the LPR in force when the offer was made; null when the LPR
    # table has no rate for that date yet (the offer still stands on its annual rate).
    lpr_tenor: str | None = Field(default=None, max_length=4)
    lpr_effective_on: date | None = None
    lpr_bps: int | None = None
    spread_bps: int | None = None
    expires_on: date
    status: str = Field(default="pending", max_length=20)
    created_at: datetime = created_at_field()


class Loan(SQLModel, table=True):
    __tablename__ = "loans"
    __table_args__ = (
        sa.CheckConstraint("principal > 0", name="principal_positive"),
        sa.CheckConstraint("outstanding_principal >= 0 AND outstanding_principal <= principal",
                           name="outstanding_bounds"),
        sa.CheckConstraint(f"status IN {LOAN_STATUSES!r}", name="status"),
        sa.CheckConstraint(f"classification IN {CLASSIFICATIONS!r}", name="classification"),
        sa.CheckConstraint("days_past_due >= 0", name="dpd"),
        sa.Index("ix_loans_status_next_due_on", "status", "next_due_on"),
    )
    id: str = Field(default_factory=lambda: new_id("loan"), primary_key=True, max_length=40)
    application_id: str = Field(foreign_key="loan_applications.id", unique=True, max_length=40)
    offer_id: str = Field(foreign_key="loan_offers.id", max_length=40)
    borrower_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    bank_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    asset_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    valuation_id: str | None = Field(default=None, max_length=40)
    principal: int = money_field()
    outstanding_principal: int = money_field()
    annual_rate_bps: int
    penalty_markup_bps: int
    term_months: int
    repayment_method: str = Field(max_length=20)
    requires_guarantee: bool = False
    # Fixed when the contract is signed (the offer accepted): the LPR then in force and the spread over it.
    signed_on: date | None = None
    lpr_tenor: str | None = Field(default=None, max_length=4)
    lpr_effective_on: date | None = None
    lpr_bps: int | None = None
    spread_bps: int | None = None
    status: str = Field(default="pending_security", max_length=20)
    classification: str = Field(default="normal", max_length=20)
    # The least classification the 2023 rules impose whatever the days past due (a restructuring under
    # observation, an uncured margin call); null when none (``finance.servicing.classification``).
    classification_floor: str | None = Field(default=None, max_length=20)
    days_past_due: int = 0
    next_due_on: date | None = None
    disbursed_on: date | None = None
    maturity_on: date | None = None
    pledge_registration_no: str | None = Field(default=None, max_length=64)
    pledge_registered_on: date | None = None
    guarantor_org_id: str | None = Field(default=None, max_length=40)
    insurer_org_id: str | None = Field(default=None, max_length=40)
    fund_program_id: str | None = Field(default=None, max_length=40)
    fund_cover_id: str | None = Field(default=None, max_length=40)
    disbursement_payment_id: str | None = Field(default=None, max_length=60)
    defaulted_on: date | None = None
    loss_at_default: int | None = money_field(default=None)
    claim_id: str | None = Field(default=None, max_length=40)
    closed_on: date | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class LoanInstallment(SQLModel, table=True):
    __tablename__ = "loan_installments"
    __table_args__ = (
        sa.UniqueConstraint("loan_id", "n"),
        sa.CheckConstraint("paid_principal >= 0 AND paid_principal <= principal", name="paid_principal"),
        sa.CheckConstraint("paid_interest >= 0 AND paid_interest <= interest", name="paid_interest"),
        sa.CheckConstraint("paid_penalty >= 0", name="paid_penalty"),
        sa.CheckConstraint("overdue_fen_days >= 0", name="fen_days"),
        sa.CheckConstraint(f"status IN {INSTALLMENT_STATUSES!r}", name="status"),
        sa.Index("ix_loan_installments_open_due", "status", "due_on"),
    )
    id: str = Field(default_factory=lambda: new_id("lin"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    n: int
    due_on: date
    payment: int = money_field()
    principal: int = money_field()
    interest: int = money_field()
    balance_after: int = money_field()
    paid_principal: int = money_field(default=0)
    paid_interest: int = money_field(default=0)
    paid_penalty: int = money_field(default=0)
    # Σ over overdue days of the unpaid principal + interest (fen × days): the exact penalty accumulator.
    overdue_fen_days: int = money_field(default=0)
    # Interest carried in from before this row's regular period (an early close, a restructuring) and
    # when its interest began to run when that is not the previous due date (``finance.loans.early``).
    carried_interest: int = money_field(default=0)
    accrues_from: date | None = None
    status: str = Field(default="pending", max_length=10)
    paid_on: date | None = None


class LoanGuarantee(SQLModel, table=True):
    __tablename__ = "loan_guarantees"
    __table_args__ = (sa.CheckConstraint("share_bps > 0 AND share_bps <= 10000", name="share"),)
    id: str = Field(default_factory=lambda: new_id("lgu"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", unique=True, max_length=40)
    guarantor_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    share_bps: int
    fee_rate_bps: int
    fee: int = money_field()
    joined_on: date
    created_at: datetime = created_at_field()


class LoanInsurance(SQLModel, table=True):
    __tablename__ = "loan_insurances"
    __table_args__ = (sa.CheckConstraint("share_bps > 0 AND share_bps <= 10000", name="share"),
                      sa.CheckConstraint("premium >= 0", name="premium"))
    id: str = Field(default_factory=lambda: new_id("lis"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", unique=True, max_length=40)
    insurer_org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    share_bps: int
    premium: int = money_field()
    joined_on: date
    created_at: datetime = created_at_field()


class LoanInvitation(SQLModel, table=True):
    """The lending bank names the guarantor or insurer it wants on a loan; only that organisation may join."""

    __tablename__ = "loan_invitations"
    __table_args__ = (sa.UniqueConstraint("loan_id", "org_id", "kind"),
                      sa.CheckConstraint("kind IN ('guarantee', 'insurance')", name="kind"),
                      sa.CheckConstraint("status IN ('pending', 'accepted')", name="status"))
    id: str = Field(default_factory=lambda: new_id("liv"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    kind: str = Field(max_length=10)
    status: str = Field(default="pending", max_length=10)
    invited_by_user_id: str = Field(max_length=40)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class LoanRepayment(SQLModel, table=True):
    __tablename__ = "loan_repayments"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),
                      sa.CheckConstraint("status <> 'succeeded' OR amount = penalty + charges + interest + principal",
                                         name="allocated"),
                      sa.CheckConstraint("status IN ('processing', 'succeeded', 'failed')", name="status"))
    id: str = Field(default_factory=lambda: new_id("lrp"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    amount: int = money_field()
    # processing until the gateway settles the borrower's payment; the allocation is made then.
    status: str = Field(default="processing", max_length=12)
    penalty: int = money_field(default=0)
    charges: int = money_field(default=0)
    interest: int = money_field(default=0)
    principal: int = money_field(default=0)
    prepaid_principal: int = money_field(default=0)
    prepayment: str = Field(default="reduce_payment", max_length=20)  # reduce_payment | reduce_term
    # Where the money came from: the borrower, or a consented sale of the collateral (deal proceeds).
    source: str = Field(default="borrower", max_length=10)
    deal_id: str | None = Field(default=None, max_length=40)
    paid_on: date
    payment_id: str | None = Field(default=None, max_length=60)
    created_at: datetime = created_at_field()


class LoanClassification(SQLModel, table=True):
    """Every change of a loan's five-category classification (and its days past due then)."""

    __tablename__ = "loan_classifications"
    id: str = Field(default_factory=lambda: new_id("lcl"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    business_date: date
    from_classification: str | None = Field(default=None, max_length=20)
    to_classification: str = Field(max_length=20)
    days_past_due: int
    created_at: datetime = created_at_field()


class LoanCollateralAlert(SQLModel, table=True):
    """A collateral shortfall: a pledged asset lapsed or was invalidated, or the valuation went stale."""

    __tablename__ = "loan_collateral_alerts"
    id: str = Field(default_factory=lambda: new_id("lca"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    kind: str = Field(max_length=30)  # asset_status | valuation_stale
    asset_id: str | None = Field(default=None, max_length=40)
    valuation_id: str | None = Field(default=None, max_length=40)
    detail: str = Field(max_length=300)
    raised_on: date
    cleared_on: date | None = None
    created_at: datetime = created_at_field()


class LoanDisposal(SQLModel, table=True):
    __tablename__ = "loan_disposals"
    id: str = Field(default_factory=lambda: new_id("ldp"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    auction_id: str = Field(max_length=40, index=True)
    reserve_price: int = money_field()
    start_price: int = money_field()
    ends_on: date
    status: str = Field(default="open", max_length=20)  # open | sold | unsold | settled
    deal_id: str | None = Field(default=None, max_length=40)
    proceeds: int | None = money_field(default=None)
    created_at: datetime = created_at_field()


class LoanWriteOff(SQLModel, table=True):
    """The final loss per party when a defaulted loan is written off."""

    __tablename__ = "loan_write_offs"
    id: str = Field(default_factory=lambda: new_id("lwo"), primary_key=True, max_length=40)
    loan_id: str = Field(foreign_key="loans.id", index=True, max_length=40)
    party: str = Field(max_length=20)
    org_id: str | None = Field(default=None, max_length=40)
    loss: int = money_field()
    written_off_on: date
