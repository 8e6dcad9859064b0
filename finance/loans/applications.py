"""Loan applications and the banks' competing offers on them, up to the accepted offer's loan.

Locks, in this order: the application, then its offers by id."""

from __future__ import annotations

from typing import Any, Literal

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import outbound, states
from finance.loans.access import BANK, BORROWER_KINDS
from finance.loans.models import Loan, LoanApplication, LoanOffer
from finance.loans.schemas import ApplicationIn, ApplicationOut, OfferIn
from finance.whitelists import service as whitelists
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, LimitExceeded, NotFound, ValidationFailed
from kernel.pagination import paginate
from market.assets import encumbrances
from market.assets.service import lock_assets

ApplicationStatus = Literal["submitted", "accepted", "withdrawn"]


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
        await outbound.check_valuation_covers(session, data.valuation_id, data.asset_ids)
    app = LoanApplication(applicant_org_id=actor.org_id, asset_ids=list(data.asset_ids), amount=data.amount,
                          term_months=data.term_months, purpose=data.purpose,
                          repayment_method=data.repayment_method, valuation_id=data.valuation_id,
                          submitted_on=await business_date(session))
    states.APPLICATION.start(app)
    session.add(app)
    await session.flush()
    await audit.record(session, actor, "loan_application.submitted", "loan_application", app.id,
                       after=app.model_dump(exclude={"created_at", "updated_at"}))
    return app


def visible_applications(actor: Actor) -> Any:
    """Which applications ``actor`` may see, as a SQL condition (None: all): an SME its own, a bank the
    submitted ones and those it offered on, the fund and the platform admin all."""
    if actor.is_platform_admin or actor.is_kind("fund"):
        return None
    if actor.is_kind(*BORROWER_KINDS):
        return LoanApplication.applicant_org_id == actor.org_id
    if actor.is_kind(BANK):
        offered = select(LoanOffer.application_id).where(LoanOffer.bank_org_id == actor.org_id)
        return or_(LoanApplication.status == "submitted", col(LoanApplication.id).in_(offered))
    return LoanApplication.applicant_org_id == actor.org_id


async def get_application(session: AsyncSession, actor: Actor, application_id: str, *,
                          lock: bool = False) -> LoanApplication:
    return await get_or_404(session, LoanApplication, application_id, lock=lock,
                            visible=visible_applications(actor), label="loan application")


async def list_applications(session: AsyncSession, actor: Actor, status: str | None, limit: int,
                            cursor: str | None) -> tuple[list[LoanApplication], bool, str | None]:
    if not actor.is_platform_admin and not actor.is_kind("fund", BANK, *BORROWER_KINDS):
        raise Forbidden("only SMEs, banks, the fund and the platform admin see loan applications")
    stmt = select(LoanApplication)
    visible = visible_applications(actor)
    if visible is not None:
        stmt = stmt.where(visible)
    if status:
        stmt = stmt.where(LoanApplication.status == status)
    return await paginate(session, stmt, LoanApplication.id, limit, cursor)


async def describe_application(session: AsyncSession, app: LoanApplication) -> ApplicationOut:
    out = app.model_dump()
    out["valuation"] = await outbound.valuation_summary(session, app.valuation_id) if app.valuation_id else None
    out["whitelist_ids"] = (await whitelists.listed_orgs(session, [app.applicant_org_id])).get(app.applicant_org_id, [])
    out["whitelisted"] = bool(out["whitelist_ids"])
    return ApplicationOut.model_validate(out)


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
                      **await outbound.lpr_pricing(session, today, data.term_months, data.annual_rate_bps))
    states.OFFER.start(offer)
    if data.requires_certified_valuation:
        if app.valuation_id is None:
            raise LimitExceeded("the bank's policy requires a certified valuation and the application has none",
                                extra={"rule": "certified_valuation"})
        base = await outbound.certified_borrowing_base(session, app.valuation_id)
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
    offer = await get_or_404(session, LoanOffer, offer_id, label="loan offer")
    # Lock the application first: two acceptances of any of its offers are serialised here.
    app = await get_or_404(session, LoanApplication, offer.application_id, lock=True)
    if app.applicant_org_id != actor.org_id:
        raise NotFound("loan offer not found")
    offers = list((await session.exec(select(LoanOffer).where(LoanOffer.application_id == app.id)
                                      .order_by(LoanOffer.id).with_for_update()
                                      .execution_options(populate_existing=True))).all())
    offer = next(o for o in offers if o.id == offer_id)
    states.APPLICATION.ensure(app, "accept_offer")
    states.OFFER.ensure(offer, "accept")
    today = await business_date(session)
    if offer.expires_on < today:
        raise InvalidState(f"loan offer {offer.id} expired on {offer.expires_on}")
    if offer.requires_certified_valuation:
        # The bank's policy held when it offered; the certificate must still hold when the contract is signed.
        base = await outbound.certified_borrowing_base(session, offer.valuation_id) if offer.valuation_id else None
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
                **await outbound.lpr_pricing(session, today, offer.term_months, offer.annual_rate_bps))
    states.LOAN.start(loan)
    session.add(loan)
    await session.flush()
    await audit.record(session, actor, "loan.created", "loan", loan.id,
                       after={"status": loan.status, "offer_id": offer.id, "principal": loan.principal,
                              "annual_rate_bps": loan.annual_rate_bps, "lpr_bps": loan.lpr_bps,
                              "lpr_effective_on": loan.lpr_effective_on, "spread_bps": loan.spread_bps})
    await states.OFFER.apply(session, actor, offer, "accept", loan_id=loan.id)
    for other in offers:
        if other.id != offer.id and states.OFFER.can(other.status, "decline"):
            await states.OFFER.apply(session, actor, other, "decline", reason="another offer accepted")
    app.loan_id = loan.id
    await states.APPLICATION.apply(session, actor, app, "accept_offer", offer_id=offer.id, loan_id=loan.id)
    await session.flush()
    return loan
