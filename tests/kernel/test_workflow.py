"""The Workflow type itself: the table, the refusals, one row moved and audited, many moved at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from kernel.actor import SYSTEM
from kernel.audit import AuditEvent
from kernel.errors import InvalidState
from kernel.workflow import Workflow, all_workflows
from tests.helpers import open_session


@pytest.fixture
def door() -> Iterator[Workflow]:
    wf = Workflow("test_door", {("closed", "open"): "open", ("open", "close"): "closed",
                                ("closed", "lock"): "locked", ("locked", "break"): "broken"},
                  initial=("closed", "locked"))
    yield wf
    del Workflow.registry["test_door"]  # keep GET /workflows to the real ones


class Door:
    def __init__(self, status: str) -> None:
        self.id, self.status = "door_1", status


class FakeSession:
    """Enough of a session for ``apply``: it collects what is added (the row and its audit event)."""

    def __init__(self) -> None:
        self.added: list[object] = []
        # What kernel.clock reads of the sync session: no clock row held, nothing cached.
        self.sync_session = SimpleNamespace(identity_map={}, info={})

    def add(self, obj: object) -> None:
        self.added.append(obj)

    async def get(self, *_: object) -> None:
        return None  # no clock row: the business date is IPM_CLOCK_START


def test_reading_the_table(door):
    assert door.states == ["closed", "locked", "open", "broken"]
    assert door.terminal == ["broken"]
    assert door.allowed_actions("closed") == ["lock", "open"]
    assert door.sources("close") == ["open"]
    assert door.can("open", "close") and not door.can("open", "lock")
    described = next(w for w in all_workflows() if w["name"] == "test_door")
    assert described["initial"] == ["closed", "locked"] and described["field"] == "status"
    assert {"from": "locked", "action": "break", "to": "broken"} in described["transitions"]


def test_refusals(door):
    with pytest.raises(InvalidState) as info:
        door.target("open", "lock", "door_1")
    assert info.value.extra == {"current_status": "open", "allowed": ["close"]}
    assert "door_1" in info.value.detail
    with pytest.raises(ValueError):
        door.start(Door("closed"), "open")  # not an initial status
    with pytest.raises(ValueError):
        Workflow("test_door", {}, initial="x")  # one name, one table
    fresh = Door("")
    door.start(fresh)
    assert fresh.status == "closed"
    door.start(fresh, "locked")
    assert fresh.status == "locked"


async def test_apply_moves_and_audits_one_row(door):
    session, row = FakeSession(), Door("closed")
    assert await door.apply(session, SYSTEM, row, "lock", reason="night") == "locked"  # type: ignore[arg-type]
    assert row.status == "locked"
    event = next(o for o in session.added if isinstance(o, AuditEvent))
    assert (event.action, event.object_type, event.object_id) == ("test_door.lock", "test_door", "door_1")
    assert (event.before, event.after) == ({"status": "closed"}, {"status": "locked", "reason": "night"})
    with pytest.raises(InvalidState):
        await door.apply(session, SYSTEM, row, "open")  # type: ignore[arg-type]
    assert row.status == "locked"  # a refused move changes nothing


async def test_apply_bulk_moves_many_rows_and_audits_each(app, door):
    table = sa.Table("test_doors", sa.MetaData(), sa.Column("id", sa.String(40), primary_key=True),
                     sa.Column("status", sa.String(20), nullable=False))
    async with app.state.engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
        await conn.execute(sa.insert(table), [{"id": "d1", "status": "closed"}, {"id": "d2", "status": "closed"},
                                              {"id": "d3", "status": "open"}])
    try:
        async with open_session(app) as session:
            moved = await door.apply_bulk(session, SYSTEM, [("d1", "closed"), ("d2", "closed")], "lock",
                                          table=table, business_date=date(2026, 3, 2), reason="night")
            with pytest.raises(InvalidState):  # d3 is open: lock is not allowed from there
                await door.apply_bulk(session, SYSTEM, [("d3", "open")], "lock", table=table,
                                      business_date=date(2026, 3, 2))
            assert await door.apply_bulk(session, SYSTEM, [], "lock", table=table,
                                         business_date=date(2026, 3, 2)) == 0
            await session.commit()
        assert moved == 2
        async with app.state.engine.connect() as conn:
            statuses = dict((await conn.execute(sa.select(table.c.id, table.c.status))).all())
            events = (await conn.execute(sa.select(AuditEvent.action, AuditEvent.object_id, AuditEvent.after)
                                         .where(AuditEvent.object_type == "test_door")
                                         .order_by(AuditEvent.object_id))).all()
        assert statuses == {"d1": "locked", "d2": "locked", "d3": "open"}
        assert [tuple(e) for e in events] == [("test_door.lock", "d1", {"status": "locked", "reason": "night"}),
                                              ("test_door.lock", "d2", {"status": "locked", "reason": "night"})]
    finally:
        async with app.state.engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
