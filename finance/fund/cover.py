"""Fund cover of loans: admission under the programme's rules, exposure, and the loans' updates.

- **Exposure** of a cover is the fund's share (after tiers) of its *covered outstanding*: the loan's
  outstanding principal counted at most up to the per-loan cap. It is kept on the cover row and
  refreshed whenever loans report a change, so monitoring and the quota check are plain SQL sums.
- **Caps at cover time** count the fund exposure granted in the business year: per borrower
  (``per_borrower_year_cap``) and in total (``annual_cap``); the per-loan cap limits what a loan counts
  rather than refusing it (Guangzhou 2023: "counting at most ¥10m of each loan"). At claim time the same
  caps bound the compensation itself (``sharing.split_loss`` with what the year has already used).
- **The pause** is computed, not stored: a bank whose non-performing ratio for the year *exceeds*
  ``npl_pause_bps`` (domain §7: "exceeds 3%") is refused new covers; it lifts when the ratio falls back.

Loans call in through ``request_cover``, ``update_loan`` and ``default_days``; the fund never imports loans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund import sharing
from finance.fund.models import NON_PERFORMING, FundAgreement, FundCover, FundProgramVersion
from finance.fund.programmes import current_version, get_program, limit_exceeded, lock_program, year_start
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.db import insert_unique
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from kernel.money import apply_bps
from kernel.workflow import Workflow

DEFAULT_DEFAULT_DAYS = 90
# Loan statuses after which the loan no longer needs cover.
LOAN_ENDED = ("repaid", "closed", "written_off")

COVER = Workflow("fund_cover", {
    ("active", "claim"): "claimed",
    ("active", "close"): "closed",
}, initial="active")



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


def refresh(cover: FundCover) -> None:
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
        program = await lock_program(session, program_id)  # the year caps span every bank
    stmt = (select(FundAgreement).where(FundAgreement.program_id == program_id,
                                        FundAgreement.bank_org_id == req.bank_org_id)
            .with_for_update().execution_options(populate_existing=True))
    agreement = (await session.exec(stmt)).first()
    if agreement is None:
        raise limit_exceeded("agreement", "the programme has no cooperation agreement with this bank")
    if (await session.exec(select(FundCover.id).where(FundCover.loan_id == req.loan_id))).first() is not None:
        raise InvalidState("the loan is already covered")
    today = await business_date(session)

    fund_bps = sharing_rules(version).fund_share_bps(req.principal)
    if fund_bps is None:
        top = version.tiers[-1]["max_principal"]
        raise limit_exceeded("tiers", f"a loan of {req.principal} is above the programme's top tier ({top})", max_principal=top)
    if version.min_ip_share_bps:
        ip_bps = ratio_bps(req.ip_collateral_value, req.total_collateral_value)
        # Compared exactly (not on the rounded bps); no collateral at all never qualifies.
        if req.total_collateral_value == 0 or \
                req.ip_collateral_value * 10000 < version.min_ip_share_bps * req.total_collateral_value:
            raise limit_exceeded("min_ip_share", f"IP is {ip_bps} bps of the collateral; the programme requires "
                         f"{version.min_ip_share_bps}", ip_share_bps=ip_bps)
    npl, book = (await npl_by_bank(session, program_id, today, req.bank_org_id)).get(req.bank_org_id, (0, 0))
    npl_bps = ratio_bps(npl, book)
    if npl_bps > version.npl_pause_bps:
        raise limit_exceeded("npl_pause", f"the bank's non-performing ratio this year is {npl_bps} bps, above "
                     f"{version.npl_pause_bps}: new covers are paused", npl_ratio_bps=npl_bps)

    covered_principal = min(req.principal, version.per_loan_cap or req.principal)
    cover = FundCover(loan_id=req.loan_id, program_id=program_id, version_id=version.id, agreement_id=agreement.id,
                      bank_org_id=req.bank_org_id, borrower_org_id=req.borrower_org_id,
                      guarantor_org_id=req.guarantor_org_id, insurer_org_id=req.insurer_org_id,
                      industry=req.industry, region=req.region, principal=req.principal,
                      covered_principal=covered_principal, fund_bps=fund_bps,
                      outstanding_principal=req.outstanding_principal, ip_collateral_value=req.ip_collateral_value,
                      total_collateral_value=req.total_collateral_value, covered_on=today)
    COVER.start(cover)
    refresh(cover)
    cover.granted_exposure = apply_bps(covered_principal, fund_bps)

    # The quota (deposit × leverage) caps the covered outstanding *principal* the bank carries under the
    # programme — the loans it makes on the fund's deposit — not the fund's share of it (domain §7).
    active = (FundCover.agreement_id == agreement.id, FundCover.status == "active")
    carried = await sum_of(session, FundCover.covered_outstanding, *active)
    if carried + cover.covered_outstanding > agreement.quota:
        raise limit_exceeded("quota", f"the bank's quota of {agreement.quota} covered principal holds "
                             f"{max(agreement.quota - carried, 0)} more; this loan needs {cover.covered_outstanding}",
                             quota=agreement.quota, covered_outstanding=carried,
                             fund_exposure=await sum_of(session, FundCover.exposure, *active),
                             requested=cover.covered_outstanding)
    granted_this_year = (FundCover.program_id == program_id, col(FundCover.covered_on) >= year_start(today))
    if version.per_borrower_year_cap is not None:
        used = await sum_of(session, FundCover.granted_exposure, *granted_this_year,
                          FundCover.borrower_org_id == req.borrower_org_id)
        if used + cover.granted_exposure > version.per_borrower_year_cap:
            raise limit_exceeded("per_borrower_year_cap", f"the borrower already has {used} of fund exposure granted "
                         f"this year; the cap is {version.per_borrower_year_cap}", used=used)
    if version.annual_cap is not None:
        used = await sum_of(session, FundCover.granted_exposure, *granted_this_year)
        if used + cover.granted_exposure > version.annual_cap:
            raise limit_exceeded("annual_cap", f"the programme granted {used} of fund exposure this year; the cap is "
                         f"{version.annual_cap}", used=used)

    await insert_unique(session, cover, InvalidState("the loan is already covered"))
    await audit.record(session, actor, "fund_cover.granted", "fund_cover", cover.id, after=_cover_snapshot(cover))
    return cover


async def sum_of(session: AsyncSession, column: Any, *where: Any) -> int:
    return int((await session.exec(select(sa.func.coalesce(sa.func.sum(column), 0)).where(*where))).one())


def _cover_snapshot(cover: FundCover) -> dict[str, Any]:
    return cover.model_dump(exclude={"created_at"})


async def cover_for_loan(session: AsyncSession, loan_id: str) -> FundCover | None:
    return (await session.exec(select(FundCover).where(FundCover.loan_id == loan_id))).first()


async def default_days(session: AsyncSession, loan_id: str) -> int:
    cover = await cover_for_loan(session, loan_id)
    if cover is None:
        return DEFAULT_DEFAULT_DAYS
    return (await session.get(FundProgramVersion, cover.version_id)).default_days  # type: ignore[union-attr]  # the version row a cover points to always exists (FK)


async def rules_for_loan(session: AsyncSession, loan_id: str) -> FundProgramVersion | None:
    """The programme rules a loan's active cover was granted under (None when it has no active cover)."""
    cover = await cover_for_loan(session, loan_id)
    if cover is None or cover.status != "active":
        return None
    return await session.get(FundProgramVersion, cover.version_id)


async def leave_cover(session: AsyncSession, actor: Actor, loan_id: str, reason: str) -> FundCover | None:
    """The programme's rules take the loan out of cover (e.g. restructured): the cover closes, its
    exposure leaves the quota and the fund's book from today."""
    stmt = (select(FundCover).where(FundCover.loan_id == loan_id).with_for_update()
            .execution_options(populate_existing=True))
    cover = (await session.exec(stmt)).first()
    if cover is None or cover.status != "active":
        return None
    await COVER.apply(session, actor, cover, "close", reason=reason)
    refresh(cover)
    session.add(cover)
    await session.flush()
    return cover


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
        await COVER.apply(session, SYSTEM, cover, "close", loan_status=status)
    refresh(cover)
    after = _cover_snapshot(cover)
    if after == before:
        return
    session.add(cover)
    await session.flush()
    await audit.record(session, SYSTEM, "fund_cover.updated", "fund_cover", cover.id,
                       before={k: before[k] for k in after if before[k] != after[k]},
                       after={k: after[k] for k in after if before[k] != after[k]})
