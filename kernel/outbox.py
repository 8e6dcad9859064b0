"""The transactional outbox: work that must happen after a commit, written in the same transaction.
(One module over 400 lines on purpose: enqueue, claim, lease, run and retry share one table and one set
of invariants, and read best together.)

A service calls ``await outbox.enqueue(session, "kind", {...})`` next to the change that causes the work;
the row commits or rolls back with it, so a rolled-back request never triggers work and committed work is
never lost. A worker (``python -m worker``, or the one inside ``make run``) claims due jobs and runs the
handler registered for their kind::

    @outbox.handler("webhook.deliver")
    async def deliver(ctx: outbox.JobContext, payload: dict) -> None:
        ...  # ctx.session: the job's own transaction, committed with the job's "done" mark
             # ctx.session_factory: for work that needs its own transactions (e.g. around a network call)

Guarantees. Claiming takes ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (the write lock on SQLite) and gives
the job a lease; a worker that dies (``kill -9``) loses its lease and another worker takes the job over.
The job's "done" mark is written in ``ctx.session``'s transaction and fenced by the lease token, so what a
handler writes through ``ctx.session`` happens exactly once. Anything else (a provider call, an HTTP
delivery) may happen more than once and must be idempotent: pass a key derived from the job.
A failing job is retried with exponential backoff, and is ``dead`` after ``max_attempts`` (the operator's
CLI lists and retries dead jobs). Jobs with the same ``ordering_key`` run one at a time in enqueue order
(a job waits while an earlier one is queued or running; a dead one no longer holds the line).
``key`` makes enqueueing idempotent: a second job with the same key is not added.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import metrics
from kernel.db import TZDateTime, execute_core, table_of, utcnow
from kernel.settings import Settings, get_settings

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, DEAD = "queued", "running", "done", "dead"
_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # INTEGER PRIMARY KEY autoincrements on SQLite


class OutboxJob(SQLModel, table=True):
    __tablename__ = "outbox_jobs"
    __table_args__ = (sa.Index("ix_outbox_jobs_status_run_after", "status", "run_after"),)

    # An increasing integer, so "enqueued earlier" is exact for per-ordering-key order.
    id: int | None = Field(default=None, sa_column=sa.Column(_BIG_ID, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=80)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    key: str | None = Field(default=None, max_length=200, unique=True)
    ordering_key: str | None = Field(default=None, max_length=200, index=True)
    status: str = Field(default=QUEUED, max_length=10)
    attempts: int = 0
    max_attempts: int = 8
    run_after: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    locked_by: str | None = Field(default=None, max_length=100)
    lease_token: str | None = Field(default=None, max_length=32)
    locked_until: datetime | None = Field(default=None, sa_type=TZDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=TZDateTime)


class WorkerHeartbeat(SQLModel, table=True):
    """One row per running worker, refreshed every few seconds; ``GET /ready`` reads the newest."""

    __tablename__ = "worker_heartbeats"
    worker_id: str = Field(primary_key=True, max_length=100)
    host: str = Field(max_length=100)
    pid: int
    started_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    beat_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime, index=True)
    jobs_done: int = 0


jobs = table_of(OutboxJob)
heartbeats = table_of(WorkerHeartbeat)


# --- handlers ------------------------------------------------------------------------------------------

@dataclass
class JobContext:
    job_id: int
    kind: str
    attempt: int  # 1 on the first run
    session: AsyncSession
    session_factory: async_sessionmaker[AsyncSession]
    settings: Settings


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class _Registered:
    kind: str
    fn: Handler
    max_attempts: int | None


@dataclass(frozen=True)
class _Periodic:
    kind: str
    every: float | Callable[[Settings], float]
    enabled: Callable[[Settings], bool]

    def every_seconds(self, settings: Settings) -> float:
        return self.every(settings) if callable(self.every) else self.every


_handlers: dict[str, _Registered] = {}
_periodic: dict[str, _Periodic] = {}
# Apply = the transactional half of a split job (see ``split``); Prepare = its half with no transaction open.
Apply = Callable[[AsyncSession], Awaitable[None]]
Prepare = Callable[[AsyncSession | None, async_sessionmaker[AsyncSession], dict[str, Any]],
                   Coroutine[Any, Any, Apply | None]]
_splits: dict[str, Prepare] = {}


def handler(kind: str, *, max_attempts: int | None = None) -> Callable[[Handler], Handler]:
    """Register ``async def fn(ctx, payload)`` for jobs of ``kind`` (at import time; list the module in
    ``api/registry.py`` so the API and the worker both load it)."""

    def register(fn: Handler) -> Handler:
        _handlers[kind] = _Registered(kind, fn, max_attempts)
        return fn

    return register


def periodic(kind: str, every: float | Callable[[Settings], float],
             enabled: Callable[[Settings], bool] = lambda _s: True) -> Callable[[Handler], Handler]:
    """Register a handler the workers run every ``every`` seconds (a number, or read from the settings):
    each time slot is one job with the key ``kind@slot``, so with several workers it runs once per slot.
    A failed slot is not retried (``max_attempts=1``); the next slot runs it again."""

    def register(fn: Handler) -> Handler:
        _periodic[kind] = _Periodic(kind, every, enabled)
        return handler(kind, max_attempts=1)(fn)

    return register


def split(kind: str) -> Callable[[Prepare], Prepare]:
    """Register the two halves of an already registered ``kind``, for ``run_here``: ``prepare(held,
    factory, payload)`` does the slow part with no transaction open (a provider call; ``held`` is the
    session that enqueued the job, whose objects it may use instead of reading them) and returns
    ``apply(session)``, the writes, or None when there is nothing to write. The handler itself should be
    ``prepare`` then ``apply`` in ``ctx.session``, so both paths do the same work."""

    def register(fn: Prepare) -> Prepare:
        _splits[kind] = fn
        return fn

    return register


def registered_kinds() -> list[str]:
    return sorted(_handlers)


class RetryLater(Exception):
    """Raise from a handler to run the job again after ``delay`` seconds (counts as an attempt)."""

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay}s")
        self.delay = delay


async def _x(session: AsyncSession, stmt: Any, params: dict[str, Any] | None = None) -> sa.CursorResult:
    """Core statements on the session's connection (its transaction), without the ORM's per-row work."""
    return await (await session.connection()).execute(stmt, params)


_ENQUEUE: dict[str | None, Any] = {}  # dialect of a keyed insert (None: no key) -> its statement, built once


def _enqueue_statement(keyed_dialect: str | None) -> Any:
    """The job's INSERT … RETURNING id, its values bound at execution; a keyed one does nothing on a
    repeat of its key (``ON CONFLICT (key) DO NOTHING``)."""
    stmt = _ENQUEUE.get(keyed_dialect)
    if stmt is None:
        if keyed_dialect is None:
            stmt = sa.insert(jobs)
        else:
            insert = postgresql.insert if keyed_dialect == "postgresql" else sqlite.insert
            stmt = insert(jobs).on_conflict_do_nothing(index_elements=["key"])
        stmt = _ENQUEUE[keyed_dialect] = stmt.returning(jobs.c.id)
    return stmt


# --- enqueueing ----------------------------------------------------------------------------------------

async def enqueue(session: AsyncSession, kind: str, payload: dict[str, Any] | None = None, *,
                  key: str | None = None, run_after: datetime | None = None,
                  ordering_key: str | None = None, max_attempts: int | None = None,
                  now: bool = False, first_of_its_order: bool = False) -> int:
    """Add a job in the caller's transaction; returns its id. ``key``: at most one job per key (a repeat
    does nothing and returns the first job's id). ``now``: whoever commits this session runs the job right
    after the commit (``take_now`` / ``run_now``: a request waits for its provider call this way); the
    workers remain the safety net if that process dies first. ``first_of_its_order`` (with ``now``): no
    job can hold ``ordering_key`` yet (it names a row this transaction creates), so the job goes in
    already claimed by this process, under a lease: ``run_now`` runs it without a claim of its own, and
    should this process die, the lease lapses and a worker takes the job over."""
    registered = _handlers.get(kind)
    attempts = max_attempts or (registered.max_attempts if registered else None) or \
        get_settings().outbox_max_attempts
    values = {"kind": kind, "payload": payload or {}, "key": key, "ordering_key": ordering_key,
              "status": QUEUED, "attempts": 0, "max_attempts": attempts,
              "run_after": run_after or utcnow(), "created_at": utcnow()}
    lease: Claimed | None = None
    if now and first_of_its_order and run_after is None:
        lease = Claimed(0, kind, payload or {}, 1, attempts, secrets.token_hex(8))
        values.update(status=RUNNING, attempts=1, locked_by="now:" + new_worker_id(), lease_token=lease.lease_token,
                      locked_until=utcnow() + timedelta(seconds=get_settings().outbox_lease_seconds))
    dialect = session.get_bind().dialect.name
    job_id = (await execute_core(session, _enqueue_statement(dialect if key is not None else None), values)).scalar()
    info = session.sync_session.info
    if job_id is None:  # the key was there already
        job_id = (await _x(session, sa.select(jobs.c.id).where(jobs.c.key == key))).scalar_one()
    elif lease is not None:
        lease.id = int(job_id)
        info.setdefault("outbox_leased", []).append(lease)
    info["outbox_enqueued"] = True
    if now:
        info.setdefault("outbox_now", []).append(int(job_id))
        info.setdefault("outbox_now_kinds", {})[int(job_id)] = (kind, payload or {})
    return int(job_id)


def take_now(session: AsyncSession) -> list[int]:
    """The ids of the ``now`` jobs this session enqueued (and forgets them): run them after commit."""
    session.sync_session.info.pop("outbox_now_kinds", None)
    return list(dict.fromkeys(session.sync_session.info.pop("outbox_now", [])))


@dataclass(frozen=True)
class NowJob:
    id: int
    kind: str
    payload: dict[str, Any]


def take_now_jobs(session: AsyncSession) -> list[NowJob]:
    """``take_now`` with each job's kind and payload (a job enqueued again under its key has the first's)."""
    kinds = session.sync_session.info.get("outbox_now_kinds", {})
    return [NowJob(i, *kinds.get(i, ("", {}))) for i in take_now(session)]


def has_queued(session: AsyncSession) -> bool:
    """Whether this session enqueued work its commit should announce."""
    info = session.sync_session.info
    return not info.keys().isdisjoint(("outbox_enqueued", "outbox_now", "outbox_leased"))


# Wakes the in-process worker as soon as a transaction that enqueued work commits (no poll delay).
wakeup = asyncio.Event()


# Jobs this process committed already claimed (``first_of_its_order``), until it runs them; an entry
# whose lease lapsed is the workers' now (the process forgot to run it).
_leased: dict[int, tuple[Claimed, float]] = {}


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    leased = session.info.pop("outbox_leased", [])
    if leased:
        clock = time.monotonic()
        for job_id in [i for i, (_, until) in _leased.items() if until < clock]:
            del _leased[job_id]
        until = clock + get_settings().outbox_lease_seconds
        _leased.update((job.id, (job, until)) for job in leased)
    if session.info.pop("outbox_enqueued", False):
        wakeup.set()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("outbox_enqueued", None)
    session.info.pop("outbox_now", None)
    session.info.pop("outbox_now_kinds", None)
    session.info.pop("outbox_leased", None)


async def _take(factory: async_sessionmaker[AsyncSession], job_ids: list[int]) -> list[Claimed]:
    """The jobs of ``job_ids`` this process may run now: those it committed already claimed, and those
    ``claim`` gives it."""
    mine = [_leased.pop(i)[0] for i in job_ids if i in _leased]
    rest = [i for i in job_ids if i not in {j.id for j in mine}]
    return mine + (await claim(factory, "now:" + new_worker_id(), limit=len(rest), ids=rest) if rest else [])


# --- claiming and running ------------------------------------------------------------------------------

@dataclass
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    lease_token: str


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


def _claimable(now: datetime, kinds: list[str] | None) -> Any:
    earlier = jobs.alias("earlier")
    waiting_behind = sa.exists().where(earlier.c.ordering_key == jobs.c.ordering_key,
                                       earlier.c.id < jobs.c.id, earlier.c.status.in_((QUEUED, RUNNING)))
    due = sa.or_(sa.and_(jobs.c.status == QUEUED, jobs.c.run_after <= now),
                 sa.and_(jobs.c.status == RUNNING, jobs.c.locked_until < now))  # a lapsed lease
    cond = sa.and_(due, sa.or_(jobs.c.ordering_key.is_(None), ~waiting_behind))
    if kinds is not None:
        cond = sa.and_(cond, jobs.c.kind.in_(kinds))
    return cond


async def claim(factory: async_sessionmaker[AsyncSession], worker_id: str, *, limit: int = 10,
                lease_seconds: float | None = None, kinds: list[str] | None = None,
                ids: list[int] | None = None) -> list[Claimed]:
    """Take up to ``limit`` due jobs (of ``ids`` only, if given) for ``worker_id`` in one short transaction,
    each with a fresh lease."""
    settings = get_settings()
    lease = lease_seconds if lease_seconds is not None else settings.outbox_lease_seconds
    now = utcnow()
    token = secrets.token_hex(8)
    async with factory() as session:
        cond = _claimable(now, kinds)
        if ids is not None:
            cond = sa.and_(cond, jobs.c.id.in_(ids))
        # One round trip: pick (skipping rows other workers hold; a CTE, so it runs once), lease, read back.
        pick = (sa.select(jobs.c.id).where(cond).order_by(jobs.c.id).limit(limit)
                .with_for_update(skip_locked=True, of=jobs).cte("picked"))
        taken = (await _x(session, sa.update(jobs).where(jobs.c.id.in_(sa.select(pick.c.id))).values(
            status=RUNNING, attempts=jobs.c.attempts + 1, locked_by=worker_id, lease_token=token,
            locked_until=now + timedelta(seconds=lease)).returning(
            jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.max_attempts))).all()
        if not taken:
            await session.rollback()
            return []
        await session.commit()
    rows = sorted(taken, key=lambda r: r.id)
    return [Claimed(r.id, r.kind, dict(r.payload or {}), r.attempts, r.max_attempts, token) for r in rows]


# A running job's row while its lease is still this one's: its updates are built once, the job bound at
# execution (``_mine``), so no statement is built, nor its cache key computed, per job.
_MINE = sa.and_(jobs.c.id == sa.bindparam("mine_id"), jobs.c.status == RUNNING,
                jobs.c.lease_token == sa.bindparam("mine_token"))
_DONE = sa.update(jobs).where(_MINE).values(status=DONE, finished_at=sa.bindparam("at"), locked_by=None,
                                             lease_token=None, locked_until=None, last_error=None)
_RENEW = sa.update(jobs).where(_MINE).values(locked_until=sa.bindparam("until"))


def _mine(job: Claimed, **params: Any) -> dict[str, Any]:
    return {"mine_id": job.id, "mine_token": job.lease_token, **params}


def backoff_seconds(attempts: int, settings: Settings) -> float:
    return min(settings.outbox_backoff_seconds * 2 ** max(attempts - 1, 0), settings.outbox_backoff_max_seconds)


async def _failed(factory: async_sessionmaker[AsyncSession], job: Claimed, error: str,
                  delay: float | None) -> str:
    settings = get_settings()
    dead = job.attempts >= job.max_attempts
    now = utcnow()
    values: dict[str, Any] = {"last_error": error[-4000:], "locked_by": None, "lease_token": None,
                              "locked_until": None}
    if dead:
        values.update(status=DEAD, finished_at=now)
    else:
        wait = delay if delay is not None else backoff_seconds(job.attempts, settings)
        values.update(status=QUEUED, run_after=now + timedelta(seconds=wait))
    async with factory() as session:
        await _x(session, sa.update(jobs).where(_MINE).values(**values), _mine(job))
        await session.commit()
    return DEAD if dead else QUEUED


async def _keep_lease(factory: async_sessionmaker[AsyncSession], job: Claimed, lease: float) -> None:
    """Renew a running job's lease while it runs, so only a dead worker's lease lapses."""
    while True:
        await asyncio.sleep(lease / 3)
        try:
            async with factory() as session:
                await _x(session, _RENEW, _mine(job, until=utcnow() + timedelta(seconds=lease)))
                await session.commit()
        except sa.exc.OperationalError:  # SQLite: the job itself holds the write lock; try again later
            continue


async def execute(factory: async_sessionmaker[AsyncSession], job: Claimed,
                  session_info: dict[str, Any] | None = None) -> str:
    """Run one claimed job; returns its new status (``done``, ``queued`` for a retry, ``dead``, or
    ``lost`` when its lease went to another worker before it finished, so its writes were rolled back)."""
    registered = _handlers.get(job.kind)
    if registered is None:
        return await _failed(factory, job, f"no handler registered for {job.kind!r}", None)
    renew = asyncio.create_task(_keep_lease(factory, job, get_settings().outbox_lease_seconds))
    try:
        outcome = await _run(factory, job, registered, session_info or {})
        metrics.OUTBOX_RUNS.labels(job.kind, outcome).inc()
        return outcome
    finally:
        renew.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renew


async def _commit_done(session: AsyncSession, job: Claimed) -> str:
    """Mark the job done with its work and commit both, or roll both back if its lease was lost meanwhile."""
    done = await execute_core(session, _DONE, _mine(job, at=utcnow()))
    if done.rowcount != 1:
        await session.rollback()
        log.warning("outbox job %s lost its lease; its work was rolled back", job.id)
        return "lost"
    await session.commit()
    return DONE


async def _run(factory: async_sessionmaker[AsyncSession], job: Claimed, registered: _Registered,
               session_info: dict[str, Any]) -> str:
    try:
        async with factory() as session:
            session.sync_session.info.update(session_info)
            ctx = JobContext(job.id, job.kind, job.attempts, session, factory, get_settings())
            await registered.fn(ctx, job.payload)
            if await _commit_done(session, job) != DONE:
                return "lost"
            chained = take_now(session)
        if chained:  # work the job itself asked to run at once (e.g. a settled payment releases escrow)
            await run_now(factory, chained)
        return DONE
    except RetryLater as exc:
        return await _failed(factory, job, str(exc), exc.delay)
    except Exception:
        log.exception("outbox job %s (%s) failed, attempt %s/%s", job.id, job.kind, job.attempts,
                      job.max_attempts)
        return await _failed(factory, job, traceback.format_exc(), None)


async def drain(factory: async_sessionmaker[AsyncSession], *, kinds: list[str] | None = None,
                max_jobs: int = 10_000, worker_id: str = "drain") -> dict[str, int]:
    """Run due jobs until none is left (tests, the CLI). Jobs rescheduled into the future wait."""
    counts: dict[str, int] = {}
    ran = 0
    while ran < max_jobs:
        batch = await claim(factory, worker_id, limit=min(50, max_jobs - ran), kinds=kinds)
        if not batch:
            break
        for job in batch:
            outcome = await execute(factory, job)
            counts[outcome] = counts.get(outcome, 0) + 1
            ran += 1
    return counts


_background: set[asyncio.Task[Any]] = set()


async def run_now(factory: async_sessionmaker[AsyncSession], job_ids: list[int],
                  wait_seconds: float | None = None, session_info: dict[str, Any] | None = None) -> bool:
    """Run these (just committed) jobs in this process at once, waiting up to ``wait_seconds`` (None:
    until done). True when every one finished in time; the others go on in the background (their leases
    renewed), and a job another worker holds, or one waiting behind its ordering key, is left to it.
    ``session_info`` seeds each job session's ``info`` (a request's pinned business date)."""
    if not job_ids:
        return True
    batch = await _take(factory, job_ids)
    if not batch:
        return False
    tasks = [asyncio.create_task(execute(factory, job, session_info)) for job in batch]
    done, pending = await asyncio.wait(tasks, timeout=wait_seconds)
    for task in pending:
        _background.add(task)
        task.add_done_callback(_background.discard)
    return not pending and len(batch) == len(job_ids) and all(t.result() == DONE for t in done)


async def run_here(session: AsyncSession, factory: async_sessionmaker[AsyncSession], jobs: list[NowJob],
                   wait_seconds: float, session_info: dict[str, Any] | None = None) -> tuple[bool, bool]:
    """``run_now`` for the just committed ``jobs`` of ``session``, except that the first one of a ``split``
    kind is run by this process in two halves: its slow half with no transaction open, and, when that
    answers within ``wait_seconds``, its writes and its "done" mark in ``session``'s next transaction,
    committed here. The caller then holds the objects the writes loaded, current, without reading them
    again. Returns (every job finished in time, the split job's writes committed through ``session`` with
    no further work chained after them)."""
    here = next((j for j in jobs if j.kind in _splits), None)
    others = [j.id for j in jobs if j is not here]
    if here is None:
        return await run_now(factory, others, wait_seconds, session_info), False
    rest = asyncio.create_task(run_now(factory, others, wait_seconds, session_info)) if others else None
    batch = await _take(factory, [here.id])
    ok, current = (await _run_split(session, factory, batch[0], wait_seconds, session_info or {})
                   if batch else (False, False))
    if rest is not None:
        ok = await rest and ok
    return ok, current


async def _run_split(session: AsyncSession, factory: async_sessionmaker[AsyncSession], job: Claimed,
                     wait_seconds: float, session_info: dict[str, Any]) -> tuple[bool, bool]:
    renew = asyncio.create_task(_keep_lease(factory, job, get_settings().outbox_lease_seconds))
    prepared: asyncio.Task[Apply | None] = asyncio.create_task(_splits[job.kind](session, factory, job.payload))
    await asyncio.wait({prepared}, timeout=wait_seconds)
    if not prepared.done():  # the caller stops waiting: the rest goes on in its own transaction
        task = asyncio.create_task(_finish_split(factory, job, prepared, renew, session_info))
        _background.add(task)
        task.add_done_callback(_background.discard)
        return False, False
    outcome = await _finish_split(factory, job, prepared, renew, session_info, session)
    chained = take_now(session) if outcome == DONE else []
    if chained:  # work its writes asked to run at once: the caller's objects may not be current after it
        await run_now(factory, chained)
    return outcome == DONE, outcome == DONE and not chained


async def _finish_split(factory: async_sessionmaker[AsyncSession], job: Claimed,
                        prepared: asyncio.Task[Apply | None],
                        renew: asyncio.Task[None], session_info: dict[str, Any],
                        session: AsyncSession | None = None) -> str:
    """Apply a split job's prepared half in ``session`` (or its own), as ``_run`` runs a handler."""
    try:
        try:
            apply: Apply | None = await prepared
        finally:
            renew.cancel()  # SQLite: the lease's writer would wait on the write lock the writes take
            with contextlib.suppress(asyncio.CancelledError):
                await renew
        own = session is None
        async with (factory() if own else contextlib.nullcontext(session)) as s:
            assert s is not None
            if own:
                s.sync_session.info.update(session_info)
            if apply is not None:
                await apply(s)
            outcome = await _commit_done(s, job)
            chained = take_now(s) if own else []
        if chained:
            await run_now(factory, chained)
    except RetryLater as exc:
        if session is not None:
            await session.rollback()
        outcome = await _failed(factory, job, str(exc), exc.delay)
    except Exception:
        if session is not None:
            await session.rollback()
        log.exception("outbox job %s (%s) failed, attempt %s/%s", job.id, job.kind, job.attempts,
                      job.max_attempts)
        outcome = await _failed(factory, job, traceback.format_exc(), None)
    metrics.OUTBOX_RUNS.labels(job.kind, outcome).inc()
    return outcome


