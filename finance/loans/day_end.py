"""The loans' day-end: penalty accrual, days past due, classification, active ⇄ overdue, collateral checks.

Set-based, because it must close a day over 100,000 performing loans in seconds: one UPDATE accrues
penalty on the instalments already overdue, one moves those falling overdue today and accrues theirs in
the same write. The loans whose days past due, classification or status move are staged once, with what
they were, in a temporary table; each is then written once, and their history, audit records, events
and audiences are each one INSERT … SELECT from the stage, built by the database as the per-loan path
built them in Python. A loan or instalment that does not change is not written at all.

Convention: the day-end of date D runs after the business on D. An instalment due on D and still unpaid
is overdue from D+1: it accrues its first day of penalty here, and on D+1 it is 1 day past due
(``accrual.days_past_due(rows, D+1)``). Paying k days late therefore costs exactly k days of penalty.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.feed import loan_parties_sql
from finance.loans import accrual, outbound, states
from finance.loans.models import (
    INSTALLMENT_STATUSES,
    Loan,
    LoanClassification,
    LoanCollateralAlert,
    LoanInstallment,
)
from finance.loans.states import PERFORMING
from kernel import audit, event_log
from kernel.actor import SYSTEM
from kernel.day_end import day_end_handler
from kernel.db import TZDateTime, table_of, utcnow
from kernel.ids import new_id_sql
from market.assets.models import Asset, Encumbrance

L = table_of(Loan)
UNPAID = tuple(s for s in INSTALLMENT_STATUSES if s != "paid")
I = table_of(LoanInstallment)  # noqa: E741
H = table_of(LoanClassification)
# The loans that move today, as they were (status, classification, updated_at) and what they become (days
# past due, classification, the status action or NULL), with the ids of the events they make. Temporary:
# this connection's only, dropped at the end of the run.
MOVES = sa.Table(
    "loan_day_end_moves", sa.MetaData(),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("classification", sa.String(20), nullable=False),
    sa.Column("updated_at", TZDateTime),
    sa.Column("days_past_due", sa.Integer, nullable=False),
    sa.Column("new_classification", sa.String(20), nullable=False),
    sa.Column("action", sa.String(20)),
    sa.Column("class_event_id", sa.String(40)),
    sa.Column("status_event_id", sa.String(40)),
    prefixes=["TEMPORARY"])
# active ⇄ overdue: the status each action moves a performing loan to.
STATUS_ACTIONS = {"fall_overdue": "overdue", "cure": "active"}


def _unpaid(t: sa.Table) -> sa.ColumnElement[int]:
    return t.c.principal - t.c.paid_principal + t.c.interest - t.c.paid_interest


def _days_between(dialect: str, later: date, earlier: sa.ColumnElement) -> sa.ColumnElement[int]:
    if dialect == "postgresql":
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
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # The estimates over a million instalments are large, so PostgreSQL would JIT-compile these
        # statements for longer than they run (for this transaction only).
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
    await states.INSTALMENT.apply_where(session, SYSTEM, sa.and_(open_rows, I.c.status != "overdue",
                                                                 I.c.loan_id.in_(performing_loans)),
                                        "fall_overdue", table=I, business_date=next_day, also_set=accrue)
    # 2. Stage the loans whose days past due (on D+1, from their oldest open instalment), classification
    # or status now differ.
    oldest = (sa.select(I.c.loan_id, sa.func.min(I.c.due_on).label("due_on")).where(open_rows)
              .group_by(I.c.loan_id).subquery())
    dpd = sa.func.coalesce(_days_between(dialect, next_day, oldest.c.due_on), 0)
    new_class = _with_floor(_classify_sql(dpd), L.c.classification_floor)
    new_status = sa.case((dpd > 0, "overdue"), else_="active")
    action = sa.case(*((sa.and_(L.c.status != to, new_status == to), name) for name, to in STATUS_ACTIONS.items()))
    with_events = [a for a in STATUS_ACTIONS if f"{states.LOAN.name}.{a}" in event_log.CATALOGUE]
    await conn.execute(sa.schema.DropTable(MOVES, if_exists=True))
    await conn.execute(sa.schema.CreateTable(MOVES))
    await conn.execute(sa.insert(MOVES).from_select(
        [c.name for c in MOVES.c],
        sa.select(L.c.id, L.c.status, L.c.classification, L.c.updated_at, dpd, new_class, action,
                  sa.case((L.c.classification != new_class, new_id_sql("evt", dialect))),
                  sa.case((action.in_(with_events), new_id_sql("evt", dialect))))
        .select_from(L.outerjoin(oldest, oldest.c.loan_id == L.c.id))
        .where(L.c.status.in_(PERFORMING), sa.or_(L.c.days_past_due > 0, L.c.next_due_on <= run_date),
               sa.or_(L.c.days_past_due != dpd, L.c.classification != new_class, L.c.status != new_status))))
    if dialect == "postgresql":
        await conn.execute(sa.text(f"ANALYZE {MOVES.name}"))  # a fresh temporary table has no statistics
    # Staged: every loan to write (some only for their days past due); moved: their classification or status.
    staged, moved = (await conn.execute(sa.select(sa.func.count(), sa.func.count(sa.case((sa.or_(
        MOVES.c.classification != MOVES.c.new_classification, MOVES.c.action.is_not(None)), 1)))))).one()
    if staged:
        await _write_moves(session, dialect, next_day)
    await conn.execute(sa.schema.DropTable(MOVES))
    return int(moved)


async def _write_moves(session: AsyncSession, dialect: str, next_day: date) -> None:
    """Each staged loan written once; its history, audit records and events, as the per-loan path wrote
    them (classification first, then status)."""
    conn = await session.connection()
    class_moved = MOVES.c.classification != MOVES.c.new_classification
    await conn.execute(sa.insert(H).from_select(
        ["id", "loan_id", "business_date", "from_classification", "to_classification", "days_past_due",
         "created_at"],
        sa.select(new_id_sql("lcl", dialect), MOVES.c.id, sa.literal(next_day, sa.Date), MOVES.c.classification,
                  MOVES.c.new_classification, MOVES.c.days_past_due, sa.literal(utcnow(), TZDateTime))
        .where(class_moved)))
    await audit.record_select(session, SYSTEM, next_day, sa.select(
        sa.literal("loan.classification_changed", sa.String), sa.literal("loan", sa.String), MOVES.c.id,
        event_log.json_object_sql(dialect, {"classification": MOVES.c.classification}),
        event_log.json_object_sql(dialect, {"classification": MOVES.c.new_classification,
                                            "days_past_due": MOVES.c.days_past_due})).where(class_moved))
    await states.LOAN.apply_staged(session, SYSTEM, MOVES, table=L, business_date=next_day,
                                   also_set={"days_past_due": MOVES.c.days_past_due,
                                             "classification": MOVES.c.new_classification})
    # The events, from the loans as written: the classification's sees the loan before its status moved.
    # Its ids were staged before the status events', so ordering by id keeps the per-loan path's order.
    joined = MOVES.join(L, L.c.id == MOVES.c.id)
    kinds = [(MOVES.c.class_event_id, sa.literal(event_log.CATALOGUE["loan.classification_changed"], sa.String),
              {"classification": MOVES.c.classification},
              {"status": MOVES.c.status, "updated_at": MOVES.c.updated_at}),
             (MOVES.c.status_event_id,
              sa.case(*((MOVES.c.action == a, event_log.CATALOGUE[f"loan.{a}"])
                        for a in STATUS_ACTIONS if f"loan.{a}" in event_log.CATALOGUE)),
              {"status": MOVES.c.status}, {})]
    events = sa.union_all(*(
        sa.select(event_id, type_, sa.literal("loan", sa.String), MOVES.c.id, event_log.json_object_sql(dialect, {
            "object": event_log.row_json_sql(dialect, L, snapshot),
            "previous_attributes": event_log.json_object_sql(dialect, previous)}))
        .select_from(joined).where(event_id.is_not(None))
        for event_id, type_, previous, snapshot in kinds))
    # Who sees each: the loan's parties, one scan of the moved loans against the five party columns.
    made = sa.union_all(*(sa.select(event_id.label("event_id"), MOVES.c.id.label("loan_id"))
                          .where(event_id.is_not(None)) for event_id, *_ in kinds)).subquery()
    parties = loan_parties_sql(L)
    which = sa.union_all(*(sa.select(sa.literal(i).label("n")) for i in range(len(parties)))).subquery()
    each = (sa.select(made.c.event_id, sa.case(*((which.c.n == i, p) for i, p in enumerate(parties)))
                      .label("audience"))
            .select_from(made.join(L, L.c.id == made.c.loan_id).join(which, sa.true())).subquery())
    await event_log.record_select(session, events,
                                  sa.select(each.c.event_id, each.c.audience).distinct()
                                  .where(each.c.audience.is_not(None), each.c.audience != ""))
    covered = sa.select(MOVES.c.id).select_from(joined).where(
        L.c.fund_cover_id.is_not(None), sa.or_(class_moved, MOVES.c.action.is_not(None)))
    for loan in (await session.exec(select(Loan).where(col(Loan.id).in_(covered)).order_by(col(Loan.id))
                                    .execution_options(populate_existing=True))):
        await outbound.update_fund(session, loan)


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

