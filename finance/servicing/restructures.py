"""Restructuring (展期 extension / 重组 reschedule): proposed by the lending bank, accepted by the borrower.

On acceptance the remaining principal gets a new schedule from the effective date
(``finance.loans.restructuring``); the old schedule stays readable as a version. Classification follows
the 2023 rules (商业银行金融资产风险分类办法): restructured because the borrower is in difficulty → at least
``substandard``; otherwise → at least ``special_mention``; for an observation period of 12 months after
acceptance. The day-end lifts the floor once the period is over only if the loan was never overdue
during it; a loan paid late starts a new 12-month period. The fund is told (event
``loan.restructured``) and its copy of the loan follows (classification, outstanding principal).
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import access, accrual, outbound, position, repayments, restructuring, states
from finance.loans.models import Loan, LoanInstallment
from finance.servicing import versions
from finance.servicing.models import RESTRUCTURE, LoanRestructure, MarginCall
from finance.servicing.schemas import RestructureIn, RestructureOut
from kernel import audit, events
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.dates import add_months
from kernel.day_end import day_end_handler
from kernel.db import get_or_404, table_of
from kernel.errors import Forbidden, InvalidState, LimitExceeded, ValidationFailed

OBSERVATION_MONTHS = 12
MAX_LEAD_DAYS = 90  # an effective date at most this far ahead
RESTRUCTURED = "loan.restructured"


def describe(r: LoanRestructure) -> RestructureOut:
    return RestructureOut.model_validate(r, from_attributes=True)


def worse(*categories: str | None) -> str | None:
    present = [accrual.Category(c) for c in categories if c]
    return max(present, key=list(accrual.Category).index).value if present else None


async def propose(session: AsyncSession, actor: Actor, loan_id: str, data: RestructureIn) -> LoanRestructure:
    loan = await access.lending_bank_loan(session, actor, loan_id)
    if loan.status not in states.PERFORMING:
        raise InvalidState(f"loan {loan.id} is {loan.status}; only a performing or overdue loan is restructured")
    today = await business_date(session)
    if not today <= data.effective_on <= today + timedelta(days=MAX_LEAD_DAYS):
        raise ValidationFailed.at(["body", "effective_on"],
                                  f"the effective date must be between today and {MAX_LEAD_DAYS} days on")
    pending = (await session.exec(select(LoanRestructure.id).where(
        LoanRestructure.loan_id == loan.id, LoanRestructure.status == "proposed"))).first()
    if pending is not None:
        raise InvalidState(f"restructure {pending} is already proposed for this loan")
    rows = await access.installments(session, loan.id)
    remaining = sum(1 for r in rows if r.due_on > data.effective_on) or 1
    term = data.term_months or remaining
    if data.kind == "extension":
        if data.term_months is None:
            raise ValidationFailed.at(["body", "term_months"], "an extension names its new term")
        assert loan.maturity_on is not None
        if add_months(data.effective_on, term) <= loan.maturity_on:
            raise ValidationFailed.at(["body", "term_months"],
                                      f"an extension must end after the current maturity ({loan.maturity_on})")
    rules = await outbound.programme_rules(session, loan)
    rate = data.annual_rate_bps or loan.annual_rate_bps
    if rules is not None and rules.max_annual_rate_bps is not None and rate > rules.max_annual_rate_bps:
        raise LimitExceeded(f"the programme covering this loan allows at most {rules.max_annual_rate_bps} bps a "
                            f"year; {rate} is above it", extra={"rule": "max_annual_rate_bps",
                                                                 "max_annual_rate_bps": rules.max_annual_rate_bps})
    difficulty = data.borrower_in_difficulty if data.borrower_in_difficulty is not None else loan.days_past_due > 0
    row = LoanRestructure(loan_id=loan.id, kind=data.kind, term_months=term,
                          annual_rate_bps=data.annual_rate_bps or loan.annual_rate_bps,
                          repayment_method=data.repayment_method or loan.repayment_method,
                          effective_on=data.effective_on, reason=data.reason, borrower_in_difficulty=difficulty,
                          classification_floor="substandard" if difficulty else "special_mention", proposed_on=today)
    RESTRUCTURE.start(row)
    session.add(row)
    await session.flush()
    await audit.record(session, actor, "loan_restructure.proposed", "loan_restructure", row.id,
                       after=row.model_dump(exclude={"created_at", "updated_at"}))
    return row


async def get(session: AsyncSession, actor: Actor, restructure_id: str) -> LoanRestructure:
    row = await get_or_404(session, LoanRestructure, restructure_id, label="loan restructure")
    await access.get_loan(session, actor, row.loan_id)
    return row


async def list_for_loan(session: AsyncSession, actor: Actor, loan_id: str) -> list[LoanRestructure]:
    loan = await access.get_loan(session, actor, loan_id)
    stmt = select(LoanRestructure).where(LoanRestructure.loan_id == loan.id).order_by(LoanRestructure.id)
    return list((await session.exec(stmt)).all())


async def floor_of(session: AsyncSession, loan: Loan, today: date) -> str | None:
    """The least classification the rules impose now: a restructuring still under observation, an
    expired (uncured) margin call."""
    observed = (await session.exec(select(LoanRestructure.classification_floor).where(
        LoanRestructure.loan_id == loan.id, LoanRestructure.status == "accepted",
        col(LoanRestructure.observation_until) > today))).all()
    uncured = (await session.exec(select(MarginCall.id).where(MarginCall.loan_id == loan.id,
                                                              MarginCall.status == "expired"))).first()
    return worse(*observed, "special_mention" if uncured else None)


async def reclassify(session: AsyncSession, actor: Actor, loan: Loan, today: date) -> None:
    """Refresh the loan's floor and classification (with its history) and the fund's copy."""
    loan.classification_floor = await floor_of(session, loan, today)
    rows = await access.installments(session, loan.id, lock=True)
    await repayments.refresh_position(session, actor, loan, rows, today)
    await session.flush()
    await outbound.update_fund(session, loan)


async def accept(session: AsyncSession, actor: Actor, restructure_id: str) -> LoanRestructure:
    if not actor.is_kind("sme"):
        raise Forbidden("only the borrower accepts a restructuring")
    peek = await get_or_404(session, LoanRestructure, restructure_id, label="loan restructure")
    loan = await get_or_404(session, Loan, peek.loan_id, lock=True,
                            visible=lambda loan: loan.borrower_org_id == actor.org_id)
    row = await get_or_404(session, LoanRestructure, restructure_id, lock=True, label="loan restructure")
    RESTRUCTURE.ensure(row, "accept")
    today = await business_date(session)
    if loan.status not in states.PERFORMING:
        raise InvalidState(f"loan {loan.id} is {loan.status}; the restructuring can no longer apply")
    if row.effective_on < today:
        raise InvalidState(f"the effective date {row.effective_on} has passed; the bank must propose again")
    rows = await access.installments(session, loan.id, lock=True)
    before = versions.rows_json(rows)
    out = restructuring.restructure(rows, effective_on=row.effective_on, start=position.accrual_start(loan, rows),
                                    old_rate_bps=loan.annual_rate_bps, new_rate_bps=row.annual_rate_bps,
                                    term_months=row.term_months, method=row.repayment_method)
    await versions.keep(session, loan.id, before, superseded_by="restructure", ref_id=row.id, on=today)
    for old in rows:
        if old.n in out.removed:
            await session.delete(old)
            continue
        status = position.row_status(old, today, loan)
        if status != old.status:
            await states.INSTALMENT.apply(session, actor, old, states.INSTALMENT_ACTIONS[status], restructure_id=row.id)
    await session.flush()
    fresh = [LoanInstallment(loan_id=loan.id, n=r.n, due_on=r.due_on, payment=r.payment, principal=r.principal,
                             interest=r.interest, balance_after=r.balance_after,
                             carried_interest=out.carried_interest if i == 0 else 0,
                             accrues_from=row.effective_on if i == 0 else None)
             for i, r in enumerate(out.new_rows)]
    for r in fresh:
        states.INSTALMENT.start(r)
    session.add_all(fresh)
    loan.annual_rate_bps, loan.repayment_method = row.annual_rate_bps, row.repayment_method
    loan.maturity_on = fresh[-1].due_on
    row.accepted_on, row.observation_until = today, add_months(today, OBSERVATION_MONTHS)
    row.principal, row.carried_interest = out.principal, out.carried_interest
    await RESTRUCTURE.apply(session, actor, row, "accept", principal=out.principal,
                            carried_interest=out.carried_interest, observation_until=row.observation_until)
    await session.flush()
    await audit.record(session, actor, RESTRUCTURED, "loan", loan.id,
                       after={"restructure_id": row.id, "kind": row.kind, "annual_rate_bps": row.annual_rate_bps,
                              "maturity_on": loan.maturity_on, "classification_floor": row.classification_floor})
    await reclassify(session, actor, loan, today)
    # The cover continues unless the programme says restructured loans leave it.
    rules = await outbound.programme_rules(session, loan)
    left = bool(rules and rules.restructured_leave_cover) and await outbound.leave_cover(
        session, actor, loan, f"restructured ({row.id})")
    if left:
        await audit.record(session, actor, "loan.left_cover", "loan", loan.id,
                           after={"restructure_id": row.id, "program_id": loan.fund_program_id})
    await events.publish(session, RESTRUCTURED, {"left_cover": left,
        "loan_id": loan.id, "restructure_id": row.id, "program_id": loan.fund_program_id,
        "classification": loan.classification, "outstanding_principal": loan.outstanding_principal})
    return row


async def decline(session: AsyncSession, actor: Actor, restructure_id: str, action: str) -> LoanRestructure:
    """reject (the borrower) or withdraw (the bank) a proposal."""
    row = await get_or_404(session, LoanRestructure, restructure_id, lock=True, label="loan restructure")
    loan = await access.get_loan(session, actor, row.loan_id)
    party = loan.borrower_org_id if action == "reject" else loan.bank_org_id
    if actor.org_id != party:
        raise Forbidden(f"only the {'borrower' if action == 'reject' else 'lending bank'} may {action} it")
    await RESTRUCTURE.apply(session, actor, row, action)
    await session.flush()
    return row


@day_end_handler("finance.servicing.observation", order=55)
async def observation_day_end(session: AsyncSession, run_date: date) -> None:
    """After the loans' ageing (order 50): note lateness under observation; lift or renew floors."""
    T = table_of(LoanRestructure)
    L = table_of(Loan)
    in_period = sa.and_(T.c.status == "accepted", T.c.observation_until > run_date)
    conn = await session.connection()
    await conn.execute(sa.update(T).where(in_period, ~T.c.paid_late, T.c.loan_id.in_(
        sa.select(L.c.id).where(L.c.days_past_due > 0))).values(paid_late=True))
    ending = list((await session.exec(select(LoanRestructure).where(
        LoanRestructure.status == "accepted", LoanRestructure.observation_until == run_date + timedelta(days=1))
        .order_by(LoanRestructure.id).execution_options(populate_existing=True))).all())
    for row in ending:
        if row.paid_late:
            # Not paid on time through the period: the floor stays for another period.
            row.observation_until, row.paid_late = add_months(run_date, OBSERVATION_MONTHS), False
            session.add(row)
            await audit.record(session, SYSTEM, "loan_restructure.observation_renewed", "loan_restructure",
                               row.id, after={"observation_until": row.observation_until})
        loan = await access.lock_loan(session, row.loan_id)
        await reclassify(session, SYSTEM, loan, run_date + timedelta(days=1))
    await session.flush()

