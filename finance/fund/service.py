"""Rules of the risk-sharing fund: programmes (versioned rules), bank agreements, cover, compensation,
recovery. Loans call in through the functions documented in FINANCE_INTERFACE (``request_cover``,
``update_loan``, ``open_claim``, ``approve_claim``, ``distribute_recovery`` …); the fund never imports loans.

Choices worth knowing:

- **Exposure** of a cover is the fund's share (after tiers) of its *covered outstanding*: the loan's
  outstanding principal counted at most up to the per-loan cap. It is kept on the cover row and
  refreshed whenever loans report a change, so monitoring and the quota check are plain SQL sums.
- **Caps at cover time** count the fund exposure granted in the business year: per borrower
  (``per_borrower_year_cap``) and in total (``annual_cap``); the per-loan cap limits what a loan counts
  rather than refusing it (Guangzhou 2023: "counting at most ¥10m of each loan"). At claim time the same
  caps bound the compensation itself (``sharing.split_loss`` with what the year has already used).
- **The pause** is computed, not stored: a bank whose non-performing ratio for the year *exceeds*
  ``npl_pause_bps`` (domain §7: "exceeds 3%") is refused new covers; it lifts when the ratio falls back.
- **Uncovered loans**: a claim is still recorded with the guarantor/insurer/bank split (fund share 0);
  the lending bank settles it (``approve_claim`` by the bank), the fund never sees it.
- **Locks**, always in this order: programme row (serialises cash and the year caps), agreement row
  (the bank's quota), claim/cover rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund import books, sharing
from finance.fund.models import (
    NON_PERFORMING,
    CompensationClaim,
    FundAgreement,
    FundCover,
    FundProgram,
    FundProgramVersion,
    RecoveryRow,
)
from finance.fund.schemas import AgreementIn, ProgramIn, RulesIn
from kernel import audit, events
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date, day_end_handler
from kernel.db import insert_unique, utcnow
from kernel.errors import AlreadyExists, Forbidden, InvalidState, LimitExceeded, NotFound, ValidationFailed
from kernel.ids import new_id
from kernel.money import apply_bps

FUND_KINDS = ("fund",)
MONITOR_KINDS = ("fund", "regulator")
DEFAULT_DEFAULT_DAYS = 90
# Loan statuses after which the loan no longer needs cover.
LOAN_ENDED = ("repaid", "closed", "written_off")

# The workflows as data: status -> statuses it may move to.
COVER_TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"claimed", "closed"}),
    "claimed": frozenset(),
    "closed": frozenset(),
}
CLAIM_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"queued", "paid"}),
    "queued": frozenset({"paid"}),
    "paid": frozenset(),
}
_WORKFLOWS = {"fund_cover": COVER_TRANSITIONS, "compensation_claim": CLAIM_TRANSITIONS}


async def _transition(session: AsyncSession, actor: Actor, workflow: str, obj: Any, target: str,
                      **changes: Any) -> None:
    """Move ``obj`` to ``target`` if the workflow allows it, with its other changes, and audit it."""
    if target not in _WORKFLOWS[workflow][obj.status]:
        raise InvalidState(f"{workflow.replace('_', ' ')} {obj.id} is {obj.status}; it cannot become {target}")
    before = {"status": obj.status}
    obj.status = target
    for name, value in changes.items():
        setattr(obj, name, value)
    session.add(obj)
    await session.flush()
    await audit.record(session, actor, f"{workflow}.{target}", workflow, obj.id, before=before,
                       after={"status": target, **changes})


def _limit(rule: str, detail: str, **extra: Any) -> LimitExceeded:
    return LimitExceeded(detail, extra={"rule": rule, **extra})


def year_start(day: date) -> date:
    return date(day.year, 1, 1)


# --- programmes --------------------------------------------------------------------------------------------


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
    program = await session.get(FundProgram, program_id)
    if program is None:
        raise NotFound("fund programme not found")
    return program


async def owned_program(session: AsyncSession, actor: Actor, program_id: str, *, lock: bool = False) -> FundProgram:
    """A programme the caller's fund runs; another fund's programme is not found."""
    program = await (_lock_program(session, program_id) if lock else get_program(session, program_id))
    if program.fund_org_id != actor.org_id and not actor.is_platform_admin:
        raise NotFound("fund programme not found")
    return program


async def _lock_program(session: AsyncSession, program_id: str) -> FundProgram:
    stmt = (select(FundProgram).where(FundProgram.id == program_id).with_for_update()
            .execution_options(populate_existing=True))
    program = (await session.exec(stmt)).first()
    if program is None:
        raise NotFound("fund programme not found")
    return program


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


def describe_version(v: FundProgramVersion) -> dict[str, Any]:
    return {
        "version": v.version, "effective_from": v.effective_from,
        "shares_bps": {"fund": v.fund_bps, "guarantor": v.guarantor_bps, "insurer": v.insurer_bps},
        "tiers": v.tiers, "leverage_max": v.leverage_max, "npl_pause_bps": v.npl_pause_bps,
        "per_loan_cap": v.per_loan_cap, "per_borrower_year_cap": v.per_borrower_year_cap,
        "annual_cap": v.annual_cap, "default_days": v.default_days, "min_ip_share_bps": v.min_ip_share_bps,
        "insufficient_cash": v.insufficient_cash,
        "extra_parties": [{"org_id": None, **p} for p in v.extra_parties], "created_at": v.created_at,
    }


async def describe_program(session: AsyncSession, program: FundProgram) -> dict[str, Any]:
    all_versions = await versions(session, program.id)
    current = next(v for v in all_versions if v.version == program.current_version)
    return {**describe_version(current), "id": program.id, "fund_org_id": program.fund_org_id,
            "name": program.name, "capital": program.capital, "cash": await books.cash(session, program.id),
            "current_version": program.current_version, "versions": [describe_version(v) for v in all_versions]}


# --- agreements --------------------------------------------------------------------------------------------


async def create_agreement(session: AsyncSession, actor: Actor, program_id: str, data: AgreementIn) -> FundAgreement:
    program = await owned_program(session, actor, program_id, lock=True)
    version = await current_version(session, program)
    bank = await session.get(Org, data.bank_org_id)
    if bank is None or bank.kind != "bank":
        raise ValidationFailed.at(["body", "bank_org_id"], "not a bank organisation")
    leverage = data.leverage if data.leverage is not None else version.leverage_max
    if leverage > version.leverage_max:
        raise _limit("leverage_max", f"leverage {leverage}× is above the programme's maximum "
                     f"{version.leverage_max}×", leverage_max=version.leverage_max)
    if (await session.exec(select(FundAgreement.id).where(FundAgreement.program_id == program.id,
                                                           FundAgreement.bank_org_id == bank.id))).first():
        raise AlreadyExists("the programme already has an agreement with this bank")
    cash = await books.cash(session, program.id)
    if data.deposit > cash:
        raise _limit("cash", f"the deposit {data.deposit} is more than the fund's cash {cash}", cash=cash)
    agreement = FundAgreement(program_id=program.id, bank_org_id=bank.id, deposit=data.deposit, leverage=leverage,
                              created_on=await business_date(session))
    await insert_unique(session, agreement, AlreadyExists("the programme already has an agreement with this bank"))
    await books.deposit_to_bank(session, actor, program.id, agreement.id, bank.id, data.deposit)
    await audit.record(session, actor, "fund_agreement.created", "fund_agreement", agreement.id,
                       after={"program_id": program.id, "bank_org_id": bank.id, "deposit": agreement.deposit,
                              "leverage": leverage, "quota": agreement.quota})
    return agreement


async def list_agreements(session: AsyncSession, program_id: str) -> list[FundAgreement]:
    stmt = select(FundAgreement).where(FundAgreement.program_id == program_id).order_by(col(FundAgreement.id))
    return list((await session.exec(stmt)).all())


def describe_agreement(a: FundAgreement) -> dict[str, Any]:
    return {"id": a.id, "program_id": a.program_id, "bank_org_id": a.bank_org_id, "deposit": a.deposit,
            "leverage": a.leverage, "quota": a.quota, "created_on": a.created_on}


# --- cover -------------------------------------------------------------------------------------------------


@dataclass
class CoverRequest:
    loan_id: str
    bank_org_id: str
    borrower_org_id: str
    principal: int
    outstanding_principal: int
    industry: str | None
    region: str | None
    guarantor_org_id: str | None
    insurer_org_id: str | None
    ip_collateral_value: int
    total_collateral_value: int


def sharing_rules(version: FundProgramVersion) -> sharing.SharingRules:
    """A programme version as finmath's sharing rules (the bank is the residual party)."""
    shares = [("fund", version.fund_bps), ("guarantor", version.guarantor_bps), ("insurer", version.insurer_bps),
              *((p["party"], p["share_bps"]) for p in version.extra_parties)]
    tiers = tuple(sharing.Tier(t["max_principal"], t["fund_bps"]) for t in version.tiers)
    return sharing.SharingRules(shares=tuple(shares), tiers=tiers, loan_cap=version.per_loan_cap,
                                borrower_year_cap=version.per_borrower_year_cap, annual_cap=version.annual_cap)


