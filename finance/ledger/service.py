# Over 400 lines on purpose: one posting path (validate, lock, replay, limits, balances, chain) and its readers share private table handles; kept whole so the lock order reads top to bottom.
"""The fund's double-entry ledger: accounts, posting, reversal, balances and verification.

Other packages move money only through ``post`` (or ``reverse``), with lines from ``core.Recipes`` and an
idempotency key of their own making (e.g. ``claim:{id}:payout``), inside their request's transaction.

Posting, in order: validate the lines (pure), resolve and lock the accounts in id order (one statement),
replay if the key is known (authoritative under the locks), check limits, update the cached balances (one
statement) and audit, then lock the chain head (one row, so the chain is linear) and append the entry and
its postings chained to the previous hash (one more statement). The head is held until commit, so nothing
else runs under it. Services only flush; the caller commits (and rolls back on any error).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.ledger import periods
from finance.ledger.core import (
    ACCOUNT_TYPES,
    CREDIT,
    DEBIT,
    GENESIS_HASH,
    LIMIT_RULES,
    NORMAL_SIDE_OF_TYPE,
    SIDES,
    AccountSpec,
    Line,
    bank_deposit_account,
    entry_hash,
    fingerprint,
    mirror,
    program_accounts,
    signed_balance,
    validate_lines,
    violates_limit,
)
from finance.ledger.models import LedgerAccount, LedgerChainHead, LedgerEntry, LedgerPosting
from finance.ledger.schemas import AccountOut, EntryOut
from finance.ledger.scope import Scope, accounts_condition, entries_condition
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.clock import business_date
from kernel.db import insert_unique, is_unique_violation, table_of, utcnow
from kernel.errors import (
    AlreadyExists,
    IdempotencyConflict,
    InvalidState,
    LimitExceeded,
    NotFound,
    ValidationFailed,
)
from kernel.pagination import paginate

_CODE = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.\-]+)*$")
_KIND = re.compile(r"^[a-z][a-z0-9_.]{0,39}$")
VERIFY_BATCH = 500
MAX_PROBLEMS_SHOWN = 100
_accounts_table: sa.Table = table_of(LedgerAccount)
_entries_table: sa.Table = table_of(LedgerEntry)
_postings_table: sa.Table = table_of(LedgerPosting)
_head_table: sa.Table = table_of(LedgerChainHead)


class _Duplicate(Exception):
    """A row with the same unique key already exists (another request made it): use that one."""


# --- accounts ----------------------------------------------------------------------------------------


async def ensure_account(session: AsyncSession, code: str, name: str, type: str, normal_side: str | None = None,
                         limit: str = "none", owner_org_id: str | None = None, *,
                         actor: Actor = SYSTEM) -> LedgerAccount:
    """The account with this code, created if absent. An existing one must have the same definition."""
    if not (1 <= len(code) <= 160 and _CODE.match(code)):
        raise ValidationFailed.at(["code"], "an account code looks like fund:{program_id}:cash")
    if type not in ACCOUNT_TYPES:
        raise ValidationFailed.at(["type"], f"type must be one of {', '.join(ACCOUNT_TYPES)}")
    normal_side = normal_side or NORMAL_SIDE_OF_TYPE[type]
    if normal_side not in SIDES:
        raise ValidationFailed.at(["normal_side"], "normal_side must be debit or credit")
    if limit not in LIMIT_RULES:
        raise ValidationFailed.at(["limit"], f"limit must be one of {', '.join(LIMIT_RULES)}")
    if not 1 <= len(name) <= 200:
        raise ValidationFailed.at(["name"], "name must be 1 to 200 characters")
    wanted: dict[str, Any] = {"type": type, "normal_side": normal_side, "limit_rule": limit, "owner_org_id": owner_org_id}

    existing = await _account_by_code(session, code)
    if existing is None:
        if owner_org_id is not None and await session.get(Org, owner_org_id) is None:
            raise NotFound(f"organisation {owner_org_id} not found")
        account = LedgerAccount(code=code, name=name, **wanted)
        try:
            await insert_unique(session, account, _Duplicate())
        except _Duplicate:
            existing = await _account_by_code(session, code)  # created concurrently
            assert existing is not None
        else:
            await audit.record(session, actor, "ledger.account_opened", "ledger_account", account.id,
                               after={"code": code, "name": name, **wanted})
            return account
    have = {k: getattr(existing, k) for k in wanted}
    if have != wanted:
        raise AlreadyExists(f"ledger account {code} exists with a different definition: {have}")
    return existing


async def ensure_accounts(session: AsyncSession, specs: Iterable[AccountSpec], *,
                          actor: Actor = SYSTEM) -> dict[str, LedgerAccount]:
    out = {}
    for spec in specs:
        out[spec.code] = await ensure_account(session, spec.code, spec.name, spec.type, spec.normal_side,
                                              spec.limit_rule, spec.owner_org_id, actor=actor)
    return out


async def ensure_program_accounts(session: AsyncSession, program_id: str, owner_org_id: str | None = None,
                                  bank_org_ids: Sequence[str] = (), *,
                                  actor: Actor = SYSTEM) -> dict[str, LedgerAccount]:
    """The standard chart of one fund programme, plus a deposit account per cooperating bank."""
    specs = program_accounts(program_id, owner_org_id) + [bank_deposit_account(program_id, b) for b in bank_org_ids]
    return await ensure_accounts(session, specs, actor=actor)


async def _account_by_code(session: AsyncSession, code: str) -> LedgerAccount | None:
    return (await session.exec(select(LedgerAccount).where(LedgerAccount.code == code))).first()


async def get_account(session: AsyncSession, ref: str | LedgerAccount) -> LedgerAccount:
    if isinstance(ref, LedgerAccount):
        return ref
    account = await session.get(LedgerAccount, ref) or await _account_by_code(session, ref)
    if account is None:
        raise NotFound(f"ledger account {ref} not found")
    return account


async def list_accounts(session: AsyncSession, limit: int, cursor: str | None, *, code_prefix: str | None = None,
                        owner_org_id: str | None = None,
                        scope: Scope = None) -> tuple[list[LedgerAccount], bool, str | None]:
    stmt = select(LedgerAccount).where(accounts_condition(scope))
    if code_prefix:
        stmt = stmt.where(col(LedgerAccount.code).startswith(code_prefix, autoescape=True))
    if owner_org_id:
        stmt = stmt.where(LedgerAccount.owner_org_id == owner_org_id)
    return await paginate(session, stmt, LedgerAccount.id, limit, cursor)


def describe_account(account: LedgerAccount) -> AccountOut:
    data = account.model_dump()
    data["balance"] = signed_balance(account.normal_side, account.debits_posted, account.credits_posted)
    return AccountOut.model_validate(data)


# --- posting -----------------------------------------------------------------------------------------


async def post(session: AsyncSession, actor: Actor, *, idempotency_key: str,
               lines: Sequence[Line | tuple[str, str, int]], description: str, kind: str,
               effective_date: date | None = None, object_type: str | None = None,
               object_id: str | None = None) -> LedgerEntry:
    """Append one balanced entry; the same key with the same content returns the original entry.

    Raises ``ValidationFailed`` (bad lines, unknown account, future date), ``IdempotencyConflict`` (the
    key was used for something else) and ``LimitExceeded`` (an account's limit, e.g. cash below zero).
    """
    return await _post(session, actor, idempotency_key=idempotency_key, lines=lines, description=description,
                       kind=kind, effective_date=effective_date, object_type=object_type, object_id=object_id,
                       reverses_entry_id=None)


async def reverse(session: AsyncSession, actor: Actor, entry_id: str, idempotency_key: str,
                  reason: str) -> LedgerEntry:
    """Post the mirror of an entry, linked to it, dated today. An entry is reversed at most once."""
    original = await session.get(LedgerEntry, entry_id)
    if original is None:
        raise NotFound(f"ledger entry {entry_id} not found")
    if original.reverses_entry_id is not None:
        raise InvalidState("a reversal cannot itself be reversed; post the movement again instead")
    postings = await _postings_of(session, [original.id])
    lines = mirror([Line(p.account_id, p.side, p.amount) for p in postings[original.id]])
    return await _post(session, actor, idempotency_key=idempotency_key, lines=lines,
                       description=f"Reversal of entry #{original.seq}: {reason}"[:500], kind="reversal",
                       effective_date=None, object_type=original.object_type, object_id=original.object_id,
                       reverses_entry_id=original.id)


async def _post(session: AsyncSession, actor: Actor, *, idempotency_key: str,
                lines: Sequence[Line | tuple[str, str, int]], description: str, kind: str,
                effective_date: date | None, object_type: str | None, object_id: str | None,
                reverses_entry_id: str | None) -> LedgerEntry:
    _check_text(idempotency_key, description, kind, object_type, object_id)
    checked = validate_lines(lines)
    # Resolving the accounts also locks them, in id order (one round trip): a retry takes the same locks as
    # the original poster, so it has committed (and is visible to the next statement) or waits for us.
    by_ref = await _resolve(session, checked, lock=True)
    # Validate again on ids: a code and an id of one account must not sit on both sides.
    resolved = validate_lines([Line(by_ref[x.account].id, x.side, x.amount) for x in checked])
    request = {"lines": [[x.account, x.side, x.amount] for x in resolved], "description": description,
               "kind": kind, "effective_date": effective_date.isoformat() if effective_date else None,
               "object_type": object_type, "object_id": object_id, "reverses_entry_id": reverses_entry_id}
    request_hash = fingerprint(request)

    # Authoritative for replays (see above). A different request under the same key meets the unique index.
    existing = await _entry_by_key(session, idempotency_key)
    if existing is not None:
        return _replay(existing, request_hash)
    if reverses_entry_id is not None:  # likewise: a reversal of one entry locks that entry's accounts
        done = (await session.exec(select(LedgerEntry).where(
            LedgerEntry.reverses_entry_id == reverses_entry_id))).first()
        if done is not None:
            raise InvalidState(f"entry {reverses_entry_id} was already reversed by entry {done.id}")

    today = await business_date(session)
    effective = effective_date or today
    if effective > today:
        raise ValidationFailed.at(["effective_date"], f"effective_date must not be after the business date {today}")

    accounts = sorted({by_ref[x.account].id: by_ref[x.account] for x in checked}.values(), key=lambda a: a.id)
    await periods.ensure_open(session, accounts, effective)  # after the account locks: see periods
    deltas: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for x in resolved:
        deltas[x.account][0 if x.side == DEBIT else 1] += x.amount
    for account in accounts:
        d, c = deltas[account.id]
        if violates_limit(account.limit_rule, account.normal_side, account.debits_posted + d,
                          account.credits_posted + c):
            have = signed_balance(account.normal_side, account.debits_posted, account.credits_posted)
            raise LimitExceeded(
                f"account {account.code} may not go below zero: balance {have}, "
                f"this entry would take {-signed_balance(account.normal_side, d, c)} from it",
                extra={"account_id": account.id, "account_code": account.code, "balance": have,
                       "rule": account.limit_rule})
        if effective < today:
            await _check_history(session, account, signed_balance(account.normal_side, d, c), effective)

    now = utcnow()
    entry = LedgerEntry(seq=0, idempotency_key=idempotency_key, request_hash=request_hash,
                        effective_date=effective, description=description, kind=kind,
                        reverses_entry_id=reverses_entry_id, object_type=object_type, object_id=object_id,
                        prev_hash=GENESIS_HASH, hash=GENESIS_HASH, created_at=now,
                        created_by_org_id=actor.org_id, created_by_user_id=actor.user_id)
    postings = [LedgerPosting(entry_id=entry.id, line_no=i, account_id=x.account, side=x.side, amount=x.amount,
                              effective_date=effective) for i, x in enumerate(resolved, start=1)]
    # Everything that does not need the chain head is written first: all cached balances in one statement,
    # and the audit row (the entry's id is known already; its seq is on the entry itself).
    await _apply_balances(session, accounts, deltas, now)
    await audit.record(session, actor, "ledger.entry_posted", "ledger_entry", entry.id, after={
        "kind": kind, "effective_date": effective, "reverses_entry_id": reverses_entry_id,
        "object_type": object_type, "object_id": object_id,
        "lines": [{"account": by_ref[x.account].code, "side": x.side, "amount": x.amount} for x in checked]})
    await session.flush()

    # The chain head is the last lock taken (after the accounts, by every poster: no deadlock) and is held
    # until commit, so only two statements run while holding it: take the next seq, then append the entry,
    # its postings and the new head hash together.
    entry.seq, entry.prev_hash = await _advance_head(session, now)
    entry.hash = entry_hash(_hashed_entry(entry), [_hashed_posting(p) for p in postings], entry.prev_hash)
    try:
        await _append(session, entry, postings, now)
    except sa.exc.IntegrityError as exc:
        # The transaction is now unusable; the caller rolls back, as on any error.
        if not is_unique_violation(exc):
            raise
        if "reverses_entry_id" in str(exc.orig):
            raise InvalidState(f"entry {reverses_entry_id} was already reversed") from exc
        raise IdempotencyConflict(f"idempotency key {idempotency_key} was used for a different entry") from exc
    return entry


async def _apply_balances(session: AsyncSession, accounts: Sequence[LedgerAccount],
                          deltas: dict[str, list[int]], now: datetime) -> None:
    """Add each account's deltas in one executemany; the locked ORM rows are brought up to date unflagged."""
    t = _accounts_table
    stmt = (sa.update(t).where(t.c.id == sa.bindparam("b_id"))
            .values(debits_posted=t.c.debits_posted + sa.bindparam("b_d", type_=sa.BigInteger),
                    credits_posted=t.c.credits_posted + sa.bindparam("b_c", type_=sa.BigInteger),
                    version=t.c.version + 1, updated_at=now))
    conn = await session.connection()
    await conn.execute(stmt, [{"b_id": a.id, "b_d": deltas[a.id][0], "b_c": deltas[a.id][1]} for a in accounts])
    for a in accounts:
        d, c = deltas[a.id]
        for name, value in (("debits_posted", a.debits_posted + d), ("credits_posted", a.credits_posted + c),
                            ("version", a.version + 1), ("updated_at", now)):
            set_committed_value(a, name, value)


async def _advance_head(session: AsyncSession, now: datetime) -> tuple[int, str]:
    """Lock the chain head and take the next seq; returns (seq, previous hash)."""
    h = _head_table
    stmt = (sa.update(h).where(h.c.id == 1).values(last_seq=h.c.last_seq + 1, updated_at=now)
            .returning(h.c.last_seq, h.c.last_hash))
    conn = await session.connection()
    row = (await conn.execute(stmt)).first()
    if row is None:  # the very first entry: create the head (a concurrent creator may win; both then update)
        try:
            async with session.begin_nested():
                await conn.execute(sa.insert(h).values(id=1, last_seq=0, last_hash=GENESIS_HASH, updated_at=now))
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
        row = (await conn.execute(stmt)).one()
    return int(row[0]), str(row[1])


async def _append(session: AsyncSession, entry: LedgerEntry, postings: Sequence[LedgerPosting],
                  now: datetime) -> None:
    """Insert the entry and its postings and move the head hash on: one statement on PostgreSQL."""
    conn = await session.connection()
    entry_row = {c.name: getattr(entry, c.name) for c in _entries_table.columns}
    posting_rows = [{c.name: getattr(p, c.name) for c in _postings_table.columns} for p in postings]
    head = sa.update(_head_table).where(_head_table.c.id == 1).values(last_hash=entry.hash)
    if conn.dialect.name == "postgresql":
        # A data-modifying CTE: foreign keys are checked at the end of the statement, after both inserts.
        ins_entry = sa.insert(_entries_table).values(entry_row).returning(_entries_table.c.id).cte("e")
        ins_postings = sa.insert(_postings_table).values(posting_rows).returning(_postings_table.c.id).cte("p")
        await conn.execute(head.add_cte(ins_entry, nest_here=True).add_cte(ins_postings, nest_here=True))
    else:
        await conn.execute(sa.insert(_entries_table).values(entry_row))
        await conn.execute(sa.insert(_postings_table).values(posting_rows))
        await conn.execute(head)
    # Written without the unit of work: attach them as persistent so the session sees them without a query.
    for obj in (entry, *postings):
        make_transient_to_detached(obj)
        session.add(obj)


def _check_text(key: str, description: str, kind: str, object_type: str | None, object_id: str | None) -> None:
    if not 1 <= len(key) <= 255:
        raise ValidationFailed.at(["idempotency_key"], "must be 1 to 255 characters")
    if not 1 <= len(description) <= 500:
        raise ValidationFailed.at(["description"], "must be 1 to 500 characters")
    if not _KIND.match(kind):
        raise ValidationFailed.at(["kind"], "a kind is lower-case letters, digits, '_' or '.', at most 40")
    for name, value in (("object_type", object_type), ("object_id", object_id)):
        if value is not None and not 1 <= len(value) <= 40:
            raise ValidationFailed.at([name], "must be 1 to 40 characters")
    if (object_type is None) != (object_id is None):
        raise ValidationFailed.at(["object_id"], "object_type and object_id go together")


def _replay(existing: LedgerEntry, request_hash: str) -> LedgerEntry:
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(f"idempotency key {existing.idempotency_key} was used for a different entry")
    return existing


async def _entry_by_key(session: AsyncSession, key: str) -> LedgerEntry | None:
    return (await session.exec(select(LedgerEntry).where(LedgerEntry.idempotency_key == key))).first()


async def _resolve(session: AsyncSession, lines: Sequence[Line], *, lock: bool = False) -> dict[str, LedgerAccount]:
    """The accounts the lines name (by id or code); with ``lock``, locked in id order and freshly read."""
    refs = {x.account for x in lines}
    stmt = select(LedgerAccount).where(sa.or_(col(LedgerAccount.id).in_(refs), col(LedgerAccount.code).in_(refs)))
    if lock:
        stmt = (stmt.order_by(col(LedgerAccount.id)).with_for_update()
                .execution_options(populate_existing=True))
    rows = (await session.exec(stmt)).all()
    found: dict[str, LedgerAccount] = {}
    for row in rows:
        found[row.id] = row
        found[row.code] = row
    for i, x in enumerate(lines):
        if x.account not in found:
            raise ValidationFailed.at(["lines", i, "account"], f"ledger account {x.account} does not exist")
    return found


async def _check_history(session: AsyncSession, account: LedgerAccount, delta: int, effective: date) -> None:
    """A back-dated entry must keep a limited account within its limit on every date since ``effective``."""
    if account.limit_rule == "none" or delta >= 0:
        return
    sign = 1 if account.normal_side == DEBIT else -1
    signed = sa.case((col(LedgerPosting.side) == DEBIT, col(LedgerPosting.amount)),
                     else_=-col(LedgerPosting.amount)) * sign
    base = (await session.exec(select(sa.func.coalesce(sa.func.sum(signed), 0)).where(
        LedgerPosting.account_id == account.id, col(LedgerPosting.effective_date) < effective))).one()
    days = (await session.exec(
        select(col(LedgerPosting.effective_date), sa.func.sum(signed))
        .where(LedgerPosting.account_id == account.id, col(LedgerPosting.effective_date) >= effective)
        .group_by(col(LedgerPosting.effective_date)).order_by(col(LedgerPosting.effective_date)))).all()
    running = int(base)
    lowest = running if not days or days[0][0] > effective else None
    for _, amount in days:
        running += int(amount)
        lowest = running if lowest is None else min(lowest, running)
    assert lowest is not None
    if lowest + delta < 0:
        raise LimitExceeded(f"account {account.code} would have gone below zero after {effective}: "
                            f"its lowest balance since then is {lowest}",
                            extra={"account_id": account.id, "account_code": account.code, "balance": lowest,
                                   "rule": account.limit_rule})


def _hashed_entry(entry: LedgerEntry) -> dict[str, Any]:
    return {"id": entry.id, "seq": entry.seq, "idempotency_key": entry.idempotency_key,
            "request_hash": entry.request_hash, "effective_date": entry.effective_date.isoformat(),
            "description": entry.description, "kind": entry.kind, "reverses_entry_id": entry.reverses_entry_id,
            "object_type": entry.object_type, "object_id": entry.object_id,
            "created_at": entry.created_at.astimezone(UTC).isoformat(),
            "created_by_org_id": entry.created_by_org_id, "created_by_user_id": entry.created_by_user_id}


def _hashed_posting(p: LedgerPosting) -> dict[str, Any]:
    return {"id": p.id, "line_no": p.line_no, "account_id": p.account_id, "side": p.side, "amount": p.amount,
            "effective_date": p.effective_date.isoformat()}


# --- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Balance:
    account_id: str
    code: str
    name: str
    type: str
    normal_side: str
    debits: int
    credits: int
    balance: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _balance_of(account: LedgerAccount, debits: int, credits: int) -> Balance:
    return Balance(account.id, account.code, account.name, account.type, account.normal_side, debits, credits,
                   signed_balance(account.normal_side, debits, credits))


async def _posted_sums(session: AsyncSession, as_of: date | None,
                       account_id: str | None = None) -> dict[str, tuple[int, int]]:
    debit = sa.func.sum(sa.case((col(LedgerPosting.side) == DEBIT, col(LedgerPosting.amount)), else_=0))
    credit = sa.func.sum(sa.case((col(LedgerPosting.side) == CREDIT, col(LedgerPosting.amount)), else_=0))
    stmt = select(LedgerPosting.account_id, debit, credit).group_by(col(LedgerPosting.account_id))
    if as_of is not None:
        stmt = stmt.where(col(LedgerPosting.effective_date) <= as_of)
    if account_id is not None:
        stmt = stmt.where(LedgerPosting.account_id == account_id)
    return {row[0]: (int(row[1] or 0), int(row[2] or 0)) for row in (await session.exec(stmt)).all()}


async def balance(session: AsyncSession, account: str | LedgerAccount, as_of: date | None = None) -> Balance:
    """An account's balance now (the cached one) or as of the end of a business date (from postings)."""
    acc = await get_account(session, account)
    if as_of is None:
        return _balance_of(acc, acc.debits_posted, acc.credits_posted)
    d, c = (await _posted_sums(session, as_of, acc.id)).get(acc.id, (0, 0))
    return _balance_of(acc, d, c)


async def balances(session: AsyncSession, as_of: date | None = None) -> list[Balance]:
    """Every account's balance (a trial balance), by code."""
    accounts = (await session.exec(select(LedgerAccount).order_by(col(LedgerAccount.code)))).all()
    if as_of is None:
        return [_balance_of(a, a.debits_posted, a.credits_posted) for a in accounts]
    sums = await _posted_sums(session, as_of)
    return [_balance_of(a, *sums.get(a.id, (0, 0))) for a in accounts]


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


# --- verification ------------------------------------------------------------------------------------


async def verify(session: AsyncSession) -> dict[str, Any]:
    """Re-derive everything: each entry balances, each cached balance equals its postings, the chain holds.

    Reads refresh the session's objects (``populate_existing``): the proof is about the rows, not a cache.
    """
    problems: list[dict[str, Any]] = []
    chain_ok = balanced = True
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    last_seq = 0
    while True:
        batch = list((await session.exec(select(LedgerEntry).where(col(LedgerEntry.seq) > last_seq)
                                          .order_by(col(LedgerEntry.seq)).limit(VERIFY_BATCH)
                                          .execution_options(populate_existing=True))).all())
        if not batch:
            break
        postings = await _postings_of(session, [e.id for e in batch])
        for e in batch:
            checked += 1
            last_seq = e.seq
            ps = postings[e.id]
            if e.seq != expected_seq:
                chain_ok = False
                problems.append({"entry_id": e.id, "problem": "sequence_gap", "expected_seq": expected_seq,
                                 "seq": e.seq})
            if e.prev_hash != prev_hash:
                chain_ok = False
                problems.append({"entry_id": e.id, "problem": "chain_broken", "seq": e.seq})
            if entry_hash(_hashed_entry(e), [_hashed_posting(p) for p in ps], e.prev_hash) != e.hash:
                chain_ok = False
                problems.append({"entry_id": e.id, "problem": "hash_mismatch", "seq": e.seq})
            debits = sum(p.amount for p in ps if p.side == DEBIT)
            credits = sum(p.amount for p in ps if p.side == CREDIT)
            if len(ps) < 2 or debits != credits or any(p.amount <= 0 or p.side not in SIDES for p in ps):
                balanced = False
                problems.append({"entry_id": e.id, "problem": "unbalanced", "seq": e.seq, "debits": debits,
                                 "credits": credits, "postings": len(ps)})
            prev_hash, expected_seq = e.hash, e.seq + 1
    head = await session.get(LedgerChainHead, 1, populate_existing=True)
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (last_seq, prev_hash):
        chain_ok = False
        problems.append({"problem": "head_mismatch", "head_seq": head_seq, "last_seq": last_seq})

    sums = await _posted_sums(session, None)
    accounts = (await session.exec(select(LedgerAccount).order_by(col(LedgerAccount.id))
                                   .execution_options(populate_existing=True))).all()
    for a in accounts:
        d, c = sums.pop(a.id, (0, 0))
        if (a.debits_posted, a.credits_posted) != (d, c):
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "cached_balance_mismatch",
                             "cached": [a.debits_posted, a.credits_posted], "postings": [d, c]})
        if violates_limit(a.limit_rule, a.normal_side, d, c):
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "limit_violated",
                             "balance": signed_balance(a.normal_side, d, c)})
    total_d = sum(a.debits_posted for a in accounts)
    total_c = sum(a.credits_posted for a in accounts)
    if total_d != total_c:
        balanced = False
        problems.append({"problem": "trial_balance_off", "debits": total_d, "credits": total_c})
    return {"balanced": balanced, "chain_intact": chain_ok, "entries_checked": checked,
            "accounts_checked": len(accounts), "problems_total": len(problems),
            "problems": problems[:MAX_PROBLEMS_SHOWN]}
