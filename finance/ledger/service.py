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
from sqlalchemy.orm import aliased, make_transient_to_detached
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
    available,
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
from kernel import audit, metrics
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
    b = _cached(account)
    data.update(balance=b.balance, pending_balance=b.pending, available=b.available)
    return AccountOut.model_validate(data)


# --- posting -----------------------------------------------------------------------------------------


async def post(session: AsyncSession, actor: Actor, *, idempotency_key: str,
               lines: Sequence[Line | tuple[str, str, int]], description: str, kind: str,
               effective_date: date | None = None, object_type: str | None = None,
               object_id: str | None = None, pending: bool = False) -> LedgerEntry:
    """Append one balanced entry; the same key with the same content returns the original entry.

    ``pending=True`` makes a two-phase entry (TigerBeetle's pending transfer): its amounts are reserved on
    the accounts (a limit counts them, so reserved cash cannot be spent twice) but not posted, until
    ``post_pending`` posts or ``void_pending`` releases them.

    Raises ``ValidationFailed`` (bad lines, unknown account, future date), ``IdempotencyConflict`` (the
    key was used for something else) and ``LimitExceeded`` (an account's limit, e.g. cash below zero).
    """
    return await _post(session, actor, idempotency_key=idempotency_key, lines=lines, description=description,
                       kind=kind, effective_date=effective_date, object_type=object_type, object_id=object_id,
                       reverses_entry_id=None, phase="pending" if pending else "posted")


async def post_pending(session: AsyncSession, actor: Actor, pending_entry_id: str, idempotency_key: str,
                       description: str | None = None) -> LedgerEntry:
    """Post a pending entry in full (the money landed): its lines move from pending to posted, once."""
    return await _resolve_pending(session, actor, pending_entry_id, idempotency_key, "post_pending",
                                  description or "Posted")


async def void_pending(session: AsyncSession, actor: Actor, pending_entry_id: str, idempotency_key: str,
                       reason: str) -> LedgerEntry:
    """Void a pending entry (the money never moved): its reservation is released, nothing is posted."""
    return await _resolve_pending(session, actor, pending_entry_id, idempotency_key, "void_pending", reason)


async def _resolve_pending(session: AsyncSession, actor: Actor, pending_entry_id: str, idempotency_key: str,
                           phase: str, text: str) -> LedgerEntry:
    original = await session.get(LedgerEntry, pending_entry_id)
    if original is None:
        raise NotFound(f"ledger entry {pending_entry_id} not found")
    if original.phase != "pending":
        raise InvalidState(f"entry {original.id} is not pending (it is {original.phase})")
    postings = await _postings_of(session, [original.id])
    lines = [Line(p.account_id, p.side, p.amount) for p in postings[original.id]]
    verb = "Post" if phase == "post_pending" else "Void"
    return await _post(session, actor, idempotency_key=idempotency_key, lines=lines,
                       description=f"{verb} of pending entry #{original.seq}: {text}"[:500], kind=original.kind,
                       effective_date=None, object_type=original.object_type, object_id=original.object_id,
                       reverses_entry_id=None, phase=phase, pending_entry_id=original.id)


async def reverse(session: AsyncSession, actor: Actor, entry_id: str, idempotency_key: str,
                  reason: str) -> LedgerEntry:
    """Post the mirror of an entry, linked to it, dated today. An entry is reversed at most once."""
    original = await session.get(LedgerEntry, entry_id)
    if original is None:
        raise NotFound(f"ledger entry {entry_id} not found")
    if original.reverses_entry_id is not None:
        raise InvalidState("a reversal cannot itself be reversed; post the movement again instead")
    if original.phase in ("pending", "void_pending"):
        raise InvalidState("a pending entry is voided, not reversed; and a void moved no money")
    postings = await _postings_of(session, [original.id])
    lines = mirror([Line(p.account_id, p.side, p.amount) for p in postings[original.id]])
    return await _post(session, actor, idempotency_key=idempotency_key, lines=lines,
                       description=f"Reversal of entry #{original.seq}: {reason}"[:500], kind="reversal",
                       effective_date=None, object_type=original.object_type, object_id=original.object_id,
                       reverses_entry_id=original.id)


