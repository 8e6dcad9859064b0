"""Reading the ledger: balances now (cached) or as of a date (from postings), entries and their postings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger.accounts import get_account
from finance.ledger.core import CREDIT, DEBIT, available, signed_balance
from finance.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from finance.ledger.schemas import AccountOut, EntryOut
from finance.ledger.scope import Scope, entries_condition
from kernel.errors import NotFound, ValidationFailed
from kernel.pagination import paginate


@dataclass(frozen=True, slots=True)
class Balance:
    """Posted and pending apart: ``balance`` is posted only; ``available`` also counts reserved outflows."""

    account_id: str
    code: str
    name: str
    type: str
    normal_side: str
    debits: int
    credits: int
    balance: int
    debits_pending: int = 0
    credits_pending: int = 0
    pending: int = 0
    available: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _balance_of(account: LedgerAccount, debits: int, credits: int, debits_pending: int = 0,
                credits_pending: int = 0) -> Balance:
    n = account.normal_side
    return Balance(account.id, account.code, account.name, account.type, n, debits, credits,
                   signed_balance(n, debits, credits), debits_pending, credits_pending,
                   signed_balance(n, debits_pending, credits_pending),
                   available(n, debits, credits, debits_pending, credits_pending))


def _cached(account: LedgerAccount) -> Balance:
    return _balance_of(account, account.debits_posted, account.credits_posted, account.debits_pending,
                       account.credits_pending)


def _sides() -> tuple[Any, Any]:
    debit = sa.func.sum(sa.case((col(LedgerPosting.side) == DEBIT, col(LedgerPosting.amount)), else_=0))
    credit = sa.func.sum(sa.case((col(LedgerPosting.side) == CREDIT, col(LedgerPosting.amount)), else_=0))
    return debit, credit


async def _posted_sums(session: AsyncSession, as_of: date | None,
                       account_id: str | None = None) -> dict[str, tuple[int, int]]:
    debit, credit = _sides()
    stmt = (select(LedgerPosting.account_id, debit, credit).where(col(LedgerPosting.pending).is_(False))
            .group_by(col(LedgerPosting.account_id)))
    if as_of is not None:
        stmt = stmt.where(col(LedgerPosting.effective_date) <= as_of)
    if account_id is not None:
        stmt = stmt.where(LedgerPosting.account_id == account_id)
    return {row[0]: (int(row[1] or 0), int(row[2] or 0)) for row in (await session.exec(stmt)).all()}


async def _pending_sums(session: AsyncSession, as_of: date | None,
                        account_id: str | None = None) -> dict[str, tuple[int, int]]:
    """Lines of pending entries not posted or voided (by the end of ``as_of``), per account."""
    debit, credit = _sides()
    resolver = aliased(LedgerEntry)
    resolved = select(resolver.id).where(resolver.pending_entry_id == LedgerEntry.id)
    if as_of is not None:
        resolved = resolved.where(resolver.effective_date <= as_of)
    stmt = (select(LedgerPosting.account_id, debit, credit)
            .join(LedgerEntry, col(LedgerEntry.id) == col(LedgerPosting.entry_id))
            .where(LedgerEntry.phase == "pending", ~resolved.exists())
            .group_by(col(LedgerPosting.account_id)))
    if as_of is not None:
        stmt = stmt.where(col(LedgerPosting.effective_date) <= as_of)
    if account_id is not None:
        stmt = stmt.where(LedgerPosting.account_id == account_id)
    return {row[0]: (int(row[1] or 0), int(row[2] or 0)) for row in (await session.exec(stmt)).all()}


async def balance(session: AsyncSession, account: str | LedgerAccount, as_of: date | None = None) -> Balance:
    """An account's balance now (the cached one) or as of the end of a business date (from postings)."""
    acc = await get_account(session, account)
    if as_of is None:
        return _cached(acc)
    d, c = (await _posted_sums(session, as_of, acc.id)).get(acc.id, (0, 0))
    dp, cp = (await _pending_sums(session, as_of, acc.id)).get(acc.id, (0, 0))
    return _balance_of(acc, d, c, dp, cp)


