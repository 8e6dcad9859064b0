"""kernel.rows: every table model is built by the one-pass constructor, to the same state as SQLModel's own."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlmodel import SQLModel

import api.app  # noqa: F401  # every model registered
from kernel import rows
from kernel.ids import new_id


def _tables() -> list[type[SQLModel]]:
    found, todo = set(), [SQLModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if hasattr(sub, "__table__"):
                found.add(sub)
    return sorted(found, key=lambda c: c.__name__)


TABLES = _tables()


def _by_sqlmodel(cls: type[SQLModel], values: dict[str, Any]) -> SQLModel:
    """``cls(**values)`` as SQLModel's own constructor builds it."""
    obj = cls.__new__(cls)
    cls._sa_class_manager._new_state_if_none(obj)  # type: ignore[attr-defined]  # what the instrumented __init__ does first
    SQLModel.__init__(obj, **values)
    return obj


def _state(obj: SQLModel) -> dict[str, Any]:
    return {k: v for k, v in obj.__dict__.items() if k != "_sa_instance_state"}


def test_every_table_model_has_it() -> None:
    assert len(TABLES) > 80
    assert [c.__name__ for c in TABLES if not rows.is_installed(c)] == []


@pytest.mark.parametrize("cls", TABLES, ids=lambda c: c.__name__)
def test_the_same_instance_as_sqlmodel_builds(cls: type[SQLModel]) -> None:
    # Every field given (as a string: nothing is validated either way) and none given.
    given = {name: f"v-{new_id('t')}" for name in cls.model_fields}
    ours, theirs = cls(**given), _by_sqlmodel(cls, dict(given))
    assert _state(ours) == _state(theirs) == given
    assert ours.__pydantic_fields_set__ == theirs.__pydantic_fields_set__ == set(given)
    ours, theirs = cls(), _by_sqlmodel(cls, {})
    assert ours.__pydantic_fields_set__ == theirs.__pydantic_fields_set__ == set()
    mine, sqlmodels = _state(ours), _state(theirs)
    assert mine.keys() == sqlmodels.keys()
    for name, field in cls.model_fields.items():
        if field.default_factory is None:
            assert mine.get(name) == sqlmodels.get(name), name
        else:  # a fresh id or timestamp each time: the same kind of value
            assert type(mine[name]) is type(sqlmodels[name]), name
            if isinstance(mine[name], list | dict):
                assert mine[name] == sqlmodels[name] and mine[name] is not sqlmodels[name]


def test_mutable_defaults_are_not_shared() -> None:
    """No model has a plain mutable default today (they use factories), so the constructor's copy is tested on
    AuditEvent's plan with one added: each instance must get its own list."""
    from kernel.audit import AuditEvent

    plan = rows._plan(AuditEvent)
    assert plan is not None
    build = rows._constructor(dataclasses.replace(plan, defaults=(*plan.defaults, ("before", [1], False))))
    made = []
    for _ in range(2):
        obj = AuditEvent.__new__(AuditEvent)
        AuditEvent._sa_class_manager._new_state_if_none(obj)  # type: ignore[attr-defined]  # as the instrumented __init__ does
        build(obj)
        made.append(obj)
    assert made[0].before == made[1].before == [1] and made[0].before is not made[1].before


async def test_a_built_row_is_written_and_read_back(app: Any) -> None:
    from datetime import date

    from kernel.audit import AuditEvent

    event = AuditEvent(business_date=date(2026, 3, 2), actor_user_id="usr_x", actor_org_id="org_x",
                       action="test.rows", object_type="thing", object_id="t1", after={"n": 1})
    async with app.state.session_factory() as session:
        session.add(event)
        await session.commit()
    async with app.state.session_factory() as session:
        back = await session.get(AuditEvent, event.id)
    assert back is not None and back.action == "test.rows" and back.after == {"n": 1}
    assert back.at == event.at and back.before is None
