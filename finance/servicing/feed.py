"""What the event feed shows of servicing objects (margin calls, pledge consents, restructurings,
collateral additions and releases) and who may see each: the loan's parties and the fund covering it."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.feed import fund_orgs, loan_parties
from finance.loans.models import Loan
from finance.servicing.models import CollateralAddition, CollateralRelease, LoanRestructure, MarginCall
from kernel.event_log import Described, describer
from market.assets.consents import PledgeConsent


async def _by_loan(session: AsyncSession, model: Any, ids: list[str], loan_of: str = "loan_id") -> dict[str, Described]:
    rows = list((await session.exec(select(model).where(col(model.id).in_(ids))
                                    .execution_options(populate_existing=True))).all())
    loans = {x.id: x for x in (await session.exec(select(Loan).where(
        col(Loan.id).in_({getattr(r, loan_of) for r in rows})))).all()}
    funds = await fund_orgs(session, {x.fund_program_id for x in loans.values() if x.fund_program_id})
    out = {}
    for r in rows:
        loan = loans.get(getattr(r, loan_of))
        if loan is not None:
            out[r.id] = Described(r.model_dump(), loan_parties(loan, funds))
    return out


@describer("margin_call")
async def describe_margin_calls(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    return await _by_loan(session, MarginCall, ids)


@describer("loan_restructure")
async def describe_restructures(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    return await _by_loan(session, LoanRestructure, ids)


@describer("collateral_addition")
async def describe_additions(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    return await _by_loan(session, CollateralAddition, ids)


@describer("collateral_release")
async def describe_releases(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    return await _by_loan(session, CollateralRelease, ids)


@describer("pledge_consent")
async def describe_consents(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    return await _by_loan(session, PledgeConsent, ids, loan_of="pledge_ref")
