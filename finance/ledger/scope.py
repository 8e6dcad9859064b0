"""Which part of the ledger a caller may read or write: the programmes its fund administers.

Every programme account's code starts ``fund:{program_id}:`` (``core.Chart``), so a scope is a set of
programme ids; ``None`` is the whole ledger (the regulator, the platform). An entry is in scope when
one of its postings is; a manual posting or reversal must stay wholly inside the scope. What is out of
scope does not exist for the caller (404), whatever the verb.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from kernel.errors import InvalidState, NotFound, ValidationFailed

Scope = frozenset[str] | None
# The only kind a person posts (POST /fund/ledger/entries); every other kind belongs to the workflow
# that made it (deposits, compensation, recoveries, subsidies) and is corrected there, never by hand.
MANUAL_KIND = "manual_adjustment"


def program_of(code: str) -> str | None:
    parts = code.split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "fund" else None


def account_in_scope(account: LedgerAccount, scope: Scope) -> bool:
    return scope is None or program_of(account.code) in scope


def accounts_condition(scope: Scope) -> sa.ColumnElement[bool]:
    if scope is None:
        return sa.true()
    if not scope:
        return sa.false()
    return sa.or_(*(col(LedgerAccount.code).startswith(f"fund:{p}:", autoescape=True) for p in sorted(scope)))


def entries_condition(scope: Scope) -> sa.ColumnElement[bool]:
    if scope is None:
        return sa.true()
    touched = (select(LedgerPosting.entry_id).join(LedgerAccount, col(LedgerAccount.id) == LedgerPosting.account_id)
               .where(accounts_condition(scope)))
    return col(LedgerEntry.id).in_(touched)


async def check_lines(session: AsyncSession, refs: Sequence[str], scope: Scope) -> None:
    """Every line's account (code or id) lies inside the scope; one outside it is refused exactly as an
    account that does not exist (422 at that line)."""
    if scope is None:
        return
    rows = (await session.exec(select(LedgerAccount).where(
        sa.or_(col(LedgerAccount.code).in_(refs), col(LedgerAccount.id).in_(refs))))).all()
    visible = {ref for a in rows if account_in_scope(a, scope) for ref in (a.code, a.id)}
    for i, ref in enumerate(refs):
        if ref not in visible:
            raise ValidationFailed.at(["body", "lines", i, "account"], f"ledger account {ref} does not exist")


async def entry_in_scope(session: AsyncSession, entry_id: str, scope: Scope) -> LedgerEntry:
    entry = (await session.exec(select(LedgerEntry).where(LedgerEntry.id == entry_id,
                                                          entries_condition(scope)))).first()
    if entry is None:
        raise NotFound(f"ledger entry {entry_id} not found")
    return entry


async def check_reversal(session: AsyncSession, entry_id: str, scope: Scope) -> None:
    """A manual reversal: of a manual entry, wholly inside the caller's programmes."""
    entry = await entry_in_scope(session, entry_id, scope)
    if entry.kind != MANUAL_KIND:
        raise InvalidState(f"entry {entry_id} is a {entry.kind} entry: only the workflow that made it "
                           "can correct it, not a manual reversal")
    accounts = (await session.exec(select(LedgerPosting.account_id)
                                   .where(LedgerPosting.entry_id == entry.id))).all()
    outside = [a for a in accounts if a not in await _visible_ids(session, accounts, scope)]
    if outside:  # a manual entry of this fund's that also touched another's (impossible since scoping)
        raise NotFound(f"ledger entry {entry_id} not found")


async def _visible_ids(session: AsyncSession, ids: Sequence[str], scope: Scope) -> set[str]:
    rows = (await session.exec(select(LedgerAccount).where(col(LedgerAccount.id).in_(ids)))).all()
    return {a.id for a in rows if account_in_scope(a, scope)}


def restrict(programs: Collection[str] | None) -> Scope:
    return None if programs is None else frozenset(programs)
