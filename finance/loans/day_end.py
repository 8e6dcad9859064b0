"""The loans' day-end: penalty accrual, days past due, classification, active ⇄ overdue, collateral checks.

Set-based, because it must close a day over 100,000 performing loans in seconds: one UPDATE accrues
penalty on the instalments already overdue, one moves those falling overdue today and accrues theirs in
the same write, one refreshes days past due only where it changes (the loans already overdue, or with an
open instalment), and only the loans whose classification or status actually moves are read back — a
handful a day — to write their history, audit records, events and the fund's copy in batches. A loan or
instalment that does not change is not written at all.

Convention: the day-end of date D runs after the business on D. An instalment due on D and still unpaid
is overdue from D+1: it accrues its first day of penalty here, and on D+1 it is 1 day past due
(``accrual.days_past_due(rows, D+1)``). Paying k days late therefore costs exactly k days of penalty.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import accrual, outbound, states
from finance.loans.models import (
    INSTALLMENT_STATUSES,
    Loan,
    LoanClassification,
    LoanCollateralAlert,
    LoanInstallment,
)
from finance.loans.states import PERFORMING
from kernel import audit
from kernel.actor import SYSTEM
from kernel.day_end import day_end_handler
from kernel.db import table_of, utcnow
from kernel.ids import new_id
from kernel.workflow import IDS_PER_STATEMENT
from market.assets.models import Asset, Encumbrance

L = table_of(Loan)
UNPAID = tuple(s for s in INSTALLMENT_STATUSES if s != "paid")
I = table_of(LoanInstallment)  # noqa: E741


def _unpaid(t: sa.Table) -> sa.ColumnElement[int]:
    return t.c.principal - t.c.paid_principal + t.c.interest - t.c.paid_interest


def _days_between(session: AsyncSession, later: date, earlier: sa.ColumnElement) -> sa.ColumnElement[int]:
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.literal(later, sa.Date) - earlier, sa.Integer)
    return sa.cast(sa.func.julianday(sa.literal(later.isoformat())) - sa.func.julianday(earlier), sa.Integer)


def _rank(category: sa.ColumnElement[str]) -> sa.ColumnElement[int]:
    return sa.case(*((category == c.value, i) for i, c in enumerate(accrual.Category)), else_=-1)


def _with_floor(category: sa.ColumnElement[str], floor: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """``accrual.classify(..., at_least=floor)`` as SQL: the worse of the two."""
    return sa.case((sa.and_(floor.is_not(None), _rank(floor) > _rank(category)), floor), else_=category)


def _classify_sql(dpd: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    """``accrual.classify`` as SQL (the thresholds are checked against it in the tests)."""
    return sa.case((dpd > 360, "loss"), (dpd > 270, "doubtful"), (dpd > 90, "substandard"),
                   (dpd > 0, "special_mention"), else_="normal")


async def accrue_and_age(session: AsyncSession, run_date: date) -> int:
    """Accrue one day of penalty on every overdue instalment and refresh days past due. Returns the loans
    whose classification or status moved. Only rows whose values change are written, each once."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        # The correlated subqueries make the planner's estimates huge, so PostgreSQL would JIT-compile
        # these statements for seconds each to run them in milliseconds (for this transaction only).
        await conn.execute(sa.text("SET LOCAL jit = off"))
    next_day = run_date + timedelta(days=1)
    performing_loans = sa.select(L.c.id).where(L.c.status.in_(PERFORMING))
    # ``status IN (the unpaid ones)`` rather than ``!= 'paid'``: the (status, due_on) index finds the few
    # open rows among millions of future and paid ones.
    open_rows = sa.and_(I.c.status.in_(UNPAID), I.c.due_on <= run_date, _unpaid(I) > 0)
    accrue = {"overdue_fen_days": I.c.overdue_fen_days + _unpaid(I)}
    # 1. Penalty: overdue fen-days grow by today's unpaid principal + interest (the exact accumulator),
    # first on the instalments already overdue...
    await conn.execute(sa.update(I).where(open_rows, I.c.status == "overdue", I.c.loan_id.in_(performing_loans))
                       .values(accrue))
    # ...then on those falling overdue today (a few per day), moved by the workflow in the same write.
    falling = (await conn.execute(sa.select(I.c.id, I.c.status).where(
        open_rows, I.c.status != "overdue", I.c.loan_id.in_(performing_loans)).order_by(I.c.id))).all()
    await states.INSTALMENT.apply_bulk(session, SYSTEM, [(r.id, r.status) for r in falling], "fall_overdue",
                                       table=I, business_date=next_day, also_set=accrue)
    # 2. Days past due, on D+1, for loans already overdue or with an open instalment, where it changes.
    oldest = (sa.select(sa.func.min(I.c.due_on)).where(I.c.loan_id == L.c.id, open_rows)
              .scalar_subquery())
    new_dpd = sa.func.coalesce(_days_between(session, next_day, oldest), 0)
    candidates = sa.and_(L.c.status.in_(PERFORMING),
                         sa.or_(L.c.days_past_due > 0, L.c.next_due_on <= run_date))
    with_open_rows = sa.select(I.c.loan_id).where(open_rows)
    await conn.execute(sa.update(L).where(candidates, sa.or_(L.c.days_past_due > 0, L.c.id.in_(with_open_rows)),
                                          L.c.days_past_due != new_dpd)
                       .values(days_past_due=new_dpd))
    # 3. The few loans whose classification or status now differs.
    new_class = _with_floor(_classify_sql(L.c.days_past_due), L.c.classification_floor)
    should_be = sa.case((L.c.days_past_due > 0, "overdue"), else_="active")
    moved = (await conn.execute(
        sa.select(L.c.id, L.c.status, L.c.classification, L.c.days_past_due, new_class.label("new_class"),
                  should_be.label("new_status"), L.c.fund_cover_id)
        .where(candidates, sa.or_(L.c.classification != new_class, L.c.status != should_be))
        .order_by(L.c.id))).all()
    if not moved:
        return 0
    class_moves = [m for m in moved if m.classification != m.new_class]
    if class_moves:
        await conn.execute(sa.insert(table_of(LoanClassification)), [
            {"id": new_id("lcl"), "loan_id": m.id, "business_date": next_day,
             "from_classification": m.classification, "to_classification": m.new_class,
             "days_past_due": m.days_past_due, "created_at": utcnow()} for m in class_moves])
        by_class: dict[str, list[str]] = {}
        for m in class_moves:
            by_class.setdefault(m.new_class, []).append(m.id)
        for new, ids in by_class.items():
            for i in range(0, len(ids), IDS_PER_STATEMENT):
                await conn.execute(sa.update(L).where(L.c.id.in_(ids[i:i + IDS_PER_STATEMENT])).values(classification=new))
        at = utcnow()
        await audit.record_bulk(session, [
            {"id": new_id("aud"), "at": at, "business_date": next_day, "actor_user_id": SYSTEM.user_id,
             "actor_org_id": SYSTEM.org_id, "action": "loan.classification_changed", "object_type": "loan",
             "object_id": m.id, "before": {"classification": m.classification},
             "after": {"classification": m.new_class, "days_past_due": m.days_past_due}} for m in class_moves])
    for action, from_status in (("fall_overdue", "active"), ("cure", "overdue")):
        rows = [(m.id, m.status) for m in moved if m.status == from_status and m.new_status != from_status]
        await states.LOAN.apply_bulk(session, SYSTEM, rows, action, table=L, business_date=next_day)
    covered = [m.id for m in moved if m.fund_cover_id]
    if covered:
        for loan in (await session.exec(select(Loan).where(col(Loan.id).in_(covered))
                                        .execution_options(populate_existing=True))):
            await outbound.update_fund(session, loan)
    return len(moved)


