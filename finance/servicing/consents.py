"""The pledgee's consent (Civil Code art. 444), as finance sees it: the borrower asks, the lending bank
decides, and the proceeds of the consented deal go to early repayment or into escrow (提存).

The consent itself is a market fact (``market.assets.consents``) so that market can check it without
importing finance; this module checks who may ask and decide (the loan's borrower and bank), and routes
the money once the deal is recorded (``proceeds_payee`` / ``proceeds_received``, called by
``finance.deal_payments`` for ``proceeds_to = "pledge:<consent id>"``).
"""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import access, repayments, states
from finance.loans.models import Loan, LoanRepayment
from finance.payments import service as payments
from finance.payments.models import Payment
from finance.servicing.models import ESCROW, LoanEscrow
from finance.servicing.schemas import ConsentIn, ConsentOut, EscrowOut
from kernel import audit, events
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState, ValidationFailed
from market.assets.consents import CONSENT, PROCEEDS_KIND, PledgeConsent
from market.trading.models import Deal

PLEDGED = ("secured", "active", "overdue")
REQUESTED = "pledge_consent.requested"
DECIDED = "pledge_consent.decided"


def describe(c: PledgeConsent) -> ConsentOut:
    return ConsentOut(id=c.id, loan_id=c.pledge_ref, bank_org_id=c.holder_org_id, borrower_org_id=c.owner_org_id,
                      action=c.action, asset_ids=list(c.asset_ids), object_id=c.object_id, proceeds=c.proceeds,
                      note=c.note, status=c.status, requested_on=c.requested_on, decided_on=c.decided_on,
                      decision_note=c.decision_note)


async def request(session: AsyncSession, actor: Actor, data: ConsentIn) -> PledgeConsent:
    if not actor.is_kind("sme"):
        raise Forbidden("only the borrower asks its bank for consent")
    loan = await get_or_404(session, Loan, data.loan_id, lock=True,
                            visible=lambda loan: loan.borrower_org_id == actor.org_id)
    if loan.status not in PLEDGED or loan.pledge_registration_no is None:
        raise InvalidState(f"loan {loan.id} is {loan.status}; consent is asked while its pledge stands")
    asset_ids = list(data.asset_ids or loan.asset_ids)
    if not set(asset_ids) <= set(loan.asset_ids) or len(set(asset_ids)) != len(asset_ids):
        raise ValidationFailed.at(["body", "asset_ids"], "only assets this loan pledges, each once")
    consent = PledgeConsent(pledge_ref=loan.id, holder_org_id=loan.bank_org_id, owner_org_id=loan.borrower_org_id,
                            action=data.action, asset_ids=asset_ids, object_id=data.object_id,
                            proceeds=data.proceeds, note=data.note, requested_on=await business_date(session))
    CONSENT.start(consent)
    session.add(consent)
    await session.flush()
    await audit.record(session, actor, REQUESTED, "pledge_consent", consent.id,
                       after=consent.model_dump(exclude={"created_at", "updated_at"}))
    await events.publish(session, REQUESTED, {"consent_id": consent.id, "loan_id": loan.id,
                                              "bank_org_id": loan.bank_org_id})
    return consent


def _visible(actor: Actor, c: PledgeConsent) -> bool:
    return actor.is_platform_admin or actor.org_id in (c.holder_org_id, c.owner_org_id)


async def get(session: AsyncSession, actor: Actor, consent_id: str) -> PledgeConsent:
    return await get_or_404(session, PledgeConsent, consent_id, visible=lambda c: _visible(actor, c),
                            label="pledge consent")


async def list_for_loan(session: AsyncSession, actor: Actor, loan_id: str) -> list[PledgeConsent]:
    loan = await access.get_loan(session, actor, loan_id)
    stmt = select(PledgeConsent).where(PledgeConsent.pledge_ref == loan.id).order_by(PledgeConsent.id)
    return [c for c in (await session.exec(stmt)).all() if _visible(actor, c) or actor.is_kind("fund")]


async def decide(session: AsyncSession, actor: Actor, consent_id: str, action: str, note: str | None) -> PledgeConsent:
    if not actor.is_kind("bank"):
        raise Forbidden("only the pledgee bank decides on consent")
    consent = await get_or_404(session, PledgeConsent, consent_id, lock=True,
                               visible=lambda c: c.holder_org_id == actor.org_id, label="pledge consent")
    consent.decided_on, consent.decision_note = await business_date(session), note
    await CONSENT.apply(session, actor, consent, action, note=note)
    await events.publish(session, DECIDED, {"consent_id": consent.id, "loan_id": consent.pledge_ref,
                                            "status": consent.status})
    await session.flush()
    return consent


