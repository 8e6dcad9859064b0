"""Lists of loans and what hangs on them (guarantees, insurance policies, disposals), for every party.

Each list is one query for the page (the organisations' names joined in) plus at most one ``IN (…)``
query for the assets' titles: never a query per row. Who sees what is one SQL condition per list
(``visible_loans``), the same rule as ``access.may_see_loan`` except that a fund sees only the loans of
its own programmes here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund.models import FundProgram
from finance.loans.models import (
    CLASSIFICATIONS,
    LOAN_STATUSES,
    Loan,
    LoanDisposal,
    LoanGuarantee,
    LoanInsurance,
)
from kernel.actor import Actor
from kernel.db import table_of
from kernel.pagination import cut_page, page_window
from market.assets.models import Asset
from market.auctions.models import Auction

LoanStatus = Literal[LOAN_STATUSES]  # type: ignore[valid-type]  # a Literal of the one tuple of statuses
Classification = Literal[CLASSIFICATIONS]  # type: ignore[valid-type]  # likewise, of the classifications
L = table_of(Loan)
Borrower, Bank = table_of(Org).alias("borrower"), table_of(Org).alias("bank")


class AssetRef(BaseModel):
    id: str
    title: str
    kind: str


class LoanSummary(BaseModel):
    id: str
    status: str
    classification: str
    principal: int
    outstanding_principal: int
    annual_rate_bps: int
    term_months: int
    repayment_method: str
    days_past_due: int
    next_due_on: date | None
    disbursed_on: date | None
    maturity_on: date | None
    borrower_org_id: str
    borrower_name: str
    bank_org_id: str
    bank_name: str
    guarantor_org_id: str | None
    insurer_org_id: str | None
    program_id: str | None
    claim_id: str | None
    application_id: str
    assets: list[AssetRef]
    created_at: datetime


class GuaranteeSummary(BaseModel):
    id: str
    loan_id: str
    guarantor_org_id: str
    share_bps: int
    fee_rate_bps: int
    fee: int
    joined_on: date
    loan_status: str
    principal: int
    outstanding_principal: int
    borrower_org_id: str
    borrower_name: str
    bank_org_id: str
    bank_name: str


class PolicySummary(BaseModel):
    id: str
    loan_id: str
    insurer_org_id: str
    share_bps: int
    premium: int
    joined_on: date
    loan_status: str
    principal: int
    outstanding_principal: int
    borrower_org_id: str
    borrower_name: str
    bank_org_id: str
    bank_name: str


class DisposalSummary(BaseModel):
    id: str
    loan_id: str
    auction_id: str
    status: str
    auction_status: str | None
    reserve_price: int
    start_price: int
    highest_bid: int | None
    ends_on: date
    deal_id: str | None
    proceeds: int | None
    borrower_org_id: str
    borrower_name: str
    bank_org_id: str
    bank_name: str
    program_id: str | None
    created_at: datetime


def programs_of(fund_org_id: str) -> Any:
    return sa.select(table_of(FundProgram).c.id).where(table_of(FundProgram).c.fund_org_id == fund_org_id)


def visible_loans(actor: Actor) -> Any:
    """The SQL condition on ``loans`` for the loans this caller may list."""
    if actor.is_platform_admin:
        return sa.true()
    party = sa.or_(L.c.borrower_org_id == actor.org_id, L.c.bank_org_id == actor.org_id,
                   L.c.guarantor_org_id == actor.org_id, L.c.insurer_org_id == actor.org_id)
    if actor.is_kind("fund"):
        return sa.or_(party, L.c.fund_program_id.in_(programs_of(actor.org_id)))
    return party


def _with_names(stmt: Any) -> Any:
    return (stmt.add_columns(Borrower.c.name.label("borrower_name"), Bank.c.name.label("bank_name"))
            .join(Borrower, Borrower.c.id == L.c.borrower_org_id).join(Bank, Bank.c.id == L.c.bank_org_id))


async def _titles(session: AsyncSession, asset_ids: set[str]) -> dict[str, AssetRef]:
    if not asset_ids:
        return {}
    rows = await session.exec(select(col(Asset.id), col(Asset.title), col(Asset.kind))
                              .where(col(Asset.id).in_(asset_ids)))
    return {i: AssetRef(id=i, title=t, kind=k) for i, t, k in rows}


async def list_loans(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                     oldest_first: bool = False, status: str | None = None, classification: str | None = None,
                     bank_org_id: str | None = None, borrower_org_id: str | None = None,
                     program_id: str | None = None, overdue: bool | None = None,
                     ) -> tuple[list[LoanSummary], bool, str | None]:
    stmt = _with_names(sa.select(L)).where(visible_loans(actor))
    for column, value in ((L.c.status, status), (L.c.classification, classification),
                          (L.c.bank_org_id, bank_org_id), (L.c.borrower_org_id, borrower_org_id),
                          (L.c.fund_program_id, program_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if overdue is not None:
        late = L.c.days_past_due > 0
        stmt = stmt.where(late if overdue else ~late)
    rows, has_more, next_cursor = cut_page(
        list((await session.exec(page_window(stmt, L.c.id, limit, cursor, oldest_first=oldest_first))).all()),
        limit)
    titles = await _titles(session, {a for r in rows for a in r.asset_ids})
    data = [LoanSummary(**r._mapping, program_id=r.fund_program_id,
                        assets=[titles[a] for a in r.asset_ids if a in titles]) for r in rows]
    return data, has_more, next_cursor


async def _security_page(session: AsyncSession, model: Any, party_column: str, actor: Actor, *, limit: int,
                         cursor: str | None, oldest_first: bool, loan_id: str | None) -> tuple[list[Any], bool,
                                                                                               str | None]:
    t = model.__table__
    stmt = _with_names(sa.select(t, L.c.status.label("loan_status"), L.c.principal, L.c.outstanding_principal,
                                 L.c.borrower_org_id, L.c.bank_org_id).join(L, L.c.id == t.c.loan_id))
    if not actor.is_platform_admin:
        # The guarantor (insurer) its own; the loan's other parties and its programme's fund theirs.
        stmt = stmt.where(sa.or_(t.c[party_column] == actor.org_id, visible_loans(actor)))
    if loan_id is not None:
        stmt = stmt.where(t.c.loan_id == loan_id)
    window = page_window(stmt, t.c.id, limit, cursor, oldest_first=oldest_first)
    return cut_page(list((await session.exec(window)).all()), limit)


async def list_guarantees(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                          oldest_first: bool = False, loan_id: str | None = None,
                          ) -> tuple[list[GuaranteeSummary], bool, str | None]:
    rows, more, nxt = await _security_page(session, LoanGuarantee, "guarantor_org_id", actor, limit=limit,
                                           cursor=cursor, oldest_first=oldest_first, loan_id=loan_id)
    return [GuaranteeSummary(**r._mapping) for r in rows], more, nxt


async def list_policies(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                        oldest_first: bool = False, loan_id: str | None = None,
                        ) -> tuple[list[PolicySummary], bool, str | None]:
    rows, more, nxt = await _security_page(session, LoanInsurance, "insurer_org_id", actor, limit=limit,
                                           cursor=cursor, oldest_first=oldest_first, loan_id=loan_id)
    return [PolicySummary(**r._mapping) for r in rows], more, nxt


async def list_disposals(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                         oldest_first: bool = False, status: str | None = None, loan_id: str | None = None,
                         ) -> tuple[list[DisposalSummary], bool, str | None]:
    """Disposal auctions of defaulted loans: for the lending bank, the programme's fund and the admin."""
    D, A = table_of(LoanDisposal), table_of(Auction)
    # A lot's fate is the auction's; the disposal row only adds what the loan made of it (settled).
    shown = sa.case((sa.or_(D.c.status == "settled", A.c.status.is_(None)), D.c.status), else_=A.c.status)
    stmt = _with_names(sa.select(D.c.id, D.c.loan_id, D.c.auction_id, shown.label("status"),
                                 A.c.status.label("auction_status"), D.c.reserve_price, D.c.start_price,
                                 A.c.highest_bid, D.c.ends_on, D.c.deal_id, D.c.proceeds, L.c.borrower_org_id,
                                 L.c.bank_org_id, L.c.fund_program_id.label("program_id"), D.c.created_at)
                       .select_from(D).join(L, L.c.id == D.c.loan_id).outerjoin(A, A.c.id == D.c.auction_id))
    if not actor.is_platform_admin:
        mine = L.c.bank_org_id == actor.org_id
        if actor.is_kind("fund"):
            mine = sa.or_(mine, L.c.fund_program_id.in_(programs_of(actor.org_id)))
        stmt = stmt.where(mine)
    if status is not None:
        stmt = stmt.where(shown == status)
    if loan_id is not None:
        stmt = stmt.where(D.c.loan_id == loan_id)
    window = page_window(stmt, D.c.id, limit, cursor, oldest_first=oldest_first)
    rows, more, nxt = cut_page(list((await session.exec(window)).all()), limit)
    return [DisposalSummary(**r._mapping) for r in rows], more, nxt
