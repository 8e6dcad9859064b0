"""Changing what a loan pledges while it is repaid: more collateral (to cure a margin call or ahead of one),
partial release and substitution.

- ``POST /loans/{id}/collateral {asset_ids, valuation_id?}`` (the borrower) offers assets it owns that
  nothing encumbers; the bank registers their pledge with ``POST /loans/{id}/pledge-registration`` (the
  same call as the first registration). From then on they are pledged and count at the certified
  valuation named with them (or once the bank revalues the bundle); a margin call they cover is cured.
- ``POST /loans/{id}/collateral-releases {asset_ids, substitute_asset_ids?, valuation_id?}`` (the
  borrower); the bank approves only while the certified borrowing base of what stays pledged (with the
  substitutes at their certified valuation) covers the outstanding principal and the bank's margin, else
  409 ``limit_exceeded``. The released assets' pledge encumbrance ends, one record per asset; the
  substitutes are pledged in the same step.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import access, states
from finance.loans.models import Loan
from finance.loans.schemas import PledgeRegistrationIn
from finance.servicing import collateral, margin
from finance.servicing.models import (
    COLLATERAL_ADDITION,
    COLLATERAL_RELEASE,
    CollateralAddition,
    CollateralRelease,
    LoanCollateralValuation,
)
from finance.servicing.schemas import CollateralAdditionOut, CollateralIn, ReleaseIn, ReleaseOut
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, LimitExceeded, ValidationFailed
from market.assets import encumbrances
from market.assets.models import Asset
from market.assets.service import lock_assets, record_pledge_amount
from valuation.models import ValuationAsset


def describe_addition(row: CollateralAddition) -> CollateralAdditionOut:
    return CollateralAdditionOut.model_validate(row, from_attributes=True)


def describe_release(row: CollateralRelease) -> ReleaseOut:
    return ReleaseOut.model_validate(row, from_attributes=True)


async def _borrowers_loan(session: AsyncSession, actor: Actor, loan_id: str) -> Loan:
    """The loan, locked, for its borrower: 404 to whoever may not see it, 403 to the other parties."""
    loan = await access.get_loan(session, actor, loan_id, lock=True)
    if loan.borrower_org_id != actor.org_id:
        raise Forbidden("only the borrower may do this")
    if loan.status not in states.PERFORMING:
        raise InvalidState(f"loan {loan.id} is {loan.status}; its collateral changes while it is repaid")
    return loan


async def _new_collateral(session: AsyncSession, loan: Loan, asset_ids: Sequence[str], field: str) -> list[Asset]:
    """Assets the borrower may pledge to this loan now: its own, valid, not yet pledged to it, free of any
    encumbrance that forbids a pledge."""
    if set(asset_ids) & set(loan.asset_ids):
        raise ValidationFailed.at(["body", field], "an asset is already pledged to this loan")
    assets = await lock_assets(session, asset_ids)
    if any(a.owner_org_id != loan.borrower_org_id for a in assets):
        raise ValidationFailed.at(["body", field], "only the borrower's own assets can be pledged")
    await encumbrances.ensure_allowed(session, assets, "pledge")
    return assets


# --- more collateral ---------------------------------------------------------------------------------

async def request_addition(session: AsyncSession, actor: Actor, loan_id: str, data: CollateralIn) -> CollateralAddition:
    loan = await _borrowers_loan(session, actor, loan_id)
    await _new_collateral(session, loan, data.asset_ids, "asset_ids")
    pending = (await session.exec(select(CollateralAddition).where(
        CollateralAddition.loan_id == loan.id, CollateralAddition.status == "requested"))).all()
    if any(set(p.asset_ids) & set(data.asset_ids) for p in pending):
        raise InvalidState("an asset is already offered to this loan and awaits its registration")
    if data.valuation_id is not None:
        await collateral.certified_of(session, actor, data.valuation_id, data.asset_ids)
    row = CollateralAddition(loan_id=loan.id, asset_ids=list(data.asset_ids), valuation_id=data.valuation_id,
                             requested_on=await business_date(session))
    COLLATERAL_ADDITION.start(row)
    session.add(row)
    await session.flush()
    await audit.record(session, actor, "collateral_addition.requested", "collateral_addition", row.id,
                       after={"loan_id": loan.id, "asset_ids": row.asset_ids, "valuation_id": row.valuation_id})
    return row


async def register_additions(session: AsyncSession, actor: Actor, loan_id: str,
                             data: PledgeRegistrationIn) -> Loan | None:
    """The bank registers the pledge of the assets offered to a loan being repaid. None when the loan is
    not being repaid (the first registration applies instead)."""
    loan = await access.lending_bank_loan(session, actor, loan_id)
    if loan.status not in states.PERFORMING:
        return None
    rows = list((await session.exec(select(CollateralAddition).where(
        CollateralAddition.loan_id == loan.id, CollateralAddition.status == "requested")
        .order_by(CollateralAddition.id).with_for_update())).all())
    if not rows:
        raise InvalidState(f"loan {loan.id} is already secured and no further collateral awaits registration")
    today = await business_date(session)
    if data.registered_on > today:
        raise ValidationFailed.at(["body", "registered_on"], f"a registration cannot be dated after today ({today})")
    for row in rows:
        assets = await _new_collateral(session, loan, row.asset_ids, "asset_ids")
        await encumbrances.encumber(session, actor, assets, "pledge", loan.id, holder_org_id=loan.bank_org_id,
                                    since=data.registered_on, check=False)
        await record_pledge_amount(session, row.asset_ids, loan.principal, actor=actor)
        loan.asset_ids = [*loan.asset_ids, *row.asset_ids]
        session.add(loan)
        row.registered_on, row.registration_no = data.registered_on, data.registration_no
        await COLLATERAL_ADDITION.apply(session, actor, row, "register", registration_no=data.registration_no,
                                        asset_ids=row.asset_ids)
        if row.valuation_id is not None:
            await _record_valuation(session, actor, loan, "addition", row.id, row.valuation_id)
    await session.flush()
    await margin.assess(session, actor, loan, trigger="collateral", cured_by="collateral", issue=False)
    await session.flush()
    return loan


async def _record_valuation(session: AsyncSession, actor: Actor, loan: Loan, source: str, ref_id: str,
                            valuation_id: str) -> None:
    before = await collateral.cover(session, loan)
    row = LoanCollateralValuation(loan_id=loan.id, seq=await collateral.next_seq(session, loan.id), source=source,
                                  ref_id=ref_id, valuation_id=valuation_id, margin_bps=before.bank_margin_bps,
                                  borrowing_base_before=before.borrowing_base, borrowing_base=0,
                                  outstanding_principal=loan.outstanding_principal,
                                  on=await business_date(session), by_user_id=actor.user_id)
    session.add(row)
    await session.flush()
    row.borrowing_base = (await collateral.cover(session, loan)).borrowing_base
    session.add(row)


async def withdraw_addition(session: AsyncSession, actor: Actor, addition_id: str) -> CollateralAddition:
    row = await get_or_404(session, CollateralAddition, addition_id, lock=True, label="collateral addition")
    loan = await access.get_loan(session, actor, row.loan_id)
    if loan.borrower_org_id != actor.org_id:
        raise Forbidden("only the borrower withdraws its offer")
    await COLLATERAL_ADDITION.apply(session, actor, row, "withdraw")
    await session.flush()
    return row


async def additions(session: AsyncSession, actor: Actor, loan_id: str) -> list[CollateralAddition]:
    loan = await access.get_loan(session, actor, loan_id)
    return list((await session.exec(select(CollateralAddition).where(CollateralAddition.loan_id == loan.id)
                                    .order_by(col(CollateralAddition.id)))).all())


# --- partial release and substitution ----------------------------------------------------------------

async def _remaining(session: AsyncSession, loan: Loan, row: CollateralRelease) -> collateral.Cover:
    parts: list[ValuationAsset] = []
    if row.valuation_id is not None:
        _, parts = await collateral.certified_of(session, None, row.valuation_id, row.substitute_asset_ids)
    return await collateral.cover(session, loan, drop=row.asset_ids, add=parts)


async def request_release(session: AsyncSession, actor: Actor, loan_id: str, data: ReleaseIn) -> CollateralRelease:
    loan = await _borrowers_loan(session, actor, loan_id)
    released, substitutes = list(data.asset_ids), list(data.substitute_asset_ids or [])
    if len(set(released)) != len(released) or not set(released) <= set(loan.asset_ids):
        raise ValidationFailed.at(["body", "asset_ids"], "only assets this loan pledges, each once")
    if substitutes:
        await _new_collateral(session, loan, substitutes, "substitute_asset_ids")
        if data.valuation_id is None:
            raise ValidationFailed.at(["body", "valuation_id"], "substitutes need a certified valuation of them")
        await collateral.certified_of(session, actor, data.valuation_id, substitutes)
    elif data.valuation_id is not None:
        raise ValidationFailed.at(["body", "valuation_id"], "a valuation is named only with substitutes")
    if set(released) == set(loan.asset_ids) and not substitutes:
        raise ValidationFailed.at(["body", "asset_ids"], "the whole bundle is released only by repaying the loan")
    if (await session.exec(select(CollateralRelease.id).where(
            CollateralRelease.loan_id == loan.id, CollateralRelease.status == "requested"))).first() is not None:
        raise InvalidState("a collateral release of this loan already awaits the bank's decision")
    row = CollateralRelease(loan_id=loan.id, asset_ids=released, substitute_asset_ids=substitutes,
                            valuation_id=data.valuation_id, requested_on=await business_date(session))
    row.remaining_borrowing_base = (await _remaining(session, loan, row)).borrowing_base
    COLLATERAL_RELEASE.start(row)
    session.add(row)
    await session.flush()
    await audit.record(session, actor, "collateral_release.requested", "collateral_release", row.id,
                       after={"loan_id": loan.id, "asset_ids": released, "substitute_asset_ids": substitutes,
                              "remaining_borrowing_base": row.remaining_borrowing_base})
    return row


async def _bank_release(session: AsyncSession, actor: Actor, release_id: str) -> tuple[Loan, CollateralRelease]:
    peek = await get_or_404(session, CollateralRelease, release_id, label="collateral release")
    loan = await access.lending_bank_loan(session, actor, peek.loan_id)
    row = await get_or_404(session, CollateralRelease, release_id, lock=True, label="collateral release")
    return loan, row


async def approve_release(session: AsyncSession, actor: Actor, release_id: str, note: str | None) -> CollateralRelease:
    loan, row = await _bank_release(session, actor, release_id)
    COLLATERAL_RELEASE.ensure(row, "approve")
    if loan.status not in states.PERFORMING:
        raise InvalidState(f"loan {loan.id} is {loan.status}; its collateral changes while it is repaid")
    if not set(row.asset_ids) <= set(loan.asset_ids):
        raise InvalidState("an asset to release is no longer pledged to this loan")
    rest = await _remaining(session, loan, row)
    if rest.shortfall > 0:
        raise LimitExceeded(
            f"what would stay pledged has a certified borrowing base of {rest.borrowing_base}, short of the "
            f"{rest.required} the outstanding principal needs", extra={
                "rule": "borrowing_base", "borrowing_base": rest.borrowing_base, "required": rest.required,
                "outstanding_principal": rest.outstanding_principal, "shortfall": rest.shortfall})
    today = await business_date(session)
    if row.substitute_asset_ids:
        assets = await _new_collateral(session, loan, row.substitute_asset_ids, "substitute_asset_ids")
        await encumbrances.encumber(session, actor, assets, "pledge", loan.id, holder_org_id=loan.bank_org_id,
                                    since=today, check=False)
        await record_pledge_amount(session, row.substitute_asset_ids, loan.principal, actor=actor)
    released = await encumbrances.release_assets(session, actor, loan.id, row.asset_ids, "pledge")
    loan.asset_ids = [a for a in loan.asset_ids if a not in row.asset_ids] + list(row.substitute_asset_ids)
    session.add(loan)
    await session.flush()
    if row.valuation_id is not None:
        await _record_valuation(session, actor, loan, "substitution", row.id, row.valuation_id)
    row.decided_on, row.decision_note = today, note
    row.remaining_borrowing_base = rest.borrowing_base
    await COLLATERAL_RELEASE.apply(session, actor, row, "approve", released=released,
                                   remaining_borrowing_base=rest.borrowing_base)
    await audit.record(session, actor, "loan.collateral_released", "loan", loan.id,
                       after={"release_id": row.id, "released": row.asset_ids,
                              "substituted": row.substitute_asset_ids, "asset_ids": loan.asset_ids})
    await session.flush()
    return row


async def reject_release(session: AsyncSession, actor: Actor, release_id: str, note: str | None) -> CollateralRelease:
    _, row = await _bank_release(session, actor, release_id)
    row.decided_on, row.decision_note = await business_date(session), note
    await COLLATERAL_RELEASE.apply(session, actor, row, "reject", note=note)
    await session.flush()
    return row


async def get_release(session: AsyncSession, actor: Actor, release_id: str) -> CollateralRelease:
    row = await get_or_404(session, CollateralRelease, release_id, label="collateral release")
    await access.get_loan(session, actor, row.loan_id)
    return row


async def releases(session: AsyncSession, actor: Actor, loan_id: str) -> list[CollateralRelease]:
    loan = await access.get_loan(session, actor, loan_id)
    return list((await session.exec(select(CollateralRelease).where(CollateralRelease.loan_id == loan.id)
                                    .order_by(col(CollateralRelease.id)))).all())
