"""Paying for a deal: the buyer's money goes through the gateway into escrow, market records the deal,
and the escrow goes on to whoever the deal's proceeds belong to.

Finance drives market here, never the other way round (market only exposes ``settle_deal`` and
``cancel_deal`` and publishes ``deal.recorded``). The flow, every step inside the transaction that moved
the money (the pay request with the local provider; the webhook request with the http provider)::

    pay_deal (buyer)          payments.charge(purpose deal, payer buyer, payee = proceeds payee, escrow)
                              402 payment_failed on a decline: nothing is kept, the buyer may try again
    on_settled("deal")        market settle_deal → recorded, or paid with blocked_reason (the law forbids
                              recording now, e.g. a pledge registered meanwhile): the money stays held
    deal.recorded             (from settle_deal, or a later record_deal once the block is lifted)
                              → release_escrow to the payee; for a disposal (proceeds_to "loan:<id>")
                              → finance.loans.disposal.proceeds_received (pledge released, recoveries
                              shared through the gateway, loan closed)
    cancel (buyer, admin)     a paid deal that cannot be recorded: refund the escrow; on_refunded("deal")
                              → market cancel_deal (its listing reopens, its auction lot becomes unsold)
    late money                a payment that settles for a deal cancelled or paid meanwhile is refunded

The payee is the seller (the assets' owner) unless the deal names where its proceeds go: a disposal
auction run by a pledgee bank says ``loan:<id>`` and the lending bank receives the money, to share it
among the loss bearers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans import disposal
from finance.payments import service as payments
from finance.payments.models import Payment
from finance.servicing import consents as pledge_consents
from kernel import audit, events
from kernel.actor import SYSTEM, Actor
from kernel.db import get_or_404
from kernel.errors import Forbidden, InvalidState
from kernel.ids import new_id
from market.assets import consents as market_consents
from market.trading import deals
from market.trading.models import Deal

DEAL = "deal"
LIVE = ("processing", "succeeded")


async def _lock_deal(session: AsyncSession, deal_id: str) -> Deal | None:
    """The deal a payment names, locked; None when there is none (a callback has nothing to move)."""
    stmt = select(Deal).where(Deal.id == deal_id).with_for_update().execution_options(populate_existing=True)
    return (await session.exec(stmt)).first()


async def _lock_party_deal(session: AsyncSession, actor: Actor, deal_id: str) -> Deal:
    """The deal, locked, for its parties and the platform admin (anyone else: not found)."""
    return await get_or_404(session, Deal, deal_id, lock=True,
                            visible=lambda deal: deals.is_party(deal, actor) or actor.is_platform_admin)


async def proceeds_payee(session: AsyncSession, deal: Deal) -> str:
    """Who receives the deal's money: the seller, or the route its ``proceeds_to`` names."""
    if deal.proceeds_to is None:
        return deal.seller_org_id
    kind, _, ref = deal.proceeds_to.partition(":")
    if kind == disposal.PROCEEDS_KIND:
        return await disposal.proceeds_payee(session, ref)
    if kind == market_consents.PROCEEDS_KIND:
        return await pledge_consents.proceeds_payee(session, ref)
    # Never guess where money goes.
    raise InvalidState(f"deal {deal.id} names an unknown proceeds route {deal.proceeds_to!r}")


async def live_payment(session: AsyncSession, deal_id: str) -> Payment | None:
    """The buyer's payment in flight or made for a deal (at most one: pay_deal holds the deal's lock)."""
    stmt = (select(Payment).where(Payment.purpose == DEAL, Payment.object_type == DEAL,
                                  Payment.object_id == deal_id, col(Payment.status).in_(LIVE))
            .order_by(col(Payment.id)))
    return (await session.exec(stmt)).first()


def attempt_key(request_key: str | None) -> str:
    """The payment's idempotency key for this attempt.

    A client that retries with the same ``Idempotency-Key`` reaches the provider's stored result (no
    second charge even if our transaction was lost); without one, each attempt after a decline is new.
    """
    if request_key:
        return "h_" + hashlib.sha256(request_key.encode()).hexdigest()[:40]
    return new_id("try")


async def pay_deal(session: AsyncSession, actor: Actor, deal_id: str, *,
                   request_key: str | None = None) -> tuple[Payment, Deal, bool]:
    """The buyer pays. Returns (payment, deal, created): a second call returns the payment already made."""
    deal = await _lock_party_deal(session, actor, deal_id)  # serialises two pay requests of one deal
    if actor.org_id != deal.buyer_org_id:
        raise Forbidden("only the buyer pays a deal")
    if deal.status == "recorded":
        raise InvalidState("the deal is already paid and recorded", extra={"payment_id": deal.payment_id})
    existing = await live_payment(session, deal.id)
    if existing is not None:
        return existing, deal, False
    if deal.status != "awaiting_payment":
        raise InvalidState(f"a deal that is {deal.status.replace('_', ' ')} cannot be paid")
    if deal.amount <= 0:
        raise InvalidState("a deal without an amount is not paid through the gateway")
    payee = await proceeds_payee(session, deal)
    payment = await payments.charge(session, actor, purpose=DEAL, payer_org_id=deal.buyer_org_id,
                                    payee_org_id=payee, amount=deal.amount, object_type=DEAL, object_id=deal.id,
                                    escrow=True, idempotency_key=attempt_key(request_key),
                                    description=f"Deal {deal.contract_no}", platform_fee=deal.platform_fee)
    payments.require_success(payment)  # 402: the route rolls back, nothing is kept
    await session.refresh(deal)
    return payment, deal, True


