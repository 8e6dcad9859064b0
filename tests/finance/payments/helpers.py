"""Helpers for payment tests: orgs, sessions, a recording callback, signed webhook deliveries."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import CurrentActor, SessionDep
from api.money import settle_then_read
from api.routing import SettleDep, TransactionalRoute
from finance.payments import service
from finance.payments.models import Payment, PaymentEvent
from finance.payments.schemas import PaymentOut
from finance.payments.webhooks import signature_header
from kernel import audit, outbox
from kernel.actor import SYSTEM, Actor
from kernel.audit import AuditEvent
from tests.helpers import Party


@asynccontextmanager
async def db(app: Any) -> AsyncIterator[AsyncSession]:
    """A session whose ``commit`` behaves like a request's ``settle()``: the commit, then the provider calls
    it queued (run at once, as the route does), then its objects re-read as they now stand."""
    async with app.state.session_factory() as session:
        commit = session.commit

        async def commit_and_settle() -> None:
            await commit()
            await settle_now(app, session)

        session.commit = commit_and_settle  # type: ignore[method-assign]
        yield session


async def settle_now(app: Any, session: AsyncSession) -> None:
    await outbox.run_now(app.state.session_factory, outbox.take_now(session))
    for obj in list(session.identity_map.values()):
        await session.refresh(obj)
    session.expunge_all()  # keep what was read, and end the reading transaction (SQLite's write lock)
    await session.rollback()


def actor_of(party: Party, role: str = "org_admin") -> Actor:
    return Actor(user_id=party.user_id, org_id=party.org_id, org_kind=party.kind, role=role)


def object_type() -> str:
    """A fresh object type, so callbacks registered by one test never fire in another."""
    return f"t_{uuid.uuid4().hex[:16]}"


def watch(kind: str) -> None:
    """Register callbacks for ``kind`` that write an audit row ``cb.<outcome>`` in the same transaction,
    so what the callbacks saw is counted in the database (and vanishes with a rollback)."""

    def recorder(outcome: str) -> Any:
        async def callback(session: AsyncSession, payment: Payment) -> None:
            await audit.record(session, SYSTEM, f"cb.{outcome}", "payment", payment.id,
                               after={"status": payment.status, "amount": payment.amount})

        return callback

    service.on_settled(kind)(recorder("settled"))
    service.on_failed(kind)(recorder("failed"))
    service.on_refunded(kind)(recorder("refunded"))


async def count_audit(app: Any, action: str, object_id: str | None = None) -> int:
    async with db(app) as session:
        stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        if object_id is not None:
            stmt = stmt.where(AuditEvent.object_id == object_id)
        return (await session.exec(stmt)).one()


async def all_payments(app: Any) -> list[Payment]:
    async with db(app) as session:
        return list((await session.exec(select(Payment).order_by(Payment.id))).all())


async def all_events(app: Any) -> list[PaymentEvent]:
    async with db(app) as session:
        return list((await session.exec(select(PaymentEvent).order_by(PaymentEvent.id))).all())


async def reload(app: Any, payment_id: str) -> Payment:
    async with db(app) as session:
        payment = await session.get(Payment, payment_id)
        assert payment is not None
        return payment


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {"id": event_id or f"evt_{uuid.uuid4().hex[:20]}", "object": "event", "type": kind,
            "created": int(time.time()), "data": {"object": obj}}


async def deliver(client: httpx.AsyncClient, payload: dict[str, Any] | bytes, secrets: list[str], *,
                  timestamp: int | None = None, header: str | None = None) -> httpx.Response:
    """POST a webhook the way the provider does: raw JSON bytes signed with ``secrets``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    sig = header if header is not None else signature_header(body, secrets, ts)
    return await client.post("/payments/webhook", content=body,
                              headers={"Gateway-Signature": sig, "Content-Type": "application/json"})


# A test-only endpoint that moves money the way a domain endpoint (POST /deals/{id}/pay) will: charge,
# then answer 402 if declined. Mounted on the app once, under a path no real route uses.
TEST_CHARGE_PATH = "/api/v1/_tests/payments/charge"


class ChargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payee_org_id: str
    amount: int
    object_type: str
    object_id: str
    escrow: bool = False
    reference: str = "default"


_test_router = APIRouter(route_class=TransactionalRoute)


@_test_router.post(TEST_CHARGE_PATH, status_code=201, response_model=PaymentOut)
async def _test_charge(body: ChargeIn, actor: CurrentActor, session: SessionDep, response: Response,
                       settle: SettleDep) -> Any:
    payment = await service.charge(session, actor, purpose="deal", payer_org_id=actor.org_id,
                                   payee_org_id=body.payee_org_id, amount=body.amount,
                                   object_type=body.object_type, object_id=body.object_id, escrow=body.escrow,
                                   idempotency_key=body.reference)
    return await settle_then_read(settle, session, response, payment.id)


def mount_test_charge(app: Any) -> str:
    if not any(getattr(r, "path", None) == TEST_CHARGE_PATH for r in app.router.routes):
        app.include_router(_test_router)
    return TEST_CHARGE_PATH.removeprefix("/api/v1")
