"""The local provider: settles everything at once and deterministically, without a network.

It answers like the real provider (an intent ``processing``, a refund ``pending``, a payout ``pending``)
and hands back the events the real provider would send to our webhook a moment later
(``payment_intent.succeeded``, ``charge.refunded``, ``payout.paid``); the service handles those through
the same code as webhook events, so a local payment leaves the same rows, audit entries and callbacks.
Ids derive from the idempotency key: the same request always yields the same object.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from finance.payments.gateway import (
    GatewayResult,
    IntentRequest,
    PayoutRequest,
    ProviderObject,
    RefundRequest,
    TransferRequest,
)


def _id(prefix: str, key: str) -> str:
    return f"{prefix}_local_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def _event(kind: str, key: str, obj: ProviderObject) -> dict[str, Any]:
    return {"id": _id("evt", f"{key}\0{kind}"), "object": "event", "type": kind, "created": int(time.time()),
            "livemode": False, "data": {"object": obj}}


class LocalGateway:
    name = "local"

    async def create_intent(self, request: IntentRequest) -> GatewayResult:
        intent = {"id": _id("pi", request.key), "object": "payment_intent", "amount": request.amount,
                  "currency": "cny", "customer": request.payer_org_id, "metadata": dict(request.metadata),
                  "transfer_data": None if request.escrow else {"destination": request.payee_org_id},
                  "status": "processing", "last_payment_error": None}
        settled = {**intent, "status": "succeeded", "amount_received": request.amount}
        return GatewayResult(intent, (_event("payment_intent.succeeded", request.key, settled),))

    async def retrieve_intent(self, reference: str) -> ProviderObject:
        # Everything the local provider was asked to take, it took.
        return {"id": reference, "object": "payment_intent", "status": "succeeded", "last_payment_error": None}

    async def refund(self, request: RefundRequest) -> GatewayResult:
        refund = {"id": _id("re", request.key), "object": "refund", "amount": request.amount,
                  "currency": "cny", "payment_intent": request.payment_intent, "status": "pending",
                  "metadata": dict(request.metadata)}
        charge = {"id": _id("ch", request.payment_intent), "object": "charge", "amount": request.amount,
                  "amount_refunded": request.amount, "refunded": True,
                  "payment_intent": request.payment_intent}
        return GatewayResult(refund, (_event("charge.refunded", request.key, charge),))

    async def transfer(self, request: TransferRequest) -> GatewayResult:
        transfer = {"id": _id("tr", request.key), "object": "transfer", "amount": request.amount,
                    "currency": "cny", "destination": request.destination_org_id,
                    "source_transaction": request.source_payment_intent, "metadata": dict(request.metadata)}
        return GatewayResult(transfer, (_event("transfer.created", request.key, transfer),))

    async def create_payout(self, request: PayoutRequest) -> GatewayResult:
        payout = {"id": _id("po", request.key), "object": "payout", "amount": request.amount,
                  "currency": "cny", "destination": request.destination_org_id, "status": "pending",
                  "metadata": dict(request.metadata)}
        return GatewayResult(payout, (_event("payout.paid", request.key, {**payout, "status": "paid"}),))

    async def retrieve_payout(self, reference: str) -> ProviderObject:
        return {"id": reference, "object": "payout", "status": "paid"}
