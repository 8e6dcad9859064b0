"""The outbox: enqueued with the caller's transaction, run by workers once, retried, ordered, taken over."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kernel import audit, outbox
from kernel.actor import SYSTEM
from kernel.audit import AuditEvent
from kernel.db import utcnow
from kernel.outbox import OutboxJob, jobs
from kernel.settings import get_settings
from worker.runner import Worker


@pytest.fixture
def handlers():
    """Test handlers: ``test.audit`` writes an audit row through the job's session; ``test.flaky`` fails
    while ``fail`` holds tokens; every call is recorded in ``calls``."""
    calls: list[tuple[str, dict]] = []
    fail: list[str] = []

    @outbox.handler("test.audit")
    async def write(ctx, payload):
        calls.append(("test.audit", payload))
        await audit.record(ctx.session, SYSTEM, "test.job", "job", str(payload["n"]))
        if fail:
            fail.pop()
            raise RuntimeError("boom")

    yield calls, fail
    outbox._handlers.pop("test.audit", None)


async def _audit_ids(app) -> list[str]:
    async with app.state.session_factory() as s:
        return list((await s.execute(sa.select(AuditEvent.object_id).where(AuditEvent.action == "test.job")
                                     .order_by(AuditEvent.object_id))).scalars())


async def _job(app, **where) -> OutboxJob:
    async with app.state.session_factory() as s:
        return (await s.execute(sa.select(OutboxJob).filter_by(**where))).scalar_one()


async def test_enqueued_work_commits_or_rolls_back_with_the_change(app, handlers):
    calls, _ = handlers
    factory = app.state.session_factory
    async with factory() as s:
        await outbox.enqueue(s, "test.audit", {"n": 1})
        await s.rollback()
    async with factory() as s:
        await outbox.enqueue(s, "test.audit", {"n": 2})
        await s.commit()
    assert await outbox.drain(factory) == {"done": 1}
    assert [p for _, p in calls] == [{"n": 2}]
    assert await _audit_ids(app) == ["2"]
    assert (await _job(app, kind="test.audit")).status == "done"


async def test_a_key_enqueues_once(app, handlers):
    factory = app.state.session_factory
    for _ in range(2):
        async with factory() as s:
            await outbox.enqueue(s, "test.audit", {"n": 1}, key="once")
            await outbox.enqueue(s, "test.audit", {"n": 1}, key="once")
            await s.commit()
    async with factory() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(jobs))).scalar() == 1


async def test_failure_retries_with_backoff_then_dies_and_the_operator_retries(app, handlers):
    calls, fail = handlers
    factory = app.state.session_factory
    fail.extend(["x", "x"])
    async with factory() as s:
        await outbox.enqueue(s, "test.audit", {"n": 7}, max_attempts=2)
        await s.commit()
    assert await outbox.drain(factory) == {"queued": 1}
    job = await _job(app, kind="test.audit")
    assert job.status == "queued" and job.attempts == 1 and "boom" in (job.last_error or "")
    assert job.run_after > utcnow() + timedelta(seconds=get_settings().outbox_backoff_seconds * 0.5)
    assert await outbox.drain(factory) == {}  # not due yet
    assert await _audit_ids(app) == []  # the failed attempt's writes were rolled back
    async with factory() as s:  # make it due now
        await s.execute(sa.update(jobs).values(run_after=utcnow()))
        await s.commit()
    assert await outbox.drain(factory) == {"dead": 1}
    async with factory() as s:
        assert await outbox.retry(s, job.id)
        await s.commit()
    assert await outbox.drain(factory) == {"done": 1}
    assert await _audit_ids(app) == ["7"] and len(calls) == 3


async def test_jobs_with_one_ordering_key_run_in_order(app, handlers):
    calls, fail = handlers
    factory = app.state.session_factory
    async with factory() as s:
        for n, key in [(1, "deal_a"), (2, "deal_a"), (3, "deal_b"), (4, "deal_a")]:
            await outbox.enqueue(s, "test.audit", {"n": n}, ordering_key=key)
        await s.commit()
    first = await outbox.claim(factory, "w1", limit=10)
    assert [j.payload["n"] for j in first] == [1, 3]  # 2 and 4 wait behind 1
    assert await outbox.claim(factory, "w2", limit=10) == []
    fail.append("x")
    assert await outbox.execute(factory, first[0]) == "queued"  # 1 failed: still first in line
    async with factory() as s:
        await s.execute(sa.update(jobs).values(run_after=utcnow()))
        await s.commit()
    assert await outbox.execute(factory, first[1]) == "done"
    assert await outbox.drain(factory) == {"done": 3}
    assert [p["n"] for _, p in calls if p["n"] != 3] == [1, 1, 2, 4]


async def test_a_lapsed_lease_is_taken_over_and_the_first_worker_cannot_finish(app, handlers):
    factory = app.state.session_factory
    async with factory() as s:
        await outbox.enqueue(s, "test.audit", {"n": 5})
        await s.commit()
    [stale] = await outbox.claim(factory, "dead-worker", lease_seconds=-1)  # as if its worker died
    [taken] = await outbox.claim(factory, "w2")
    assert taken.id == stale.id and taken.attempts == 2
    assert await outbox.execute(factory, stale) == "lost"  # fenced: its writes roll back
    assert await outbox.execute(factory, taken) == "done"
    assert await _audit_ids(app) == ["5"]


async def test_a_job_first_of_its_order_goes_in_claimed_and_its_committer_runs_it(app, handlers):
    """No claim after the commit: the row is already running under this process's lease, so no worker
    takes it meanwhile, and run_now runs it as it is."""
    factory = app.state.session_factory
    async with factory() as s:
        job_id = await outbox.enqueue(s, "test.audit", {"n": 6}, ordering_key="fresh:6", now=True,
                                      first_of_its_order=True)
        await s.commit()
        ids = outbox.take_now(s)
    job = await _job(app, id=job_id)
    assert (job.status, job.attempts) == ("running", 1) and job.lease_token and job.locked_until > utcnow()
    assert await outbox.claim(factory, "other-worker") == []  # leased: not the workers' to take
    assert await outbox.run_now(factory, ids)
    assert (await _job(app, id=job_id)).status == "done" and await _audit_ids(app) == ["6"]


async def test_a_claimed_job_whose_committer_died_is_taken_over_when_its_lease_lapses(app, handlers):
    factory = app.state.session_factory
    async with factory() as s:
        job_id = await outbox.enqueue(s, "test.audit", {"n": 8}, ordering_key="fresh:8", now=True,
                                      first_of_its_order=True)
        await s.commit()  # and the process dies before it runs the job
    async with factory() as s:
        await s.execute(sa.update(jobs).where(jobs.c.id == job_id).values(locked_until=utcnow() - timedelta(seconds=1)))
        await s.commit()
    assert await outbox.drain(factory) == {"done": 1}
    assert await _audit_ids(app) == ["8"]
    assert await outbox.run_now(factory, [job_id]) is False  # the old lease is spent: nothing runs twice
    assert await _audit_ids(app) == ["8"]


async def test_worker_runs_jobs_beats_and_enqueues_periodic_jobs_once_per_slot(app, handlers, client):
    seen: list[int] = []

    @outbox.periodic("test.tick", every=3600)
    async def tick(ctx, payload):
        seen.append(payload["slot"])

    try:
        r = await client.get("/ready")
        assert r.status_code == 503 and r.json()["worker"] == "none"
        factory = app.state.session_factory
        async with factory() as s:
            await outbox.enqueue(s, "test.audit", {"n": 9})
            await s.commit()
        worker = Worker(factory, get_settings())
        await worker.run_once()
        worker._next_beat = 0  # housekeeping again: the same slot is not enqueued twice
        await worker.run_once()
        assert len(seen) == 1 and await _audit_ids(app) == ["9"]
        r = await client.get("/ready")
        assert r.status_code == 200 and r.json()["worker"] == "ok"
        await outbox.stop_beating(factory, worker.worker_id)
        assert (await client.get("/ready")).status_code == 503
        async with factory() as s:
            d = await outbox.depth(s)
        assert d.by_status == {} and d.oldest_due_seconds == 0
    finally:
        outbox._handlers.pop("test.tick", None)
        outbox._periodic.pop("test.tick", None)


async def test_the_system_day_end_is_a_periodic_outbox_job():
    assert "clock.day_end" in outbox.registered_kinds()
    [p] = [p for p in outbox.periodic_jobs() if p.kind == "clock.day_end"]
    settings = get_settings()
    assert not p.enabled(settings)  # tests run a manual clock
    assert p.enabled(settings.model_copy(update={"clock": "system"}))


@pytest.mark.postgres
async def test_two_worker_processes_and_a_kill_9_mid_job_run_each_job_once(app):
    import asyncio
    import os
    import signal
    import sys

    n_jobs = 30
    factory = app.state.session_factory
    async with factory() as s:
        for n in range(n_jobs):
            await outbox.enqueue(s, "test.slow", {"n": n})
        await s.commit()
    env = {**os.environ, "IPM_OUTBOX_LEASE_SECONDS": "2", "IPM_WORKER_BATCH": "2",
           "IPM_WORKER_POLL_SECONDS": "0.2", "IPM_OUTBOX_BACKOFF_SECONDS": "0"}
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.kernel.outbox_proc", env=env,
                                                  stdout=asyncio.subprocess.PIPE) for _ in range(2)]

    async def count(status: str) -> int:  # the test's jobs only: the workers also queue their periodic ones
        async with factory() as s:
            return (await s.execute(sa.select(sa.func.count()).select_from(jobs)
                                    .where(jobs.c.status == status, jobs.c.kind == "test.slow"))).scalar_one()

    try:
        victim = procs[0]
        ids = [(await p.stdout.readline()).decode().strip() for p in procs]  # type: ignore[union-attr]
        for _ in range(300):  # wait until the victim is inside a job
            async with factory() as s:
                running = (await s.execute(sa.select(sa.func.count()).select_from(jobs).where(
                    jobs.c.status == "running", jobs.c.locked_by == ids[0]))).scalar_one()
            if running and await count("done") >= 2:
                break
            await asyncio.sleep(0.05)
        assert running, "the victim never took a job"
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        for _ in range(600):
            if await count("done") == n_jobs:
                break
            await asyncio.sleep(0.1)
        assert await count("done") == n_jobs
        async with factory() as s:
            rows = (await s.execute(sa.select(AuditEvent.object_id, sa.func.count())
                                    .where(AuditEvent.action == "test.slow").group_by(AuditEvent.object_id))).all()
            taken_over = (await s.execute(sa.select(sa.func.count()).select_from(jobs)
                                          .where(jobs.c.attempts > 1, jobs.c.kind == "test.slow"))).scalar_one()
        assert sorted(int(r[0]) for r in rows) == list(range(n_jobs))
        assert all(r[1] == 1 for r in rows)  # each job's write happened once
        assert taken_over >= 1  # the killed worker's job(s) went to the survivor after the lease lapsed
    finally:
        for p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
                await p.wait()