async def collateral_checks(session: AsyncSession, run_date: date) -> int:
    """Raise an alert for each pledged asset that is no longer valid (lapsed, expired, invalidated) and has
    no open alert yet: statuses can change without an event (e.g. expiry at the market's day-end)."""
    E, A, C = table_of(Encumbrance), table_of(Asset), table_of(LoanCollateralAlert)
    open_alert = sa.exists().where(C.c.loan_id == L.c.id, C.c.asset_id == A.c.id, C.c.kind == "asset_status",
                                   C.c.cleared_on.is_(None))
    rows = (await (await session.connection()).execute(
        sa.select(L.c.id.label("loan_id"), A.c.id.label("asset_id"), A.c.status)
        .select_from(E.join(L, L.c.id == E.c.ref_id).join(A, A.c.id == E.c.asset_id))
        .where(E.c.kind == "pledge", E.c.released_on.is_(None), A.c.status != "valid",
               L.c.status.in_((*PERFORMING, "secured")), ~open_alert))).all()
    for row in rows:
        detail = f"pledged asset {row.asset_id} is {row.status}"
        session.add(LoanCollateralAlert(loan_id=row.loan_id, kind="asset_status", asset_id=row.asset_id,
                                        detail=detail, raised_on=run_date))
        await audit.record(session, SYSTEM, "loan.collateral_alert", "loan", row.loan_id,
                           after={"kind": "asset_status", "asset_id": row.asset_id, "detail": detail})
    await session.flush()
    return len(rows)


@day_end_handler("finance.loans.accrue", order=50)
async def loans_day_end(session: AsyncSession, run_date: date) -> None:
    await accrue_and_age(session, run_date)


@day_end_handler("finance.loans.collateral", order=60)
async def loans_collateral(session: AsyncSession, run_date: date) -> None:
    await collateral_checks(session, run_date)

