"""Revaluation and margin calls (追加担保): the bank revalues the pledged bundle; when the borrowing base
falls below what it must cover (the outstanding principal plus the bank's margin) a margin call is issued
with the shortfall and a cure-by date (``IPM_MARGIN_CALL_CURE_DAYS``, default 30 days).

A call is cured as soon as the cover is whole again: the borrower prepays, pledges more assets
(``additions``), the bank revalues, or a lapsed patent is restored. Uncured at the date (the day-end of
the cure-by date), it expires: the loan is flagged at least ``special_mention`` (the floor of
``restructures.floor_of``) and the fund is told, its copy of the loan follows. A call cured late lifts the
flag. A pledged asset that lapses, expires or is invalidated is checked the same way at once
(``trigger: patent_lapse | asset_lost``); patents lapse by the market's day-end when their annual fees are
more than 6 months overdue (Patent Law art. 44).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import access, states
from finance.loans.models import Loan
from finance.servicing import collateral, restructures
from finance.servicing.models import MARGIN_CALL, LoanCollateralValuation, MarginCall
from finance.servicing.schemas import MarginCallOut, RevaluationIn, RevaluationOut
from kernel import audit, events
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.day_end import day_end_handler
from kernel.db import get_or_404
from kernel.errors import InvalidState, ValidationFailed
from kernel.settings import get_settings
from market.assets.models import Encumbrance

ISSUED = "margin_call.issued"
REVALUED = "loan.revalued"
UNCURED = ("open", "expired")


def describe(call: MarginCall) -> MarginCallOut:
    return MarginCallOut.model_validate(call, from_attributes=True)


def describe_revaluation(row: LoanCollateralValuation) -> RevaluationOut:
    return RevaluationOut.model_validate(row, from_attributes=True)


async def uncured_call(session: AsyncSession, loan_id: str) -> MarginCall | None:
    stmt = (select(MarginCall).where(MarginCall.loan_id == loan_id, col(MarginCall.status).in_(UNCURED))
            .order_by(col(MarginCall.id).desc()).with_for_update().execution_options(populate_existing=True))
    return (await session.exec(stmt)).first()


async def assess(session: AsyncSession, actor: Actor, loan: Loan, *, trigger: str, cured_by: str,
                 valuation_id: str | None = None, asset_id: str | None = None,
                 issue: bool = True) -> MarginCall | None:
    """Compare the cover with what it must reach (call with the loan locked): cure the loan's uncured call
    when it is whole, update its figures when it is still short, or issue a new call. Returns the call
    still standing (None when the loan is covered or has no valuation)."""
    if loan.status not in states.PERFORMING:
        return None
    cover = await collateral.cover(session, loan)
    if cover.valuation_id is None:
        return None  # nothing values the bundle: no base to call against
    call = await uncured_call(session, loan.id)
    today = await business_date(session)
    if cover.shortfall == 0:
        if call is not None:
            await cure(session, actor, loan, call, cured_by, today)
        return None
    if call is not None:
        if (call.borrowing_base, call.outstanding_principal, call.shortfall) != (
                cover.borrowing_base, cover.outstanding_principal, cover.shortfall):
            before = {"borrowing_base": call.borrowing_base, "shortfall": call.shortfall}
            call.borrowing_base, call.outstanding_principal = cover.borrowing_base, cover.outstanding_principal
            call.shortfall = cover.shortfall
            session.add(call)
            await audit.record(session, actor, "margin_call.updated", "margin_call", call.id, before=before,
                               after={"borrowing_base": call.borrowing_base, "shortfall": call.shortfall,
                                      "trigger": trigger})
        return call
    if not issue:
        return None
    call = MarginCall(loan_id=loan.id, trigger=trigger, valuation_id=valuation_id, asset_id=asset_id,
                      borrowing_base=cover.borrowing_base, outstanding_principal=cover.outstanding_principal,
                      shortfall=cover.shortfall, issued_on=today,
                      cure_by=today + timedelta(days=get_settings().margin_call_cure_days))
    MARGIN_CALL.start(call)
    session.add(call)
    await session.flush()
    await audit.record(session, actor, ISSUED, "margin_call", call.id,
                       after=call.model_dump(exclude={"created_at", "updated_at"}))
    await events.publish(session, ISSUED, {"margin_call_id": call.id, "loan_id": loan.id,
                                           "shortfall": call.shortfall, "cure_by": call.cure_by})
    return call


async def cure(session: AsyncSession, actor: Actor, loan: Loan, call: MarginCall, cured_by: str,
               today: date) -> None:
    flagged = call.status == "expired"
    call.cured_on, call.cured_by = today, cured_by
    await MARGIN_CALL.apply(session, actor, call, "cure", cured_by=cured_by, late=flagged)
    await session.flush()
    if flagged:  # the floor the expiry put on the loan goes (unless something else holds it)
        await restructures.reclassify(session, actor, loan, today)


# --- revaluation ---------------------------------------------------------------------------------------

async def revalue(session: AsyncSession, actor: Actor, loan_id: str, data: RevaluationIn) -> LoanCollateralValuation:
    loan = await access.lending_bank_loan(session, actor, loan_id)
    if loan.status not in states.PERFORMING:
        raise InvalidState(f"loan {loan.id} is {loan.status}; only a loan being repaid is revalued")
    valuation, _ = await collateral.certified_of(session, actor, data.valuation_id, None)
    if not set(valuation.asset_ids) <= set(loan.asset_ids):
        raise ValidationFailed.at(["body", "valuation_id"],
                                  "the valuation values assets this loan does not pledge")
    before = await collateral.cover(session, loan)
    today = await business_date(session)
    row = LoanCollateralValuation(
        loan_id=loan.id, seq=await collateral.next_seq(session, loan.id), source="revaluation",
        valuation_id=valuation.id, margin_bps=before.bank_margin_bps if data.margin_bps is None else data.margin_bps,
        borrowing_base_before=before.borrowing_base, borrowing_base=0,
        outstanding_principal=loan.outstanding_principal, on=today, by_user_id=actor.user_id)
    session.add(row)
    await session.flush()
    if set(valuation.asset_ids) == set(loan.asset_ids):
        loan.valuation_id = valuation.id  # the bundle's valuation of record (fund cover, disposal)
        session.add(loan)
    after = await collateral.cover(session, loan)
    row.borrowing_base = after.borrowing_base
    await audit.record(session, actor, REVALUED, "loan", loan.id,
                       before={"borrowing_base": before.borrowing_base},
                       after={"valuation_id": valuation.id, "borrowing_base": after.borrowing_base,
                              "margin_bps": row.margin_bps, "required": after.required})
    call = await assess(session, actor, loan, trigger="revaluation", cured_by="revaluation",
                        valuation_id=valuation.id)
    row.margin_call_id = call.id if call else None
    session.add(row)
    await session.flush()
    return row


async def revaluations(session: AsyncSession, actor: Actor, loan_id: str) -> list[LoanCollateralValuation]:
    loan = await access.get_loan(session, actor, loan_id)
    return await collateral.later_valuations(session, loan.id)


async def calls_for(session: AsyncSession, actor: Actor, loan_id: str) -> list[MarginCall]:
    loan = await access.get_loan(session, actor, loan_id)
    stmt = select(MarginCall).where(MarginCall.loan_id == loan.id).order_by(col(MarginCall.id))
    return list((await session.exec(stmt)).all())


async def get_call(session: AsyncSession, actor: Actor, call_id: str) -> MarginCall:
    call = await get_or_404(session, MarginCall, call_id, label="margin call")
    await access.get_loan(session, actor, call.loan_id)
    return call


# --- what cures or triggers a call elsewhere -----------------------------------------------------------

@events.subscribe(events.LOAN_REPAYMENT_APPLIED)
async def _repaid(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A repayment lowered the outstanding principal: a call it covers is cured."""
    if not payload.get("principal_repaid", 1) and payload.get("status") != "repaid":
        return  # penalty, interest or charges only: the shortfall is where it was
    if await uncured_call(session, payload["loan_id"]) is None:
        return
    loan = await access.lock_loan(session, payload["loan_id"])
    if loan.status in states.PERFORMING:
        await assess(session, SYSTEM, loan, trigger="repayment",
                     cured_by="prepayment" if payload.get("prepaid_principal") else "repayment", issue=False)
    elif loan.status == "repaid":
        call = await uncured_call(session, loan.id)
        if call is not None:
            await cure(session, SYSTEM, loan, call, "repayment", await business_date(session))


