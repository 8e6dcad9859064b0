"""Signed webhooks: each event goes to every enabled endpoint of an organisation that may see it.

Fan-out happens in the event's own transaction (``kernel.event_log.record``): a delivery row per
(event, endpoint) and an outbox job, ordered per (endpoint, object), so one object's events reach an
endpoint in the order they happened. The worker POSTs the event JSON outside any transaction:

    IPM-Event-Id: evt_…
    IPM-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=<same with the previous secret>]

A 2xx within ``webhook_timeout_seconds`` is delivered. Anything else is retried with exponential backoff
(``webhook_backoff_seconds`` doubling, at most ``webhook_backoff_max_seconds`` apart) for
``webhook_retry_hours`` (3 days); then the delivery fails and the endpoint is disabled (its events stay in
``GET /events``). Receivers should de-duplicate by ``IPM-Event-Id``: a worker that dies mid-request makes
another worker send the same event again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import outbox
from kernel.db import TZDateTime, utcnow
from kernel.errors import ValidationFailed
from kernel.event_log import EVENTS, kind
from kernel.ids import new_id
from kernel.outbound import resolve, tls_context
from kernel.workflow import Workflow

DELIVER = "webhook.deliver"
ENDPOINT_STATUSES = ("enabled", "disabled")
DELIVERY_STATUSES = ("pending", "delivered", "failed", "skipped")
# What a person does to an endpoint or a delivery (the worker's own set-based moves are in ``deliver``).
WEBHOOK_ENDPOINT = Workflow("webhook_endpoint", {("enabled", "delete"): "disabled", ("disabled", "delete"): "disabled"},
                            initial="enabled")
WEBHOOK_DELIVERY = Workflow("webhook_delivery", {(s, "retry"): "pending" for s in ("delivered", "failed", "skipped")},
                            initial="pending")


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"
    id: str = Field(default_factory=lambda: new_id("whe"), primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="orgs.id", index=True, max_length=40)
    org_kind: str = Field(max_length=20)  # copied from the organisation: the audience may name a kind
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    description: str | None = Field(default=None, max_length=500)
    status: str = Field(default="enabled", max_length=10, index=True)
    disabled_reason: str | None = Field(default=None, max_length=300)
    # HMAC keys: they must be read back to sign, so they are kept (never shown again after creation).
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_until: datetime | None = Field(default=None, sa_type=TZDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.UniqueConstraint("endpoint_id", "event_id"),)
    id: str = Field(default_factory=lambda: new_id("whd"), primary_key=True, max_length=40)
    endpoint_id: str = Field(foreign_key="webhook_endpoints.id", max_length=40)
    event_id: str = Field(foreign_key="events.id", max_length=40)
    event_type: str = Field(max_length=60)
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    last_attempt_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=TZDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempts"
    id: str = Field(default_factory=lambda: new_id("wha"), primary_key=True, max_length=40)
    delivery_id: str = Field(foreign_key="webhook_deliveries.id", index=True, max_length=40)
    at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int


ENDPOINTS = WebhookEndpoint.__table__  # type: ignore[attr-defined]  # SQLModel does not type __table__
DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]  # SQLModel does not type __table__
ATTEMPTS = WebhookAttempt.__table__  # type: ignore[attr-defined]  # SQLModel does not type __table__


# --- signing --------------------------------------------------------------------------------------------

def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets)])


def verify(header: str, body: bytes, secret: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (the README's example, as a function the tests use)."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    t = int(stamps[0])
    if abs((now if now is not None else time.time()) - t) > tolerance:
        return False
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


def signing_secrets(endpoint: Any, now: datetime) -> list[str]:
    """The current secret, and the previous one for 24 h after a rotation."""
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        keys.append(endpoint.previous_secret)
    return keys


def event_body(event: Any) -> bytes:
    return json.dumps({"id": event.id, "type": event.type, "created_at": event.created_at.isoformat(),
                       "data": event.data}, ensure_ascii=False, separators=(",", ":")).encode()


# --- fan-out (inside the event's transaction) -------------------------------------------------------------

def _matches(endpoint: Any, event_type: str, audience: set[str]) -> bool:
    sees = (endpoint.org_kind == "platform" or endpoint.org_id in audience
            or kind(endpoint.org_kind) in audience)
    return sees and ("*" in endpoint.event_types or event_type in endpoint.event_types)


def ordering_key(endpoint_id: str, object_type: str, object_id: str) -> str:
    return f"webhook:{endpoint_id}:{object_type}:{object_id}"


async def any_enabled(session: AsyncSession) -> bool:
    """Whether any endpoint could receive an event at all (a set-based writer skips the fan-out if not)."""
    return (await (await session.connection()).execute(
        sa.select(ENDPOINTS.c.id).where(ENDPOINTS.c.status == "enabled", ENDPOINTS.c.deleted_at.is_(None)).limit(1)
    )).first() is not None


async def fan_out(session: AsyncSession, events: list[dict[str, Any]], audience_of: dict[str, set[str]]) -> int:
    everyone = set().union(*audience_of.values()) if audience_of else set()
    org_ids = [a for a in everyone if not a.startswith("kind:")]
    kinds = [a.removeprefix("kind:") for a in everyone if a.startswith("kind:")] + ["platform"]
    conn = await session.connection()
    endpoints = (await conn.execute(sa.select(ENDPOINTS.c.id, ENDPOINTS.c.org_id, ENDPOINTS.c.org_kind,
                                              ENDPOINTS.c.event_types)
                                    .where(ENDPOINTS.c.status == "enabled", ENDPOINTS.c.deleted_at.is_(None),
                                           sa.or_(ENDPOINTS.c.org_id.in_(org_ids),
                                                  ENDPOINTS.c.org_kind.in_(kinds)))
                                    .order_by(ENDPOINTS.c.id))).all()
    if not endpoints:
        return 0
    now = utcnow()
    made = []
    for event in events:
        for ep in endpoints:
            if _matches(ep, event["type"], audience_of.get(event["id"], set())):
                made.append(({"id": new_id("whd"), "endpoint_id": ep.id, "event_id": event["id"],
                              "event_type": event["type"], "status": "pending", "attempts": 0,
                              "created_at": now, "next_attempt_at": now},
                             ordering_key(ep.id, event["object_type"], event["object_id"])))
    if made:
        await conn.execute(sa.insert(DELIVERIES), [d for d, _ in made])
        for delivery, key in made:
            await outbox.enqueue(session, DELIVER, {"delivery_id": delivery["id"]}, ordering_key=key)
    return len(made)


# --- delivery (the worker) --------------------------------------------------------------------------------

def _backoff(attempts: int, settings: Any) -> float:
    return float(min(settings.webhook_backoff_seconds * 2 ** max(attempts - 1, 0), settings.webhook_backoff_max_seconds))


async def _attempt(session: AsyncSession, delivery_id: str, *, at: datetime, code: int | None, error: str | None,
                   ms: int, **delivery: Any) -> None:
    conn = await session.connection()
    await conn.execute(sa.insert(ATTEMPTS).values(id=new_id("wha"), delivery_id=delivery_id, at=at,
                                                  status_code=code, error=error, duration_ms=ms))
    await conn.execute(sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(
        attempts=DELIVERIES.c.attempts + 1, last_status_code=code, last_error=error, last_attempt_at=at,
        **delivery))


def allow_private(settings: Any) -> bool:
    """Development and the tests may deliver to http://127.0.0.1…; production only https to public hosts."""
    return bool(getattr(settings, "allows_private_outbound", settings.env in ("development", "test")))


