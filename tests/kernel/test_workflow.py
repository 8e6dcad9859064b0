"""The Workflow type itself: the table, the refusals, one row moved and audited, many moved at once."""

from __future__ import annotations

import re
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


async def test_set_based_moves_audit_what_apply_bulk_audits(app, door):
    """``apply_where`` (rows a condition picks) and ``apply_staged`` (rows staged with their action) move
    only what the table allows, and write the records ``apply_bulk`` writes: same action, before, after."""
    meta = sa.MetaData()
    table = sa.Table("test_doors", meta, sa.Column("id", sa.String(40), primary_key=True),
                     sa.Column("status", sa.String(20), nullable=False), sa.Column("n", sa.Integer, nullable=False))
    staged = sa.Table("test_door_moves", meta, sa.Column("id", sa.String(40), primary_key=True),
                      sa.Column("status", sa.String(20), nullable=False), sa.Column("action", sa.String(20)),
                      sa.Column("n", sa.Integer))
    day = date(2026, 3, 2)
    async with app.state.engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(sa.insert(table), [{"id": f"d{i}", "status": s, "n": 0} for i, s in
                                              enumerate(("closed", "closed", "open", "locked", "closed"), 1)])
        await conn.execute(sa.insert(staged), [{"id": "d2", "status": "closed", "action": "open", "n": 1},
                                               {"id": "d3", "status": "open", "action": "lock", "n": 2},  # refused
                                               {"id": "d4", "status": "locked", "action": "break", "n": 3},
                                               {"id": "d5", "status": "closed", "action": None, "n": 4}])
    try:
        async with open_session(app) as session:
            with pytest.raises(ValueError):  # a move that makes events needs its events written too
                await Workflow.registry["loan"].apply_where(session, SYSTEM, sa.true(), "fall_overdue",
                                                            table=table, business_date=day)
            # d3 is open: lock is not allowed from there, so only d1 moves.
            assert await door.apply_where(session, SYSTEM, table.c.id.in_(["d1", "d3"]), "lock", table=table,
                                          business_date=day, also_set={"n": table.c.n + 10}, reason="night") == 1
            assert await door.apply_staged(session, SYSTEM, staged, table=table, business_date=day,
                                           also_set={"n": staged.c.n}) == 2
            await session.commit()
        async with app.state.engine.connect() as conn:
            rows = {r.id: (r.status, r.n) for r in await conn.execute(sa.select(table))}
            audits = (await conn.execute(sa.select(AuditEvent).where(AuditEvent.object_type == "test_door")
                                         .order_by(AuditEvent.object_id))).all()
        # Every staged row is written (``also_set``), whether it moves or not; a refused move keeps its status.
        assert rows == {"d1": ("locked", 10), "d2": ("open", 1), "d3": ("open", 2), "d4": ("broken", 3),
                        "d5": ("closed", 4)}
        assert [(a.action, a.object_id, a.before, a.after) for a in audits] == [
            ("test_door.lock", "d1", {"status": "closed"}, {"status": "locked", "reason": "night"}),
            ("test_door.open", "d2", {"status": "closed"}, {"status": "open"}),
            ("test_door.break", "d4", {"status": "locked"}, {"status": "broken"})]
        assert {(a.business_date, a.actor_user_id, a.actor_org_id) for a in audits} == {
            (day, SYSTEM.user_id, SYSTEM.org_id)}
        # Ids as ``new_id`` makes them, and a later statement's sort after an earlier one's.
        assert all(re.fullmatch(r"aud_[0-9a-f]{23}", a.id) for a in audits)
        assert audits[0].id < min(audits[1].id, audits[2].id)
    finally:
        async with app.state.engine.begin() as conn:
            await conn.run_sync(meta.drop_all)