# --- the operator's view -------------------------------------------------------------------------------

@dataclass
class Depth:
    by_status: dict[str, int] = field(default_factory=dict)
    oldest_due_seconds: float = 0.0  # age of the oldest queued job that is due: how far behind we are


async def depth(session: AsyncSession) -> Depth:
    rows = (await _x(session, sa.select(jobs.c.status, sa.func.count()).where(jobs.c.status != DONE)
                                  .group_by(jobs.c.status))).all()
    now = utcnow()
    oldest = (await _x(session, sa.select(sa.func.min(jobs.c.run_after))
                                    .where(jobs.c.status == QUEUED, jobs.c.run_after <= now))).scalar()
    return Depth({r[0]: int(r[1]) for r in rows}, (now - oldest).total_seconds() if oldest else 0.0)


async def in_flight(session: AsyncSession, ordering_key: str) -> bool:
    """Whether a job with this ordering key is still queued or running."""
    stmt = sa.select(sa.exists().where(jobs.c.ordering_key == ordering_key, jobs.c.status.in_((QUEUED, RUNNING))))
    return bool((await _x(session, stmt)).scalar())


async def retry(session: AsyncSession, job_id: int) -> bool:
    """Put a dead (or stuck) job back in the queue with a fresh set of attempts."""
    result = await _x(session, sa.update(jobs).where(jobs.c.id == job_id, jobs.c.status != DONE).values(
        status=QUEUED, attempts=0, run_after=utcnow(), locked_by=None, lease_token=None, locked_until=None))
    return bool(result.rowcount)


