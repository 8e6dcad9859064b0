"""Provider webhooks: verify the signature, then hand the event to the service (once per event id).

``Gateway-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` where each ``v1`` is HMAC-SHA256 of
``"<t>.<raw body>"``. The provider signs with every secret it holds while a secret is being rotated, so
any ``v1`` matching any of our secrets is accepted. ``IPM_PAYMENT_WEBHOOK_SECRET`` takes one secret or a
comma-separated list (current first, then the previous ones still accepted). Comparison is constant
time; a timestamp more than 300 s away from our clock is refused, so a captured request cannot be
replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from finance.payments import service
from kernel.errors import DomainError
from kernel.settings import Settings

SIGNATURE_HEADER = "Gateway-Signature"
TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 256 * 1024  # provider events are a few kB; refuse anything far larger before hashing it


class InvalidSignature(DomainError):
    status, code, title = 400, "invalid_signature", "The webhook signature is missing, wrong or stale"


def webhook_secrets(settings: Settings) -> list[str]:
    return [s.strip() for s in settings.payment_webhook_secret.split(",") if s.strip()]


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``v1`` value for a body: what the provider sends, and what tests sign with."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: list[str], timestamp: int) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(body, s, timestamp)}" for s in secrets)])


def verify_signature(header: str | None, body: bytes, secrets: list[str], *, now: float | None = None,
                     tolerance: int = TOLERANCE_SECONDS) -> int:
    """Check the header against the body; return its timestamp or raise ``InvalidSignature``."""
    if not header:
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise InvalidSignature(f"the {SIGNATURE_HEADER} header needs t=<unix> and at least one v1=<hex>")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature(f"the signature timestamp is more than {tolerance} s from our clock")
    expected = [sign(body, secret, timestamp) for secret in secrets]
    # Compare every pair, so the time taken does not tell which secret or value came close.
    matched = False
    for mine in expected:
        for theirs in candidates:
            matched |= hmac.compare_digest(mine.encode(), theirs.encode())
    if not matched:
        raise InvalidSignature("no signature matches")
    return timestamp


async def receive(session: AsyncSession, settings: Settings, body: bytes, header: str | None) -> dict[str, Any]:
    """Verify and apply one webhook delivery; returns what the endpoint answers.

    An error raised by a domain callback fails the request (500): nothing is kept, not even the event id,
    so the provider's redelivery tries again.
    """
    if len(body) > MAX_BODY_BYTES:
        raise service.InvalidPayload(f"the body is larger than {MAX_BODY_BYTES} bytes")
    verify_signature(header, body, webhook_secrets(settings))
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise service.InvalidPayload("the body is not JSON") from exc
    outcome = await service.handle_event(session, event, source="webhook")
    return {"received": True, "event_id": event["id"], "outcome": outcome}