async def balances(session: AsyncSession, as_of: date | None = None) -> list[Balance]:
    """Every account's balance (a trial balance), by code."""
    accounts = (await session.exec(select(LedgerAccount).order_by(col(LedgerAccount.code)))).all()
    if as_of is None:
        return [_cached(a) for a in accounts]
    sums, pend = await _posted_sums(session, as_of), await _pending_sums(session, as_of)
    return [_balance_of(a, *sums.get(a.id, (0, 0)), *pend.get(a.id, (0, 0))) for a in accounts]


async def get_entry(session: AsyncSession, entry_id: str) -> LedgerEntry:
    entry = await session.get(LedgerEntry, entry_id)
    if entry is None:
        raise NotFound(f"ledger entry {entry_id} not found")
    return entry


async def list_entries(session: AsyncSession, limit: int, cursor: str | None, *, account_id: str | None = None,
                       date_from: date | None = None, date_to: date | None = None, kind: str | None = None,
                       object_type: str | None = None, object_id: str | None = None,
                       scope: Scope = None) -> tuple[list[LedgerEntry], bool, str | None]:
    if date_from and date_to and date_from > date_to:
        raise ValidationFailed.at(["query", "from"], "from must not be after to")
    stmt = select(LedgerEntry).where(entries_condition(scope))
    if account_id:
        stmt = stmt.where(col(LedgerEntry.id).in_(
            select(LedgerPosting.entry_id).where(LedgerPosting.account_id == account_id)))
    if date_from:
        stmt = stmt.where(col(LedgerEntry.effective_date) >= date_from)
    if date_to:
        stmt = stmt.where(col(LedgerEntry.effective_date) <= date_to)
    if kind:
        stmt = stmt.where(LedgerEntry.kind == kind)
    if object_type:
        stmt = stmt.where(LedgerEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(LedgerEntry.object_id == object_id)
    return await paginate(session, stmt, LedgerEntry.id, limit, cursor)


async def _postings_of(session: AsyncSession, entry_ids: Sequence[str]) -> dict[str, list[LedgerPosting]]:
    out: dict[str, list[LedgerPosting]] = {i: [] for i in entry_ids}
    if entry_ids:
        stmt = select(LedgerPosting).where(col(LedgerPosting.entry_id).in_(entry_ids)).order_by(
            col(LedgerPosting.entry_id), col(LedgerPosting.line_no)).execution_options(populate_existing=True)
        for p in (await session.exec(stmt)).all():
            out[p.entry_id].append(p)
    return out


async def reversed_by(session: AsyncSession, entry_ids: Sequence[str]) -> dict[str, str]:
    """Which entry reversed each of these (derived, never stored on the original)."""
    if not entry_ids:
        return {}
    rows = (await session.exec(select(LedgerEntry.reverses_entry_id, LedgerEntry.id).where(
        col(LedgerEntry.reverses_entry_id).in_(entry_ids)))).all()
    return {r[0]: r[1] for r in rows if r[0]}


async def describe_entries(session: AsyncSession, entries: Sequence[LedgerEntry]) -> list[EntryOut]:
    ids = [e.id for e in entries]
    postings = await _postings_of(session, ids)
    reversals = await reversed_by(session, ids)
    account_ids = {p.account_id for ps in postings.values() for p in ps}
    codes = dict((await session.exec(select(LedgerAccount.id, LedgerAccount.code).where(
        col(LedgerAccount.id).in_(account_ids)))).all()) if account_ids else {}
    out = []
    for e in entries:
        data = e.model_dump(exclude={"request_hash"})
        data["reversed_by_entry_id"] = reversals.get(e.id)
        data["postings"] = [{"id": p.id, "line_no": p.line_no, "account_id": p.account_id,
                             "account_code": codes.get(p.account_id, ""), "side": p.side, "amount": p.amount}
                            for p in postings[e.id]]
        out.append(EntryOut.model_validate(data))
    return out



def describe_account(account: LedgerAccount) -> AccountOut:
    data = account.model_dump()
    b = _cached(account)
    data.update(balance=b.balance, pending_balance=b.pending, available=b.available)
    return AccountOut.model_validate(data)
