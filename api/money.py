"""Answering a request that moved money: after ``settle()`` the settled state, or 202 while processing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from fastapi import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from api.routing import Settle
from finance.payments import service as payments
from finance.payments.models import Payment

POLL_SECONDS = 0.05


async def settle_then_read(settle: Settle, session: AsyncSession, response: Response, payment_id: str | None,
                           *objects: Any, loaded_by_settlement: bool = False) -> Payment | None:
    """Commit the first phase, let the provider answer (up to IPM_PAYMENT_WAIT_SECONDS), re-read
    ``objects`` as they now stand, and return the payment: 402 ``payment_failed`` if it was declined,
    202 on ``response`` while the provider has not answered. ``loaded_by_settlement``: the payment's
    settlement loads every one of ``objects`` afresh (under its lock), so when it ran in this session
    they are current and are not read again."""
    if await settle() and payment_id is not None and not settle.ran_own_work:
        await _wait_for_provider(settle, session, payment_id)
    held = payments.held(session, payment_id) if payment_id else None
    if settle.settled_here and loaded_by_settlement and held is not None:
        payment: Payment | None = held  # settle_call locked and refreshed it in this session
    else:
        payment = await _reread(session, payment_id, objects)
    if payment is None:
        return None
    payments.require_success(payment)
    if payment.status == "processing":
        response.status_code = 202
    return payment


async def _reread(session: AsyncSession, payment_id: str | None, objects: tuple[Any, ...]) -> Payment | None:
    """The payment and ``objects`` as they now stand, in one SELECT: each is one row by primary key, so
    their cross join is one row and ``populate_existing`` refreshes the instances the endpoint holds."""
    entities: list[Any] = [Payment] if payment_id is not None else []
    where: list[Any] = [Payment.id == payment_id] if payment_id is not None else []
    for obj in objects:
        state = sa.inspect(obj)
        entities.append(type(obj))
        where.extend(c == v for c, v in zip(state.mapper.primary_key, state.identity, strict=True))
    if not entities:
        return None
    stmt = sa.select(*entities).select_from(entities[0])
    for entity in entities[1:]:  # joined on true: each side is one row by its key (no cartesian warning)
        stmt = stmt.join(entity, sa.true())
    row = (await session.execute(stmt.where(*where).execution_options(populate_existing=True))).first()
    if row is None:  # one of them is gone: say which, as a refresh does
        for obj in objects:
            await session.refresh(obj)
        raise LookupError(f"payment {payment_id} not found")
    return row[0] if payment_id is not None else None


async def _wait_for_provider(settle: Settle, session: AsyncSession, payment_id: str) -> None:
    """This request queued no provider call of its own: another request for the same domain action (or the
    worker) may be making it. Wait for that answer as long as the caller would wait for its own,
    looking in short reads that hold nothing, so both requests answer alike."""
    deadline = time.monotonic() + settle.request.app.state.settings.payment_wait_seconds
    while await payments.provider_call_in_flight(session, payment_id):
        await session.rollback()
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(POLL_SECONDS)
    await session.rollback()

