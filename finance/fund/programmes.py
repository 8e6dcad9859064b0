"""Fund programmes and their versioned rules: capital in, corrections by reversal, new rules from today.

Locks, always in this order across the fund: programme row (serialises cash and the year caps),
agreement row (the bank's quota), claim/cover rows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund import books
from finance.fund.models import FundProgram, FundProgramVersion
from finance.fund.schemas import ProgramIn, ProgramOut, RulesIn, VersionOut
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, LimitExceeded, NotFound, ValidationFailed
from kernel.ids import new_id

FUND_KINDS = ("fund",)
MONITOR_KINDS = ("fund", "regulator")


def limit_exceeded(rule: str, detail: str, **extra: Any) -> LimitExceeded:
    return LimitExceeded(detail, extra={"rule": rule, **extra})


def year_start(day: date) -> date:
    return date(day.year, 1, 1)




def _version_fields(rules: RulesIn) -> dict[str, Any]:
    return {
        "fund_bps": rules.shares_bps.fund,
        "guarantor_bps": rules.shares_bps.guarantor,
        "insurer_bps": rules.shares_bps.insurer,
        "tiers": [t.model_dump() for t in rules.tiers or []],
        "extra_parties": [p.model_dump() for p in rules.extra_parties or []],
        "leverage_max": rules.leverage_max,
        "npl_pause_bps": rules.npl_pause_bps,
        "per_loan_cap": rules.per_loan_cap,
        "per_borrower_year_cap": rules.per_borrower_year_cap,
        "annual_cap": rules.annual_cap,
        "default_days": rules.default_days,
        "min_ip_share_bps": rules.min_ip_share_bps,
        "insufficient_cash": rules.insufficient_cash,
        "restructured_leave_cover": rules.restructured_leave_cover,
        "max_annual_rate_bps": rules.max_annual_rate_bps,
        "collateral_margin_bps": rules.collateral_margin_bps,
    }


async def _check_extra_orgs(session: AsyncSession, rules: RulesIn) -> None:
    for i, party in enumerate(rules.extra_parties or []):
        if party.org_id is not None and await session.get(Org, party.org_id) is None:
            raise ValidationFailed.at(["body", "extra_parties", i, "org_id"], "organisation not found")


async def create_program(session: AsyncSession, actor: Actor, data: ProgramIn) -> FundProgram:
    if not actor.is_kind(*FUND_KINDS):
        raise Forbidden("only a fund organisation runs programmes")
    await _check_extra_orgs(session, data)
    today = await business_date(session)
    program = FundProgram(fund_org_id=actor.org_id, name=data.name, capital=data.capital, current_version=1)
    session.add(program)
    await session.flush()
    version = FundProgramVersion(program_id=program.id, version=1, effective_from=today, **_version_fields(data))
    session.add(version)
    await session.flush()
    await books.open_program_books(session, actor, program.id, actor.org_id)
    await books.capital_in(session, actor, program.id, data.capital, key=f"program:{program.id}:capital")
    await audit.record(session, actor, "fund_program.created", "fund_program", program.id,
                       after={"name": program.name, "capital": program.capital, **_version_fields(data)})
    return program


async def add_capital(session: AsyncSession, actor: Actor, program_id: str, amount: int) -> FundProgram:
    """More capital paid in (e.g. the next budget year): capital → cash, and queued claims become payable."""
    program = await owned_program(session, actor, program_id, lock=True)
    before = {"capital": program.capital}
    program.capital += amount
    session.add(program)
    await session.flush()
    await books.capital_in(session, actor, program.id, amount, key=f"program:{program.id}:capital:{new_id('cap')}")
    await audit.record(session, actor, "fund_program.capital_added", "fund_program", program.id, before=before,
                       after={"capital": program.capital, "amount": amount})
    return program


async def reverse_capital(session: AsyncSession, actor: Actor, program_id: str, entry_id: str,
                          reason: str) -> FundProgram:
    """Correct a capital entry posted in error: a linked reversal in the ledger, never an edit."""
    program = await owned_program(session, actor, program_id, lock=True)
    amount = await books.capital_amount(session, program.id, entry_id)
    before = {"capital": program.capital}
    await books.reverse(session, actor, entry_id, reason)
    program.capital -= amount
    session.add(program)
    await session.flush()
    await audit.record(session, actor, "fund_program.capital_reversed", "fund_program", program.id, before=before,
                       after={"capital": program.capital, "entry_id": entry_id, "reason": reason})
    return program


async def get_program(session: AsyncSession, program_id: str) -> FundProgram:
    return await get_or_404(session, FundProgram, program_id, label="fund programme")


async def owned_program(session: AsyncSession, actor: Actor, program_id: str, *, lock: bool = False) -> FundProgram:
    """A programme the caller's fund runs; another fund's programme is not found."""
    program = await (lock_program(session, program_id) if lock else get_program(session, program_id))
    if program.fund_org_id != actor.org_id and not actor.is_platform_admin:
        raise NotFound("fund programme not found")
    return program


async def lock_program(session: AsyncSession, program_id: str) -> FundProgram:
    return await get_or_404(session, FundProgram, program_id, lock=True, label="fund programme")


async def current_version(session: AsyncSession, program: FundProgram) -> FundProgramVersion:
    return await version_of(session, program.id, program.current_version)


async def version_of(session: AsyncSession, program_id: str, number: int) -> FundProgramVersion:
    stmt = select(FundProgramVersion).where(FundProgramVersion.program_id == program_id,
                                            FundProgramVersion.version == number)
    found = (await session.exec(stmt)).first()
    assert found is not None, "a programme always has its current version"
    return found


async def versions(session: AsyncSession, program_id: str) -> list[FundProgramVersion]:
    stmt = (select(FundProgramVersion).where(FundProgramVersion.program_id == program_id)
            .order_by(col(FundProgramVersion.version)))
    return list((await session.exec(stmt)).all())


async def add_version(session: AsyncSession, actor: Actor, program_id: str, rules: RulesIn) -> FundProgramVersion:
    """New rules from today; covers already granted keep the version they were granted under."""
    program = await owned_program(session, actor, program_id, lock=True)
    await _check_extra_orgs(session, rules)
    version = FundProgramVersion(program_id=program.id, version=program.current_version + 1,
                                 effective_from=await business_date(session), **_version_fields(rules))
    session.add(version)
    before = {"current_version": program.current_version}
    program.current_version = version.version
    session.add(program)
    await session.flush()
    await audit.record(session, actor, "fund_program.versioned", "fund_program", program.id, before=before,
                       after={"current_version": version.version, **_version_fields(rules)})
    return version


def _version_view(v: FundProgramVersion) -> dict[str, Any]:
    return {
        "version": v.version, "effective_from": v.effective_from,
        "shares_bps": {"fund": v.fund_bps, "guarantor": v.guarantor_bps, "insurer": v.insurer_bps},
        "tiers": v.tiers, "leverage_max": v.leverage_max, "npl_pause_bps": v.npl_pause_bps,
        "per_loan_cap": v.per_loan_cap, "per_borrower_year_cap": v.per_borrower_year_cap,
        "annual_cap": v.annual_cap, "default_days": v.default_days, "min_ip_share_bps": v.min_ip_share_bps,
        "insufficient_cash": v.insufficient_cash,
        "restructured_leave_cover": v.restructured_leave_cover, "max_annual_rate_bps": v.max_annual_rate_bps,
        "collateral_margin_bps": v.collateral_margin_bps,
        "extra_parties": [{"org_id": None, **p} for p in v.extra_parties], "created_at": v.created_at,
    }


def describe_version(v: FundProgramVersion) -> VersionOut:
    return VersionOut.model_validate(_version_view(v))


async def describe_program(session: AsyncSession, program: FundProgram) -> ProgramOut:
    all_versions = await versions(session, program.id)
    current = next(v for v in all_versions if v.version == program.current_version)
    return ProgramOut.model_validate({
        **_version_view(current), "id": program.id, "fund_org_id": program.fund_org_id, "name": program.name,
        "capital": program.capital, "cash": await books.cash(session, program.id),
        "current_version": program.current_version, "versions": [_version_view(v) for v in all_versions]})