def covered_outstanding(cover: FundCover) -> int:
    return min(cover.outstanding_principal, cover.covered_principal) if cover.status == "active" else 0


def _refresh(cover: FundCover) -> None:
    """Keep the cached figures of a cover equal to what its facts imply (one place computes them)."""
    cover.covered_outstanding = covered_outstanding(cover)
    cover.exposure = apply_bps(cover.covered_outstanding, cover.fund_bps)


def _check_request(req: CoverRequest) -> None:
    if not 0 < req.principal <= 10**14:
        raise ValidationFailed.at(["principal"], "principal must be positive fen")
    if not 0 <= req.outstanding_principal <= req.principal:
        raise ValidationFailed.at(["outstanding_principal"], "outstanding principal must be between 0 and principal")
    if not 0 <= req.ip_collateral_value <= req.total_collateral_value:
        raise ValidationFailed.at(["ip_collateral_value"], "the IP collateral cannot exceed the total collateral")


async def npl_by_bank(session: AsyncSession, program_id: str, today: date,
                      bank_org_id: str | None = None) -> dict[str, tuple[int, int]]:
    """Per bank: (non-performing covered outstanding, covered outstanding) for the business year.

    The year's book is the live covers plus the covers claimed this year; a claimed cover counts as
    non-performing at its outstanding when claimed, so compensating a loan does not lift a pause.
    """
    claimed_this_year = sa.and_(col(FundCover.status) == "claimed", col(FundCover.claimed_on) >= year_start(today))
    in_year = sa.or_(col(FundCover.status) == "active", claimed_this_year)
    # min(outstanding, covered principal): SQLite has no LEAST.
    amount = sa.case((col(FundCover.outstanding_principal) < col(FundCover.covered_principal),
                      col(FundCover.outstanding_principal)), else_=col(FundCover.covered_principal))
    bad = sa.or_(claimed_this_year, col(FundCover.classification).in_(NON_PERFORMING))
    stmt = (select(FundCover.bank_org_id, sa.func.sum(sa.case((bad, amount), else_=0)), sa.func.sum(amount))
            .where(FundCover.program_id == program_id, in_year).group_by(col(FundCover.bank_org_id)))
    if bank_org_id is not None:
        stmt = stmt.where(FundCover.bank_org_id == bank_org_id)
    return {row[0]: (int(row[1] or 0), int(row[2] or 0)) for row in (await session.exec(stmt)).all()}


