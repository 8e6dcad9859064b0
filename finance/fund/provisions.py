"""Provisions: the fund sets aside its share of expected losses on the covered book, by classification.

The rate per class defaults to the PBOC 2002 guideline's specific-provision rates (normal 1%, special
mention 2%, substandard 25%, doubtful 50%, loss 100%) of the fund's exposure (its share of the covered
outstanding principal); a programme may set its own. At each month-end the day-end books the difference
between what is required and what the allowance already holds (provision expense against the allowance,
or a release back), keeps the run, and audits it. ``report`` shows the live figures, or for a past date the
month-end run that stood then.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund.models import CLASSIFICATIONS, FundCover, FundProgram
from finance.ledger import service as ledger
from finance.ledger.core import CREDIT, DEBIT, AccountSpec, Line
from finance.ledger.models import LedgerAccount
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.day_end import day_end_handler
from kernel.db import created_at_field, money_field
from kernel.errors import ValidationFailed
from kernel.ids import new_id
from kernel.money import to_fen

DEFAULT_RATES_BPS: dict[str, int] = {"normal": 100, "special_mention": 200, "substandard": 2500,
                                     "doubtful": 5000, "loss": 10000}


class FundProvision(SQLModel, table=True):
    """One month-end provisioning run of a programme: what was required, and the entry that booked it."""

    __tablename__ = "fund_provisions"
    __table_args__ = (sa.UniqueConstraint("program_id", "as_of"),)
    id: str = Field(default_factory=lambda: new_id("fpr"), primary_key=True, max_length=40)
    program_id: str = Field(foreign_key="fund_programs.id", max_length=40)
    as_of: date
    # [{classification, loans, exposure, rate_bps, provision}] in CLASSIFICATIONS order.
    rows: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    total: int = money_field()
    previous_allowance: int = money_field()
    ledger_entry_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_at_field()


def expense_account(program_id: str, owner: str | None) -> AccountSpec:
    return AccountSpec(f"fund:{program_id}:provision_expense", "Provision expense", "expense", "none", owner)


def allowance_account(program_id: str, owner: str | None) -> AccountSpec:
    return AccountSpec(f"fund:{program_id}:loss_allowance", "Allowance for compensation losses", "liability",
                       "none", owner)


def rates_of(program: FundProgram) -> dict[str, int]:
    return {**DEFAULT_RATES_BPS, **(program.provision_rates_bps or {})}


def check_rates(rates: dict[str, int]) -> dict[str, int]:
    for name, bps in rates.items():
        if name not in CLASSIFICATIONS:
            raise ValidationFailed.at(["body", "provision_rates_bps", name],
                                      f"a classification is one of {', '.join(CLASSIFICATIONS)}")
        if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps <= 10000:
            raise ValidationFailed.at(["body", "provision_rates_bps", name], "a rate is 0 to 10000 bps")
    return dict(rates)


async def required(session: AsyncSession, program: FundProgram) -> list[dict[str, Any]]:
    """Exposure and provision per classification over the programme's active covers now."""
    stmt = (select(FundCover.classification, sa.func.count(), sa.func.coalesce(sa.func.sum(FundCover.exposure), 0))
            .where(FundCover.program_id == program.id, FundCover.status == "active")
            .group_by(col(FundCover.classification)))
    found = {r[0]: (int(r[1]), int(r[2])) for r in (await session.exec(stmt)).all()}
    rates = rates_of(program)
    rows = []
    for name in CLASSIFICATIONS:
        loans, exposure = found.get(name, (0, 0))
        rows.append({"classification": name, "loans": loans, "exposure": exposure, "rate_bps": rates[name],
                     "provision": to_fen(Decimal(exposure) * rates[name] / 10000)})
    return rows