# ---------------------------------------------------------------- the proceeds of a consented deal


async def proceeds_payee(session: AsyncSession, consent_id: str) -> str:
    """prepay: the lending bank receives the price (it repays the loan); escrow: the seller, but the money
    stays held in escrow until the bank releases it."""
    consent = await session.get(PledgeConsent, consent_id)
    if consent is None:
        raise InvalidState(f"pledge consent {consent_id} not found")
    return consent.holder_org_id if consent.proceeds == "prepay" else consent.owner_org_id


def keeps_escrow(proceeds_to: str | None, consent: PledgeConsent | None) -> bool:
    return bool(proceeds_to and proceeds_to.startswith(f"{PROCEEDS_KIND}:") and consent and consent.proceeds == "escrow")


async def proceeds_received(session: AsyncSession, consent_id: str, deal: Deal, payment: Payment) -> None:
    """The consented deal is recorded: repay the loan early from the price, or keep it in escrow."""
    consent = await session.get(PledgeConsent, consent_id)
    assert consent is not None
    loan = await access.lock_loan(session, consent.pledge_ref)
    today = await business_date(session)
    received = payment.amount - payment.platform_fee  # the platform's service fee is the seller's to bear
    if consent.proceeds == "escrow":
        if (await session.exec(select(LoanEscrow).where(LoanEscrow.deal_id == deal.id))).first() is not None:
            return  # the bank released what was held: the gateway paid it to the seller, nothing to route
        held = LoanEscrow(loan_id=loan.id, consent_id=consent.id, deal_id=deal.id, payment_id=payment.id,
                          amount=received, held_on=today)
        ESCROW.start(held)
        session.add(held)
        await session.flush()
        await audit.record(session, SYSTEM, "loan_escrow.held", "loan_escrow", held.id,
                           after={"loan_id": loan.id, "deal_id": deal.id, "amount": received})
        return
    applied = 0
    if loan.status in states.PERFORMING:
        applied = min(received, (await repayments.payoff_on(session, loan, today, lock=True)).total)
    if applied:
        repayment = LoanRepayment(loan_id=loan.id, amount=applied, paid_on=today, source="deal", deal_id=deal.id,
                                  payment_id=payment.id)
        states.REPAYMENT.start(repayment)
        session.add(repayment)
        await session.flush()
        await repayments.apply_repayment(session, SYSTEM, loan, repayment)
    surplus = received - applied
    if surplus:
        # More than the loan owed: the rest is the borrower's, paid on by the bank that received it.
        await payments.payout(session, SYSTEM, payer_org_id=loan.bank_org_id, payee_org_id=loan.borrower_org_id,
                              amount=surplus, object_type="loan_proceeds", object_id=deal.id, purpose="payout",
                              idempotency_key="surplus", description=f"surplus of deal {deal.contract_no}")
    await audit.record(session, SYSTEM, "loan.proceeds_prepaid", "loan", loan.id,
                       after={"deal_id": deal.id, "consent_id": consent.id, "applied": applied, "surplus": surplus})


def describe_escrow(e: LoanEscrow) -> EscrowOut:
    return EscrowOut.model_validate(e, from_attributes=True)


async def escrows(session: AsyncSession, actor: Actor, loan_id: str) -> list[LoanEscrow]:
    loan = await access.get_loan(session, actor, loan_id)
    stmt = select(LoanEscrow).where(LoanEscrow.loan_id == loan.id).order_by(LoanEscrow.id)
    return list((await session.exec(stmt)).all())


async def release(session: AsyncSession, actor: Actor, escrow_id: str) -> LoanEscrow:
    """The bank lets the held proceeds go on to the borrower (through the gateway)."""
    if not actor.is_kind("bank"):
        raise Forbidden("only the pledgee bank releases escrowed proceeds")
    peek = await get_or_404(session, LoanEscrow, escrow_id, label="loan escrow")
    await access.lending_bank_loan(session, actor, peek.loan_id)
    held = await get_or_404(session, LoanEscrow, escrow_id, lock=True, label="loan escrow")
    ESCROW.ensure(held, "release")
    payment = await session.get(Payment, held.payment_id)
    assert payment is not None
    await payments.release_escrow(session, payment, actor)
    held.released_on = await business_date(session)
    await ESCROW.apply(session, actor, held, "release", payment_id=payment.id, amount=held.amount)
    await session.flush()
    return held
