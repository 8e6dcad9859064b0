"""Moving money after commit: the outbox jobs that call the provider, and the reconciler.

``payments.call`` runs in three steps: read the payment (a short transaction, closed), call the provider
with no transaction open, then settle under the payment's lock in the job's own transaction (where the
domain callbacks run, exactly once with the job's "done" mark). A provider that fails (5xx, timeouts
after the gateway's own retries) fails the job, and the outbox retries it with backoff and the same
provider idempotency key, so money moves once however often we ask.

The reconciler (``payments.reconcile``, periodic on the workers) re-drives what is left hanging longer than
``IPM_PAYMENT_RECONCILE_AFTER_SECONDS``: a payment still ``processing`` (asked again, or its status
retrieved), an escrow release or a refund requested but never answered.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.payments import service
from finance.payments.models import Payment
from kernel import audit, outbox
from kernel.actor import SYSTEM
from kernel.db import utcnow
from kernel.settings import Settings

RECONCILE = "payments.reconcile"
RECONCILE_BATCH = 200


async def _read(factory: async_sessionmaker[AsyncSession], payment_id: str) -> Payment | None:
    """The payment as it stands, read in a transaction that is over before the provider is called."""
    async with factory() as session:
        payment = await session.get(Payment, payment_id)
        if payment is not None:
            session.expunge(payment)
        await session.rollback()
    return payment


@outbox.handler(service.CALL)
async def call_provider(ctx: outbox.JobContext, payload: dict[str, Any]) -> None:
    apply = await ask(None, ctx.session_factory, payload)
    if apply is not None:
        await apply(ctx.session)


@outbox.split(service.CALL)
async def ask(held: AsyncSession | None, factory: async_sessionmaker[AsyncSession],
              payload: dict[str, Any]) -> outbox.Apply | None:
    """Call the provider with no transaction open; returns the settlement to apply under the lock. ``held``:
    the session that just recorded the payment (the request making the call), whose copy needs no read:
    were it stale, the call repeats under the same key and ``settle_call`` judges the locked row."""
    op, payment_id = payload["op"], payload["payment_id"]
    payment = service.held(held, payment_id) if held is not None else None
    if payment is None:
        payment = await _read(factory, payment_id)
    if payment is None or not service.needs_call(payment, op):
        return None
    result = await service.call_gateway(payment, op)  # no transaction, no lock

    async def settle(session: AsyncSession) -> None:
        await service.settle_call(session, payment_id, op, result)

    return settle


async def sync(factory: async_sessionmaker[AsyncSession], payment_id: str) -> Payment | None:
    """Ask the provider where a processing payment stands and apply it (a late or lost webhook)."""
    payment = await _read(factory, payment_id)
    if payment is None or not service.needs_call(payment, "sync"):
        return payment
    result = await service.call_gateway(payment, "sync")
    async with factory() as session:
        payment = await service.settle_call(session, payment_id, "sync", result)
        await session.commit()
        chained = outbox.take_now(session)
    await outbox.run_now(factory, chained)
    return payment


def _stale(settings: Settings) -> Any:
    cutoff = utcnow() - timedelta(seconds=settings.payment_reconcile_after_seconds)
    processing = sa.and_(col(Payment.status) == "processing", col(Payment.updated_at) < cutoff)
    release = sa.and_(col(Payment.escrow_state) == "held", col(Payment.release_requested_at) < cutoff)
    refund = sa.and_(col(Payment.status) == "succeeded", col(Payment.refund_requested_at) < cutoff,
                     col(Payment.refund_reference).is_(None))
    return or_(processing, release, refund)


def next_op(payment: Payment) -> str:
    if payment.status == "processing":
        return "sync" if payment.provider_reference else payment.method
    return "release" if payment.release_requested_at and payment.escrow_state == "held" else "refund"


async def stuck(session: AsyncSession, settings: Settings, limit: int = RECONCILE_BATCH) -> list[Payment]:
    """Payments the reconciler would re-drive now (the CLI lists them)."""
    stmt = select(Payment).where(_stale(settings)).order_by(col(Payment.id)).limit(limit)
    return list((await session.exec(stmt)).all())


async def redrive(session: AsyncSession, payment: Payment, slot: str) -> bool:
    """Queue the next provider call of a stuck payment unless one is already queued or running."""
    busy = await service.provider_call_in_flight(session, payment.id)
    if busy:
        return False
    op = next_op(payment)
    await service.ask_provider(session, payment, op, attempt=f":r{slot}")
    await audit.record(session, SYSTEM, "payment.redriven", "payment", payment.id, after={"op": op})
    return True


@outbox.periodic(RECONCILE, every=lambda s: s.payment_reconcile_every_seconds)
async def reconcile(ctx: outbox.JobContext, payload: dict[str, Any]) -> None:
    for payment in await stuck(ctx.session, ctx.settings):
        await redrive(ctx.session, payment, str(payload.get("slot", "")))
