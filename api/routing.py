"""One transaction per request, and ``Idempotency-Key`` replay, in a route class.

The request's session commits only if the endpoint answered below 400; otherwise it rolls back, so a
failed request changes nothing. For a POST with ``Idempotency-Key`` the key is claimed in the same
transaction before the endpoint runs and the response stored before commit: work and key land together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.approvals import ApprovalPending, Replay, replay_of
from api.security import decode_access_token
from kernel.db import is_unique_violation, utcnow
from kernel.errors import IdempotencyConflict, NotAuthenticated, ValidationFailed
from kernel.idempotency import IdempotencyRecord, request_fingerprint
from kernel.settings import Settings

REPLAY_HEADER = "Idempotent-Replayed"


def _scope(request: Request, settings: Settings, fingerprint: str) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        try:
            return str(decode_access_token(auth[7:].strip(), settings)["org"])
        except NotAuthenticated:
            return "invalid"  # the endpoint's auth dependency will answer 401
    # No identity to scope by: scope by the request itself, so one anonymous caller can never
    # replay (and read) another's response by guessing its key.
    return "public:" + fingerprint[:40]


async def _find(session: AsyncSession, scope: str, key: str, ttl: timedelta) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    found = (await session.exec(stmt)).first()
    if found is not None and found.created_at <= utcnow() - ttl:
        # Expired: the key is free again. Delete the old row so the unique index lets a new claim in.
        await session.delete(found)
        await session.flush()
        return None
    return found


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request")
    headers = dict(record.response_headers or {})
    headers[REPLAY_HEADER] = "true"
    return Response(content=record.response_body or "", status_code=record.response_status or 200,
                    headers=headers)


async def _claim(session: AsyncSession, scope: str, key: str, fingerprint: str,
                 ttl: timedelta) -> tuple[IdempotencyRecord | None, Response | None]:
    """Either a fresh claim on the key, or the stored response to replay."""
    found = await _find(session, scope, key, ttl)
    if found is not None:
        return None, _replay(found, fingerprint)
    record = IdempotencyRecord(scope=scope, key=key, request_hash=fingerprint)
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except sa.exc.IntegrityError as exc:
        # Another request holding this key committed while we waited on the unique index.
        if not is_unique_violation(exc):
            raise
        found = await _find(session, scope, key, ttl)
        if found is None:
            raise IdempotencyConflict("this Idempotency-Key is in use by a request still running") from exc
        return None, _replay(found, fingerprint)
    return record, None


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            replay = replay_of(request)
            if replay is not None:
                return await self._replayed(endpoint, request, replay)
            async with request.app.state.session_factory() as session:
                request.state.session = session
                record = None
                key = request.headers.get("idempotency-key")
                if request.method == "POST" and key is not None:
                    if not 1 <= len(key) <= 255:
                        raise ValidationFailed.at(["header", "Idempotency-Key"], "must be 1 to 255 characters")
                    fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
                    record, replay = await _claim(session, _scope(request, settings, fingerprint), key, fingerprint,
                                                  timedelta(hours=settings.idempotency_ttl_hours))
                    if replay is not None:
                        await session.rollback()
                        return replay
                try:
                    response = await endpoint(request)
                except ApprovalPending as pending:  # held for a checker: keep the stored request
                    response = JSONResponse(pending.body, status_code=202)
                except BaseException:
                    await session.rollback()
                    raise
                if response.status_code >= 400:
                    await session.rollback()
                    return response
                if record is not None:
                    record.response_status = response.status_code
                    record.response_body = bytes(response.body).decode()
                    record.response_headers = {"content-type": response.headers.get("content-type", "")}
                    session.add(record)
                await session.commit()
                return response

        return handler

    @staticmethod
    async def _replayed(endpoint: Callable[[Request], Awaitable[Response]], request: Request,
                        replay: Replay) -> Response:
        """An approved request run inside the approver's transaction: that request commits or rolls back,
        and its own Idempotency-Key claim already covers the maker's key."""
        request.state.session = replay.session
        return await endpoint(request)