async def purge_finished(session: AsyncSession, older_than: timedelta) -> int:
    result = await _x(session, sa.delete(jobs).where(jobs.c.status == DONE,
                                                         jobs.c.finished_at < utcnow() - older_than))
    return int(result.rowcount or 0)


# --- heartbeats ----------------------------------------------------------------------------------------

async def beat(factory: async_sessionmaker[AsyncSession], worker_id: str, jobs_done: int) -> None:
    now = utcnow()
    async with factory() as session:
        updated = await _x(session, sa.update(heartbeats).where(heartbeats.c.worker_id == worker_id)
                                        .values(beat_at=now, jobs_done=jobs_done))
        if not updated.rowcount:
            host, pid = worker_id.split(":")[:2]
            await _x(session, sa.insert(heartbeats).values(worker_id=worker_id, host=host, pid=int(pid),
                                                               started_at=now, beat_at=now, jobs_done=jobs_done))
        await _x(session, sa.delete(heartbeats).where(heartbeats.c.beat_at < now - timedelta(hours=1)))
        await session.commit()


async def last_heartbeat(session: AsyncSession) -> datetime | None:
    found = (await _x(session, sa.select(sa.func.max(heartbeats.c.beat_at)))).scalar()
    return found if isinstance(found, datetime) else None


async def stop_beating(factory: async_sessionmaker[AsyncSession], worker_id: str) -> None:
    async with factory() as session:
        await _x(session, sa.delete(heartbeats).where(heartbeats.c.worker_id == worker_id))
        await session.commit()


def periodic_jobs() -> list[_Periodic]:
    return sorted(_periodic.values(), key=lambda p: p.kind)


async def enqueue_periodic(factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Enqueue the current slot's job of every enabled periodic kind (a no-op when already there)."""
    wanted = [p for p in periodic_jobs() if p.enabled(settings)]
    if not wanted:
        return
    now = utcnow().timestamp()
    async with factory() as session:
        for p in wanted:
            slot = int(now // p.every_seconds(settings))
            await enqueue(session, p.kind, {"slot": slot}, key=f"{p.kind}@{slot}")
        await session.commit()
