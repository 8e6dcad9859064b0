"""An organisation's webhook endpoints (its org_admin manages them), their deliveries, and the event feed.

The signing secret is shown once, when the endpoint is made or its secret rotated; after a rotation the
previous secret still signs (a second ``v1=``) for 24 hours, so a receiver can switch without a gap.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit, outbox
from kernel.actor import ORG_ADMIN, Actor
from kernel.db import get_or_404, utcnow
from kernel.errors import Forbidden, InvalidState, NotFound
from kernel.event_log import EVENT_TYPES, EVENTS, visible_to
from kernel.outbound import check_url
from kernel.pagination import cut_page, page_window
from kernel.settings import get_settings
from kernel.webhooks import (
    ATTEMPTS,
    DELIVER,
    DELIVERIES,
    ENDPOINTS,
    WEBHOOK_DELIVERY,
    WEBHOOK_ENDPOINT,
    WebhookDelivery,
    WebhookEndpoint,
    allow_private,
    ordering_key,
)

ROTATION_OVERLAP = timedelta(hours=24)
EventType = Annotated[str, StringConstraints(min_length=1, max_length=60)]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000)
    event_types: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES) + 1)
    description: str | None = Field(default=None, max_length=500)

    @field_validator("event_types")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t != "*" and t not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}, or \"*\"")
        return sorted(set(v))


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    status: Literal["enabled", "disabled"] | None = None

    _known = field_validator("event_types")(EndpointIn._known.__func__)  # type: ignore[attr-defined]  # the validator is shared with EndpointIn


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    status: str
    disabled_reason: str | None
    previous_secret_until: datetime | None
    created_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut]


class EventOut(BaseModel):
    id: str
    type: str
    object_type: str
    object_id: str
    created_at: datetime
    data: dict[str, Any]


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _admin_of_org(actor: Actor) -> None:
    if actor.role != ORG_ADMIN and not actor.is_platform_admin:
        raise Forbidden("only an organisation's admin manages its webhook endpoints")


async def _own_endpoint(session: AsyncSession, actor: Actor, endpoint_id: str) -> WebhookEndpoint:
    _admin_of_org(actor)
    return await get_or_404(session, WebhookEndpoint, endpoint_id, lock=True, label="webhook endpoint",
                            visible=sa.and_(ENDPOINTS.c.org_id == actor.org_id, ENDPOINTS.c.deleted_at.is_(None)))


def _public(ep: WebhookEndpoint) -> dict[str, Any]:
    return {k: v for k, v in ep.model_dump().items() if k in EndpointOut.model_fields}


async def create_endpoint(session: AsyncSession, actor: Actor, data: EndpointIn) -> EndpointWithSecret:
    _admin_of_org(actor)
    check_url(data.url, allow_private=allow_private(get_settings()))
    ep = WebhookEndpoint(org_id=actor.org_id, org_kind=actor.org_kind, url=data.url, event_types=data.event_types,
                         description=data.description, secret=_new_secret())
    session.add(ep)
    await session.flush()
    await audit.record(session, actor, "webhook_endpoint.created", "webhook_endpoint", ep.id,
                       after={"url": ep.url, "event_types": ep.event_types})
    return EndpointWithSecret(**_public(ep), secret=ep.secret)


async def list_endpoints(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                         ) -> tuple[list[EndpointOut], bool, str | None]:
    _admin_of_org(actor)
    stmt = sa.select(ENDPOINTS).where(ENDPOINTS.c.org_id == actor.org_id, ENDPOINTS.c.deleted_at.is_(None))
    rows, more, nxt = cut_page(list((await session.exec(page_window(stmt, ENDPOINTS.c.id, limit, cursor))).all()),
                               limit)
    return [EndpointOut.model_validate(dict(r._mapping)) for r in rows], more, nxt


async def update_endpoint(session: AsyncSession, actor: Actor, endpoint_id: str, data: EndpointPatch) -> EndpointOut:
    ep = await _own_endpoint(session, actor, endpoint_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        check_url(changes["url"], allow_private=allow_private(get_settings()))
    before = {k: getattr(ep, k) for k in changes}
    for name, value in changes.items():
        setattr(ep, name, value)
    if changes.get("status") == "enabled":
        ep.disabled_reason = None
    ep.updated_at = utcnow()
    session.add(ep)
    await session.flush()
    await audit.record(session, actor, "webhook_endpoint.updated", "webhook_endpoint", ep.id, before=before,
                       after=changes)
    return EndpointOut(**_public(ep))


async def delete_endpoint(session: AsyncSession, actor: Actor, endpoint_id: str) -> None:
    ep = await _own_endpoint(session, actor, endpoint_id)
    ep.deleted_at = utcnow()
    await WEBHOOK_ENDPOINT.apply(session, actor, ep, "delete", audit_action="webhook_endpoint.deleted")
    await session.flush()


async def rotate_secret(session: AsyncSession, actor: Actor, endpoint_id: str) -> EndpointWithSecret:
    ep = await _own_endpoint(session, actor, endpoint_id)
    now = utcnow()
    ep.previous_secret, ep.previous_secret_until = ep.secret, now + ROTATION_OVERLAP
    ep.secret, ep.updated_at = _new_secret(), now
    session.add(ep)
    await session.flush()
    await audit.record(session, actor, "webhook_endpoint.secret_rotated", "webhook_endpoint", ep.id,
                       after={"previous_secret_until": ep.previous_secret_until})
    return EndpointWithSecret(**_public(ep), secret=ep.secret)


async def list_deliveries(session: AsyncSession, actor: Actor, endpoint_id: str, *, limit: int,
                          cursor: str | None, status: str | None) -> tuple[list[DeliveryOut], bool, str | None]:
    ep = await _own_endpoint(session, actor, endpoint_id)
    stmt = sa.select(DELIVERIES).where(DELIVERIES.c.endpoint_id == ep.id)
    if status is not None:
        stmt = stmt.where(DELIVERIES.c.status == status)
    rows, more, nxt = cut_page(list((await session.exec(page_window(stmt, DELIVERIES.c.id, limit, cursor))).all()),
                               limit)
    log: dict[str, list[AttemptOut]] = {r.id: [] for r in rows}
    if rows:
        for a in (await (await session.connection()).execute(sa.select(ATTEMPTS).where(ATTEMPTS.c.delivery_id.in_(list(log)))
                                     .order_by(ATTEMPTS.c.id))).all():
            log[a.delivery_id].append(AttemptOut.model_validate(dict(a._mapping)))
    return [DeliveryOut(**r._mapping, attempt_log=log[r.id]) for r in rows], more, nxt


async def retry_delivery(session: AsyncSession, actor: Actor, delivery_id: str) -> DeliveryOut:
    _admin_of_org(actor)
    delivery = await get_or_404(session, WebhookDelivery, delivery_id, lock=True, label="webhook delivery")
    ep = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if ep is None or ep.org_id != actor.org_id or ep.deleted_at is not None:
        raise NotFound(f"webhook delivery {delivery_id} not found")
    if ep.status != "enabled":
        raise InvalidState(f"webhook endpoint {ep.id} is disabled; enable it before retrying deliveries")
    if delivery.status == "pending":
        raise InvalidState(f"webhook delivery {delivery.id} is still being attempted")
    event = (await (await session.connection()).execute(sa.select(EVENTS.c.object_type, EVENTS.c.object_id)
                                .where(EVENTS.c.id == delivery.event_id))).one()
    delivery.next_attempt_at = utcnow()
    await WEBHOOK_DELIVERY.apply(session, actor, delivery, "retry", audit_action="webhook_delivery.retried")
    await session.flush()
    await outbox.enqueue(session, DELIVER, {"delivery_id": delivery.id},
                         ordering_key=ordering_key(ep.id, event.object_type, event.object_id))
    attempts = (await (await session.connection()).execute(sa.select(ATTEMPTS).where(ATTEMPTS.c.delivery_id == delivery.id)
                                   .order_by(ATTEMPTS.c.id))).all()
    return DeliveryOut(**delivery.model_dump(),
                       attempt_log=[AttemptOut.model_validate(dict(a._mapping)) for a in attempts])


async def list_events(session: AsyncSession, actor: Actor, *, limit: int, cursor: str | None,
                      type_: str | None, after: str | None, oldest_first: bool,
                      object_id: str | None = None) -> tuple[list[EventOut], bool, str | None]:
    """Events about objects the caller's organisation may see (the platform admin: all)."""
    stmt = sa.select(EVENTS).where(visible_to(actor.org_id, actor.org_kind, everything=actor.is_platform_admin))
    if type_:
        stmt = stmt.where(EVENTS.c.type.startswith(type_[:-1], autoescape=True) if type_.endswith(".*")
                          else EVENTS.c.type == type_)
    if after:
        stmt = stmt.where(EVENTS.c.id > after)
    if object_id:
        stmt = stmt.where(EVENTS.c.object_id == object_id)
    window = page_window(stmt, EVENTS.c.id, limit, cursor, oldest_first=oldest_first)
    rows, more, nxt = cut_page(list((await session.exec(window)).all()), limit)
    return [EventOut.model_validate(dict(r._mapping)) for r in rows], more, nxt