async def _post(session: AsyncSession, actor: Actor, *, idempotency_key: str,
                lines: Sequence[Line | tuple[str, str, int]], description: str, kind: str,
                effective_date: date | None, object_type: str | None, object_id: str | None,
                reverses_entry_id: str | None, phase: str = "posted",
                pending_entry_id: str | None = None) -> LedgerEntry:
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
    if phase != "posted":  # one-phase requests keep the fingerprint they always had
        request |= {"phase": phase, "pending_entry_id": pending_entry_id}
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
    if pending_entry_id is not None:
        done = (await session.exec(select(LedgerEntry).where(
            LedgerEntry.pending_entry_id == pending_entry_id))).first()
        if done is not None:
            raise InvalidState(f"pending entry {pending_entry_id} was already resolved ({done.phase}) by "
                               f"entry {done.id}")

    today = await business_date(session)
    effective = effective_date or today
    if effective > today:
        raise ValidationFailed.at(["effective_date"], f"effective_date must not be after the business date {today}")

    accounts = sorted({by_ref[x.account].id: by_ref[x.account] for x in checked}.values(), key=lambda a: a.id)
    await periods.ensure_open(session, accounts, effective)  # after the account locks: see periods
    # Per account: [debits posted, credits posted, debits pending, credits pending] this entry adds.
    deltas: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for x in resolved:
        side = 0 if x.side == DEBIT else 1
        if phase in ("posted", "post_pending"):
            deltas[x.account][side] += x.amount
        if phase == "pending":
            deltas[x.account][2 + side] += x.amount
        elif phase in ("post_pending", "void_pending"):
            deltas[x.account][2 + side] -= x.amount
    for account in accounts:
        d, c, _, _ = deltas[account.id]
        if phase in ("posted", "pending") and account.limit_rule == "no_negative":
            have = available(account.normal_side, account.debits_posted, account.credits_posted,
                             account.debits_pending, account.credits_pending)
            after = available(account.normal_side, account.debits_posted + d, account.credits_posted + c,
                              account.debits_pending + deltas[account.id][2],
                              account.credits_pending + deltas[account.id][3])
            if after < 0:
                raise LimitExceeded(
                    f"account {account.code} may not go below zero: available {have} (pending counted), "
                    f"this entry would take {have - after} from it",
                    extra={"account_id": account.id, "account_code": account.code, "balance": have,
                           "rule": account.limit_rule})
        if effective < today and phase in ("posted", "pending"):
            await _check_history(session, account, signed_balance(account.normal_side, d, c), effective)

    now = utcnow()
    entry = LedgerEntry(seq=0, idempotency_key=idempotency_key, request_hash=request_hash,
                        effective_date=effective, description=description, kind=kind,
                        reverses_entry_id=reverses_entry_id, object_type=object_type, object_id=object_id,
                        phase=phase, pending_entry_id=pending_entry_id,
                        prev_hash=GENESIS_HASH, hash=GENESIS_HASH, created_at=now,
                        created_by_org_id=actor.org_id, created_by_user_id=actor.user_id)
    postings = [LedgerPosting(entry_id=entry.id, line_no=i, account_id=x.account, side=x.side, amount=x.amount,
                              pending=phase in ("pending", "void_pending"), effective_date=effective)
                for i, x in enumerate(resolved, start=1)]
    # Everything that does not need the chain head is written first: all cached balances in one statement,
    # and the audit row (the entry's id is known already; its seq is on the entry itself).
    await _apply_balances(session, accounts, deltas, now)
    await audit.record(session, actor, "ledger.entry_posted", "ledger_entry", entry.id, after={
        "kind": kind, "effective_date": effective, "reverses_entry_id": reverses_entry_id,
        "phase": phase, "pending_entry_id": pending_entry_id, "object_type": object_type, "object_id": object_id,
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
        if "pending_entry_id" in str(exc.orig):
            raise InvalidState(f"pending entry {pending_entry_id} was already resolved") from exc
        raise IdempotencyConflict(f"idempotency key {idempotency_key} was used for a different entry") from exc
    metrics.LEDGER_ENTRIES.labels(kind, phase).inc()
    metrics.LEDGER_POSTINGS.labels(phase).inc(len(postings))
    return entry


async def _apply_balances(session: AsyncSession, accounts: Sequence[LedgerAccount],
                          deltas: dict[str, list[int]], now: datetime) -> None:
    """Add each account's deltas in one executemany; the locked ORM rows are brought up to date unflagged."""
    t = _accounts_table
    big = sa.BigInteger
    stmt = (sa.update(t).where(t.c.id == sa.bindparam("b_id"))
            .values(debits_posted=t.c.debits_posted + sa.bindparam("b_d", type_=big),
                    credits_posted=t.c.credits_posted + sa.bindparam("b_c", type_=big),
                    debits_pending=t.c.debits_pending + sa.bindparam("b_dp", type_=big),
                    credits_pending=t.c.credits_pending + sa.bindparam("b_cp", type_=big),
                    version=t.c.version + 1, updated_at=now))
    conn = await session.connection()
    await conn.execute(stmt, [{"b_id": a.id, "b_d": deltas[a.id][0], "b_c": deltas[a.id][1],
                               "b_dp": deltas[a.id][2], "b_cp": deltas[a.id][3]} for a in accounts])
    for a in accounts:
        d, c, dp, cp = deltas[a.id]
        for name, value in (("debits_posted", a.debits_posted + d), ("credits_posted", a.credits_posted + c),
                            ("debits_pending", a.debits_pending + dp), ("credits_pending", a.credits_pending + cp),
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
            "created_by_org_id": entry.created_by_org_id, "created_by_user_id": entry.created_by_user_id,
            # Two-phase fields are hashed only when used, so every one-phase entry keeps its hash.
            **({"phase": entry.phase, "pending_entry_id": entry.pending_entry_id} if entry.phase != "posted"
               else {})}


def _hashed_posting(p: LedgerPosting) -> dict[str, Any]:
    return {"id": p.id, "line_no": p.line_no, "account_id": p.account_id, "side": p.side, "amount": p.amount,
            "effective_date": p.effective_date.isoformat(), **({"pending": True} if p.pending else {})}


# --- reading -----------------------------------------------------------------------------------------


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

    sums, pend = await _posted_sums(session, None), await _pending_sums(session, None)
    accounts = (await session.exec(select(LedgerAccount).order_by(col(LedgerAccount.id))
                                   .execution_options(populate_existing=True))).all()
    for a in accounts:
        d, c = sums.pop(a.id, (0, 0))
        if (a.debits_posted, a.credits_posted) != (d, c):
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "cached_balance_mismatch",
                             "cached": [a.debits_posted, a.credits_posted], "postings": [d, c]})
        dp, cp = pend.pop(a.id, (0, 0))
        if (a.debits_pending, a.credits_pending) != (dp, cp):
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "cached_pending_mismatch",
                             "cached": [a.debits_pending, a.credits_pending], "postings": [dp, cp]})
        if a.limit_rule == "no_negative" and available(a.normal_side, d, c, dp, cp) < 0:
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "overcommitted",
                             "available": available(a.normal_side, d, c, dp, cp)})
        if violates_limit(a.limit_rule, a.normal_side, d, c):
            balanced = False
            problems.append({"account_id": a.id, "account_code": a.code, "problem": "limit_violated",
                             "balance": signed_balance(a.normal_side, d, c)})
    total_d = sum(a.debits_posted for a in accounts)
    total_c = sum(a.credits_posted for a in accounts)
    if total_d != total_c:
        balanced = False
        problems.append({"problem": "trial_balance_off", "debits": total_d, "credits": total_c})
    pending_d = sum(a.debits_pending for a in accounts)
    pending_c = sum(a.credits_pending for a in accounts)
    if pending_d != pending_c:
        balanced = False
        problems.append({"problem": "pending_trial_balance_off", "debits": pending_d, "credits": pending_c})
    problems.extend(await _resolution_problems(session))
    balanced = balanced and not any(p["problem"] == "resolution_mismatch" for p in problems)
    return {"balanced": balanced, "chain_intact": chain_ok, "entries_checked": checked,
            "pending_debits": pending_d, "pending_credits": pending_c,
            "accounts_checked": len(accounts), "problems_total": len(problems),
            "problems": problems[:MAX_PROBLEMS_SHOWN]}


async def _resolution_problems(session: AsyncSession) -> list[dict[str, Any]]:
    """Every post or void names a pending entry and repeats its lines exactly."""
    out: list[dict[str, Any]] = []
    resolvers = list((await session.exec(select(LedgerEntry).where(
        col(LedgerEntry.pending_entry_id).is_not(None)))).all())
    if not resolvers:
        return out
    pending_ids = [r.pending_entry_id for r in resolvers if r.pending_entry_id]
    originals = {e.id: e for e in (await session.exec(select(LedgerEntry).where(
        col(LedgerEntry.id).in_(pending_ids)))).all()}
    postings = await _postings_of(session, [r.id for r in resolvers] + pending_ids)
    for r in resolvers:
        original = originals.get(r.pending_entry_id or "")
        lines = sorted((p.account_id, p.side, p.amount) for p in postings[r.id])
        if original is None or original.phase != "pending" or lines != sorted(
                (p.account_id, p.side, p.amount) for p in postings[original.id]):
            out.append({"entry_id": r.id, "problem": "resolution_mismatch", "pending_entry_id": r.pending_entry_id})
    return out
