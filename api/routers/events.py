"""The event feed and the organisation's webhook endpoints (Stripe-like: signed, retried, in order)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response

from api.deps import CurrentActor, Cursor, Limit, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from kernel import webhook_endpoints as service
from kernel.pagination import Page
from kernel.webhook_endpoints import (
    DeliveryOut,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecret,
    EventOut,
)

router = AreaRouter(tags=["events"], route_class=TransactionalRoute)


@router.get("/events", response_model=Page[EventOut],
            summary="Events about objects the caller's organisation may see; `after=<event id>` reads on from "
                    "there, oldest first (any user)")
async def list_events(actor: CurrentActor, session: SessionDep, limit: Limit = 20, cursor: Cursor = None,
                      type: Annotated[str | None, Query(max_length=60)] = None,
                      after: Annotated[str | None, Query(max_length=40)] = None,
                      object_id: Annotated[str | None, Query(max_length=40)] = None,
                      order: Literal["newest", "oldest"] | None = None) -> Page[EventOut]:
    oldest = order == "oldest" or (order is None and after is not None)
    data, more, nxt = await service.list_events(session, actor, limit=limit, cursor=cursor, type_=type,
                                                after=after, oldest_first=oldest, object_id=object_id)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.post("/webhook-endpoints", status_code=201, response_model=EndpointWithSecret,
             summary="Add a webhook endpoint; the signing secret is shown only in this answer (org_admin)")
async def create_endpoint(body: EndpointIn, actor: CurrentActor, session: SessionDep) -> EndpointWithSecret:
    return await service.create_endpoint(session, actor, body)


@router.get("/webhook-endpoints", response_model=Page[EndpointOut],
            summary="The organisation's webhook endpoints (org_admin)")
async def list_endpoints(actor: CurrentActor, session: SessionDep, limit: Limit = 20,
                         cursor: Cursor = None) -> Page[EndpointOut]:
    data, more, nxt = await service.list_endpoints(session, actor, limit=limit, cursor=cursor)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=EndpointOut,
              summary="Change an endpoint's URL, event types or description, or enable or disable it (org_admin)")
async def update_endpoint(endpoint_id: str, body: EndpointPatch, actor: CurrentActor,
                          session: SessionDep) -> EndpointOut:
    return await service.update_endpoint(session, actor, endpoint_id, body)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, response_class=Response,
               summary="Delete a webhook endpoint; nothing more is sent to it (org_admin)")
async def delete_endpoint(endpoint_id: str, actor: CurrentActor, session: SessionDep) -> Response:
    await service.delete_endpoint(session, actor, endpoint_id)
    return Response(status_code=204)


@router.post("/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret,
             summary="A new signing secret (shown once); the old one also signs for 24 hours (org_admin)")
async def rotate_secret(endpoint_id: str, actor: CurrentActor, session: SessionDep) -> EndpointWithSecret:
    return await service.rotate_secret(session, actor, endpoint_id)


@router.get("/webhook-endpoints/{endpoint_id}/deliveries", response_model=Page[DeliveryOut],
            summary="Deliveries to an endpoint, newest first, each with its attempts' status codes and times "
                    "(org_admin)")
async def list_deliveries(endpoint_id: str, actor: CurrentActor, session: SessionDep, limit: Limit = 20,
                          cursor: Cursor = None,
                          status: Literal["pending", "delivered", "failed", "skipped"] | None = None,
                          ) -> Page[DeliveryOut]:
    data, more, nxt = await service.list_deliveries(session, actor, endpoint_id, limit=limit, cursor=cursor,
                                                    status=status)
    return Page(data=data, has_more=more, next_cursor=nxt)


@router.post("/webhook-deliveries/{delivery_id}/retry", response_model=DeliveryOut,
             summary="Send a failed or skipped delivery again, in its object's order (org_admin)")
async def retry_delivery(delivery_id: str, actor: CurrentActor, session: SessionDep) -> DeliveryOut:
    return await service.retry_delivery(session, actor, delivery_id)
