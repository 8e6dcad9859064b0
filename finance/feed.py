"""What the event feed shows of loans, applications, offers, compensation, subsidies and payments, and who
may see each (``kernel.event_log`` describers, one batched query or two per object type)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund.models import CompensationClaim, FundProgram, RecoveryRow
from finance.loans.models import Loan, LoanApplication, LoanOffer
from finance.payments.models import Payment
from finance.subsidies.models import SubsidyClaim, SubsidyPolicy
from kernel.db import table_of
from kernel.event_log import Described, describer, kind

LOANS = table_of(Loan)


async def _rows(session: AsyncSession, model: Any, ids: list[str]) -> list[Any]:
    return list((await session.exec(select(model).where(col(model.id).in_(ids))
                                    .execution_options(populate_existing=True))).all())


async def fund_orgs(session: AsyncSession, program_ids: set[str]) -> dict[str, str]:
    if not program_ids:
        return {}
    rows = await (await session.connection()).execute(sa.select(col(FundProgram.id), col(FundProgram.fund_org_id))
                              .where(col(FundProgram.id).in_(program_ids)))
    return {k: v for k, v in rows.all()}


def loan_parties(loan: Loan | sa.Row[Any], funds: dict[str, str]) -> set[str]:
    """The loan's parties and the fund of the programme covering it."""
    return {loan.borrower_org_id, loan.bank_org_id, loan.guarantor_org_id or "", loan.insurer_org_id or "",
            funds.get(loan.fund_program_id or "", "")}


def loan_parties_sql(loans: sa.FromClause) -> list[sa.ColumnElement[str | None]]:
    """``loan_parties`` as SQL over a loans row (the day-end's set-based events); may be NULL or empty."""
    fund_org = (sa.select(col(FundProgram.fund_org_id)).where(col(FundProgram.id) == loans.c.fund_program_id)
                .scalar_subquery())
    return [loans.c.borrower_org_id, loans.c.bank_org_id, loans.c.guarantor_org_id, loans.c.insurer_org_id, fund_org]


@describer("loan")
async def describe_loans(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    # Plain rows, not ORM objects: the day-end describes thousands of loans at once. The flush first makes
    # the rows what an ORM read (which autoflushes) would have seen.
    await session.flush()
    rows = (await (await session.connection()).execute(sa.select(LOANS).where(LOANS.c.id.in_(ids)))).all()
    funds = await fund_orgs(session, {x.fund_program_id for x in rows if x.fund_program_id})
    return {x.id: Described(dict(x._mapping), loan_parties(x, funds)) for x in rows}


@describer("loan_application")
async def describe_applications(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    # A submitted application is the market every bank may answer.
    return {a.id: Described(a.model_dump(), {a.applicant_org_id, kind("bank")})
            for a in await _rows(session, LoanApplication, ids)}


@describer("loan_offer")
async def describe_offers(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    offers = await _rows(session, LoanOffer, ids)
    applicants = dict((await (await session.connection()).execute(sa.select(col(LoanApplication.id), col(LoanApplication.applicant_org_id)).where(
        col(LoanApplication.id).in_({o.application_id for o in offers})))).tuples().all())
    # A bank never hears of a competitor's offer.
    return {o.id: Described(o.model_dump(), {o.bank_org_id, applicants.get(o.application_id, "")}) for o in offers}


@describer("compensation_claim")
async def describe_claims(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    return {c.id: Described(c.model_dump(), {c.fund_org_id or "", c.bank_org_id, kind("regulator"),
                                             *(s.get("org_id") or "" for s in c.shares)})
            for c in await _rows(session, CompensationClaim, ids)}


@describer("fund_recovery")
async def describe_recoveries(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    """A recovery row: its party, the claim's fund and lending bank, regulators."""
    rows = await _rows(session, RecoveryRow, ids)
    claims = {c.id: c for c in await _rows(session, CompensationClaim, list({r.claim_id for r in rows}))}
    out = {}
    for r in rows:
        claim = claims.get(r.claim_id)
        out[r.id] = Described(r.model_dump(), {r.org_id or "", kind("regulator"),
                                               *((claim.fund_org_id or "", claim.bank_org_id) if claim else ())})
    return out


@describer("subsidy_claim")
async def describe_subsidy_claims(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    claims = await _rows(session, SubsidyClaim, ids)
    regulators = dict((await (await session.connection()).execute(sa.select(col(SubsidyPolicy.id), col(SubsidyPolicy.regulator_org_id)).where(
        col(SubsidyPolicy.id).in_({c.policy_id for c in claims})))).tuples().all())
    return {c.id: Described(c.model_dump(), {c.claimant_org_id, regulators.get(c.policy_id, "")}) for c in claims}


@describer("payment")
async def describe_payments(session: AsyncSession, ids: list[str]) -> dict[str, Described]:
    return {p.id: Described(p.model_dump(), {p.payer_org_id, p.payee_org_id})
            for p in await _rows(session, Payment, ids)}
