"""Lists of the fund's programmes and compensation claims, each for whoever may see them.

One query per page (names and the rules in force joined in); never a query per row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund import models
from finance.fund.models import CompensationClaim, FundAgreement, FundProgram, FundProgramVersion
from kernel.actor import Actor
from kernel.db import table_of
from kernel.errors import Forbidden, ValidationFailed
from kernel.pagination import cut_page, page_window

P, V, AG, C = (table_of(FundProgram), table_of(FundProgramVersion), table_of(FundAgreement),
               table_of(CompensationClaim))
FundOrg, BankOrg, BorrowerOrg = table_of(Org).alias("fund_org"), table_of(Org).alias("bank"), table_of(Org).alias("borrower")
PROGRAM_READERS = ("fund", "bank", "regulator")


class SharesOut(BaseModel):
    fund: int
    guarantor: int
    insurer: int


class AgreementRef(BaseModel):
    id: str
    deposit: int
    leverage: int
    quota: int


class ProgramSummary(BaseModel):
    id: str
    name: str
    fund_org_id: str
    fund_name: str
    capital: int
    current_version: int
    shares_bps: SharesOut
    default_days: int
    per_loan_cap: int | None
    # The caller bank's own agreement (null for everyone else).
    agreement: AgreementRef | None
    created_at: datetime


class ShareOut(BaseModel):
    party: str
    org_id: str | None
    amount: int


class ClaimSummary(BaseModel):
    id: str
    loan_id: str
    program_id: str | None
    program_name: str | None
    bank_org_id: str
    bank_name: str
    borrower_org_id: str
    borrower_name: str
    loss: int
    fund_amount: int
    shares: list[ShareOut]
    status: str
    opened_on: date
    paid_on: date | None
    created_at: datetime


async def list_programs(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                        oldest_first: bool = False) -> tuple[list[ProgramSummary], bool, str | None]:
    if not (actor.is_platform_admin or actor.is_kind(*PROGRAM_READERS)):
        raise Forbidden("only funds, banks with an agreement, regulators and the platform admin list programmes")
    mine = AG.c.bank_org_id == (actor.org_id if actor.is_kind("bank") else None)
    stmt = (sa.select(P, FundOrg.c.name.label("fund_name"), V.c.fund_bps, V.c.guarantor_bps, V.c.insurer_bps,
                      V.c.default_days, V.c.per_loan_cap, AG.c.id.label("agreement_id"), AG.c.deposit,
                      AG.c.leverage)
            .join(FundOrg, FundOrg.c.id == P.c.fund_org_id)
            .join(V, sa.and_(V.c.program_id == P.c.id, V.c.version == P.c.current_version))
            .outerjoin(AG, sa.and_(AG.c.program_id == P.c.id, mine)))
    if actor.is_kind("fund") and not actor.is_platform_admin:
        stmt = stmt.where(P.c.fund_org_id == actor.org_id)
    elif actor.is_kind("bank"):
        stmt = stmt.where(AG.c.id.is_not(None))
    rows, more, nxt = cut_page(list((await session.exec(page_window(stmt, P.c.id, limit, cursor,
                                                                       oldest_first=oldest_first))).all()), limit)
    data = [ProgramSummary(
        **r._mapping, shares_bps=SharesOut(fund=r.fund_bps, guarantor=r.guarantor_bps, insurer=r.insurer_bps),
        agreement=(AgreementRef(id=r.agreement_id, deposit=r.deposit, leverage=r.leverage,
                                quota=r.deposit * r.leverage) if r.agreement_id else None)) for r in rows]
    return data, more, nxt


def names_org(org_id: str) -> Any:
    """``shares`` (JSON) names this organisation: its id quoted, as JSON text stores it (both databases)."""
    escaped = org_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.cast(C.c.shares, sa.Text).like(f'%"{escaped}"%', escape="\\")


def visible_claims(actor: Actor) -> Any:
    if actor.is_platform_admin or actor.is_kind("regulator"):
        return sa.true()
    return sa.or_(C.c.fund_org_id == actor.org_id, C.c.bank_org_id == actor.org_id, names_org(actor.org_id))


async def list_claims(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                      oldest_first: bool = False, status: str | None = None, program_id: str | None = None,
                      loan_id: str | None = None) -> tuple[list[ClaimSummary], bool, str | None]:
    if status is not None and status not in models.CLAIM_STATUSES:
        raise ValidationFailed.at(["query", "status"], f"status must be one of {', '.join(models.CLAIM_STATUSES)}")
    stmt = (sa.select(C, P.c.name.label("program_name"), BankOrg.c.name.label("bank_name"),
                      BorrowerOrg.c.name.label("borrower_name"))
            .join(BankOrg, BankOrg.c.id == C.c.bank_org_id).join(BorrowerOrg, BorrowerOrg.c.id == C.c.borrower_org_id)
            .outerjoin(P, P.c.id == C.c.program_id).where(visible_claims(actor)))
    for column, value in ((C.c.status, status), (C.c.program_id, program_id), (C.c.loan_id, loan_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    rows, more, nxt = cut_page(list((await session.exec(page_window(stmt, C.c.id, limit, cursor,
                                                                       oldest_first=oldest_first))).all()), limit)
    return [ClaimSummary(**r._mapping) for r in rows], more, nxt