async def post_month_end(session: AsyncSession, actor: Actor, program: FundProgram, as_of: date) -> FundProvision:
    """Book the allowance up (or down) to what is required, once per programme and date."""
    existing = (await session.exec(select(FundProvision).where(FundProvision.program_id == program.id,
                                                               FundProvision.as_of == as_of))).first()
    if existing is not None:
        return existing
    expense, allowance = expense_account(program.id, program.fund_org_id), allowance_account(program.id,
                                                                                              program.fund_org_id)
    await ledger.ensure_accounts(session, [expense, allowance], actor=actor)
    rows = await required(session, program)
    total = sum(r["provision"] for r in rows)
    held = (await ledger.balance(session, allowance.code)).balance
    run = FundProvision(program_id=program.id, as_of=as_of, rows=rows, total=total, previous_allowance=held)
    delta = total - held
    if delta:
        lines = [Line(expense.code, DEBIT, delta), Line(allowance.code, CREDIT, delta)] if delta > 0 else \
            [Line(allowance.code, DEBIT, -delta), Line(expense.code, CREDIT, -delta)]
        entry = await ledger.post(session, actor, idempotency_key=f"provision:{program.id}:{as_of.isoformat()}",
                                  lines=lines, description=f"Month-end provisions as of {as_of}",
                                  kind="fund.provision", effective_date=as_of, object_type="fund_provision",
                                  object_id=run.id)
        run.ledger_entry_id = entry.id
    session.add(run)
    await session.flush()
    await audit.record(session, actor, "fund_provision.posted", "fund_provision", run.id,
                       after={"program_id": program.id, "as_of": as_of, "total": total, "previous_allowance": held,
                              "adjustment": delta, "ledger_entry_id": run.ledger_entry_id, "rows": rows})
    return run


@day_end_handler("finance.fund.provisions.month_end", order=800)
async def month_end(session: AsyncSession, run_date: date) -> None:
    if (run_date + timedelta(days=1)).day != 1:
        return
    for program in (await session.exec(select(FundProgram).order_by(col(FundProgram.id)))).all():
        await post_month_end(session, SYSTEM, program, run_date)


async def report(session: AsyncSession, program: FundProgram, as_of: date | None) -> dict[str, Any]:
    today = await business_date(session)
    if as_of is not None and as_of > today:
        raise ValidationFailed.at(["query", "as_of"], f"as_of must not be after the business date {today}")
    held = (await ledger.balance(session, allowance_account(program.id, None).code)).balance \
        if await _has_allowance(session, program.id) else 0
    if as_of is None or as_of == today:
        rows = await required(session, program)
        return {"program_id": program.id, "as_of": today, "basis": "current", "rows": rows,
                "total": sum(r["provision"] for r in rows), "allowance": held, "rates_bps": rates_of(program)}
    run = (await session.exec(select(FundProvision).where(FundProvision.program_id == program.id,
                                                          col(FundProvision.as_of) <= as_of)
                              .order_by(col(FundProvision.as_of).desc()).limit(1))).first()
    if run is None:
        rows = [{"classification": n, "loans": 0, "exposure": 0, "rate_bps": r, "provision": 0}
                for n, r in rates_of(program).items()]
        return {"program_id": program.id, "as_of": as_of, "basis": "none", "rows": rows, "total": 0,
                "allowance": 0, "rates_bps": rates_of(program)}
    return {"program_id": program.id, "as_of": as_of, "basis": f"month_end {run.as_of.isoformat()}",
            "rows": run.rows, "total": run.total, "allowance": run.total, "rates_bps": rates_of(program),
            "ledger_entry_id": run.ledger_entry_id}


async def dashboard(session: AsyncSession, program: FundProgram) -> dict[str, int]:
    required_now = sum(r["provision"] for r in await required(session, program))
    held = (await ledger.balance(session, allowance_account(program.id, None).code)).balance \
        if await _has_allowance(session, program.id) else 0
    return {"provisions_required": required_now, "provisions_allowance": held}


async def _has_allowance(session: AsyncSession, program_id: str) -> bool:
    code = allowance_account(program_id, None).code
    return (await session.exec(select(LedgerAccount.id).where(LedgerAccount.code == code))).first() is not None
