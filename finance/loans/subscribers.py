"""What loans do when something happens elsewhere: a payment settles, an asset lapses, a valuation goes
stale, the fund pays a claim. Every handler runs in the publisher's transaction and only flushes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import outbound, states
from finance.loans.default import compensated
from finance.loans.disbursement import activate
from finance.loans.models import Loan, LoanCollateralAlert, LoanRepayment
from finance.loans.repayments import apply_repayment, loan_and_rows, rows_and_charges
from finance.payments import service as payments
from finance.payments.models import Payment
from kernel import audit, events
from kernel.actor import SYSTEM
from kernel.clock import business_date
from market.assets.models import Encumbrance

# Loans whose collateral still matters to someone.
WATCHED = ("secured", "active", "overdue", "defaulted", "compensated", "disposing")


async def _loan(session: AsyncSession, loan_id: str) -> Loan | None:
    stmt = select(Loan).where(Loan.id == loan_id).with_for_update().execution_options(populate_existing=True)
    return (await session.exec(stmt)).first()


# The loan (locked) and the repayment its payment is keyed by, in one read (built once, bound per payment).
_LOAN_AND_REPAYMENT = (
    select(Loan, LoanRepayment).join(LoanRepayment, col(LoanRepayment.loan_id) == Loan.id)
    .where(Loan.id == sa.bindparam("loan_id"), LoanRepayment.id == sa.bindparam("repayment_id"))
    .with_for_update(of=Loan).execution_options(populate_existing=True))


@payments.on_settled(outbound.LOAN_OBJECT, flushes=True)
async def _loan_payment_settled(session: AsyncSession, payment: Payment) -> None:
    if payment.purpose == "repayment":
        # No autoflush: the payment's move and its audit row go with the repayment's writes in one flush
        # (one INSERT of the audit rows).
        with session.no_autoflush:
            held = await loan_and_rows(session, payment.object_id, repayment_id=payment.idempotency_key)
            found: Any = None
            if held is None:
                found = (await session.execute(_LOAN_AND_REPAYMENT, {
                    "loan_id": payment.object_id, "repayment_id": payment.idempotency_key})).first()
            elif held.repayment is not None:  # one read was enough (the repayment comes only with its loan)
                found = (held.loan, held.repayment)
            if found is None or found[1].status != "processing" or found[0].status not in states.PERFORMING:
                await session.flush()
                return
            loan, repayment = found
            if held is None:  # the loan's extras come with its rows for the answer of a request settling here
                held = await rows_and_charges(session, loan.id, extras_of=loan)
        repayment.payment_id = payment.id
        await apply_repayment(session, SYSTEM, loan, repayment, held)
        return
    disbursed = await _loan(session, payment.object_id)
    if disbursed is not None and payment.purpose == "disbursement" and disbursed.status == "secured":
        await activate(session, SYSTEM, disbursed)
    await session.flush()


@payments.on_failed(outbound.LOAN_OBJECT)
async def _loan_payment_failed(session: AsyncSession, payment: Payment) -> None:
    loan = await _loan(session, payment.object_id)
    if loan is None:
        return
    if payment.purpose == "disbursement" and loan.disbursement_payment_id == payment.id:
        loan.disbursement_payment_id = None  # the bank may try again
        session.add(loan)
    elif payment.purpose == "repayment":
        repayment = await session.get(LoanRepayment, payment.idempotency_key)
        if repayment is not None and states.REPAYMENT.can(repayment.status, "fail"):
            await states.REPAYMENT.apply(session, SYSTEM, repayment, "fail", payment_id=payment.id)
    await session.flush()



async def _raise_alert(session: AsyncSession, loan: Loan, kind: str, detail: str, *, asset_id: str | None = None,
                       valuation_id: str | None = None) -> None:
    today = await business_date(session)
    session.add(LoanCollateralAlert(loan_id=loan.id, kind=kind, asset_id=asset_id, valuation_id=valuation_id,
                                    detail=detail[:300], raised_on=today))
    await audit.record(session, SYSTEM, "loan.collateral_alert", "loan", loan.id,
                       after={"kind": kind, "asset_id": asset_id, "valuation_id": valuation_id, "detail": detail})


async def _loans_pledging(session: AsyncSession, asset_ids: list[str]) -> list[Loan]:
    refs = select(Encumbrance.ref_id).where(col(Encumbrance.asset_id).in_(asset_ids), Encumbrance.kind == "pledge",
                                            col(Encumbrance.released_on).is_(None))
    stmt = select(Loan).where(col(Loan.id).in_(refs), col(Loan.status).in_(WATCHED)).order_by(Loan.id)
    return list((await session.exec(stmt)).all())


@events.subscribe(events.ASSET_STATUS_CHANGED)
async def _asset_status_changed(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A pledged asset that lapses or is invalidated is a collateral loss the bank must be told about."""
    asset_id = payload["asset_id"]
    today = await business_date(session)
    for loan in await _loans_pledging(session, [asset_id]):
        open_ = (await session.exec(select(LoanCollateralAlert).where(
            LoanCollateralAlert.loan_id == loan.id, LoanCollateralAlert.asset_id == asset_id,
            LoanCollateralAlert.kind == "asset_status", col(LoanCollateralAlert.cleared_on).is_(None)))).all()
        if payload["after"] == "valid":
            for alert in open_:  # fees paid late: the patent is restored
                alert.cleared_on = today
                session.add(alert)
        elif not open_:
            await _raise_alert(session, loan, "asset_status", f"pledged asset {asset_id} is {payload['after']}",
                               asset_id=asset_id)
    await session.flush()


@events.subscribe(events.VALUATION_STALE)
async def _valuation_stale(session: AsyncSession, payload: dict[str, Any]) -> None:
    for loan in await _loans_pledging(session, list(payload.get("asset_ids") or [])):
        await _raise_alert(session, loan, "valuation_stale",
                           f"valuation {payload['valuation_id']} is stale: {payload.get('reason') or ''}",
                           valuation_id=payload["valuation_id"])
    await session.flush()


@events.subscribe(events.COMPENSATION_PAID)
async def _compensation_paid(session: AsyncSession, payload: dict[str, Any]) -> None:
    if await session.get(Loan, payload["loan_id"]) is not None:
        await compensated(session, payload["loan_id"], payload["claim_id"])
