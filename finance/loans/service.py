"""Pledge-loan rules: application, competing offers, acceptance, security, disbursement, repayment,
default, compensation, disposal and write-off.

Services take the acting organisation, raise ``kernel.errors`` types and only flush; every status change
goes through ``states.apply``. Rows that change are locked (``FOR UPDATE``) in a fixed order: the
application, then its offers by id; a loan, then its assets by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund import service as fund
from finance.loans import accrual, book, ports, states
from finance.loans.models import (
    Loan,
    LoanApplication,
    LoanClassification,
    LoanCollateralAlert,
    LoanGuarantee,
    LoanInstallment,
    LoanInsurance,
    LoanOffer,
    LoanRepayment,
)
from finance.loans.schemas import (
    ApplicationIn,
    GuaranteeIn,
    InsuranceIn,
    OfferIn,
    PledgeRegistrationIn,
)
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.errors import Forbidden, InvalidState, LimitExceeded, NotFound, ValidationFailed
from kernel.money import apply_bps
from kernel.pagination import paginate
from market.assets import encumbrances
from market.assets.models import Asset
from market.assets.service import lock_assets, record_pledge_amount

ApplicationStatus = Literal["submitted", "accepted", "withdrawn"]
BORROWER_KINDS = ("sme",)
BANK = "bank"
# Loans that are still owed money and accrue (the day-end works on these).
PERFORMING = ("active", "overdue")
BEFORE_DISBURSEMENT = ("pending_security", "secured")


# ---------------------------------------------------------------- applications


async def create_application(session: AsyncSession, actor: Actor, data: ApplicationIn) -> LoanApplication:
    if not actor.is_kind(*BORROWER_KINDS):
        raise Forbidden("only SMEs apply for pledge loans")
    assets = await lock_assets(session, data.asset_ids)
    for asset in assets:
        if asset.owner_org_id != actor.org_id:
            # Another owner's asset is not the applicant's to pledge; its existence is public, so 403.
            raise Forbidden(f"asset {asset.id} is not owned by your organisation")
    await encumbrances.ensure_allowed(session, assets, "pledge")
    if data.valuation_id is not None:
        await ports.check_valuation_covers(session, data.valuation_id, data.asset_ids)
    app = LoanApplication(applicant_org_id=actor.org_id, asset_ids=list(data.asset_ids), amount=data.amount,
                          term_months=data.term_months, purpose=data.purpose,
                          repayment_method=data.repayment_method, valuation_id=data.valuation_id,
                          submitted_on=await business_date(session))
    session.add(app)
    await session.flush()
    await audit.record(session, actor, "loan_application.submitted", "loan_application", app.id,
                       after=app.model_dump(exclude={"created_at", "updated_at"}))
    return app


def _may_see_application(actor: Actor, app: LoanApplication, offered: bool) -> bool:
    if actor.is_platform_admin or actor.is_kind("fund") or app.applicant_org_id == actor.org_id:
        return True
    return actor.is_kind(BANK) and (app.status == "submitted" or offered)


async def _bank_offered(session: AsyncSession, actor: Actor, application_id: str) -> bool:
    if not actor.is_kind(BANK):
        return False
    stmt = select(LoanOffer.id).where(LoanOffer.application_id == application_id,
                                      LoanOffer.bank_org_id == actor.org_id)
    return (await session.exec(stmt)).first() is not None


async def get_application(session: AsyncSession, actor: Actor, application_id: str, *,
                          lock: bool = False) -> LoanApplication:
    stmt = select(LoanApplication).where(LoanApplication.id == application_id)
    if lock:
        stmt = stmt.with_for_update()
    app = (await session.exec(stmt)).first()
    if app is None or not _may_see_application(actor, app, await _bank_offered(session, actor, application_id)):
        raise NotFound("loan application not found")
    return app


async def list_applications(session: AsyncSession, actor: Actor, status: str | None, limit: int,
                            cursor: str | None) -> tuple[list[LoanApplication], bool, str | None]:
    stmt = select(LoanApplication)
    if actor.is_platform_admin or actor.is_kind("fund"):
        pass
    elif actor.is_kind(*BORROWER_KINDS):
        stmt = stmt.where(LoanApplication.applicant_org_id == actor.org_id)
    elif actor.is_kind(BANK):
        offered = select(LoanOffer.application_id).where(LoanOffer.bank_org_id == actor.org_id)
        stmt = stmt.where(or_(LoanApplication.status == "submitted", col(LoanApplication.id).in_(offered)))
    else:
        raise Forbidden("only SMEs, banks, the fund and the platform admin see loan applications")
    if status:
        stmt = stmt.where(LoanApplication.status == status)
    return await paginate(session, stmt, LoanApplication.id, limit, cursor)


async def describe_application(session: AsyncSession, app: LoanApplication) -> dict[str, Any]:
    out = app.model_dump()
    out["valuation"] = await ports.valuation_summary(session, app.valuation_id) if app.valuation_id else None
    return out


# ---------------------------------------------------------------- offers


async def create_offer(session: AsyncSession, actor: Actor, application_id: str, data: OfferIn) -> LoanOffer:
    if not actor.is_kind(BANK):
        raise Forbidden("only banks make loan offers")
    app = await get_application(session, actor, application_id)
    if app.status != "submitted":
        raise InvalidState(f"loan application {app.id} is {app.status}; it takes no more offers")
    today = await business_date(session)
    if data.expires_on <= today:
        raise ValidationFailed.at(["body", "expires_on"], f"an offer must expire after today ({today})")
    if data.amount > app.amount:
        # The applicant asked for this much; a bank may lend less, not force more debt on it.
        raise ValidationFailed.at(["body", "amount"], f"the offer exceeds the amount applied for ({app.amount})")
    offer = LoanOffer(application_id=app.id, bank_org_id=actor.org_id, **data.model_dump(),
                      **await ports.lpr_pricing(session, today, data.term_months, data.annual_rate_bps))
    if data.requires_certified_valuation:
        if app.valuation_id is None:
            raise LimitExceeded("the bank's policy requires a certified valuation and the application has none",
                                extra={"rule": "certified_valuation"})
        base = await ports.certified_borrowing_base(session, app.valuation_id)
        if base is None:
            raise LimitExceeded(f"valuation {app.valuation_id} is not certified or no longer current",
                                extra={"rule": "certified_valuation"})
        if data.amount > base:
            raise LimitExceeded(f"the offer ({data.amount}) exceeds the borrowing base ({base}) of the "
                                f"certified valuation", extra={"rule": "borrowing_base", "borrowing_base": base})
        offer.valuation_id, offer.borrowing_base = app.valuation_id, base
    session.add(offer)
    await session.flush()
    await audit.record(session, actor, "loan_offer.submitted", "loan_offer", offer.id,
                       after=offer.model_dump(exclude={"created_at"}))
    return offer


async def list_offers(session: AsyncSession, actor: Actor, application_id: str) -> list[LoanOffer]:
    app = await get_application(session, actor, application_id)
    stmt = select(LoanOffer).where(LoanOffer.application_id == app.id).order_by(LoanOffer.id)
    if app.applicant_org_id == actor.org_id or actor.is_platform_admin or actor.is_kind("fund"):
        return list((await session.exec(stmt)).all())
    if actor.is_kind(BANK):
        # A bank never sees a competitor's offer.
        return list((await session.exec(stmt.where(LoanOffer.bank_org_id == actor.org_id))).all())
    raise NotFound("loan application not found")


async def accept_offer(session: AsyncSession, actor: Actor, offer_id: str) -> Loan:
    offer = await session.get(LoanOffer, offer_id)
    if offer is None:
        raise NotFound("loan offer not found")
    # Lock the application first: two acceptances of any of its offers are serialised here.
    app = (await session.exec(select(LoanApplication).where(LoanApplication.id == offer.application_id)
                              .with_for_update().execution_options(populate_existing=True))).one()
    if app.applicant_org_id != actor.org_id:
        raise NotFound("loan offer not found")
    offers = list((await session.exec(select(LoanOffer).where(LoanOffer.application_id == app.id)
                                      .order_by(LoanOffer.id).with_for_update()
                                      .execution_options(populate_existing=True))).all())
    offer = next(o for o in offers if o.id == offer_id)
    states.ensure("loan_application", app, "accept_offer")
    states.ensure("loan_offer", offer, "accept")
    today = await business_date(session)
    if offer.expires_on < today:
        raise InvalidState(f"loan offer {offer.id} expired on {offer.expires_on}")
    if offer.requires_certified_valuation:
        # The bank's policy held when it offered; the certificate must still hold when the contract is signed.
        base = await ports.certified_borrowing_base(session, offer.valuation_id) if offer.valuation_id else None
        if base is None or offer.amount > base:
            raise LimitExceeded(f"valuation {offer.valuation_id} is no longer a current certified valuation "
                                f"covering {offer.amount}", extra={"rule": "certified_valuation",
                                                                   "borrowing_base": base})
    # The bundle must still be the applicant's and free to pledge.
    assets = await lock_assets(session, app.asset_ids)
    if any(a.owner_org_id != app.applicant_org_id for a in assets):
        raise InvalidState("an asset of the bundle no longer belongs to the applicant")
    await encumbrances.ensure_allowed(session, assets, "pledge")
    loan = Loan(application_id=app.id, offer_id=offer.id, borrower_org_id=app.applicant_org_id,
                bank_org_id=offer.bank_org_id, asset_ids=list(app.asset_ids), valuation_id=app.valuation_id,
                principal=offer.amount, outstanding_principal=offer.amount,
                annual_rate_bps=offer.annual_rate_bps, penalty_markup_bps=offer.penalty_markup_bps,
                term_months=offer.term_months, repayment_method=offer.repayment_method,
                requires_guarantee=offer.requires_guarantee, signed_on=today,
                **await ports.lpr_pricing(session, today, offer.term_months, offer.annual_rate_bps))
    session.add(loan)
    await session.flush()
    await audit.record(session, actor, "loan.created", "loan", loan.id,
                       after={"status": loan.status, "offer_id": offer.id, "principal": loan.principal,
                              "annual_rate_bps": loan.annual_rate_bps, "lpr_bps": loan.lpr_bps,
                              "lpr_effective_on": loan.lpr_effective_on, "spread_bps": loan.spread_bps})
    await states.apply(session, actor, "loan_offer", offer, "accept", loan_id=loan.id)
    for other in offers:
        if other.id != offer.id and states.can("loan_offer", other.status, "decline"):
            await states.apply(session, actor, "loan_offer", other, "decline", reason="another offer accepted")
    app.loan_id = loan.id
    await states.apply(session, actor, "loan_application", app, "accept_offer", offer_id=offer.id,
                       loan_id=loan.id)
    await session.flush()
    return loan


# ---------------------------------------------------------------- loans: access


async def may_see_loan(session: AsyncSession, actor: Actor, loan: Loan) -> bool:
    if actor.is_platform_admin or actor.is_kind("fund"):
        return True
    return actor.org_id in {loan.borrower_org_id, loan.bank_org_id, loan.guarantor_org_id, loan.insurer_org_id}


async def get_loan(session: AsyncSession, actor: Actor, loan_id: str, *, lock: bool = False) -> Loan:
    stmt = select(Loan).where(Loan.id == loan_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    loan = (await session.exec(stmt)).first()
    if loan is None or not await may_see_loan(session, actor, loan):
        raise NotFound("loan not found")
    return loan


async def _lock_loan(session: AsyncSession, loan_id: str) -> Loan:
    stmt = select(Loan).where(Loan.id == loan_id).with_for_update().execution_options(populate_existing=True)
    loan = (await session.exec(stmt)).first()
    if loan is None:
        raise NotFound("loan not found")
    return loan


async def lending_bank_loan(session: AsyncSession, actor: Actor, loan_id: str) -> Loan:
    """The loan, locked, for its lending bank only (another bank: 404; not a bank: 403)."""
    if not actor.is_kind(BANK):
        raise Forbidden("only the lending bank may do this")
    loan = await _lock_loan(session, loan_id)
    if loan.bank_org_id != actor.org_id:
        raise NotFound("loan not found")
    return loan


async def installments(session: AsyncSession, loan_id: str, *, lock: bool = False) -> list[LoanInstallment]:
    stmt = select(LoanInstallment).where(LoanInstallment.loan_id == loan_id).order_by(LoanInstallment.n)
    if lock:
        # populate_existing: the day-end may have moved them with a set-based UPDATE since they were loaded.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.exec(stmt)).all())


# ---------------------------------------------------------------- security


def _check_shares(loan: Loan, guarantee: LoanGuarantee | None, insurance: LoanInsurance | None,
                  field: str, share_bps: int) -> None:
    others = (guarantee.share_bps if guarantee else 0) + (insurance.share_bps if insurance else 0)
    if others + share_bps > 10000:
        raise ValidationFailed.at(["body", field], f"guarantor and insurer shares would exceed 10000 bps "
                                                   f"(already {others})")


async def _security(session: AsyncSession, loan_id: str) -> tuple[LoanGuarantee | None, LoanInsurance | None]:
    g = (await session.exec(select(LoanGuarantee).where(LoanGuarantee.loan_id == loan_id))).first()
    i = (await session.exec(select(LoanInsurance).where(LoanInsurance.loan_id == loan_id))).first()
    return g, i


async def _joinable_loan(session: AsyncSession, actor: Actor, loan_id: str, kind: str) -> Loan:
    if not actor.is_kind(kind):
        raise Forbidden(f"only a {kind} may do this")
    loan = await _lock_loan(session, loan_id)
    if loan.status not in BEFORE_DISBURSEMENT:
        raise InvalidState(f"loan {loan.id} is {loan.status}; security is arranged before disbursement")
    return loan


async def join_guarantee(session: AsyncSession, actor: Actor, loan_id: str, data: GuaranteeIn) -> LoanGuarantee:
    loan = await _joinable_loan(session, actor, loan_id, "guarantor")
    guarantee, insurance = await _security(session, loan.id)
    if guarantee is not None:
        raise InvalidState(f"loan {loan.id} already has a guarantee")
    _check_shares(loan, guarantee, insurance, "share_bps", data.share_bps)
    row = LoanGuarantee(loan_id=loan.id, guarantor_org_id=actor.org_id, share_bps=data.share_bps,
                        fee_rate_bps=data.fee_rate_bps, fee=apply_bps(loan.principal, data.fee_rate_bps),
                        joined_on=await business_date(session))
    loan.guarantor_org_id = actor.org_id
    session.add_all([row, loan])
    await session.flush()
    await audit.record(session, actor, "loan.guarantee_joined", "loan", loan.id,
                       after={"guarantor_org_id": actor.org_id, "share_bps": row.share_bps,
                              "fee_rate_bps": row.fee_rate_bps, "fee": row.fee})
    return row


async def join_insurance(session: AsyncSession, actor: Actor, loan_id: str, data: InsuranceIn) -> LoanInsurance:
    loan = await _joinable_loan(session, actor, loan_id, "insurer")
    guarantee, insurance = await _security(session, loan.id)
    if insurance is not None:
        raise InvalidState(f"loan {loan.id} is already insured")
    _check_shares(loan, guarantee, insurance, "share_bps", data.share_bps)
    row = LoanInsurance(loan_id=loan.id, insurer_org_id=actor.org_id, share_bps=data.share_bps,
                        premium=data.premium, joined_on=await business_date(session))
    loan.insurer_org_id = actor.org_id
    session.add_all([row, loan])
    await session.flush()
    await audit.record(session, actor, "loan.insurance_joined", "loan", loan.id,
                       after={"insurer_org_id": actor.org_id, "share_bps": row.share_bps, "premium": row.premium})
    return row


async def _require_guarantee(session: AsyncSession, loan: Loan, step: str) -> None:
    if loan.requires_guarantee and loan.guarantor_org_id is None:
        raise InvalidState(f"the offer requires a guarantee before {step}")


async def request_fund_cover(session: AsyncSession, actor: Actor, loan_id: str, program_id: str) -> Loan:
    loan = await lending_bank_loan(session, actor, loan_id)
    if loan.status not in BEFORE_DISBURSEMENT:
        raise InvalidState(f"loan {loan.id} is {loan.status}; fund cover is requested before disbursement")
    if loan.fund_cover_id is not None:
        raise InvalidState(f"loan {loan.id} is already covered by programme {loan.fund_program_id}")
    borrower = await session.get(Org, loan.borrower_org_id)
    assert borrower is not None
    ip_value = await ports.collateral_value(session, loan)
    cover_id = await ports.request_cover(session, actor, program_id, loan, borrower, ip_value)
    loan.fund_program_id, loan.fund_cover_id = program_id, cover_id
    session.add(loan)
    await session.flush()
    await audit.record(session, actor, "loan.fund_covered", "loan", loan.id,
                       after={"program_id": program_id, "cover_id": cover_id})
    return loan


async def register_pledge(session: AsyncSession, actor: Actor, loan_id: str, data: PledgeRegistrationIn) -> Loan:
    loan = await lending_bank_loan(session, actor, loan_id)
    states.ensure("loan", loan, "register_pledge")
    today = await business_date(session)
    if data.registered_on > today:
        raise ValidationFailed.at(["body", "registered_on"], f"a registration cannot be dated after today ({today})")
    await _require_guarantee(session, loan, "pledge registration")
    assets = await lock_assets(session, loan.asset_ids)
    if any(a.owner_org_id != loan.borrower_org_id for a in assets):
        raise InvalidState("an asset of the bundle no longer belongs to the borrower")
    await encumbrances.encumber(session, actor, assets, "pledge", loan.id, holder_org_id=loan.bank_org_id,
                                since=data.registered_on)
    await record_pledge_amount(session, loan.asset_ids, loan.principal, actor=actor)
    loan.pledge_registration_no, loan.pledge_registered_on = data.registration_no, data.registered_on
    await states.apply(session, actor, "loan", loan, "register_pledge", registration_no=data.registration_no,
                       registered_on=data.registered_on)
    await session.flush()
    return loan


# ---------------------------------------------------------------- views


async def open_alerts(session: AsyncSession, loan_id: str) -> list[LoanCollateralAlert]:
    stmt = select(LoanCollateralAlert).where(LoanCollateralAlert.loan_id == loan_id).order_by(
        LoanCollateralAlert.id)
    return list((await session.exec(stmt)).all())


async def pledged_assets(session: AsyncSession, loan: Loan) -> Sequence[Asset]:
    return list((await session.exec(select(Asset).where(col(Asset.id).in_(loan.asset_ids))
                                    .order_by(Asset.id))).all())


# ---------------------------------------------------------------- disbursement


async def disburse(session: AsyncSession, actor: Actor, loan_id: str) -> Loan:
    """Pay the principal from the bank to the borrower through the gateway; the loan becomes active when
    the payment settles (at once with the local provider; on the provider's webhook otherwise)."""
    loan = await lending_bank_loan(session, actor, loan_id)
    states.ensure("loan", loan, "disburse")
    if loan.disbursement_payment_id is not None:
        raise InvalidState(f"loan {loan.id} is already being disbursed")
    await _require_guarantee(session, loan, "disbursement")
    payment = await ports.pay(session, actor, purpose="disbursement", payer_org_id=loan.bank_org_id,
                              payee_org_id=loan.borrower_org_id, amount=loan.principal, loan_id=loan.id,
                              key="disbursement")
    loan.disbursement_payment_id = payment.id
    session.add(loan)
    await session.flush()
    if payment.status == "succeeded" and loan.status == "secured":
        await activate(session, actor, loan)
    return loan


async def activate(session: AsyncSession, actor: Actor, loan: Loan) -> None:
    """The disbursement settled: fix the schedule from today's business date and start the loan."""
    today = await business_date(session)
    rows = book.new_rows(loan, today)
    session.add_all(rows)
    loan.disbursed_on, loan.maturity_on = today, rows[-1].due_on
    loan.next_due_on = rows[0].due_on
    loan.outstanding_principal = loan.principal
    await states.apply(session, actor, "loan", loan, "disburse", disbursed_on=today,
                       payment_id=loan.disbursement_payment_id, installments=len(rows))
    session.add(LoanClassification(loan_id=loan.id, business_date=today, from_classification=None,
                                   to_classification=loan.classification, days_past_due=0))
    await session.flush()
    await ports.update_fund(session, loan)


# ---------------------------------------------------------------- repayment


async def repay(session: AsyncSession, actor: Actor, loan_id: str, amount: int) -> LoanRepayment:
    if not actor.is_kind(*BORROWER_KINDS):
        raise Forbidden("only the borrower repays a loan")
    loan = await _lock_loan(session, loan_id)
    if loan.borrower_org_id != actor.org_id:
        raise NotFound("loan not found")
    if loan.status not in PERFORMING:
        raise InvalidState(f"loan {loan.id} is {loan.status}; it takes no repayments")
    today = await business_date(session)
    rows = await installments(session, loan.id, lock=True)
    pos = book.position(loan, rows, today)
    in_flight = sum((await session.exec(select(LoanRepayment.amount).where(
        LoanRepayment.loan_id == loan.id, LoanRepayment.status == "processing"))).all())
    if amount + in_flight > pos.payoff_amount:
        raise ValidationFailed.at(["body", "amount"],
                                  f"{amount} is more than the {pos.payoff_amount - in_flight} that "
                                  f"repays the loan in full today")
    repayment = LoanRepayment(loan_id=loan.id, amount=amount, paid_on=today)
    session.add(repayment)
    await session.flush()
    payment = await ports.pay(session, actor, purpose="repayment", payer_org_id=loan.borrower_org_id,
                              payee_org_id=loan.bank_org_id, amount=amount, loan_id=loan.id, key=repayment.id)
    repayment.payment_id = payment.id
    session.add(repayment)
    await session.flush()
    if payment.status == "succeeded" and repayment.status == "processing":
        await land(session, actor, loan, repayment)
    return repayment


async def land(session: AsyncSession, actor: Actor, loan: Loan, repayment: LoanRepayment) -> None:
    """The borrower's payment settled: allocate it, update the loan, and close it when nothing is owed."""
    today = await business_date(session)
    rows = await installments(session, loan.id, lock=True)
    pos = book.position(loan, rows, today)
    amount = min(repayment.amount, pos.payoff_amount)  # a late webhook never over-applies
    landing = book.land_repayment(loan, rows, amount, today)
    session.add_all(rows)
    repayment.penalty, repayment.interest = landing.penalty, landing.interest
    repayment.principal, repayment.prepaid_principal = landing.principal, landing.prepaid_principal
    repayment.amount = amount
    repayment.status = "succeeded"
    session.add(repayment)
    loan.outstanding_principal = book.outstanding_principal(rows)
    await audit.record(session, actor, "loan.repaid", "loan", loan.id,
                       after={"repayment_id": repayment.id, "amount": amount, "penalty": landing.penalty,
                              "interest": landing.interest, "principal": landing.principal,
                              "prepaid_principal": landing.prepaid_principal,
                              "outstanding_principal": loan.outstanding_principal})
    await refresh_position(session, actor, loan, rows, today)
    if book.settled(loan, rows):
        loan.next_due_on = None
        loan.closed_on = today
        await states.apply(session, actor, "loan", loan, "repay_in_full", repayment_id=repayment.id)
        await encumbrances.release(session, actor, loan.id, "pledge")
    await session.flush()
    await ports.update_fund(session, loan)


async def refresh_position(session: AsyncSession, actor: Actor, loan: Loan, rows: Sequence[LoanInstallment],
                           today: date) -> None:
    """Recompute days past due, classification, next due date and active ⇄ overdue from the rows."""
    pos = book.position(loan, rows, today)
    loan.days_past_due = pos.days_past_due
    loan.next_due_on = pos.next_due.due_on if pos.next_due else None
    await set_classification(session, loan, accrual.classify(pos.days_past_due).value, today)
    if pos.days_past_due > 0 and states.can("loan", loan.status, "fall_overdue"):
        await states.apply(session, actor, "loan", loan, "fall_overdue", days_past_due=pos.days_past_due)
    elif pos.days_past_due == 0 and states.can("loan", loan.status, "cure"):
        await states.apply(session, actor, "loan", loan, "cure")
    session.add(loan)


async def set_classification(session: AsyncSession, loan: Loan, classification: str, today: date) -> None:
    if classification != loan.classification:
        session.add(LoanClassification(loan_id=loan.id, business_date=today,
                                       from_classification=loan.classification,
                                       to_classification=classification, days_past_due=loan.days_past_due))
        before = loan.classification
        loan.classification = classification
        session.add(loan)
        await audit.record(session, SYSTEM, "loan.classification_changed", "loan", loan.id,
                           before={"classification": before},
                           after={"classification": classification, "days_past_due": loan.days_past_due})


# ---------------------------------------------------------------- views


async def describe_loan(session: AsyncSession, loan: Loan) -> dict[str, Any]:
    today = await business_date(session)
    rows = await installments(session, loan.id)
    pos = book.position(loan, rows, today)
    guarantee, insurance = await _security(session, loan.id)
    out = loan.model_dump()
    out.update(
        next_due=({"n": pos.next_due.n, "due_on": pos.next_due.due_on, "amount": pos.next_due_amount}
                  if pos.next_due and loan.status in PERFORMING else None),
        overdue_amount=pos.overdue_amount, penalty_outstanding=pos.penalty_outstanding,
        payoff_amount=pos.payoff_amount if loan.status in PERFORMING else 0,
        pledge=({"registration_no": loan.pledge_registration_no, "registered_on": loan.pledge_registered_on}
                if loan.pledge_registration_no else None),
        guarantee=guarantee.model_dump(exclude={"created_at"}) if guarantee else None,
        insurance=insurance.model_dump(exclude={"created_at"}) if insurance else None,
        fund_cover=({"program_id": loan.fund_program_id, "cover_id": loan.fund_cover_id}
                    if loan.fund_cover_id else None),
        collateral_alerts=[a.model_dump() for a in await open_alerts(session, loan.id)],
        collateral=await ports.collateral_position(session, loan),
        classification_history=[h.model_dump() for h in await classification_history(session, loan.id)],
    )
    return out


async def classification_history(session: AsyncSession, loan_id: str) -> list[LoanClassification]:
    stmt = select(LoanClassification).where(LoanClassification.loan_id == loan_id).order_by(
        col(LoanClassification.business_date), col(LoanClassification.created_at), col(LoanClassification.id))
    return list((await session.exec(stmt)).all())


async def describe_schedule(session: AsyncSession, loan: Loan) -> dict[str, Any]:
    rows = await installments(session, loan.id)
    return {"loan_id": loan.id, "installments": [
        {**r.model_dump(), "penalty_accrued": book.penalty_accrued(loan, r)} for r in rows]}


# ---------------------------------------------------------------- default and compensation


async def declare_default(session: AsyncSession, actor: Actor, loan_id: str) -> Loan:
    """The lending bank declares default once days past due reach the covering programme's threshold."""
    loan = await lending_bank_loan(session, actor, loan_id)
    states.ensure("loan", loan, "declare_default")
    threshold = await fund.default_days(session, loan.id)
    if loan.days_past_due < threshold:
        raise InvalidState(f"loan {loan.id} is {loan.days_past_due} days past due; default needs {threshold}",
                           extra={"days_past_due": loan.days_past_due, "default_days": threshold})
    # The loss the parties share is the principal still outstanding at default (interest and penalty stay
    # the bank's own claim on the borrower and the collateral).
    loan.defaulted_on = await business_date(session)
    loan.loss_at_default = loan.outstanding_principal
    await states.apply(session, actor, "loan", loan, "declare_default", days_past_due=loan.days_past_due,
                       loss_at_default=loan.loss_at_default)
    await session.flush()
    await ports.update_fund(session, loan)
    return loan


async def claim_compensation(session: AsyncSession, actor: Actor, loan_id: str) -> Any:
    loan = await lending_bank_loan(session, actor, loan_id)
    if loan.status != "defaulted":
        raise InvalidState(f"loan {loan.id} is {loan.status}; compensation is claimed after default")
    if loan.claim_id is not None:
        raise InvalidState(f"loan {loan.id} already has compensation claim {loan.claim_id}")
    guarantee, insurance = await _security(session, loan.id)
    parties = []
    if guarantee:
        parties.append(fund.Party("guarantor", guarantee.guarantor_org_id, guarantee.share_bps))
    if insurance:
        parties.append(fund.Party("insurer", insurance.insurer_org_id, insurance.share_bps))
    assert loan.loss_at_default is not None
    claim = await fund.open_claim(session, actor, fund.ClaimRequest(
        loan_id=loan.id, bank_org_id=loan.bank_org_id, borrower_org_id=loan.borrower_org_id,
        principal=loan.principal, loss=loan.loss_at_default, parties=parties))
    loan.claim_id = claim.id
    session.add(loan)
    await audit.record(session, actor, "loan.compensation_claimed", "loan", loan.id,
                       after={"claim_id": claim.id, "loss": claim.loss})
    await session.flush()
    return claim


async def compensated(session: AsyncSession, loan_id: str, claim_id: str) -> None:
    """The fund paid the claim (COMPENSATION_PAID)."""
    loan = await _lock_loan(session, loan_id)
    if states.can("loan", loan.status, "compensate"):
        await states.apply(session, SYSTEM, "loan", loan, "compensate", claim_id=claim_id)
        await session.flush()


async def recoveries(session: AsyncSession, loan: Loan) -> list[dict[str, Any]]:
    return [fund.describe_recovery(r) for r in await fund.recoveries_for_loan(session, loan.id)]
