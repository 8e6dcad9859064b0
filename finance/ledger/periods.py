"""Closed periods: a fund closes its books month by month; nothing may be dated in a closed month after.

A fund's books are the ledger accounts of its programmes (``fund:{program}:…`` and the deposits
``bank:{bank}:deposit:{program}``). Closing a month freezes its trial balance (opening, debits, credits,
closing per account) in the period row; ``ensure_open`` refuses any later entry dated in that month or
before it (409 ``invalid_state``), so the stored trial balance stays true. A correction is a reversal,
which is dated today, in the open period, and names the entry it reverses.

Concurrency: the close locks every account of the fund's books in id order, the same order posters lock
the accounts they touch; a poster checks the periods after taking its locks, so it either committed before
the close read the balances or sees the closed period.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund.models import FundProgram
from finance.ledger.core import CREDIT, DEBIT, signed_balance
from finance.ledger.models import LedgerAccount, LedgerPosting
from finance.ledger.sealing import seal
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.day_end import day_end_handler
from kernel.db import created_at_field
from kernel.errors import InvalidState, ValidationFailed
from kernel.ids import new_id

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_PROGRAM_OF = re.compile(r"^fund:([^:]+):|^bank:[^:]+:deposit:([^:]+)$")


class _Coded(Protocol):
    """An account as the poster holds it (an ORM row or its locked snapshot): only the code is read here."""

    @property
    def code(self) -> str: ...


class LedgerPeriod(SQLModel, table=True):
    """A closed month of one fund's books with its trial balance as it stood at the close."""

    __tablename__ = "ledger_periods"
    __table_args__ = (sa.UniqueConstraint("fund_org_id", "month"),)
    id: str = Field(default_factory=lambda: new_id("lpd"), primary_key=True, max_length=40)
    fund_org_id: str = Field(foreign_key="orgs.id", max_length=40)
    month: str = Field(max_length=7)
    starts_on: date
    ends_on: date = Field(index=True)
    closed_by_user_id: str = Field(max_length=40)
    # [{account_id, code, name, type, normal_side, opening, debits, credits, closing}] by code.
    trial_balance: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    total_debits: int = Field(default=0, sa_type=sa.BigInteger)
    total_credits: int = Field(default=0, sa_type=sa.BigInteger)
    closed_at: datetime = created_at_field()


def parse_month(month: str) -> tuple[date, date]:
    m = _MONTH.match(month)
    if m is None:
        raise ValidationFailed.at(["path", "month"], "a period is a month written YYYY-MM")
    year, number = int(m.group(1)), int(m.group(2))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def program_of(code: str) -> str | None:
    m = _PROGRAM_OF.match(code)
    return (m.group(1) or m.group(2)) if m else None


def programs_of(accounts: Sequence[_Coded]) -> list[str]:
    """The programmes whose books these accounts are in."""
    return sorted({p for p in (program_of(a.code) for a in accounts) if p})


def closed_error(closed: str, effective: date) -> InvalidState:
    return InvalidState(f"the books are closed through {closed}: nothing may be dated {effective}; "
                        "post a correction (a reversal) in the open period",
                        extra={"closed_through": closed, "effective_date": effective.isoformat()})


async def ensure_open(session: AsyncSession, accounts: Sequence[_Coded], effective: date) -> None:
    """Refuse an entry dated in a month its fund has closed (or before it). The poster runs the same check
    inside its append statement (``append.py``), after its account locks."""
    programs = programs_of(accounts)
    if not programs:
        return
    stmt = (select(LedgerPeriod.month).join(FundProgram, col(FundProgram.fund_org_id) == col(LedgerPeriod.fund_org_id))
            .where(col(FundProgram.id).in_(programs), col(LedgerPeriod.ends_on) >= effective)
            .order_by(col(LedgerPeriod.ends_on).desc()).limit(1))
    closed = (await session.exec(stmt)).first()
    if closed is not None:
        raise closed_error(closed, effective)


async def fund_accounts(session: AsyncSession, fund_org_id: str, *, lock: bool = False) -> list[LedgerAccount]:
    """The accounts of the fund's books, in id order (locked with ``lock``)."""
    programs = list((await session.exec(select(FundProgram.id).where(FundProgram.fund_org_id == fund_org_id))).all())
    if not programs:
        return []
    codes = sa.or_(*[sa.or_(col(LedgerAccount.code).startswith(f"fund:{p}:", autoescape=True),
                            col(LedgerAccount.code).endswith(f":deposit:{p}", autoescape=True)) for p in programs])
    stmt = select(LedgerAccount).where(codes).order_by(col(LedgerAccount.id))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    rows = (await session.exec(stmt)).all()
    return [a for a in rows if program_of(a.code) in programs]


