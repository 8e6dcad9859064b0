"""One state-machine type for every workflow: a table of ``(status, action) → status`` and ``apply``.

Every status change in the platform goes through ``Workflow.apply`` (one row) or, set-based (the
day-end), ``apply_bulk``, ``apply_where`` and ``apply_staged``, so the rule, the ``updated_at`` stamp and
the audit record (``<workflow>.<action>``) can never be skipped. ``tests/kernel/test_workflow_gate.py``
fails on a ``.status =`` written anywhere else.
Every workflow registers itself by name, and ``GET /workflows`` shows them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, ClassVar, Protocol

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit, event_log
from kernel.actor import Actor
from kernel.db import TZDateTime, table_of, utcnow
from kernel.errors import InvalidState
from kernel.ids import new_id

_RETURNING: dict[tuple[Any, ...], Any] = {}  # apply_returning's statements of a named shape, built once

# Ids per set-based UPDATE: well under the bound-parameter limits of SQLite and asyncpg (32,766).
IDS_PER_STATEMENT = 5000


class Stateful(Protocol):
    id: str
    status: str


class Workflow:
    """A named table of allowed moves. ``field`` is the column it drives (``status`` unless told)."""

    registry: ClassVar[dict[str, Workflow]] = {}

    def __init__(self, name: str, moves: Mapping[tuple[str, str], str], *, initial: str | Iterable[str],
                 field: str = "status") -> None:
        if name in Workflow.registry:
            raise ValueError(f"workflow {name!r} is defined twice")
        self.name = name
        self.moves: dict[tuple[str, str], str] = dict(moves)
        self.initial = (initial,) if isinstance(initial, str) else tuple(initial)
        self.field = field
        Workflow.registry[name] = self

    # -- reading the table --------------------------------------------------------------------------
    @property
    def states(self) -> list[str]:
        seen: dict[str, None] = dict.fromkeys(self.initial)
        for (status, _), target in self.moves.items():
            seen.setdefault(status)
            seen.setdefault(target)
        return list(seen)

    @property
    def terminal(self) -> list[str]:
        sources = {status for status, _ in self.moves}
        return [s for s in self.states if s not in sources]

    def can(self, status: str, action: str) -> bool:
        return (status, action) in self.moves

    def allowed_actions(self, status: str) -> list[str]:
        return sorted(a for (s, a) in self.moves if s == status)

    def sources(self, action: str) -> list[str]:
        """Every status from which ``action`` is allowed (for set-based day-end queries)."""
        return sorted(s for (s, a) in self.moves if a == action)

    def target(self, status: str, action: str, obj_id: str = "") -> str:
        """The status ``action`` leads to from ``status``, or InvalidState naming what is allowed."""
        found = self.moves.get((status, action))
        if found is None:
            label = self.name.replace("_", " ")
            raise InvalidState(
                f"{label} {obj_id} is {status.replace('_', ' ')}; {action.replace('_', ' ')} is not allowed now"
                .replace("  ", " "),
                extra={"current_status": status, "allowed": self.allowed_actions(status)})
        return found

    def ensure(self, obj: Any, action: str) -> str:
        return self.target(getattr(obj, self.field), action, getattr(obj, "id", ""))

    def target_sql(self, status: sa.ColumnElement[str], action: sa.ColumnElement[str] | str
                   ) -> sa.ColumnElement[str]:
        """``target`` as SQL: the status ``action`` leads to from ``status``, NULL where it is not allowed."""
        if isinstance(action, str):
            return sa.case(*((status == s, self.moves[(s, action)]) for s in self.sources(action)))
        return sa.case(*((sa.and_(status == s, action == a), t) for (s, a), t in self.moves.items()))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "field": self.field, "initial": list(self.initial), "states": self.states,
                "terminal": self.terminal,
                "transitions": [{"from": s, "action": a, "to": t} for (s, a), t in self.moves.items()]}

    # -- moving ---------------------------------------------------------------------------------------
    def start(self, obj: Any, status: str | None = None) -> None:
        """Give a new row its first status (one of ``initial``)."""
        first = status or self.initial[0]
        if first not in self.initial:
            raise ValueError(f"{self.name} cannot start as {first}")
        setattr(obj, self.field, first)

    async def apply(self, session: AsyncSession, actor: Actor, obj: Any, action: str, *,
                    audit_action: str | None = None, **details: Any) -> str:
        """Move ``obj`` by ``action`` and audit it as ``<workflow>.<action>``. Returns the new status."""
        before = getattr(obj, self.field)
        to = self.ensure(obj, action)
        setattr(obj, self.field, to)
        if hasattr(obj, "updated_at"):
            obj.updated_at = utcnow()
        session.add(obj)
        await audit.record(session, actor, audit_action or f"{self.name}.{action}", self.name, obj.id,
                           before={self.field: before}, after={self.field: to, **details})
        return to

    async def apply_returning(self, session: AsyncSession, actor: Actor, model: Any, obj_id: str, action: str, *,
                              where: sa.ColumnElement[bool] | None = None, values: Mapping[str, Any] | None = None,
                              params: Mapping[str, Any] | None = None, shape: Any = None,
                              **details: Any) -> Any | None:
        """``apply`` to the row ``obj_id`` of ``model`` as one ``UPDATE … RETURNING`` guarded by the one
        status ``action`` is allowed from (and ``where``): the row's lock and its write in one statement,
        ``values`` written with it (plain values, or SQL expressions whose bound parameters ``params``
        gives). Returns the row as it now stands (refreshed in the session), or None when it was not in
        that status (nothing written, nothing audited). ``shape``: the caller's name for ``where`` and the
        expressions of ``values``, which must be the same whenever it is: the statement is then built once
        and only bound at each call."""
        (before,) = self.sources(action)
        to = self.moves[(before, action)]
        table = table_of(model)
        plain = {k: v for k, v in (values or {}).items() if not isinstance(v, sa.ClauseElement)}
        plain[self.field] = to
        if "updated_at" in table.c:
            plain["updated_at"] = utcnow()
        key = (self.name, table.name, action, shape, tuple(plain))
        stmt = _RETURNING.get(key) if shape is not None else None
        if stmt is None:
            written: dict[str, Any] = {k: sa.bindparam(f"set_{k}", type_=table.c[k].type) for k in plain}
            written.update((k, v) for k, v in (values or {}).items() if isinstance(v, sa.ClauseElement))
            stmt = (sa.update(model).where(table.c.id == sa.bindparam("row_id", type_=table.c.id.type),
                                           table.c[self.field] == before,
                                           where if where is not None else sa.true())
                    .values(written).returning(model)
                    .execution_options(populate_existing=True, synchronize_session=False))
            if shape is not None:
                _RETURNING[key] = stmt
        bound = {"row_id": obj_id, **{f"set_{k}": v for k, v in plain.items()}, **(params or {})}
        obj = (await session.execute(stmt, bound)).scalars().first()
        if obj is None:
            return None
        await audit.record(session, actor, f"{self.name}.{action}", self.name, obj_id,
                           before={self.field: before}, after={self.field: to, **details})
        return obj

    async def apply_bulk(self, session: AsyncSession, actor: Actor, rows: Iterable[tuple[str, str]],
                         action: str, *, table: sa.Table, business_date: date,
                         also_set: Mapping[str, Any] | None = None, **details: Any) -> int:
        """``apply`` for many rows at once (the day-end): one UPDATE per (old, new status) and chunk of ids,
        guarded by the old status, and one batched INSERT of the audit records. ``rows`` are (id, current
        status); ``also_set`` are more column values (or SQL expressions) the same UPDATE writes, so a row
        is written once. Returns rows moved."""
        moves = [(obj_id, status, self.target(status, action, obj_id)) for obj_id, status in rows]
        if not moves:
            return 0
        column = table.c[self.field]
        values: dict[str, Any] = dict(also_set or {})
        if "updated_at" in table.c:
            values["updated_at"] = utcnow()
        groups: dict[tuple[str, str], list[str]] = {}
        for obj_id, before, to in moves:
            groups.setdefault((before, to), []).append(obj_id)
        conn = await session.connection()
        for (before, to), ids in groups.items():
            for i in range(0, len(ids), IDS_PER_STATEMENT):
                await conn.execute(sa.update(table)
                                   .where(table.c.id.in_(ids[i:i + IDS_PER_STATEMENT]), column == before)
                                   .values({**values, self.field: to}))
        at = utcnow()
        events = [{"id": new_id("aud"), "at": at, "business_date": business_date,
                   "actor_user_id": actor.user_id, "actor_org_id": actor.org_id,
                   "action": f"{self.name}.{action}", "object_type": self.name, "object_id": obj_id,
                   "before": {self.field: before}, "after": {self.field: to, **details}}
                  for obj_id, before, to in moves]
        await audit.record_bulk(session, events)
        return len(moves)

    def _records(self, dialect: str, obj_id: sa.ColumnElement[str], status: sa.ColumnElement[str],
                 action: sa.ColumnElement[str] | str, details: Mapping[str, Any]) -> list[sa.ColumnElement[Any]]:
        """The audit columns ``apply`` writes, as SQL (``audit.record_select``)."""
        name = (sa.literal(f"{self.name}.{action}", sa.String) if isinstance(action, str)
                else sa.literal(f"{self.name}.", sa.String) + action)
        return [name, sa.literal(self.name, sa.String),
                obj_id, event_log.json_object_sql(dialect, {self.field: status}),
                event_log.json_object_sql(dialect, {self.field: self.target_sql(status, action), **details})]

    async def apply_where(self, session: AsyncSession, actor: Actor, where: sa.ColumnElement[bool], action: str,
                          *, table: sa.Table, business_date: date, also_set: Mapping[str, Any] | None = None,
                          **details: Any) -> int:
        """``apply_bulk`` for the rows ``where`` picks, all in SQL: one INSERT … SELECT of their audit
        records, then one UPDATE (only rows ``action`` is allowed from). For actions that make no events
        (``apply_staged`` is for those that do). Returns rows moved."""
        if f"{self.name}.{action}" in event_log.CATALOGUE:
            raise ValueError(f"{self.name}.{action} makes events: use apply_staged and write them")
        conn = await session.connection()
        column = table.c[self.field]
        picked = sa.and_(where, column.in_(self.sources(action)))
        await audit.record_select(session, actor, business_date, sa.select(
            *self._records(conn.dialect.name, table.c.id, column, action, details)).where(picked))
        values: dict[str, Any] = {**(also_set or {}), self.field: self.target_sql(column, action)}
        if "updated_at" in table.c:
            values["updated_at"] = utcnow()
        return (await conn.execute(sa.update(table).where(picked).values(values))).rowcount

    async def apply_staged(self, session: AsyncSession, actor: Actor, staged: sa.Table, *, table: sa.Table,
                           business_date: date, also_set: Mapping[str, Any] | None = None, **details: Any) -> int:
        """The set-based move of rows staged in a table of (id, <field> as it is, action or NULL): their
        audit records in one INSERT … SELECT, then one UPDATE of every staged row, which also writes
        ``also_set`` (SQL over ``staged`` too), so a row is written once even when it does not move. The
        caller writes the events the moves make (``event_log.record_select``). Returns rows moved."""
        conn = await session.connection()
        moving = self.target_sql(staged.c[self.field], staged.c.action).is_not(None)  # only allowed moves
        await audit.record_select(session, actor, business_date, sa.select(
            *self._records(conn.dialect.name, staged.c.id, staged.c[self.field], staged.c.action, details))
            .where(moving))
        column = table.c[self.field]
        to = self.target_sql(column, staged.c.action)
        values: dict[str, Any] = {**(also_set or {}), self.field: sa.func.coalesce(to, column)}
        if "updated_at" in table.c:
            values["updated_at"] = sa.case((to.is_not(None), sa.literal(utcnow(), TZDateTime)),
                                          else_=table.c.updated_at)
        await conn.execute(sa.update(table).where(table.c.id == staged.c.id).values(values))
        return (await conn.execute(sa.select(sa.func.count()).select_from(staged).where(moving))).scalar_one()


def all_workflows() -> list[dict[str, Any]]:
    return [w.describe() for w in sorted(Workflow.registry.values(), key=lambda w: w.name)]
