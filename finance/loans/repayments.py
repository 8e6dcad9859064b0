"""Repayments: through the gateway, then applied penalty → interest → principal when the payment settles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import access, accrual, early, outbound, payoff, position, states, views
from finance.loans.access import BORROWER_KINDS, installments
from finance.loans.models import Loan, LoanClassification, LoanInstallment, LoanRepayment
from finance.loans.states import PERFORMING
from finance.servicing import versions
from finance.servicing.models import CHARGE, LoanCharge
from kernel import audit, events
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.db import flush_as_one, locks_database, table_of
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from market.assets import encumbrances


async def owed_charges(session: AsyncSession, loan_id: str, *, lock: bool = False) -> list[LoanCharge]:
    stmt = select(LoanCharge).where(LoanCharge.loan_id == loan_id).order_by(LoanCharge.id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.exec(stmt)).all())


async def payoff_on(session: AsyncSession, loan: Loan, on: date, *, lock: bool = False) -> payoff.Payoff:
    today = await business_date(session)
    rows = await installments(session, loan.id, lock=lock)
    return payoff.payoff(loan, rows, await owed_charges(session, loan.id, lock=lock), today, on)


async def list_for(session: AsyncSession, actor: Actor, loan_id: str) -> list[LoanRepayment]:
    """A loan's repayments, oldest first, for whoever may see the loan (404 for anyone else)."""
    loan = await access.get_loan(session, actor, loan_id)
    return list((await session.exec(select(LoanRepayment).where(LoanRepayment.loan_id == loan.id)
                                    .order_by(col(LoanRepayment.paid_on), col(LoanRepayment.created_at)))).all())


def _processing(loan_id: Any) -> sa.ScalarSelect[Any]:
    """What the loan's repayments still processing amount to."""
    return (select(sa.func.coalesce(sa.func.sum(LoanRepayment.amount), 0))
            .where(LoanRepayment.loan_id == loan_id, LoanRepayment.status == "processing").scalar_subquery())


_ROWS: dict[tuple[str, bool, bool], Any] = {}  # rows_and_charges' statements, built once


def _on_first_instalment(loan_id: Any) -> Any:
    """The join of the loan's charges to its instalments: each charge once, on the first instalment's row."""
    first = aliased(LoanInstallment)
    first_n = sa.select(sa.func.min(first.n)).where(col(first.loan_id) == loan_id).scalar_subquery()
    return sa.and_(col(LoanCharge.loan_id) == loan_id, col(LoanInstallment.n) == first_n)


def _rows_statement(dialect: str, in_flight: bool, extras: bool) -> Any:
    stmt = _ROWS.get((dialect, in_flight, extras))
    if stmt is not None:
        return stmt
    loan_id = sa.bindparam("loan_id", type_=sa.String)
    more = views.extras_columns(dialect, loan_id, sa.bindparam("asset_ids", expanding=True)) if extras else []
    stmt = _ROWS[(dialect, in_flight, extras)] = (
        sa.select(LoanInstallment, LoanCharge, _processing(loan_id) if in_flight else sa.null(), *more)
        .outerjoin(LoanCharge, _on_first_instalment(loan_id))
        .where(col(LoanInstallment.loan_id) == loan_id).order_by(col(LoanInstallment.n), col(LoanCharge.id))
        .with_for_update(of=LoanInstallment).execution_options(populate_existing=True))
    return stmt


_WITH_LOAN: dict[tuple[bool, bool], Any] = {}  # loan_and_rows' statements, built once


