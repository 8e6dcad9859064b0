from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from api.deps import AdminActor, CurrentActor, Cursor, Limit, SessionDep, SettingsDep
from api.money import settle_then_read
from api.routing import AreaRouter, SettleDep, TransactionalRoute
from finance.payments import driver, service, webhooks
from finance.payments.models import Payment
from finance.payments.schemas import PaymentOut, PayoutIn, Purpose, Status, WebhookAck
from kernel.pagination import Page

router = AreaRouter(tags=["payments"], route_class=TransactionalRoute)


@router.post("/payments/webhook", response_model=WebhookAck,
             summary="Provider events, signed with Gateway-Signature (no bearer token)")
async def webhook(request: Request, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    # The signature covers the raw bytes, so the body is read as sent, not parsed by FastAPI.
    body = await request.body()
    return await webhooks.receive(session, settings, body, request.headers.get(webhooks.SIGNATURE_HEADER))


@router.post("/payments/payouts", status_code=201, response_model=PaymentOut,
             responses={202: {"model": PaymentOut, "description": "the provider has not answered yet"}},
             summary="Pay an organisation from the platform's balance (platform admin)")
async def create_payout(body: PayoutIn, actor: AdminActor, session: SessionDep, response: Response,
                        settle: SettleDep) -> Any:
    payment = await service.manual_payout(session, actor, payee_org_id=body.payee_org_id, amount=body.amount,
                                          object_type=body.object_type, object_id=body.object_id,
                                          purpose=body.purpose, idempotency_key=body.reference,
                                          description=body.description)
    return await settle_then_read(settle, session, response, payment.id)


@router.get("/payments", response_model=Page[PaymentOut], summary="The caller's organisation's payments")
async def list_payments(
    session: SessionDep, actor: CurrentActor, limit: Limit = 20, cursor: Cursor = None,
    object_id: Annotated[str | None, Query(max_length=40)] = None,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    purpose: Purpose | None = None, status: Status | None = None,
) -> Page[PaymentOut]:
    filters = service.PaymentFilters(object_id=object_id, object_type=object_type, purpose=purpose, status=status)
    rows, has_more, next_cursor = await service.list_for_party(session, actor, filters, limit, cursor)
    return Page[PaymentOut](data=[PaymentOut.model_validate(p, from_attributes=True) for p in rows],
                       has_more=has_more, next_cursor=next_cursor)


@router.get("/payments/{payment_id}", response_model=PaymentOut, summary="One payment (payer or payee)")
async def get_payment(payment_id: str, actor: CurrentActor, session: SessionDep) -> Any:
    return await service.get_for_party(session, actor, payment_id)


@router.post("/payments/{payment_id}/sync", response_model=PaymentOut,
             summary="Ask the provider where a processing payment stands (payer or payee)")
async def sync_payment(payment_id: str, actor: CurrentActor, session: SessionDep, request: Request) -> Any:
    found = (await service.get_for_party(session, actor, payment_id)).id
    await session.rollback()  # no transaction open while the provider is asked
    await driver.sync(request.app.state.session_factory, found)
    return await session.get(Payment, found, populate_existing=True)