def ratio_bps(part: int, whole: int) -> int:
    """part/whole in bps, rounded half-up (0 when there is no whole)."""
    if whole <= 0:
        return 0
    return (part * 20000 + whole) // (2 * whole)


async def request_cover(session: AsyncSession, actor: Actor, program_id: str, req: CoverRequest) -> FundCover:
    """Admit a loan to the programme's cover, or raise ``LimitExceeded`` naming the rule that refuses it."""
    if actor.org_id != req.bank_org_id and not actor.is_platform_admin:
        raise Forbidden("only the lending bank asks for cover")
    _check_request(req)
    program = await get_program(session, program_id)
    version = await current_version(session, program)
    year_caps = version.per_borrower_year_cap is not None or version.annual_cap is not None
    if year_caps:
        program = await _lock_program(session, program_id)  # the year caps span every bank
    stmt = (select(FundAgreement).where(FundAgreement.program_id == program_id,
                                        FundAgreement.bank_org_id == req.bank_org_id)
            .with_for_update().execution_options(populate_existing=True))
    agreement = (await session.exec(stmt)).first()
    if agreement is None:
        raise _limit("agreement", "the programme has no cooperation agreement with this bank")
    if (await session.exec(select(FundCover.id).where(FundCover.loan_id == req.loan_id))).first() is not None:
        raise InvalidState("the loan is already covered")
    today = await business_date(session)

    fund_bps = sharing_rules(version).fund_share_bps(req.principal)
    if fund_bps is None:
        top = version.tiers[-1]["max_principal"]
        raise _limit("tiers", f"a loan of {req.principal} is above the programme's top tier ({top})", max_principal=top)
    if version.min_ip_share_bps:
        ip_bps = ratio_bps(req.ip_collateral_value, req.total_collateral_value)
        # Compared exactly (not on the rounded bps); no collateral at all never qualifies.
        if req.total_collateral_value == 0 or \
                req.ip_collateral_value * 10000 < version.min_ip_share_bps * req.total_collateral_value:
            raise _limit("min_ip_share", f"IP is {ip_bps} bps of the collateral; the programme requires "
                         f"{version.min_ip_share_bps}", ip_share_bps=ip_bps)
    npl, book = (await npl_by_bank(session, program_id, today, req.bank_org_id)).get(req.bank_org_id, (0, 0))
    npl_bps = ratio_bps(npl, book)
    if npl_bps > version.npl_pause_bps:
        raise _limit("npl_pause", f"the bank's non-performing ratio this year is {npl_bps} bps, above "
                     f"{version.npl_pause_bps}: new covers are paused", npl_ratio_bps=npl_bps)

    covered_principal = min(req.principal, version.per_loan_cap or req.principal)
    cover = FundCover(loan_id=req.loan_id, program_id=program_id, version_id=version.id, agreement_id=agreement.id,
                      bank_org_id=req.bank_org_id, borrower_org_id=req.borrower_org_id,
                      guarantor_org_id=req.guarantor_org_id, insurer_org_id=req.insurer_org_id,
                      industry=req.industry, region=req.region, principal=req.principal,
                      covered_principal=covered_principal, fund_bps=fund_bps,
                      outstanding_principal=req.outstanding_principal, ip_collateral_value=req.ip_collateral_value,
                      total_collateral_value=req.total_collateral_value, covered_on=today)
    _refresh(cover)
    cover.granted_exposure = apply_bps(covered_principal, fund_bps)

    committed = await _sum(session, FundCover.exposure, FundCover.agreement_id == agreement.id,
                           FundCover.status == "active")
    if committed + cover.exposure > agreement.quota:
        raise _limit("quota", f"the bank's quota {agreement.quota} holds {agreement.quota - committed} more; "
                     f"this loan needs {cover.exposure}", quota=agreement.quota, committed=committed)
    granted_this_year = (FundCover.program_id == program_id, col(FundCover.covered_on) >= year_start(today))
    if version.per_borrower_year_cap is not None:
        used = await _sum(session, FundCover.granted_exposure, *granted_this_year,
                          FundCover.borrower_org_id == req.borrower_org_id)
        if used + cover.granted_exposure > version.per_borrower_year_cap:
            raise _limit("per_borrower_year_cap", f"the borrower already has {used} of fund exposure granted "
                         f"this year; the cap is {version.per_borrower_year_cap}", used=used)
    if version.annual_cap is not None:
        used = await _sum(session, FundCover.granted_exposure, *granted_this_year)
        if used + cover.granted_exposure > version.annual_cap:
            raise _limit("annual_cap", f"the programme granted {used} of fund exposure this year; the cap is "
                         f"{version.annual_cap}", used=used)

    await insert_unique(session, cover, InvalidState("the loan is already covered"))
    await audit.record(session, actor, "fund_cover.granted", "fund_cover", cover.id, after=_cover_snapshot(cover))
    return cover