def _with_loan_statement(in_flight: bool, repayment: bool) -> Any:
    """SQLite's one read of a loan (and with ``repayment`` the repayment ``repayment_id``, with the loan's
    ``views.Extras``, its assets taken from its row) with its instalments and charges as
    ``rows_and_charges`` reads them: a row per instalment, the loan's on each, one when it has none."""
    stmt = _WITH_LOAN.get((in_flight, repayment))
    if stmt is not None:
        return stmt
    loan_id = sa.bindparam("loan_id", type_=sa.String)
    entities: list[Any] = [Loan]
    if repayment:
        entities.append(LoanRepayment)
    stmt = sa.select(*entities, LoanInstallment, LoanCharge, _processing(loan_id) if in_flight else sa.null())
    if repayment:
        assets = sa.select(sa.column("value", sa.String)).select_from(
            sa.func.json_each(table_of(Loan).c.asset_ids)).scalar_subquery()
        stmt = stmt.add_columns(*views.extras_columns("sqlite", loan_id, assets))
    stmt = stmt.select_from(Loan)
    if repayment:
        stmt = stmt.join(LoanRepayment, sa.and_(col(LoanRepayment.loan_id) == Loan.id,
                                                col(LoanRepayment.id) == sa.bindparam("repayment_id")))
    stmt = _WITH_LOAN[(in_flight, repayment)] = (
        stmt.outerjoin(LoanInstallment, col(LoanInstallment.loan_id) == Loan.id)
        .outerjoin(LoanCharge, _on_first_instalment(loan_id))
        .where(col(Loan.id) == loan_id).order_by(col(LoanInstallment.n), col(LoanCharge.id))
        .execution_options(populate_existing=True))
    return stmt


@dataclass
class Held:
    """What a repayment reads of a loan under its lock (``rows_and_charges``)."""

    rows: list[LoanInstallment]
    charges: list[LoanCharge]
    in_flight: int = 0
    extras: views.Extras | None = None
    loan: Loan | None = None  # read with them (``loan_and_rows``)
    repayment: LoanRepayment | None = None


async def loan_and_rows(session: AsyncSession, loan_id: str, *, in_flight: bool = False,
                        repayment_id: str | None = None) -> Held | None:
    """The loan with what ``rows_and_charges`` reads, in one statement where one is enough to hold them
    (``locks_database``: the write lock was taken when the transaction began), else None and nothing is
    read. ``repayment_id``: that repayment of the loan comes too, and the loan's extras; None when the
    loan (or that repayment of it) is not there."""
    if not locks_database(session):
        return None
    found = (await session.execute(_with_loan_statement(in_flight, repayment_id is not None),
                                   {"loan_id": loan_id, "repayment_id": repayment_id})).all()
    if not found:
        return Held([], [])
    k = 2 if repayment_id is not None else 1  # where the instalment's columns start
    rows = _once([row[k] for row in found if row[k] is not None])
    if not rows:  # no schedule: the charges and what is in flight on their own
        charges = await owed_charges(session, loan_id, lock=True)
        held = Held([], charges, await _in_flight(session, loan_id) if in_flight else 0)
    else:
        held = Held(rows, [row[k + 1] for row in found if row[k + 1] is not None],
                    int(found[0][k + 2]) if in_flight else 0)
    held.loan = found[0][0]
    if repayment_id is not None:
        held.repayment, held.extras = found[0][1], views.extras_of(found[0][k + 3:])
    return held


async def _in_flight(session: AsyncSession, loan_id: str) -> int:
    return sum((await session.exec(select(LoanRepayment.amount).where(
        LoanRepayment.loan_id == loan_id, LoanRepayment.status == "processing"))).all())


async def rows_and_charges(session: AsyncSession, loan_id: str, *, in_flight: bool = False,
                           extras_of: Loan | None = None) -> Held:
    """The loan's instalments (locked: the day-end moves them by set-based UPDATE without the loan's lock)
    and charges, refreshed, in one read, and with ``in_flight`` what its repayments still processing
    amount to. Read after the loan's lock is granted (a statement of its own, so this one's snapshot
    comes after it), it sees every row committed before that; charges are only written under the loan's
    lock (levy, waive, a repayment), so holding it is enough for them. Each charge comes once, on the
    first instalment's row. ``extras_of``: the loan's ``views.Extras`` come with them (for the answer)."""
    dialect = session.get_bind().dialect.name
    stmt = _rows_statement(dialect, in_flight, extras_of is not None)
    params = views.extras_params(extras_of) if extras_of is not None else {}
    found = (await session.execute(stmt, {**params, "loan_id": loan_id})).all()
    more = extras_of is not None
    if not found:  # no schedule: the charges and what is in flight on their own
        charges = await owed_charges(session, loan_id, lock=True)
        return Held([], charges, await _in_flight(session, loan_id) if in_flight else 0)
    return Held(_once([row[0] for row in found]), [row[1] for row in found if row[1] is not None],
                int(found[0][2]) if in_flight else 0, views.extras_of(found[0][3:]) if more else None)


