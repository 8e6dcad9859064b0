"""State machines as data: one table of allowed moves per workflow, one function that applies a move."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from kernel import audit
from kernel.actor import Actor
from kernel.db import utcnow
from kernel.errors import InvalidState

LISTING: dict[str, frozenset[str]] = {
    "open": frozenset({"under_contract", "withdrawn", "expired"}),
    "under_contract": frozenset({"sold", "open", "withdrawn"}),
    "sold": frozenset(),
    "withdrawn": frozenset(),
    "expired": frozenset(),
}
OFFER: dict[str, frozenset[str]] = {
    "pending": frozenset({"accepted", "rejected", "withdrawn", "declined"}),
    "accepted": frozenset(),
    "rejected": frozenset(),
    "withdrawn": frozenset(),
    "declined": frozenset(),
}
DEAL: dict[str, frozenset[str]] = {
    "awaiting_payment": frozenset({"paid", "cancelled"}),
    # A paid deal whose recording is refused (e.g. a pledge registered meanwhile) may be cancelled
    # and the escrowed money returned.
    "paid": frozenset({"recorded", "cancelled"}),
    "recorded": frozenset(),
    "cancelled": frozenset(),
}
AUCTION: dict[str, frozenset[str]] = {
    "open": frozenset({"sold", "unsold", "cancelled"}),
    # A sold lot whose deal is cancelled (the winner never paid) may be re-listed.
    "sold": frozenset({"unsold"}),
    "unsold": frozenset(),
    "cancelled": frozenset(),
}
LICENSE: dict[str, frozenset[str]] = {
    "active": frozenset({"ended", "terminated"}),
    "ended": frozenset(),
    "terminated": frozenset(),
}
MACHINES = {"listing": LISTING, "offer": OFFER, "deal": DEAL, "auction": AUCTION, "license": LICENSE}


async def transition(session: AsyncSession, actor: Actor, obj: Any, kind: str, to: str, *,
                     reason: str | None = None, extra: dict[str, Any] | None = None) -> None:
    """Move ``obj`` (a row with ``status``) to ``to`` if its machine allows it, and audit the move."""
    before = obj.status
    if to not in MACHINES[kind][before]:
        raise InvalidState(f"a {kind} that is {before.replace('_', ' ')} cannot become {to.replace('_', ' ')}")
    obj.status = to
    if hasattr(obj, "updated_at"):
        obj.updated_at = utcnow()
    session.add(obj)
    after: dict[str, Any] = {"status": to, **(extra or {})}
    if reason:
        after["reason"] = reason
    await audit.record(session, actor, f"{kind}.{to}", kind, obj.id, before={"status": before}, after=after)


def add_months(d: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