async def _sum(session: AsyncSession, column: Any, *where: Any) -> int:
    return int((await session.exec(select(sa.func.coalesce(sa.func.sum(column), 0)).where(*where))).one())


def _cover_snapshot(cover: FundCover) -> dict[str, Any]:
    return cover.model_dump(exclude={"created_at"})


async def cover_for_loan(session: AsyncSession, loan_id: str) -> FundCover | None:
    return (await session.exec(select(FundCover).where(FundCover.loan_id == loan_id))).first()


async def default_days(session: AsyncSession, loan_id: str) -> int:
    cover = await cover_for_loan(session, loan_id)
    if cover is None:
        return DEFAULT_DEFAULT_DAYS
    return (await session.get(FundProgramVersion, cover.version_id)).default_days  # type: ignore[union-attr]


async def update_loan(session: AsyncSession, loan_id: str, *, outstanding_principal: int, classification: str,
                      status: str) -> None:
    """Loans report a change; keep the cover's exposure and the bank's NPL book current."""
    stmt = (select(FundCover).where(FundCover.loan_id == loan_id).with_for_update()
            .execution_options(populate_existing=True))
    cover = (await session.exec(stmt)).first()
    if cover is None:
        return
    if not 0 <= outstanding_principal <= cover.principal:
        raise ValidationFailed.at(["outstanding_principal"], "outstanding principal must be between 0 and principal")
    before = _cover_snapshot(cover)
    cover.classification = classification
    cover.loan_status = status
    # A claimed cover keeps its figures of the claim: that loss belongs to the year's NPL book.
    if cover.status != "claimed":
        cover.outstanding_principal = outstanding_principal
    if cover.status == "active" and status in LOAN_ENDED:
        cover.status = "closed"
    _refresh(cover)
    after = _cover_snapshot(cover)
    if after == before:
        return
    session.add(cover)
    await session.flush()
    await audit.record(session, SYSTEM, "fund_cover.updated", "fund_cover", cover.id,
                       before={k: before[k] for k in after if before[k] != after[k]},
                       after={k: after[k] for k in after if before[k] != after[k]})