async def trial_balance(session: AsyncSession, accounts: Sequence[LedgerAccount], starts_on: date,
                        ends_on: date) -> list[dict[str, Any]]:
    if not accounts:
        return []
    before = col(LedgerPosting.effective_date) < starts_on
    debit, credit = col(LedgerPosting.side) == DEBIT, col(LedgerPosting.side) == CREDIT
    amount = col(LedgerPosting.amount)

    def total(*cond: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*cond), amount), else_=0)), 0)

    stmt = (select(LedgerPosting.account_id, total(before, debit), total(before, credit),  # type: ignore[call-overload]  # sqlmodel.select is typed up to 4 columns
                   total(~before, debit), total(~before, credit))
            .where(col(LedgerPosting.account_id).in_([a.id for a in accounts]),
                   col(LedgerPosting.effective_date) <= ends_on)
            .group_by(col(LedgerPosting.account_id)))
    sums = {r[0]: tuple(int(x) for x in r[1:]) for r in (await session.exec(stmt)).all()}
    out = []
    for a in sorted(accounts, key=lambda x: x.code):
        od, oc, d, c = sums.get(a.id, (0, 0, 0, 0))
        opening = signed_balance(a.normal_side, od, oc)
        out.append({"account_id": a.id, "code": a.code, "name": a.name, "type": a.type,
                    "normal_side": a.normal_side, "opening": opening, "debits": d, "credits": c,
                    "closing": opening + signed_balance(a.normal_side, d, c)})
    return out


async def latest(session: AsyncSession, fund_org_id: str) -> LedgerPeriod | None:
    return (await session.exec(select(LedgerPeriod).where(LedgerPeriod.fund_org_id == fund_org_id)
                               .order_by(col(LedgerPeriod.ends_on).desc()).limit(1))).first()


def _next_month(month: str) -> str:
    _, ends_on = parse_month(month)
    return month_of(ends_on + timedelta(days=1))


async def close(session: AsyncSession, actor: Actor, fund_org_id: str, month: str, *,
                closing_day: date | None = None) -> LedgerPeriod:
    """Close ``month`` of the fund's books. It must be over (``closing_day`` is the day-end's date, whose
    day is over too) and follow the last closed month."""
    starts_on, ends_on = parse_month(month)
    today = closing_day or await business_date(session)
    over = ends_on <= today if closing_day else ends_on < today
    if not over:
        raise InvalidState(f"{month} is not over yet: a month is closed after its last day")
    accounts = await fund_accounts(session, fund_org_id, lock=True)
    last = await latest(session, fund_org_id)
    if last is not None and last.month >= month:
        raise InvalidState(f"the books are closed through {last.month}", extra={"closed_through": last.month})
    if last is not None and _next_month(last.month) != month:
        raise InvalidState(f"close {_next_month(last.month)} first: months close in order",
                           extra={"closed_through": last.month})
    await seal(session)  # the closed month's entries are in the chain when the close commits
    rows = await trial_balance(session, accounts, starts_on, ends_on)
    period = LedgerPeriod(fund_org_id=fund_org_id, month=month, starts_on=starts_on, ends_on=ends_on,
                          closed_by_user_id=actor.user_id, trial_balance=rows,
                          total_debits=sum(r["debits"] for r in rows), total_credits=sum(r["credits"] for r in rows))
    session.add(period)
    await session.flush()
    await audit.record(session, actor, "ledger_period.closed", "ledger_period", period.id,
                       after={"fund_org_id": fund_org_id, "month": month, "accounts": len(rows),
                              "total_debits": period.total_debits, "total_credits": period.total_credits})
    return period


async def list_periods(session: AsyncSession, fund_org_id: str | None) -> list[LedgerPeriod]:
    stmt = select(LedgerPeriod).order_by(col(LedgerPeriod.fund_org_id), col(LedgerPeriod.ends_on))
    if fund_org_id is not None:
        stmt = stmt.where(LedgerPeriod.fund_org_id == fund_org_id)
    return list((await session.exec(stmt)).all())


def describe(period: LedgerPeriod) -> dict[str, Any]:
    return {"id": period.id, "fund_org_id": period.fund_org_id, "month": period.month, "status": "closed",
            "starts_on": period.starts_on, "ends_on": period.ends_on, "closed_at": period.closed_at,
            "closed_by_user_id": period.closed_by_user_id,
            "trial_balance": {"accounts": period.trial_balance, "total_debits": period.total_debits,
                              "total_credits": period.total_credits,
                              "balanced": period.total_debits == period.total_credits}}


@day_end_handler("finance.ledger.periods.auto_close", order=950)
async def auto_close(session: AsyncSession, run_date: date) -> None:
    """Close the month before ``run_date``'s for every fund with a programme that asks for it (after the
    month-end provisions, which the day-end of the month's last day posted)."""
    previous = month_of(run_date.replace(day=1) - timedelta(days=1))
    funds = (await session.exec(select(FundProgram.fund_org_id).where(col(FundProgram.auto_close_periods))
                                .distinct().order_by(col(FundProgram.fund_org_id)))).all()
    for fund_org_id in funds:
        last = await latest(session, fund_org_id)
        if last is not None and last.month >= previous:
            continue
        month = previous if last is None else _next_month(last.month)
        while month <= previous:  # catch up, in order, if the day-end was not run for a while
            await close(session, SYSTEM, fund_org_id, month, closing_day=run_date)
            month = _next_month(month)
