"""Lists of what each organisation works on: loans, guarantees, insurance policies, disposals, fund
programmes, compensation claims and valuations. Each is cursor-paginated, newest first unless
``order=oldest``, filtered, and shows only what the caller may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from api.deps import CurrentActor, Cursor, Limit, Order, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from finance.fund import lists as fund_lists
from finance.fund.lists import ClaimSummary, ProgramSummary
from finance.loans import lists as loan_lists
from finance.loans.lists import (
    Classification,
    DisposalSummary,
    GuaranteeSummary,
    LoanStatus,
    LoanSummary,
    PolicySummary,
)
from kernel.pagination import Page
from valuation import lists as valuation_lists
from valuation.lists import ValuationSummary

router = AreaRouter(tags=["lists"], route_class=TransactionalRoute)
OptId = Annotated[str | None, Query(max_length=40)]


@router.get("/loans", response_model=Page[LoanSummary],
            summary="Loans: the borrower's, the lending bank's, the guarantor's and insurer's, the fund's programmes'")
async def list_loans(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                     order: Order = "newest", status: LoanStatus | None = None,
                     classification: Classification | None = None, bank_org_id: OptId = None,
                     borrower_org_id: OptId = None, program_id: OptId = None,
                     overdue: bool | None = None) -> Page[LoanSummary]:
    data, more, nxt = await loan_lists.list_loans(
        session, actor, limit=limit, cursor=cursor, oldest_first=order == "oldest", status=status,
        classification=classification, bank_org_id=bank_org_id, borrower_org_id=borrower_org_id,
        program_id=program_id, overdue=overdue)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.get("/guarantees", response_model=Page[GuaranteeSummary],
            summary="Guarantees: the guarantor's own, and those on the caller's loans")
async def list_guarantees(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                          order: Order = "newest", loan_id: OptId = None) -> Page[GuaranteeSummary]:
    data, more, nxt = await loan_lists.list_guarantees(session, actor, limit=limit, cursor=cursor,
                                                       oldest_first=order == "oldest", loan_id=loan_id)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.get("/insurance-policies", response_model=Page[PolicySummary],
            summary="Insurance policies on pledge loans: the insurer's own, and those on the caller's loans")
async def list_policies(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                        order: Order = "newest", loan_id: OptId = None) -> Page[PolicySummary]:
    data, more, nxt = await loan_lists.list_policies(session, actor, limit=limit, cursor=cursor,
                                                     oldest_first=order == "oldest", loan_id=loan_id)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.get("/disposals", response_model=Page[DisposalSummary],
            summary="Disposal auctions of defaulted loans (the lending bank, the programme's fund, admin)")
async def list_disposals(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                         order: Order = "newest", status: str | None = Query(default=None, max_length=20),
                         loan_id: OptId = None) -> Page[DisposalSummary]:
    data, more, nxt = await loan_lists.list_disposals(session, actor, limit=limit, cursor=cursor,
                                                      oldest_first=order == "oldest", status=status,
                                                      loan_id=loan_id)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.get("/fund/programs", response_model=Page[ProgramSummary],
            summary="Fund programmes: a fund its own, a bank those it has an agreement with, regulators and admin all")
async def list_programs(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                        order: Order = "newest") -> Page[ProgramSummary]:
    data, more, nxt = await fund_lists.list_programs(session, actor, limit=limit, cursor=cursor,
                                                     oldest_first=order == "oldest")
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.get("/compensation-claims", response_model=Page[ClaimSummary],
            summary="Compensation claims: the fund's, the lending bank's, those where the caller bears a share")
async def list_claims(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                      order: Order = "newest", status: str | None = Query(default=None, max_length=20),
                      program_id: OptId = None, loan_id: OptId = None) -> Page[ClaimSummary]:
    data, more, nxt = await fund_lists.list_claims(session, actor, limit=limit, cursor=cursor,
                                                   oldest_first=order == "oldest", status=status,
                                                   program_id=program_id, loan_id=loan_id)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.get("/valuations", response_model=Page[ValuationSummary],
            summary="Valuations the caller may read (requester, asset owners, certifier, banks, evaluators)")
async def list_valuations(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                          order: Order = "newest", asset_id: OptId = None,
                          status: str | None = Query(default=None, max_length=20)) -> Page[ValuationSummary]:
    data, more, nxt = await valuation_lists.list_valuations(session, actor, limit=limit, cursor=cursor,
                                                            oldest_first=order == "oldest", asset_id=asset_id,
                                                            status=status)
    return Page(data=data, has_more=more, next_cursor=nxt)