# --- compensation ------------------------------------------------------------------------------------------


@dataclass
class Party:
    party: str
    org_id: str
    share_bps: int


@dataclass
class ClaimRequest:
    loan_id: str
    bank_org_id: str
    borrower_org_id: str
    principal: int
    loss: int
    parties: list[Party] = field(default_factory=list)


async def _caps_used(session: AsyncSession, program_id: str, borrower_org_id: str, today: date) -> sharing.CapsUsed:
    """The fund's compensation already claimed this year (pending, queued or paid)."""
    this_year = (CompensationClaim.program_id == program_id, col(CompensationClaim.opened_on) >= year_start(today))
    borrower = await _sum(session, CompensationClaim.fund_amount, *this_year,
                          CompensationClaim.borrower_org_id == borrower_org_id)
    total = await _sum(session, CompensationClaim.fund_amount, *this_year)
    return sharing.CapsUsed(borrower_year=borrower, annual=total)


def _check_claim(req: ClaimRequest) -> None:
    if not 0 < req.principal <= 10**14:
        raise ValidationFailed.at(["principal"], "principal must be positive fen")
    if not 0 < req.loss <= req.principal:
        raise ValidationFailed.at(["loss"], "the loss must be positive and at most the principal")
    names = [p.party for p in req.parties]
    if len(set(names)) != len(names) or {"fund", "bank", "borrower"} & set(names):
        raise ValidationFailed.at(["parties"], "parties must be unique and other than fund, bank and borrower")
    if any(not 0 <= p.share_bps <= 10000 for p in req.parties) or sum(p.share_bps for p in req.parties) > 10000:
        raise ValidationFailed.at(["parties"], "party shares must be bps adding up to at most 10000")


