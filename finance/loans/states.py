"""The loan workflows as data: one table of allowed transitions each, and one function that applies them.

Every status change of an application, an offer or a loan goes through ``apply`` so that the rule and
the audit record can never be skipped.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.db import utcnow
from kernel.errors import InvalidState
from kernel.ids import new_id

# (workflow) -> {(from_status, action): to_status}
LOAN: dict[tuple[str, str], str] = {
    ("pending_security", "register_pledge"): "secured",
    ("secured", "disburse"): "active",
    ("active", "fall_overdue"): "overdue",
    ("overdue", "cure"): "active",
    ("active", "repay_in_full"): "repaid",
    ("overdue", "repay_in_full"): "repaid",
    ("overdue", "declare_default"): "defaulted",
    ("defaulted", "compensate"): "compensated",
    # The bank may auction the collateral before the fund has paid (an uncovered loan may never be).
    ("defaulted", "dispose"): "disposing",
    ("compensated", "dispose"): "disposing",
    # The fund's payment can land while the auction runs: the loan stays in disposal.
    ("disposing", "compensate"): "disposing",
    # An unsold lot may be put up again (e.g. with a lower reserve).
    ("disposing", "dispose"): "disposing",
    ("disposing", "close"): "closed",
    ("defaulted", "write_off"): "written_off",
    ("compensated", "write_off"): "written_off",
    ("disposing", "write_off"): "written_off",
}

APPLICATION: dict[tuple[str, str], str] = {
    ("submitted", "accept_offer"): "accepted",
    ("submitted", "withdraw"): "withdrawn",
}

OFFER: dict[tuple[str, str], str] = {
    ("pending", "accept"): "accepted",
    ("pending", "decline"): "declined",
    ("pending", "withdraw"): "withdrawn",
}

WORKFLOWS: dict[str, dict[tuple[str, str], str]] = {
    "loan": LOAN, "loan_application": APPLICATION, "loan_offer": OFFER,
}


class Stateful(Protocol):
    id: str
    status: str


def can(workflow: str, status: str, action: str) -> bool:
    return (status, action) in WORKFLOWS[workflow]


def allowed_actions(workflow: str, status: str) -> list[str]:
    return sorted(a for (s, a) in WORKFLOWS[workflow] if s == status)


def ensure(workflow: str, obj: Stateful, action: str) -> str:
    """The status ``action`` leads to from ``obj``'s status, or InvalidState."""
    target = WORKFLOWS[workflow].get((obj.status, action))
    if target is None:
        raise InvalidState(f"{workflow.replace('_', ' ')} {obj.id} is {obj.status}; "
                           f"{action.replace('_', ' ')} is not allowed now",
                           extra={"current_status": obj.status, "allowed": allowed_actions(workflow, obj.status)})
    return target


async def apply(session: AsyncSession, actor: Actor, workflow: str, obj: Stateful, action: str,
                **details: Any) -> str:
    """Move ``obj`` along ``workflow`` by ``action`` and audit it. Returns the new status."""
    before = obj.status
    target = ensure(workflow, obj, action)
    obj.status = target
    if hasattr(obj, "updated_at"):
        obj.updated_at = utcnow()  # type: ignore[attr-defined]
    session.add(obj)
    await audit.record(session, actor, f"{workflow}.{action}", workflow, obj.id,
                       before={"status": before}, after={"status": target, **details})
    return target


async def apply_bulk(session: AsyncSession, actor: Actor, workflow: str, rows: list[tuple[str, str]],
                     action: str, *, table: Any, business_date: Any, **details: Any) -> int:
    """``apply`` for many rows at once (the day-end): one batched UPDATE guarded by the old status, and the
    audit records in one batched INSERT. ``rows`` are (id, current status). Returns rows moved."""
    import sqlalchemy as sa

    moves = []
    for obj_id, status in rows:
        target = WORKFLOWS[workflow].get((status, action))
        if target is None:
            raise InvalidState(f"{workflow} {obj_id} is {status}; {action} is not allowed")
        moves.append({"b_id": obj_id, "b_from": status, "b_to": target})
    if not moves:
        return 0
    stmt = (sa.update(table).where(table.c.id == sa.bindparam("b_id"), table.c.status == sa.bindparam("b_from"))
            .values(status=sa.bindparam("b_to"), updated_at=utcnow()))
    conn = await session.connection()
    await conn.execute(stmt, moves)
    events = [{"id": new_id("aud"), "at": utcnow(), "business_date": business_date,
               "actor_user_id": actor.user_id, "actor_org_id": actor.org_id, "action": f"{workflow}.{action}",
               "object_type": workflow, "object_id": m["b_id"], "before": {"status": m["b_from"]},
               "after": {"status": m["b_to"], **details}} for m in moves]
    await audit.record_bulk(session, events)
    return len(moves)