async def cancel_deal(session: AsyncSession, actor: Actor, deal_id: str, reason: str) -> tuple[Deal, Payment | None]:
    """Cancel a deal that was not recorded; money already paid is refunded (the deal is cancelled when
    the refund lands). The buyer or the platform admin; a paid deal only while its recording is blocked."""
    deal = await _lock_party_deal(session, actor, deal_id)
    if actor.org_id != deal.buyer_org_id and not actor.is_platform_admin:
        raise Forbidden("only the buyer or the platform admin cancels a deal")
    if deal.status in ("recorded", "cancelled"):
        raise InvalidState(f"a deal that is {deal.status} cannot be cancelled")
    payment = await live_payment(session, deal.id)
    if payment is None:
        await deals.cancel_deal(session, actor, deal.id, reason)
        return deal, None
    if payment.status == "processing":
        raise InvalidState("the buyer's payment is still being processed; cancel once it has settled or failed")
    await audit.record(session, actor, "deal.cancel_requested", "deal", deal.id,
                       after={"reason": reason, "payment_id": payment.id})
    payment = await payments.refund(session, payment, actor)
    await session.refresh(deal)
    return deal, payment


# --- what happens when the buyer's money moves -------------------------------------------------------------


@payments.on_settled(DEAL)
async def _deal_paid(session: AsyncSession, payment: Payment) -> None:
    deal = await _lock_deal(session, payment.object_id)
    if deal is None:
        return
    if deal.status == "cancelled" or (deal.payment_id is not None and deal.payment_id != payment.id):
        # The money arrived for a deal that no longer wants it: give it back.
        await audit.record(session, SYSTEM, "deal.late_payment_refunded", "deal", deal.id,
                           after={"payment_id": payment.id, "deal_status": deal.status})
        await payments.refund(session, payment)
        return
    await deals.settle_deal(session, SYSTEM, deal.id, payment.id)


@payments.on_refunded(DEAL)
async def _deal_refunded(session: AsyncSession, payment: Payment) -> None:
    deal = await _lock_deal(session, payment.object_id)
    if deal is None or deal.status not in ("awaiting_payment", "paid") or deal.payment_id not in (None, payment.id):
        return
    await deals.cancel_deal(session, SYSTEM, deal.id, "the buyer's payment was refunded")


@payments.on_failed(DEAL)
async def _deal_payment_failed(session: AsyncSession, payment: Payment) -> None:
    # The deal still awaits payment: the buyer may try again. Record why for the parties.
    await audit.record(session, SYSTEM, "deal.payment_failed", "deal", payment.object_id,
                       after={"payment_id": payment.id, "failure_code": payment.failure_code})


@events.subscribe(events.DEAL_RECORDED)
async def _deal_recorded(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Recorded (at settlement or later): the held money goes on to the payee, proceeds are routed."""
    deal = await session.get(Deal, payload["deal_id"])
    if deal is None or deal.payment_id is None:
        return
    payment = await session.get(Payment, deal.payment_id)
    if payment is None or payment.object_type != DEAL or payment.object_id != deal.id:
        return  # not paid through the gateway (recorded by other means)
    kind, _, ref = (deal.proceeds_to or "").partition(":")
    consent = await session.get(market_consents.PledgeConsent, ref) if kind == market_consents.PROCEEDS_KIND else None
    # Proceeds of a pledged asset put in escrow (提存) stay held until the pledgee bank releases them.
    if payment.escrow_state == "held" and not pledge_consents.keeps_escrow(deal.proceeds_to, consent):
        # Asked of the provider after commit; the proceeds are routed once it is released (below).
        await payments.release_escrow(session, payment)
        return
    await _route_proceeds(session, deal, payment)


@payments.on_released(DEAL)
async def _deal_escrow_released(session: AsyncSession, payment: Payment) -> None:
    deal = await session.get(Deal, payment.object_id)
    if deal is not None and deal.payment_id == payment.id:
        if payment.platform_fee:
            # The seller's side received the amount less the fee; the fee stays on the platform's account.
            await audit.record(session, SYSTEM, "deal.platform_fee_collected", "deal", deal.id,
                               after={"payment_id": payment.id, "platform_fee": payment.platform_fee,
                                      "paid_to_payee": payment.amount - payment.platform_fee})
        await _route_proceeds(session, deal, payment)


async def _route_proceeds(session: AsyncSession, deal: Deal, payment: Payment) -> None:
    kind, _, ref = (deal.proceeds_to or "").partition(":")
    consent = await session.get(market_consents.PledgeConsent, ref) if kind == market_consents.PROCEEDS_KIND else None
    if kind == disposal.PROCEEDS_KIND:
        await disposal.proceeds_received(session, ref, deal, payment)
    elif consent is not None:
        await pledge_consents.proceeds_received(session, ref, deal, payment)