async def open_claim(session: AsyncSession, actor: Actor, req: ClaimRequest) -> CompensationClaim:
    """Record a claim with the loss split among its bearers (parts sum to the loss exactly)."""
    if actor.org_id != req.bank_org_id and not actor.is_platform_admin:
        raise Forbidden("only the lending bank claims compensation")
    _check_claim(req)
    if await claim_for_loan(session, req.loan_id) is not None:
        raise InvalidState("a compensation claim for this loan already exists")
    today = await business_date(session)
    cover = await cover_for_loan(session, req.loan_id)
    org_of = {p.party: p.org_id for p in req.parties}
    if cover is None:
        rules = sharing.SharingRules(shares=tuple((p.party, p.share_bps) for p in req.parties), fund=None)
        split = sharing.split_loss(req.loss, rules)
        program_id = fund_org_id = None
    else:
        if cover.bank_org_id != req.bank_org_id:
            raise ValidationFailed.at(["bank_org_id"], "the cover belongs to another bank")
        program = await _lock_program(session, cover.program_id)  # serialises the year caps
        version = await session.get(FundProgramVersion, cover.version_id)
        assert version is not None
        cover = (await session.exec(select(FundCover).where(FundCover.id == cover.id).with_for_update()
                                    .execution_options(populate_existing=True))).one()
        if cover.status != "active":
            raise InvalidState(f"the cover is {cover.status}")
        org_of.setdefault("guarantor", cover.guarantor_org_id)  # type: ignore[arg-type]
        org_of.setdefault("insurer", cover.insurer_org_id)  # type: ignore[arg-type]
        for p in version.extra_parties:
            org_of.setdefault(p["party"], p.get("org_id"))
        rules = sharing_rules(version)
        absent = [name for name, _ in rules.shares if name != "fund" and not org_of.get(name)]
        split = sharing.split_loss(req.loss, rules, loan_principal=cover.principal, absent=absent,
                                   used=await _caps_used(session, program.id, req.borrower_org_id, today))
        org_of["fund"] = program.fund_org_id
        program_id, fund_org_id = program.id, program.fund_org_id
    org_of["bank"] = req.bank_org_id
    shares = [{"party": name, "org_id": org_of.get(name), "amount": amount}
              for name, amount in split.parts.items() if amount or name in ("fund", "bank")]
    claim = CompensationClaim(loan_id=req.loan_id, program_id=program_id, cover_id=cover.id if cover else None,
                              fund_org_id=fund_org_id, bank_org_id=req.bank_org_id,
                              borrower_org_id=req.borrower_org_id, principal=req.principal, loss=req.loss,
                              shares=shares, fund_amount=split.parts.get("fund", 0) if cover else 0,
                              opened_on=today)
    await insert_unique(session, claim, InvalidState("a compensation claim for this loan already exists"))
    if cover is not None:
        await _transition(session, actor, "fund_cover", cover, "claimed", claimed_on=today)
        _refresh(cover)
        session.add(cover)
    await audit.record(session, actor, "compensation_claim.opened", "compensation_claim", claim.id,
                       after={"loan_id": claim.loan_id, "loss": claim.loss, "shares": shares,
                              "limited_by": list(split.limited_by)})
    return claim


async def claim_for_loan(session: AsyncSession, loan_id: str) -> CompensationClaim | None:
    return (await session.exec(select(CompensationClaim).where(CompensationClaim.loan_id == loan_id))).first()


async def get_claim(session: AsyncSession, actor: Actor, claim_id: str) -> CompensationClaim:
    """A claim, for its fund, the parties bearing a share, the platform admin and the regulator."""
    claim = await session.get(CompensationClaim, claim_id)
    if claim is None:
        raise NotFound("compensation claim not found")
    parties = {claim.fund_org_id, claim.bank_org_id, *(s.get("org_id") for s in claim.shares)}
    if actor.org_id not in parties and not actor.is_platform_admin and not actor.is_kind("regulator"):
        raise NotFound("compensation claim not found")
    return claim


async def _lock_claim(session: AsyncSession, claim_id: str) -> CompensationClaim:
    stmt = (select(CompensationClaim).where(CompensationClaim.id == claim_id).with_for_update()
            .execution_options(populate_existing=True))
    return (await session.exec(stmt)).one()


