"""``kernel.db.flush_as_one``: on PostgreSQL a session's new rows and changed columns go in one statement,
and leave the session, and the database, as the ORM's flush would."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from kernel.audit import AuditEvent
from kernel.db import flush_as_one, table_of
from kernel.idempotency import IdempotencyRecord
from tests.conftest import IS_POSTGRES
from tests.helpers import statements


def _audit(action: str, **over: Any) -> AuditEvent:
    return AuditEvent(business_date=date(2026, 3, 2), actor_user_id="usr_t", actor_org_id="org_t", action=action,
                      object_type="thing", object_id="thing_1", **over)


async def test_new_and_changed_rows_in_one_statement(app):
    async with app.state.session_factory() as session:
        record = IdempotencyRecord(scope="org_t", key="k1", request_hash="h")
        session.add(record)
        await session.flush()
        ours = _audit("one.statement", after={"amount": 100})
        orms = _audit("orm.flush", after={"amount": 100})
        session.add(ours)
        record.response_status, record.response_headers = 201, {"content-type": "application/json"}
        with statements(app) as seen:
            await flush_as_one(session)
        sent = [s for s in seen if s.split(None, 1)[0].upper() not in {"BEGIN", "COMMIT"}]
        assert len(sent) == (1 if IS_POSTGRES else 2), sent
        assert not session.new and ours in session and sa.inspect(ours).persistent
        assert not sa.inspect(record).committed_state  # clean: the next flush writes nothing of it
        with statements(app) as again:
            session.add(orms)
            await session.flush()  # the ORM's own flush of a twin row, for comparison
        assert len([s for s in again if s.startswith("INSERT")]) == 1 and not [s for s in again if "UPDATE" in s]
        await session.commit()
    audit = table_of(AuditEvent)
    async with app.state.session_factory() as session:
        rows = {r.action: r for r in (await session.execute(
            sa.select(audit.c.action, audit.c.after, audit.c.before.is_(None).label("before_null"))
            .where(audit.c.object_id == "thing_1"))).all()}
        assert rows["one.statement"].after == rows["orm.flush"].after == {"amount": 100}
        assert rows["one.statement"].before_null == rows["orm.flush"].before_null  # None stored alike
        stored = await session.get(IdempotencyRecord, record.id)
        assert stored is not None and stored.response_status == 201
        assert stored.response_headers == {"content-type": "application/json"}


async def test_an_update_of_a_row_gone_fails_as_the_flush_does(app):
    async with app.state.session_factory() as session:
        record = IdempotencyRecord(scope="org_t", key="k2", request_hash="h")
        session.add(record)
        await session.flush()
        await (await session.connection()).execute(
            sa.delete(table_of(IdempotencyRecord)).where(table_of(IdempotencyRecord).c.id == record.id))
        record.response_status = 200
        with pytest.raises(StaleDataError):
            await flush_as_one(session)
        await session.rollback()


async def test_a_delete_is_left_to_the_flush(app):
    async with app.state.session_factory() as session:
        record = IdempotencyRecord(scope="org_t", key="k3", request_hash="h")
        session.add(record)
        await session.flush()
        await session.delete(record)
        session.add(_audit("with.delete"))
        await flush_as_one(session)
        await session.commit()
    async with app.state.session_factory() as session:
        assert await session.get(IdempotencyRecord, record.id) is None
        audit = table_of(AuditEvent)
        assert (await session.execute(sa.select(sa.func.count()).select_from(audit)
                                      .where(audit.c.action == "with.delete"))).scalar_one() == 1