def _once(rows: list[LoanInstallment]) -> list[LoanInstallment]:
    """The instalments in order, each once: the first comes on a row per charge."""
    return list({id(row): row for row in rows}.values())


async def repay(session: AsyncSession, actor: Actor, loan_id: str, amount: int,
                prepayment: str = early.Prepayment.REDUCE_PAYMENT) -> tuple[Loan, LoanRepayment]:
    """Record the repayment and its payment (the first phase); returns the loan (access checked) with it."""
    # Who may see the loan first (404 to everyone else, whatever the verb), then who may repay it.
    held = await loan_and_rows(session, loan_id, in_flight=True)
    if held is None:
        loan = await access.get_loan(session, actor, loan_id, lock=True)
    else:
        loan = await access.visible(session, actor, held.loan, loan_id)
    if not actor.is_kind(*BORROWER_KINDS) or loan.borrower_org_id != actor.org_id:
        raise Forbidden("only the borrower repays a loan")
    if loan.status not in PERFORMING:
        raise InvalidState(f"loan {loan.id} is {loan.status}; it takes no repayments")
    today = await business_date(session)
    if held is None:
        held = await rows_and_charges(session, loan.id, in_flight=True)
    rows, charges, in_flight = held.rows, held.charges, held.in_flight
    total = payoff.payoff(loan, rows, charges, today, today).total
    if amount + in_flight > total:
        raise ValidationFailed.at(["body", "amount"],
                                  f"{amount} is more than the {total - in_flight} that "
                                  f"repays the loan in full today")
    repayment = LoanRepayment(loan_id=loan.id, amount=amount, paid_on=today, prepayment=str(prepayment))
    states.REPAYMENT.start(repayment)
    # The repayment's new id keys its payment: no earlier payment can hold it, and the loan names both
    # parties. The row goes in with its payment id (one INSERT, no UPDATE after it).
    payment = await outbound.pay(session, actor, purpose="repayment", payer_org_id=loan.borrower_org_id,
                                 payee_org_id=loan.bank_org_id, amount=amount, loan_id=loan.id, key=repayment.id,
                                 fresh_key=True)
    repayment.payment_id = payment.id
    session.add(repayment)
    await flush_as_one(session)  # the repayment, its payment and the payment's audit row: one statement
    if payment.status == "succeeded" and repayment.status == "processing":
        await apply_repayment(session, actor, loan, repayment, held)
    return loan, repayment


