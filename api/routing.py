"""One transaction per request, and ``Idempotency-Key`` replay, in a route class.

The request's session commits only if the endpoint answered below 400; otherwise it rolls back, so a
failed request changes nothing. For a POST with ``Idempotency-Key`` the key is claimed in the same
transaction before the endpoint runs and the response stored before commit: work and key land together.

Money moves in two short transactions around the provider call, never with a lock held: the service
records the payment and an outbox job (``now=True``), and the endpoint calls ``await settle()`` (the
``Settle`` dependency), which commits that first phase, runs the job (the provider call, with no
transaction open, then the settlement in a new one) and waits up to ``IPM_PAYMENT_WAIT_SECONDS``. The
endpoint then reads the settled state in the session's next transaction and answers (202 when the provider
has not answered yet); when the provider answered in time the settlement runs in the request's own
session (its next transaction), so what it loaded is current for the answer. The idempotency key is
committed with the first phase, marked in progress, and its response stored once the endpoint has
answered; a retry meanwhile waits for it and replays it. Jobs queued to run now by a route that does not
wait for them run right after its commit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.routing import Match
from starlette.types import Scope

from api.approvals import ApprovalPending, Replay, replay_of
from api.security import decode_access_token
from kernel import clock, outbox
from kernel.db import AUTOCOMMITS, driver_connection, insert_if_absent, is_dead_connection, table_of, utcnow
from kernel.errors import IdempotencyConflict, NotAuthenticated, ValidationFailed
from kernel.idempotency import IdempotencyRecord, request_fingerprint
from kernel.settings import Settings

REPLAY_HEADER = "Idempotent-Replayed"
_READ_METHODS = frozenset({"GET", "HEAD"})
IN_FLIGHT_SECONDS = 300  # a first phase older than this without an answer is taken to have died
POLL_SECONDS = 0.05  # how often a retry looks for the answer of the request still running with its key


class AreaRouter(APIRouter):
    """An area's routes (``api/routers/*``): a path none of them can match is refused at once.

    FastAPI tries every route of every included router in turn, ~130 regexes per request. A route whose
    path starts with a literal segment (``/listings/{listing_id}``) can only match a path that has that
    segment, so a router none of whose first segments is in the request's path is skipped without
    trying its routes (a route starting with a parameter turns the shortcut off for its router).
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        firsts = self._first_segments()
        if firsts is not None:
            segments = scope.get("ipm.segments")
            if segments is None:
                segments = scope["ipm.segments"] = frozenset(scope.get("path", "").split("/"))
            if firsts.isdisjoint(segments):
                return Match.NONE, {}
        return super().matches(scope)

    def _first_segments(self) -> frozenset[str] | None:
        key = len(self.routes)  # routes are only ever added (at start-up)
        if getattr(self, "_firsts_key", None) != key:
            firsts = {str(getattr(r, "path", "")).lstrip("/").split("/", 1)[0] for r in self.routes}
            self._firsts = None if any(not f or "{" in f for f in firsts) else frozenset(firsts)
            self._firsts_key = key
        return self._firsts


class _InFlight(Exception):
    """The key's first phase committed and its answer is not stored yet."""


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
    """Either a fresh claim on the key, or the stored response to replay.

    A fresh key (the usual case) costs one ``INSERT … ON CONFLICT DO NOTHING``: no read before it and no
    savepoint around it. A key in use meets the unique index; a concurrent holder is waited for there."""
    record = IdempotencyRecord(scope=scope, key=key, request_hash=fingerprint)
    if await _insert(session, record):
        return record, None
    found = await _find(session, scope, key, ttl)
    if found is not None and found.response_status is None:
        # The first phase of a request with this key committed; its answer is not stored yet.
        if found.created_at > utcnow() - timedelta(seconds=IN_FLIGHT_SECONDS):
            raise _InFlight
        await session.delete(found)  # its process died between the phases: the services are idempotent
        await session.flush()
        found = None
    if found is not None:
        return None, _replay(found, fingerprint)
    # The old claim expired or was abandoned and is gone: claim afresh.
    if await _insert(session, record):
        return record, None
    found = await _find(session, scope, key, ttl)  # another request took it meanwhile and committed
    if found is None:
        raise IdempotencyConflict("this Idempotency-Key is in use by a request still running")
    if found.response_status is None:
        raise _InFlight
    return None, _replay(found, fingerprint)


