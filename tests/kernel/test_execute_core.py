"""``kernel.db.execute_core``: on PostgreSQL, once the session's transaction has begun, a Core statement runs
on the asyncpg connection itself. It must stay in that transaction (a rollback undoes it), count and return
rows as SQLAlchemy does, bind the values the statement carries itself, and raise SQLAlchemy's errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kernel import outbox
from kernel.db import _DRIVER_WRITES, _driver_write, execute_core, insert_if_absent, utcnow
from tests.conftest import IS_POSTGRES

jobs = outbox.jobs
_INSERT = sa.insert(jobs).returning(jobs.c.id, jobs.c.status)
_DONE = sa.update(jobs).where(jobs.c.kind == sa.bindparam("k")).values(status="done", locked_by=None)
_COUNT = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == sa.bindparam("k"))


def _job(kind: str) -> dict:
    return {"kind": kind, "payload": {"a": [1, "二"]}, "key": None, "ordering_key": None, "status": "queued",
            "attempts": 0, "max_attempts": 3, "run_after": utcnow(), "created_at": utcnow()}


async def test_in_the_transaction_with_sqlalchemys_results(app):
    async with app.state.session_factory() as session:
        first = await execute_core(session, _INSERT, _job("t.core"))  # begins the transaction: SQLAlchemy's
        assert first.rowcount == 1 and first.one().status == "queued"
        second = await execute_core(session, _INSERT, _job("t.core"))  # on the driver (PostgreSQL)
        assert second.one().id > first.one().id and second.rows[0]._fields == ("id", "status")
        assert ((_INSERT, tuple(_job("x"))) in _DRIVER_WRITES) is IS_POSTGRES
        assert not IS_POSTGRES or _DRIVER_WRITES[(_INSERT, tuple(_job("x")))] is not None  # not a fallback
        done = await execute_core(session, _DONE, {"k": "t.core"})  # no RETURNING: its count; None bound
        assert done.rowcount == 2 and done.rows == []
        assert (await execute_core(session, _COUNT, {"k": "t.core"})).scalar() == 2
        row = (await execute_core(session, sa.select(jobs.c.status, jobs.c.locked_by, jobs.c.payload)
                                  .where(jobs.c.id == second.one().id))).one()
        assert tuple(row) == ("done", None, {"a": [1, "二"]})
        await session.rollback()
    async with app.state.session_factory() as session:  # the rollback undid the driver's statements too
        assert (await execute_core(session, _COUNT, {"k": "t.core"})).scalar() == 0


async def test_errors_are_sqlalchemys_and_leave_nothing(app):
    async with app.state.session_factory() as session:
        await execute_core(session, _COUNT, {"k": "t.err"})  # the transaction has begun
        with pytest.raises(sa.exc.IntegrityError):
            await execute_core(session, _INSERT, {**_job("t.err"), "kind": None})  # NOT NULL
        await session.rollback()
        assert (await execute_core(session, _COUNT, {"k": "t.err"})).scalar() == 0


async def test_insert_if_absent_counts_on_the_driver(app, api):
    from kernel.idempotency import IdempotencyRecord

    async with app.state.session_factory() as session:
        await execute_core(session, _COUNT, {"k": "t.begin"})
        assert await insert_if_absent(session, IdempotencyRecord(scope="s", key="k1", request_hash="h"))
        assert not await insert_if_absent(session, IdempotencyRecord(scope="s", key="k1", request_hash="h"))
        await session.commit()


def test_a_default_sqlalchemy_computes_keeps_sqlalchemys_execution():
    """A column whose default SQLAlchemy computes in Python, or an expanding IN list, is not sent bare."""
    from sqlalchemy.dialects import postgresql

    t = sa.Table("t_defaults", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("at", sa.String, default=lambda: "now"), sa.Column("n", sa.Integer))
    dialect = postgresql.asyncpg.dialect()
    assert _driver_write(sa.insert(t), ("id", "n"), dialect) is None  # ``at`` is SQLAlchemy's to fill
    assert _driver_write(sa.insert(t), ("id", "at", "n"), dialect) is not None
    assert _driver_write(sa.select(t.c.id).where(t.c.n.in_(sa.bindparam("ns", expanding=True))), ("ns",),
                         dialect) is None