async def _post(url: str, body: bytes, headers: dict[str, str], settings: Any) -> tuple[int | None, str | None]:
    """POST to the address the host resolved to right now (checked public), with the URL's Host and TLS
    name, redirects off: a DNS answer that changes later or a redirect cannot reach an internal address."""
    try:
        target, addresses = await resolve(url, allow_private=allow_private(settings))
        parts = httpx.URL(url)
        address = addresses[0]
        pinned = parts.copy_with(host=address)
        async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                                     verify=tls_context()) as client:
            response = await client.post(pinned, content=body,
                                         headers={**headers, "Host": parts.netloc.decode()},
                                         extensions={"sni_hostname": target.host})
        return response.status_code, None if response.is_success else f"HTTP {response.status_code}"
    except ValidationFailed as exc:
        return None, exc.detail[:500]
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


@outbox.handler(DELIVER, max_attempts=10_000)  # the give-up is time-based (webhook_retry_hours), not a count
async def deliver(ctx: outbox.JobContext, payload: dict[str, Any]) -> None:
    delivery_id = payload["delivery_id"]
    # Read in a short transaction of its own: no transaction stays open across the network call.
    async with ctx.session_factory() as read:
        row = (await (await read.connection()).execute(
            sa.select(DELIVERIES.c.status, DELIVERIES.c.created_at, DELIVERIES.c.event_id,
                      ENDPOINTS.c.url, ENDPOINTS.c.status.label("endpoint_status"), ENDPOINTS.c.deleted_at,
                      ENDPOINTS.c.secret, ENDPOINTS.c.previous_secret, ENDPOINTS.c.previous_secret_until,
                      ENDPOINTS.c.id.label("endpoint_id"))
            .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
            .where(DELIVERIES.c.id == delivery_id))).first()
        event = (await (await read.connection()).execute(
            sa.select(EVENTS).where(EVENTS.c.id == row.event_id))).first() if row else None
        await read.rollback()
    if row is None or event is None or row.status in ("delivered", "skipped"):
        return
    if row.endpoint_status != "enabled" or row.deleted_at is not None:
        await (await ctx.session.connection()).execute(
            sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == "pending")
            .values(status="skipped", next_attempt_at=None,
                    last_error="the endpoint was deleted" if row.deleted_at else "the endpoint is disabled"))
        return
    body = event_body(event)
    now = utcnow()
    headers = {"Content-Type": "application/json", "User-Agent": "IPM-Webhooks/1", "IPM-Event-Id": event.id,
               "IPM-Signature": signature_header(signing_secrets(row, now), int(time.time()), body)}
    started = time.perf_counter()
    code, error = await _post(row.url, body, headers, ctx.settings)
    ms, at = int((time.perf_counter() - started) * 1000), utcnow()
    if error is None:
        await _attempt(ctx.session, delivery_id, at=at, code=code, error=None, ms=ms, status="delivered",
                       delivered_at=at, next_attempt_at=None)
        return
    if at - row.created_at >= timedelta(hours=ctx.settings.webhook_retry_hours):
        # Persistent failure: the delivery fails and the endpoint is disabled; the events stay in the feed.
        await _attempt(ctx.session, delivery_id, at=at, code=code, error=error, ms=ms, status="failed",
                       next_attempt_at=None)
        await (await ctx.session.connection()).execute(
            sa.update(ENDPOINTS).where(ENDPOINTS.c.id == row.endpoint_id).values(
                status="disabled", updated_at=at,
                disabled_reason=f"deliveries failed for {ctx.settings.webhook_retry_hours} hours: {error}"[:300]))
        return
    delay = _backoff(ctx.attempt, ctx.settings)
    # The job's own transaction rolls back on a retry: the attempt is recorded in one of its own.
    async with ctx.session_factory() as note:
        await _attempt(note, delivery_id, at=at, code=code, error=error, ms=ms,
                       next_attempt_at=at + timedelta(seconds=delay))
        await note.commit()
    raise outbox.RetryLater(delay, error)
