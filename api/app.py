"""The FastAPI application: settings, database, routers, error handlers and the day-end scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import api.registry
import api.routers
from accounts.service import ensure_platform_admin
from api import dispatch, docs, openapi, problems
from api.input_guard import InputGuard
from api.observe import RequestContext, metrics_router
from api.ratelimit import RateLimit
from console.app import install as install_console
from kernel import clock, i18n
from kernel.db import make_engine, make_session_factory, read_only_factory, serialise
from kernel.settings import Settings, get_settings
from worker.runner import Worker

API_PREFIX = "/api/v1"
log = structlog.get_logger()


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(message)s")
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso"), structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(settings.log_level)),
    )


async def bootstrap(app: FastAPI) -> None:
    """Create the platform admin and the manual clock's row if absent.

    Safe with any number of processes starting at once: they take one database lock in turn, and
    each finds what the one before it created.
    """
    async with app.state.session_factory() as session:
        await serialise(session, "ipm.bootstrap")
        await ensure_platform_admin(session, app.state.settings)
        await clock.ensure_clock_state(session, app.state.settings)
        await session.commit()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Bootstrap, and (``IPM_EMBEDDED_WORKER``, the one-machine default) run one outbox worker in this
    process; it also runs the system clock's day-end. Separate ``python -m worker`` processes do the
    same work when API processes run with ``IPM_EMBEDDED_WORKER=false``."""
    await bootstrap(app)
    # Everything made so far (modules, routes, schemas) lives as long as the process: out of the cyclic
    # collector's sight, so its full collections under load do not walk it again and again (tail latency).
    gc.freeze()
    # FastAPI takes seconds to build the OpenAPI document of ~130 routes: build it once now, beside
    # serving, so the first visit to /docs does not wait for it.
    asyncio.get_running_loop().run_in_executor(None, app.openapi)
    worker, task = None, None
    if app.state.settings.embedded_worker:
        worker = Worker(app.state.session_factory, app.state.settings)
        task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        if worker and task:
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=30)
        await app.state.engine.dispose()


def _discover_routers() -> list[APIRouter]:
    """Every ``APIRouter`` defined at module level in ``api/routers/`` (one module per area)."""
    found = []
    for info in sorted(pkgutil.iter_modules(api.routers.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"api.routers.{info.name}")
        found.extend(v for v in vars(module).values() if isinstance(v, APIRouter) and v not in found)
    return found


UPLOAD_PATHS = frozenset({f"{API_PREFIX}/imports", f"{API_PREFIX}/documents"})


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413: by Content-Length at once, or while streaming.

    A body that outgrows the limit while it is read raises an HTTPException from ``receive``; FastAPI
    re-raises HTTPExceptions from body parsing, so the problem handler answers 413 and nothing runs.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = max(upload_bytes or max_bytes, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # File uploads (imports, documents) have their own, larger limit; their services check the file.
        limit = self.upload_bytes if scope.get("method") == "POST" and scope["path"] in UPLOAD_PATHS \
            else self.max_bytes
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            lang = i18n.negotiate(headers.get("accept-language", ""))
            response = problems.problem(413, "payload_too_large", "Request body too large",
                                        f"the request body must not exceed {limit} bytes", lang=lang)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise StarletteHTTPException(413, f"the request body must not exceed {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    app = FastAPI(title="IP Pledge Market", version="1.0.0", lifespan=lifespan,
                  openapi_url="/openapi.json", docs_url=None, redoc_url=None,
                  # Request metrics, logs and ids are api/observe's (Prometheus, structlog); FastAPI's own
                  # OpenTelemetry hooks would otherwise look up the global providers on every request.
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
                  description="Marketplace for IP transfer and licensing, IP-pledge loans and the risk fund. "
                              "Money is integer fen; rates and shares are integer basis points.")
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                                   max_overflow=settings.db_max_overflow)
    app.state.session_factory = make_session_factory(app.state.engine)
    app.state.read_session_factory = read_only_factory(app.state.engine)
    problems.install(app)
    docs.install(app)
    # Outermost first: the rate limit, then the body size, then the control-character rule.
    app.add_middleware(InputGuard)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, upload_bytes=settings.max_upload_bytes)
    if settings.rate_limit_enabled:
        app.add_middleware(RateLimit, settings=settings)
    # Outermost: every answer, even a 413, carries the request id. The request line is an info log.
    app.add_middleware(RequestContext, log_requests=logging.getLevelName(settings.log_level) <= logging.INFO)
    app.include_router(metrics_router)
    for router in _discover_routers():  # each straight into the app: one level of routers to try, not two
        app.include_router(router, prefix=API_PREFIX)
    install_console(app)
    openapi.install(app)
    dispatch.install(app.router)  # one match per request instead of FastAPI's two linear passes
    return app