async def _insert(session: AsyncSession, record: IdempotencyRecord) -> bool:
    if not await insert_if_absent(session, record):
        return False
    make_transient_to_detached(record)  # the row exists now: later changes to it are UPDATEs
    session.add(record)
    return True


async def _await_answer(request: Request, scope: str, key: str, fingerprint: str, ttl: timedelta) -> Response:
    """A retry while the first request with its key is between its phases (e.g. waiting on the provider)
    waits for that answer, as long as the first may wait itself, and replays it; 409 if it never comes.
    Each look is its own short read: nothing is held while waiting (on SQLite, not the write lock)."""
    settings: Settings = request.app.state.settings
    deadline = time.monotonic() + settings.payment_wait_seconds + 1
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        async with request.app.state.session_factory() as look:
            found = await _find(look, scope, key, ttl)
            answer = _replay(found, fingerprint) if found is not None and found.response_status is not None else None
            await look.rollback()
        if answer is not None:
            return answer
    raise IdempotencyConflict("this Idempotency-Key is in use by a request still running; retry shortly")


class Settle:
    """``await settle()`` in an endpoint: commit the request's first phase, then run the work it queued
    to run now (provider calls) and wait for it. Returns True when all of it finished in time."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.ran_own_work = False  # whether this request queued work of its own (False: a duplicate)
        # Whether the provider's answer was settled (and committed) through the request's own session,
        # so the objects that settlement loaded there are current without reading them again.
        self.settled_here = False

    async def __call__(self) -> bool:
        state = self.request.state
        session: AsyncSession = state.session
        await session.commit()
        state.phase_one_committed = True
        settings: Settings = self.request.app.state.settings
        jobs = outbox.take_now_jobs(session)
        self.ran_own_work = bool(jobs)
        done, self.settled_here = await outbox.run_here(session, self.request.app.state.session_factory, jobs,
                                                        settings.payment_wait_seconds, clock.pinned(session))
        return done


async def _settle(request: Request) -> Settle:  # a class as a dependency would run in the thread pool
    return Settle(request)


SettleDep = Annotated[Settle, Depends(_settle)]


def _kept(response: Response) -> tuple[int, str, dict[str, str]]:
    """What an Idempotency-Key keeps of its answer, to replay it: status, body, headers."""
    return response.status_code, bytes(response.body).decode(), {"content-type": response.headers.get("content-type", "")}


async def _store_response(session: AsyncSession, record: IdempotencyRecord, response: Response) -> None:
    record.response_status, record.response_body, record.response_headers = _kept(response)
    session.add(record)


_STORE_ALONE = (f"UPDATE {table_of(IdempotencyRecord).name} SET response_status = $1, response_body = $2, "
                "response_headers = $3::json WHERE id = $4 RETURNING id")


async def _stored_alone(request: Request, session: AsyncSession, record: IdempotencyRecord,
                        response: Response) -> bool:
    """On PostgreSQL, store the answer of a request whose work is all committed (its phases) in one
    statement that is its own transaction: no BEGIN and COMMIT around it, no flush. False (nothing done)
    when the session still has anything of its own to commit, or on SQLite."""
    if not request.state.phase_one_committed or session.get_bind().dialect.name != "postgresql" or \
            session.in_transaction() or session.new or session.dirty or session.deleted or outbox.has_queued(session):
        return False
    status, body, headers = _kept(response)
    async with driver_connection(request.app.state.engine) as driver:
        stored = await driver.fetchval(_STORE_ALONE, [status, body, json.dumps(headers), record.id])
    return stored is not None


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        endpoint = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await attempt(request)
            except sa.exc.DBAPIError as exc:
                # No pre-ping on checkout: a connection the server dropped fails at first use. Run the
                # request again on a fresh one, once, if nothing of it committed.
                if not is_dead_connection(exc) or getattr(request.state, "phase_one_committed", False):
                    raise
                return await attempt(request)

        async def attempt(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            replay = replay_of(request)
            if replay is not None:
                return await self._replayed(endpoint, request, replay)
            # A read opens no write transaction (SQLite: deferred BEGIN instead of BEGIN IMMEDIATE).
            factory = (request.app.state.read_session_factory if request.method in _READ_METHODS
                       else request.app.state.session_factory)
            async with _Closing(factory()) as session:
                request.state.session = session
                request.state.phase_one_committed = False
                record = None
                key = request.headers.get("idempotency-key") if request.method == "POST" else None
                if key is not None:
                    if not 1 <= len(key) <= 255:
                        raise ValidationFailed.at(["header", "Idempotency-Key"], "must be 1 to 255 characters")
                    fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
                    scope, ttl = _scope(request, settings, fingerprint), timedelta(hours=settings.idempotency_ttl_hours)
                    try:
                        record, replay = await _claim(session, scope, key, fingerprint, ttl)
                    except _InFlight:
                        await session.rollback()
                        return await _await_answer(request, scope, key, fingerprint, ttl)
                    if replay is not None:
                        await session.rollback()
                        return replay
                try:
                    response = await endpoint(request)
                except ApprovalPending as pending:  # held for a checker: keep the stored request
                    response = JSONResponse(pending.body, status_code=202)
                except BaseException:
                    record_id = record.id if record is not None else None  # read before the rollback expires it
                    await session.rollback()
                    if record_id is not None and request.state.phase_one_committed:
                        await _forget_key(session, record_id)
                    raise
                if response.status_code >= 400:
                    await session.rollback()
                    if record is not None and request.state.phase_one_committed:
                        # The first phase is committed (e.g. a declined payment is on record): the answer
                        # is part of what happened, so a retry replays it.
                        await _store_response(session, record, response)
                        await session.commit()
                    return response
                if record is not None and not await _stored_alone(request, session, record, response):
                    await _store_response(session, record, response)
                if not _nothing_to_commit(session):
                    await session.commit()
                # Work queued to run now by an endpoint that did not wait for it.
                await outbox.run_now(request.app.state.session_factory, outbox.take_now(session),
                                     settings.payment_wait_seconds)
                return response

        return handler

    @staticmethod
    async def _replayed(endpoint: Callable[[Request], Awaitable[Response]], request: Request,
                        replay: Replay) -> Response:
        """An approved request run inside the approver's transaction: that request commits or rolls back,
        and its own Idempotency-Key claim already covers the maker's key."""
        request.state.session = replay.session
        return await endpoint(request)


class _Closing:
    """``async with session`` that skips the close of a session that holds nothing: AsyncSession closes in a
    shielded task of its own (a trip through the event loop), and a read whose statements ran through
    ``read_rows`` on PostgreSQL never gave its session a connection or an object."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        session = self.session
        if session.in_transaction() or session.sync_session.identity_map or session.new:
            await session.__aexit__(*exc)


def _nothing_to_commit(session: AsyncSession) -> bool:
    """A read in autocommit (PostgreSQL) took effect statement by statement: a commit would only walk the
    session's machinery. Anything pending in the session (objects, queued work) still commits."""
    return (bool(session.info.get(AUTOCOMMITS)) and not (session.new or session.dirty or session.deleted)
            and not outbox.has_queued(session))


async def _forget_key(session: AsyncSession, record_id: str) -> None:
    """An endpoint failed after its first phase committed: free the key so a retry runs it again."""
    await session.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.id) == record_id))
    await session.commit()
