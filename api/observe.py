"""Request ids, request logs and metrics for every HTTP request, and ``GET /metrics``.

``X-Request-ID`` is taken from the request when it is a sane token (≤ 128 of ``A-Za-z0-9._-``), else
generated; it is bound to every structlog line of the request, echoed in the response header and put in
problem+json bodies (``request_id``). Each request is logged once (method, route template, status, ms)
and counted in ``ipm_http_requests_total`` / ``ipm_http_request_duration_seconds`` by route template,
so ``/loans/{loan_id}`` is one series, not one per loan.
"""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from finance.payments.models import Payment
from kernel import metrics, outbox

HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode()
_SANE = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
log = structlog.get_logger("ipm.request")


class RequestContext:
    """Pure ASGI, and little per request: one header looked up, the metric series of a (method, route,
    status) resolved once, the request line built only when the log level keeps it."""

    def __init__(self, app: ASGIApp, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(HEADER, "")
        rid = given if _SANE.match(given) else uuid.uuid4().hex
        rid_header = (_HEADER_BYTES, rid.encode())
        token = request_id_var.set(rid)
        structlog.contextvars.bind_contextvars(request_id=rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            key = (method, template, status)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = (metrics.HTTP_REQUESTS.labels(method, template, str(status)),
                                              metrics.HTTP_LATENCY.labels(method, template))
            series[0].inc()
            series[1].observe(elapsed)
            if self.log_requests:
                log.info("request", method=method, route=template, path=scope.get("path"), status=status,
                         ms=round(elapsed * 1000, 1))
            structlog.contextvars.unbind_contextvars("request_id")
            request_id_var.reset(token)


metrics_router = APIRouter()


@metrics_router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format; database gauges are read now (restrict access at the network edge)."""
    async with request.app.state.session_factory() as session:
        depth = await outbox.depth(session)
        payments = (await session.execute(sa.select(Payment.method, Payment.status, sa.func.count())  # type: ignore[call-overload]
                                          .group_by(Payment.method, Payment.status))).all()
        await session.rollback()
    metrics.OUTBOX_DEPTH.clear()
    for status in (outbox.QUEUED, outbox.RUNNING, outbox.DEAD):
        metrics.OUTBOX_DEPTH.labels(status).set(depth.by_status.get(status, 0))
    metrics.OUTBOX_OLDEST_DUE.set(depth.oldest_due_seconds)
    metrics.PAYMENTS.clear()
    for method, status, count in payments:
        metrics.PAYMENTS.labels(method, status).set(count)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
