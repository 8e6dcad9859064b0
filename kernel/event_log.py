"""Events other parties care about, written in the same transaction as the change (the feed and webhooks).

One place makes them: ``kernel.audit`` hands every audit record here, and the actions named in
``CATALOGUE`` become events. Each event keeps a snapshot of its object and the organisations that may
see it (its *audience*: organisation ids, or ``kind:<org kind>`` for every organisation of a kind). The
package that owns an object type registers a *describer* that gives both, for many objects at once (the
day-end moves thousands of loans in one statement)::

    @event_log.describer("loan")
    async def describe_loans(session, ids) -> dict[str, Described]: ...

A set-based writer (the day-end) makes the same rows with ``record_select``, the snapshot built by the
database (``row_json_sql``). ``GET /events`` reads the feed by audience; ``kernel.webhooks`` fans each
event out to the matching endpoints through the outbox, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.db import TZDateTime, utcnow
from kernel.ids import new_id

# audit action -> event type. Workflow moves are audited as ``<workflow>.<action>``.
CATALOGUE: dict[str, str] = {
    "loan_application.submitted": "loan_application.submitted",
    "loan_offer.submitted": "loan_offer.created",
    "loan_offer.accept": "loan_offer.accepted",
    "loan_offer.decline": "loan_offer.declined",
    "loan_invitation.created": "loan.invitation",
    "loan.invited": "loan.invitation",
    "loan.register_pledge": "loan.secured",
    "loan.disburse": "loan.disbursed",
    "loan.fall_overdue": "loan.overdue",
    "loan.classification_changed": "loan.classification_changed",
    "loan.repay_in_full": "loan.repaid",
    "loan.declare_default": "loan.defaulted",
    "loan.restructured": "loan.restructured",
    "loan_restructure.accept": "loan.restructured",
    "loan.left_cover": "loan.left_cover",
    "margin_call.issued": "margin_call.issued",
    "margin_call.cured": "margin_call.cured",
    "margin_call.cure": "margin_call.cured",
    "margin_call.expire": "margin_call.expired",
    "margin_call.updated": "margin_call.updated",
    "loan.revalued": "loan.revalued",
    "loan.margin_call_uncured": "loan.margin_call_uncured",
    "collateral_addition.requested": "collateral.addition_requested",
    "collateral_addition.register": "collateral.added",
    "collateral_release.requested": "collateral_release.requested",
    "collateral_release.approve": "collateral_release.approved",
    "collateral_release.reject": "collateral_release.rejected",
    "loan.collateral_released": "collateral.released",
    "loan.collateral_alert": "collateral.alert",
    "compensation_claim.opened": "compensation_claim.created",
    "compensation_claim.paid": "compensation_claim.paid",
    "compensation_claim.settle": "compensation_claim.paid",
    "compensation_claim.payout_failed": "compensation_claim.payout_failed",
    "compensation_claim.fail_payout": "compensation_claim.payout_failed",
    "compensation_claim.reject": "compensation_claim.rejected",
    # A party's part of a recovery: paid when its payment landed, or failed (the fund or bank retries).
    "fund_recovery.settle": "recovery.paid",
    "fund_recovery.fail_payout": "recovery.payout_failed",
    "deal.agreed": "deal.created",
    "deal.recorded": "deal.recorded",
    "auction.sold": "auction.closed",
    "auction.unsold": "auction.closed",
    "pledge_consent.requested": "pledge_consent.requested",
    "pledge_consent.approve": "pledge_consent.decided",
    "pledge_consent.reject": "pledge_consent.decided",
    "subsidy_claim.approve": "subsidy_claim.decided",
    "subsidy_claim.reject": "subsidy_claim.decided",
    "whitelist.published": "whitelist.published",
    "whitelist.withdraw": "whitelist.withdrawn",
    "approval_request.created": "approval_request.created",
    "payment.failed": "payment.failed",
    "import.finished": "import.finished",
    "import.done": "import.finished",
    "import.failed": "import.finished",
    "import_job.finish": "import.finished",
    "import_job.fail": "import.finished",
    "import_job.refuse": "import.finished",
}
EVENT_TYPES = sorted(set(CATALOGUE.values()))


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_object", "object_type", "object_id"),)
    id: str = Field(default_factory=lambda: new_id("evt"), primary_key=True, max_length=40)
    type: str = Field(max_length=60, index=True)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)
    # {"object": snapshot after the change, "previous_attributes": what the change replaced}
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class EventAudience(SQLModel, table=True):
    """Who may see an event: an organisation id, or ``kind:<org kind>``. Read by (audience, event id)."""

    __tablename__ = "event_audiences"
    __table_args__ = (sa.Index("ix_event_audiences_audience_event", "audience", "event_id"),)
    event_id: str = Field(foreign_key="events.id", primary_key=True, max_length=40)
    audience: str = Field(primary_key=True, max_length=60)


@dataclass
class Described:
    data: dict[str, Any]
    audience: set[str] = field(default_factory=set)


Describer = Callable[[AsyncSession, list[str]], Awaitable[dict[str, Described]]]
_describers: dict[str, Describer] = {}
EVENTS, AUDIENCES = Event.__table__, EventAudience.__table__  # type: ignore[attr-defined]  # SQLModel does not type __table__


def describer(object_type: str) -> Callable[[Describer], Describer]:
    def register(fn: Describer) -> Describer:
        _describers[object_type] = fn
        return fn

    return register


def kind(org_kind: str) -> str:
    return f"kind:{org_kind}"


def audiences_of(org_id: str, org_kind: str) -> list[str]:
    return [org_id, kind(org_kind)]


@dataclass
class Change:
    """One audited change, as ``kernel.audit`` passes it."""

    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None


_SCALARS = (str, int, float, type(None))


def jsonable(value: Any) -> Any:
    # Scalars are passed over without a call: the day-end snapshots thousands of loans of ~40 fields.
    if isinstance(value, dict):
        return {k: v if isinstance(v, _SCALARS) else jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


async def record(session: AsyncSession, changes: Iterable[Change]) -> list[dict[str, Any]]:
    """Write the events these audited changes make (those in the catalogue with a describer) and hand them
    to the webhooks. Returns the rows written."""
    wanted = [c for c in changes if c.action in CATALOGUE and c.object_type in _describers]
    if not wanted:
        return []
    by_type: dict[str, list[str]] = {}
    for c in wanted:
        by_type.setdefault(c.object_type, []).append(c.object_id)
    described: dict[tuple[str, str], Described] = {}
    for object_type, ids in by_type.items():
        for i in range(0, len(ids), 1000):
            found = await _describers[object_type](session, list(dict.fromkeys(ids[i:i + 1000])))
            described.update({(object_type, k): v for k, v in found.items()})
    now = utcnow()
    rows: list[dict[str, Any]] = []
    audiences: list[dict[str, Any]] = []
    audience_of: dict[str, set[str]] = {}
    for c in wanted:
        view = described.get((c.object_type, c.object_id))
        if view is None:
            continue
        event_id = new_id("evt")
        rows.append({"id": event_id, "type": CATALOGUE[c.action], "object_type": c.object_type,
                     "object_id": c.object_id, "created_at": now,
                     "data": jsonable({"object": view.data, "previous_attributes": c.before or {}})})
        audience_of[event_id] = {a for a in view.audience if a}
        audiences.extend({"event_id": event_id, "audience": a} for a in sorted(audience_of[event_id]))
    if not rows:
        return []
    conn = await session.connection()
    await conn.execute(sa.insert(EVENTS), rows)
    if audiences:
        await conn.execute(sa.insert(AUDIENCES), audiences)
    from kernel import webhooks  # webhooks reads this module's tables

    await webhooks.fan_out(session, rows, audience_of)
    return rows


# -- the same, made by the database (the day-end's set-based moves) -------------------------------------

def json_object_sql(dialect: str, pairs: Mapping[str, Any]) -> sa.ColumnElement[Any]:
    """A JSON object built by the database from SQL expressions (or plain values)."""
    args = [a for k, v in pairs.items()
            for a in (sa.literal(k, sa.String), v if isinstance(v, sa.ColumnElement) else sa.literal(v))]
    if dialect == "postgresql":
        return sa.func.json_build_object(*args, type_=sa.JSON)
    return sa.func.json_object(*args, type_=sa.JSON)


def _json_value(dialect: str, column: sa.ColumnElement[Any], value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``value`` as ``jsonable`` renders the Python value of a column of this type."""
    kind = column.type
    if isinstance(kind, TZDateTime):  # datetime.isoformat() of the UTC value: no fraction when it is zero
        if dialect == "postgresql":
            utc = sa.func.timezone("UTC", value, type_=sa.DateTime)
            fraction = sa.case((sa.extract("microseconds", utc) % 1_000_000 == 0, ""),
                               else_=sa.func.to_char(utc, ".US", type_=sa.String))
            return sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS', type_=sa.String) + fraction + "+00:00"
        # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC)
        return sa.func.replace(sa.func.replace(value, " ", "T", type_=sa.String), ".000000", "",
                               type_=sa.String) + "+00:00"
    if isinstance(kind, sa.DateTime | sa.Float | sa.Numeric):
        # Refused on purpose: the project's timestamps are all TZDateTime and its money integer fen, and the text
        # of a naive timestamp or a float would differ between the databases and Python's isoformat/repr.
        raise TypeError(f"row_json_sql renders no {kind} column ({column.name}): describe such rows in Python")
    if dialect == "postgresql":
        return value
    if isinstance(kind, sa.Boolean):  # SQLite keeps 0/1
        return sa.func.json(sa.case((value == sa.true(), "true"), (value == sa.false(), "false")))
    if isinstance(kind, sa.JSON):  # kept as text: nest it, do not quote it
        return sa.func.json(value)
    return value