async def approve_claim(session: AsyncSession, actor: Actor, claim_id: str) -> CompensationClaim:
    """Pay a claim once. The fund approves a covered claim; the lending bank settles an uncovered one.

    Short of cash, the programme refuses (``LimitExceeded``, rule ``cash``) or queues the claim for the
    day-end, which pays queued claims oldest first as cash allows. Approving a paid claim returns it.
    """
    claim = await get_claim(session, actor, claim_id)
    if claim.program_id is None:
        if actor.org_id != claim.bank_org_id:
            raise Forbidden("an uncovered loan's claim is settled by the lending bank")
        claim = await _lock_claim(session, claim_id)
        if claim.status != "paid":
            await _settle(session, actor, claim, today=await business_date(session))
        return claim
    if actor.org_id != claim.fund_org_id:
        raise Forbidden("only the programme's fund approves compensation")
    program = await _lock_program(session, claim.program_id)  # one payer at a time per programme
    claim = await _lock_claim(session, claim_id)
    if claim.status == "paid":
        return claim
    cash = await books.cash(session, program.id)
    # Claims queued before this one are paid first: a later one never jumps the queue.
    queue = (await session.exec(select(CompensationClaim.id).where(
        CompensationClaim.program_id == program.id, CompensationClaim.status == "queued")
        .order_by(col(CompensationClaim.queued_at), col(CompensationClaim.id)))).all()
    waiting = (queue.index(claim.id) if claim.id in queue else len(queue)) > 0
    if cash < claim.fund_amount or waiting:
        version = await current_version(session, program)
        if version.insufficient_cash == "refuse" and cash < claim.fund_amount:
            raise _limit("cash", f"the fund's cash {cash} does not cover this claim's {claim.fund_amount}",
                         cash=cash, fund_amount=claim.fund_amount)
        if version.insufficient_cash == "queue":
            if claim.status == "pending":
                await _transition(session, actor, "compensation_claim", claim, "queued", queued_at=utcnow())
            return claim
    await _settle(session, actor, claim, today=await business_date(session))
    return claim


async def _settle(session: AsyncSession, actor: Actor, claim: CompensationClaim, *, today: date) -> None:
    """Pay the fund's share (ledger + payout), mark the claim paid and tell loans."""
    entry_id = payment_id = None
    if claim.program_id is not None and claim.fund_amount > 0:
        assert claim.fund_org_id is not None
        entry_id, payment_id = await books.pay_compensation(session, actor, claim.program_id, claim.id,
                                                            claim.fund_org_id, claim.bank_org_id, claim.fund_amount)
    await _transition(session, actor, "compensation_claim", claim, "paid", paid_on=today, paid_at=utcnow(),
                      ledger_entry_id=entry_id, payment_id=payment_id)
    await events.publish(session, events.COMPENSATION_PAID,
                         {"claim_id": claim.id, "loan_id": claim.loan_id, "loss": claim.loss,
                          "shares": [dict(s) for s in claim.shares]})


@day_end_handler("fund.pay_queued_claims", order=300)
async def pay_queued_claims(session: AsyncSession, run_date: date) -> None:
    """Pay queued claims oldest first while each programme's cash allows (the oldest is never skipped)."""
    stmt = (select(CompensationClaim.program_id).where(CompensationClaim.status == "queued").distinct()
            .order_by(col(CompensationClaim.program_id)))
    for program_id in (await session.exec(stmt)).all():
        assert program_id is not None
        await pay_queued_for_program(session, program_id, run_date)


async def pay_queued_for_program(session: AsyncSession, program_id: str, run_date: date) -> int:
    program = await _lock_program(session, program_id)
    stmt = (select(CompensationClaim).where(CompensationClaim.program_id == program_id,
                                            CompensationClaim.status == "queued")
            .order_by(col(CompensationClaim.queued_at), col(CompensationClaim.id))
            .with_for_update().execution_options(populate_existing=True))
    paid = 0
    cash = await books.cash(session, program.id)
    for claim in (await session.exec(stmt)).all():
        if claim.fund_amount > cash:
            break
        await _settle(session, SYSTEM, claim, today=run_date)
        cash -= claim.fund_amount
        paid += 1
    return paid


