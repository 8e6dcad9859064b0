"""The provider interface, the requests the service makes of it, and which provider is configured.

Providers speak in Stripe-shaped objects (``payment_intent``, ``refund``, ``transfer``, ``payout``, each
a dict with ``id``, ``object`` and ``status``) and may hand back events: the local provider returns the
events a real provider would later send to the webhook, so both go through the same handling.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

ProviderObject = dict[str, Any]


@dataclass(frozen=True)
class IntentRequest:
    """Create and confirm a payment intent: ``payer`` pays ``amount`` fen, for ``payee`` (or into escrow)."""

    key: str  # idempotency key
    amount: int
    payer_org_id: str
    payee_org_id: str
    escrow: bool
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    key: str
    payment_intent: str
    amount: int
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TransferRequest:
    """Move escrowed money from the platform balance to the payee's account."""

    key: str
    amount: int
    destination_org_id: str
    source_payment_intent: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PayoutRequest:
    key: str
    amount: int
    destination_org_id: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayResult:
    object: ProviderObject
    events: tuple[dict[str, Any], ...] = ()


class PaymentGateway(Protocol):
    """What the payment service needs of a provider. Every call is safe to repeat with the same key."""

    name: str

    async def create_intent(self, request: IntentRequest) -> GatewayResult:
        """Create and confirm at once. A card-style decline is a result (status failed), not an error."""
        ...

    async def retrieve_intent(self, reference: str) -> ProviderObject: ...

    async def refund(self, request: RefundRequest) -> GatewayResult: ...

    async def transfer(self, request: TransferRequest) -> GatewayResult: ...

    async def create_payout(self, request: PayoutRequest) -> GatewayResult: ...

    async def retrieve_payout(self, reference: str) -> ProviderObject: ...


def provider_key(purpose: str, object_type: str, object_id: str, idempotency_key: str) -> str:
    """The provider idempotency key of a payment, from its unique domain key (stable across retries)."""
    digest = hashlib.sha256(f"{purpose}\0{object_type}\0{object_id}\0{idempotency_key}".encode()).hexdigest()
    return f"ipm_{digest[:40]}"


# Provider statuses, mapped to ours (one table per kind of object).
_INTENT_STATUS = {
    "succeeded": "succeeded",
    "canceled": "canceled",
    "processing": "processing",
    "requires_confirmation": "processing",
    "requires_action": "processing",
    "requires_capture": "processing",
}
_PAYOUT_STATUS = {"pending": "processing", "in_transit": "processing", "paid": "succeeded",
                  "failed": "failed", "canceled": "canceled"}


def intent_status(intent: ProviderObject) -> str:
    status = str(intent.get("status", ""))
    if status == "requires_payment_method":
        # After a confirmation attempt this means the payment method was declined.
        return "failed" if intent.get("last_payment_error") else "processing"
    return _INTENT_STATUS.get(status, "processing")


def payout_status(payout: ProviderObject) -> str:
    return _PAYOUT_STATUS.get(str(payout.get("status", "")), "processing")


def failure_of(obj: ProviderObject) -> tuple[str | None, str | None]:
    """(code, message) of a declined intent or failed payout, if any."""
    err = obj.get("last_payment_error") or {}
    if isinstance(err, dict) and err:
        code = err.get("decline_code") or err.get("code") or "declined"
        return str(code)[:60], (str(err.get("message")) if err.get("message") else None)
    if obj.get("failure_code"):
        return str(obj["failure_code"])[:60], (str(obj["failure_message"]) if obj.get("failure_message") else None)
    return None, None