async def apply_repayment(session: AsyncSession, actor: Actor, loan: Loan, repayment: LoanRepayment,
                          held: Held | None = None) -> None:
    """The borrower's payment settled: allocate it, update the loan, and close it when nothing is owed.
    ``held``: the loan's rows read under its lock in this transaction (else read here)."""
    today = await business_date(session)
    if held is None:
        held = await rows_and_charges(session, loan.id)
    rows, charges, classification = held.rows, held.charges, loan.classification
    amount = min(repayment.amount, payoff.payoff(loan, rows, charges, today, today).total)  # never over-applies
    before = versions.rows_json(rows)
    landing = payoff.land(loan, rows, charges, amount, today, repayment.prepayment)
    if landing.prepaid_principal or landing.removed:
        await versions.keep(session, loan.id, before, superseded_by="prepayment", ref_id=repayment.id, on=today)
    for row in [r for r in rows if r.n in landing.removed]:
        await session.delete(row)
    rows = [r for r in rows if r.n not in landing.removed]
    if landing.removed:
        loan.maturity_on = rows[-1].due_on
    for charge in charges:
        if charge.status == "due" and charge.paid == charge.amount:
            await CHARGE.apply(session, actor, charge, "pay", repayment_id=repayment.id)
    for row in rows:
        status = position.row_status(row, today, loan)
        if status != row.status:
            if status == "paid":
                row.paid_on = today
            await states.INSTALMENT.apply(session, actor, row, states.INSTALMENT_ACTIONS[status],
                                          repayment_id=repayment.id)
    session.add_all(rows)
    repayment.penalty, repayment.interest, repayment.charges = landing.penalty, landing.interest, landing.charges
    repayment.principal, repayment.prepaid_principal = landing.principal, landing.prepaid_principal
    repayment.amount = amount
    await states.REPAYMENT.apply(session, actor, repayment, "apply", amount=amount)
    loan.outstanding_principal = position.outstanding_principal(rows)
    await audit.record(session, actor, "loan.repaid", "loan", loan.id,
                       after={"repayment_id": repayment.id, "amount": amount, "penalty": landing.penalty,
                              "interest": landing.interest, "principal": landing.principal,
                              "prepaid_principal": landing.prepaid_principal, "charges": landing.charges,
                              "prepayment": repayment.prepayment, "source": repayment.source,
                              "outstanding_principal": loan.outstanding_principal})
    await refresh_position(session, actor, loan, rows, today)
    if position.settled(loan, rows) and all(c.status != "due" for c in charges):
        loan.next_due_on = None
        loan.closed_on = today
        await states.LOAN.apply(session, actor, loan, "repay_in_full", repayment_id=repayment.id)
        await encumbrances.release(session, actor, loan.id, "pledge")
    await flush_as_one(session)  # the rows, the repayment, the loan and the audit rows: one statement
    # The extras read with the rows still hold unless the classification moved or the pledge was released.
    unchanged = loan.classification == classification and loan.closed_on is None
    access.leave(session, loan.id, rows, charges, held.extras if unchanged else None)
    await outbound.update_fund(session, loan)
    await events.publish(session, events.LOAN_REPAYMENT_APPLIED, {
        "loan_id": loan.id, "repayment_id": repayment.id, "prepaid_principal": repayment.prepaid_principal,
        "principal_repaid": repayment.principal + repayment.prepaid_principal, "status": loan.status,
        "outstanding_principal": loan.outstanding_principal})


async def refresh_position(session: AsyncSession, actor: Actor, loan: Loan, rows: Sequence[LoanInstallment],
                           today: date) -> None:
    """Recompute days past due, classification, next due date and active ⇄ overdue from the rows."""
    pos = position.position(loan, rows, today)
    loan.days_past_due = pos.days_past_due
    loan.next_due_on = pos.next_due.due_on if pos.next_due else None
    await set_classification(session, loan, accrual.classify(pos.days_past_due, loan.classification_floor).value,
                             today)
    if pos.days_past_due > 0 and states.LOAN.can(loan.status, "fall_overdue"):
        await states.LOAN.apply(session, actor, loan, "fall_overdue", days_past_due=pos.days_past_due)
    elif pos.days_past_due == 0 and states.LOAN.can(loan.status, "cure"):
        await states.LOAN.apply(session, actor, loan, "cure")
    session.add(loan)


async def set_classification(session: AsyncSession, loan: Loan, classification: str, today: date) -> None:
    if classification != loan.classification:
        session.add(LoanClassification(loan_id=loan.id, business_date=today,
                                       from_classification=loan.classification,
                                       to_classification=classification, days_past_due=loan.days_past_due))
        before = loan.classification
        loan.classification = classification
        session.add(loan)
        await audit.record(session, SYSTEM, "loan.classification_changed", "loan", loan.id,
                           before={"classification": before},
                           after={"classification": classification, "days_past_due": loan.days_past_due})
