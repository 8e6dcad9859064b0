"""Paying for deals through the payment gateway (escrow) and cancelling unrecorded ones. Thin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from api.deps import CurrentActor, SessionDep
from api.money import settle_then_read
from api.routing import AreaRouter, SettleDep, TransactionalRoute
from finance import deal_payments
from finance.payments.schemas import PaymentOut
from market.trading.schemas import DealOut

router = AreaRouter(tags=["deals"], route_class=TransactionalRoute)


class DealPaymentOut(BaseModel):
    payment: PaymentOut | None
    deal: DealOut


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


@router.post("/deals/{deal_id}/pay", status_code=201, response_model=DealPaymentOut,
             responses={202: {"model": DealPaymentOut, "description": "the provider has not answered yet"}},
             summary="Pay a deal through the gateway into escrow (buyer); recorded once settled. "
                     "Paying again returns the payment already made (200); 202 while the provider is processing")
async def pay(deal_id: str, actor: CurrentActor, session: SessionDep, response: Response, settle: SettleDep,
              idempotency_key: Annotated[str | None, Header(max_length=255)] = None) -> dict[str, Any]:
    payment, deal, created = await deal_payments.pay_deal(session, actor, deal_id, request_key=idempotency_key)
    if not created:
        response.status_code = 200
        return {"payment": payment, "deal": deal}
    return {"payment": await settle_then_read(settle, session, response, payment.id, deal), "deal": deal}


@router.post("/deals/{deal_id}/cancel", response_model=DealPaymentOut,
             summary="Cancel an unrecorded deal (buyer or platform admin); money paid is refunded and the "
                     "deal is cancelled when the refund lands")
async def cancel(deal_id: str, body: CancelIn, actor: CurrentActor, session: SessionDep,
                 settle: SettleDep) -> dict[str, Any]:
    deal, payment = await deal_payments.cancel_deal(session, actor, deal_id, body.reason)
    await settle()  # the refund is asked of the provider after the first phase commits
    await session.refresh(deal)
    if payment is not None:
        await session.refresh(payment)
    return {"payment": payment, "deal": deal}