@events.subscribe(events.ASSET_STATUS_CHANGED)
async def _asset_status_changed(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A pledged asset lapsed (unpaid fees), expired or was invalidated: the same check as a revaluation;
    restored, it may cure the call."""
    refs = select(Encumbrance.ref_id).where(Encumbrance.asset_id == payload["asset_id"],
                                            Encumbrance.kind == "pledge", col(Encumbrance.released_on).is_(None))
    ids = list((await session.exec(select(Loan.id).where(col(Loan.id).in_(refs),
                                                         col(Loan.status).in_(states.PERFORMING))
                                   .order_by(Loan.id))).all())
    restored = payload["after"] == "valid"
    for loan_id in ids:
        loan = await access.lock_loan(session, loan_id)
        await assess(session, SYSTEM, loan, trigger="patent_lapse" if payload["after"] == "lapsed" else "asset_lost",
                     cured_by="asset_restored", asset_id=payload["asset_id"], issue=not restored)
    await session.flush()


# --- the day-end ---------------------------------------------------------------------------------------

@day_end_handler("finance.servicing.margin_calls", order=57)
async def margin_calls_day_end(session: AsyncSession, run_date: date) -> None:
    """After the loans' ageing and the observation floors: calls whose cure-by date is today and that are
    still short expire; the loan is flagged (at least special mention from tomorrow) and the fund told."""
    due = list((await session.exec(select(MarginCall).where(
        MarginCall.status == "open", col(MarginCall.cure_by) <= run_date).order_by(MarginCall.id))).all())
    for peek in due:
        loan = await access.lock_loan(session, peek.loan_id)
        call = await uncured_call(session, loan.id)
        if call is None or call.status != "open":
            continue
        if await assess(session, SYSTEM, loan, trigger="cure_by", cured_by="repayment", issue=False) is None:
            continue  # whole again (e.g. instalments paid down the principal): cured, not expired
        await MARGIN_CALL.apply(session, SYSTEM, call, "expire", shortfall=call.shortfall, cure_by=call.cure_by)
        await session.flush()
        await restructures.reclassify(session, SYSTEM, loan, run_date + timedelta(days=1))
        await audit.record(session, SYSTEM, "loan.margin_call_uncured", "loan", loan.id,
                           after={"margin_call_id": call.id, "shortfall": call.shortfall,
                                  "classification": loan.classification})
    await session.flush()