def describe_claim(claim: CompensationClaim) -> dict[str, Any]:
    return {"id": claim.id, "loan_id": claim.loan_id, "program_id": claim.program_id,
            "bank_org_id": claim.bank_org_id, "loss": claim.loss, "shares": claim.shares,
            "fund_amount": claim.fund_amount, "status": claim.status, "opened_on": claim.opened_on,
            "paid_on": claim.paid_on, "ledger_entry_id": claim.ledger_entry_id, "payment_id": claim.payment_id}


# --- recovery ----------------------------------------------------------------------------------------------


async def recoveries_for_loan(session: AsyncSession, loan_id: str) -> list[RecoveryRow]:
    stmt = select(RecoveryRow).where(RecoveryRow.loan_id == loan_id).order_by(col(RecoveryRow.created_at),
                                                                             col(RecoveryRow.line_no))
    return list((await session.exec(stmt)).all())


async def distribute_recovery(session: AsyncSession, actor: Actor, loan_id: str, proceeds: int,
                              borrower_org_id: str, source_ref: str) -> list[RecoveryRow]:
    """Return ``proceeds`` to each loss bearer in proportion to what it bore, any surplus to the borrower.

    The shares fixed when the claim was opened are what each party bears (the fund's part counts even
    before its payment lands). A repeated ``source_ref`` returns the rows it made the first time.
    """
    if not 0 < proceeds <= 10**14:
        raise ValidationFailed.at(["proceeds"], "proceeds must be positive fen")
    if not 1 <= len(source_ref) <= 100:
        raise ValidationFailed.at(["source_ref"], "source_ref must be 1 to 100 characters")
    claim = await claim_for_loan(session, loan_id)
    if claim is None:
        raise InvalidState("the loan has no compensation claim: there is no loss split to recover into")
    if claim.program_id is not None:
        await _lock_program(session, claim.program_id)
    claim = await _lock_claim(session, claim.id)  # one distribution at a time per loan
    done = list((await session.exec(select(RecoveryRow).where(RecoveryRow.source_ref == source_ref)
                                    .order_by(col(RecoveryRow.line_no)))).all())
    if done:
        if done[0].loan_id != loan_id or sum(r.amount for r in done) != proceeds:
            raise InvalidState("this source_ref was already distributed with other figures")
        return done
    today = await business_date(session)
    paid = {s["party"]: s["amount"] for s in claim.shares}
    org_of = {s["party"]: s["org_id"] for s in claim.shares}
    org_of["borrower"] = borrower_org_id
    recovered: dict[str, int] = {}
    for row in await recoveries_for_loan(session, loan_id):
        if row.party != "borrower":
            recovered[row.party] = recovered.get(row.party, 0) + row.amount
    parts = sharing.distribute_recovery(proceeds, paid, recovered)
    rows = [RecoveryRow(loan_id=loan_id, claim_id=claim.id, source_ref=source_ref, line_no=n, party=party,
                        org_id=org_of.get(party), amount=amount, recovered_on=today)
            for n, (party, amount) in enumerate(((p, a) for p, a in parts.items() if a > 0), start=1)]
    session.add_all(rows)
    await session.flush()
    for row in rows:
        if row.party == "fund" and claim.program_id is not None:
            row.ledger_entry_id = await books.recovery_in(session, actor, claim.program_id, loan_id, source_ref,
                                                          row.amount)
        if row.org_id is not None:
            row.payment_id = await books.recovery_payout(session, actor, payer_org_id=claim.bank_org_id,
                                                         payee_org_id=row.org_id, amount=row.amount, row_id=row.id,
                                                         source_ref=source_ref)
        session.add(row)
    await session.flush()
    await audit.record(session, actor, "fund_recovery.distributed", "loan", loan_id,
                       after={"source_ref": source_ref, "proceeds": proceeds,
                              "rows": [{"party": r.party, "org_id": r.org_id, "amount": r.amount} for r in rows]})
    return rows


def describe_recovery(row: RecoveryRow) -> dict[str, Any]:
    return {"id": row.id, "loan_id": row.loan_id, "claim_id": row.claim_id, "source_ref": row.source_ref,
            "party": row.party, "org_id": row.org_id, "amount": row.amount, "recovered_on": row.recovered_on,
            "ledger_entry_id": row.ledger_entry_id, "payment_id": row.payment_id}