def row_json_sql(dialect: str, table: sa.FromClause, overrides: Mapping[str, Any] | None = None
                 ) -> sa.ColumnElement[Any]:
    """What ``jsonable(dict(row))`` makes of a row of ``table`` (a describer's snapshot), built by the
    database; ``overrides`` give some columns other values (SQL expressions of the same type)."""
    overrides = overrides or {}
    return json_object_sql(dialect, {c.name: _json_value(dialect, c, overrides.get(c.name, c)) for c in table.c})


async def record_select(session: AsyncSession, events: sa.Select[Any] | sa.CompoundSelect[Any],
                        audiences: sa.Select[Any] | sa.CompoundSelect[Any]) -> None:
    """``record`` for events a query makes: ``events`` gives (id, type, object_type, object_id, data) and
    ``audiences`` (event_id, audience) pairs of the same ids (so the ids are made before, e.g. staged), the
    rows a describer would have given. Handed to the webhooks as ``record`` does."""
    from kernel import webhooks  # webhooks reads this module's tables

    conn = await session.connection()
    fan_out = await webhooks.any_enabled(session)  # else nothing is read back
    *identity, data = events.subquery().c  # id, type, object_type, object_id; data
    insert = sa.insert(EVENTS).from_select(["id", "type", "object_type", "object_id", "created_at", "data"],
                                           sa.select(*identity, sa.literal(utcnow(), TZDateTime), data))
    add_audiences = sa.insert(AUDIENCES).from_select(["event_id", "audience"], audiences)
    if not fan_out:
        await conn.execute(insert)
        await conn.execute(add_audiences)
        return
    # In the order of their ids (an object's events reach an endpoint in the order they happened)
    rows = sorted((dict(r._mapping) for r in await conn.execute(insert.returning(
        EVENTS.c.id, EVENTS.c.type, EVENTS.c.object_type, EVENTS.c.object_id))), key=lambda r: r["id"])
    audience_of: dict[str, set[str]] = {r["id"]: set() for r in rows}
    for event_id, audience in await conn.execute(add_audiences.returning(AUDIENCES.c.event_id, AUDIENCES.c.audience)):
        audience_of[event_id].add(audience)
    await webhooks.fan_out(session, rows, audience_of)


def visible_to(org_id: str, org_kind: str, *, everything: bool = False) -> Any:
    """The SQL condition on ``events`` for what this organisation may see."""
    if everything:
        return sa.true()
    return EVENTS.c.id.in_(sa.select(AUDIENCES.c.event_id).where(
        AUDIENCES.c.audience.in_(audiences_of(org_id, org_kind))))
