"""Answering a request that moved money: after ``settle()`` the settled state, or 202 while processing."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from api.routing import Settle
from finance.payments import service as payments
from finance.payments.models import Payment


async def settle_then_read(settle: Settle, session: AsyncSession, response: Response, payment_id: str | None,
                           *objects: Any) -> Payment | None:
    """Commit the first phase, let the provider answer (up to IPM_PAYMENT_WAIT_SECONDS), re-read
    ``objects`` as they now stand, and return the payment: 402 ``payment_failed`` if it was declined,
    202 on ``response`` while the provider has not answered."""
    await settle()
    for obj in objects:
        await session.refresh(obj)
    if payment_id is None:
        return None
    payment = await session.get(Payment, payment_id, populate_existing=True)
    assert payment is not None
    payments.require_success(payment)
    if payment.status == "processing":
        response.status_code = 202
    return payment
