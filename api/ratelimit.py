"""Per-client request limits (the ``limits`` library, exact moving windows).

``/auth/*`` has its own limit (``IPM_RATE_LIMIT_AUTH``), every other path but ``/health`` the default
one (``IPM_RATE_LIMIT_DEFAULT``), both per client address. Over the limit: 429 ``rate_limited``
problem+json with ``Retry-After``. With the default memory storage each process counts on its own;
``IPM_RATE_LIMIT_STORAGE_URL=redis://…`` shares the counts between every process and host.
"""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Receive, Scope, Send

from api import problems
from kernel.settings import Settings

log = structlog.get_logger()
EXEMPT = ("/api/v1/health", "/api/v1/ready")
AUTH_PREFIX = "/api/v1/auth/"


def _async_url(url: str) -> str:
    return url if url.startswith("async+") else "async+" + url


class RateLimit:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.url = _async_url(settings.rate_limit_storage_url)
        self.auth: list[RateLimitItem] = parse_many(settings.rate_limit_auth)
        self.default: list[RateLimitItem] = parse_many(settings.rate_limit_default)
        self._limiter: MovingWindowRateLimiter | None = None

    @property
    def limiter(self) -> MovingWindowRateLimiter:
        # Made on first use, inside the event loop that serves the requests.
        if self._limiter is None:
            storage = storage_from_string(self.url)
            assert isinstance(storage, Storage)
            self._limiter = MovingWindowRateLimiter(storage)
        return self._limiter

    async def reset(self) -> None:
        await self.limiter.storage.reset()

    async def retry_after(self, path: str, client: str) -> int | None:
        """Count one request; the seconds to wait if it is over a limit, else None."""
        bucket, items = ("auth", self.auth) if path.startswith(AUTH_PREFIX) else ("default", self.default)
        for item in items:
            if not await self.limiter.hit(item, bucket, client):
                stats = await self.limiter.get_window_stats(item, bucket, client)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in EXEMPT:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        try:
            wait = await self.retry_after(path, client)
        except Exception:  # the shared storage is down: serve rather than refuse everyone
            log.exception("rate_limit.storage_failed")
            wait = None
        if wait is not None:
            response = problems.problem(429, "rate_limited", "Too many requests",
                                        f"too many requests from this client; retry in {wait} s",
                                        extra={"retry_after": wait}, headers={"Retry-After": str(wait)})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
