"""Posting: the one way money moves (``post``, ``reverse`` and the two-phase ``post_pending``/``void_pending``).

Other packages move money only through these, with lines from ``core.Recipes`` and an idempotency key of
their own making (e.g. ``claim:{id}:payout``), inside their request's transaction.

In order: validate the lines (pure); resolve and lock the accounts in id order (one statement, Core rows,
no ORM objects); check dates, closed periods and limits against the locked balances; then one append
(``append.py``: on PostgreSQL a single statement that checks the key, updates the balances, writes the entry,
its postings and the audit row). The common case on PostgreSQL (accounts this process has resolved before,
dated today, not a reversal nor a resolution) is one round trip instead: ``ledger_post_entry`` locks, checks
the key, limits and closed periods, and appends; when it refuses, the full path runs under the same locks
and says why. The entry is written unsealed: ``sealing.py`` links it into the hash
chain after commit, so posters of different accounts share no lock. A known key replays the original
entry, also when a check would now fail. Services only flush; the caller commits (and rolls back on any error).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import instance_state
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger import periods
from finance.ledger.append import (
    Append,
    append,
    can_post_in_one,
    has_post_function,
    post_alone_in_one,
    post_in_one,
)
from finance.ledger.core import (
    DEBIT,
    Line,
    available,
    entry_digest,
    fingerprint,
    mirror,
    signed_balance,
    validate_lines,
)
from finance.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from finance.ledger.reading import _postings_of
from finance.ledger.verification import hashed_entry, hashed_posting_fields
from kernel import event_log, metrics
from kernel.actor import Actor
from kernel.clock import business_date, business_date_on
from kernel.db import driver_connection, is_unique_violation, table_of, utcnow
from kernel.errors import IdempotencyConflict, InvalidState, LimitExceeded, NotFound, ValidationFailed
from kernel.ids import new_id

_POSTED = "ledger.entry_posted"  # the audit action of every entry
_KIND = re.compile(r"^[a-z][a-z0-9_.]{0,39}$")
_accounts = table_of(LedgerAccount)
_LOCK = (sa.select(_accounts.c.id, _accounts.c.code, _accounts.c.normal_side, _accounts.c.limit_rule,
                   _accounts.c.debits_posted, _accounts.c.credits_posted, _accounts.c.debits_pending,
                   _accounts.c.credits_pending)
         .where(sa.or_(_accounts.c.id.in_(sa.bindparam("refs", expanding=True)),
                       _accounts.c.code.in_(sa.bindparam("refs", expanding=True))))
         .order_by(_accounts.c.id).with_for_update())


@dataclass(frozen=True, slots=True)
class Locked:
    """An account as locked by the poster: what the checks read, without an ORM object."""

    id: str
    code: str
    normal_side: str
    limit_rule: str
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


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


async def post_alone(factory: async_sessionmaker[AsyncSession], actor: Actor, *, idempotency_key: str,
                     lines: Sequence[Line | tuple[str, str, int]], description: str, kind: str,
                     effective_date: date | None = None, object_type: str | None = None,
                     object_id: str | None = None, pending: bool = False) -> LedgerEntry:
    """``post`` as the whole of its own transaction, committed on return (same arguments, answers and errors).

    On PostgreSQL the common case (see ``_post_in_one``) is one statement in autocommit on a pooled
    connection at driver level (no session: nothing of the ORM is needed to write it): a statement alone is
    its own transaction, so no BEGIN nor COMMIT round trip, and the account locks are held only while
    ``ledger_post_entry`` runs. A replay is read back without a transaction; any other answer wrote nothing,
    and ``post`` runs in a transaction of its own and says why. Elsewhere it is ``post`` and a commit.
    """
    kw: dict[str, Any] = {"idempotency_key": idempotency_key, "lines": lines, "description": description,
                          "kind": kind, "effective_date": effective_date, "object_type": object_type,
                          "object_id": object_id, "pending": pending}
    engine = factory.kw.get("bind")
    # Only while posting writes nothing but the function's rows (an event would need the transaction).
    if isinstance(engine, AsyncEngine) and engine.dialect.name == "postgresql" and _POSTED not in event_log.CATALOGUE:
        _check_text(idempotency_key, description, kind, object_type, object_id)
        checked = validate_lines(lines)
        ask = _Ask(actor, idempotency_key, description, kind, effective_date, object_type, object_id, None,
                   "pending" if pending else "posted", None)
        done = None
        async with driver_connection(engine) as d:
            today = await business_date_on(d)
            by_ref = _known_refs(checked)
            if (effective_date or today) == today and await has_post_function(engine, d) and by_ref is not None:
                draft = _draft(ask, checked, by_ref, today, today)
                code_of = {k.id: k.code for k in by_ref.values()}
                try:
                    done = await post_alone_in_one(d, draft.job, [code_of[i] for i in draft.deltas])
                except sa.exc.IntegrityError as exc:
                    if not is_unique_violation(exc):
                        raise
                    raise _refusal(exc, ask) from exc
        if done == "written":
            return _written_alone(draft)
        if done == "replay":
            async with factory() as session:
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                existing = await _entry_by_key(session, idempotency_key)
            assert existing is not None
            return _replay(existing, draft.request_hash)
        if done == "stale":
            _forget(checked)
    async with factory() as session:
        entry = await post(session, actor, **kw)
        await session.commit()
        return entry


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
                       description=f"{verb} of pending entry {original.id}: {text}"[:500], kind=original.kind,
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
                       description=f"Reversal of entry {original.id}: {reason}"[:500], kind="reversal",
                       effective_date=None, object_type=original.object_type, object_id=original.object_id,
                       reverses_entry_id=original.id)



async def _post(session: AsyncSession, actor: Actor, *, idempotency_key: str,
                lines: Sequence[Line | tuple[str, str, int]], description: str, kind: str,
                effective_date: date | None, object_type: str | None, object_id: str | None,
                reverses_entry_id: str | None, phase: str = "posted",
                pending_entry_id: str | None = None) -> LedgerEntry:
    _check_text(idempotency_key, description, kind, object_type, object_id)
    checked = validate_lines(lines)
    if session.new or session.dirty or session.deleted:
        await session.flush()  # the caller's own changes are written first, before any ledger lock
    ask = _Ask(actor, idempotency_key, description, kind, effective_date, object_type, object_id,
               reverses_entry_id, phase, pending_entry_id)
    today = await business_date(session)
    effective = effective_date or today
    if phase in ("posted", "pending") and reverses_entry_id is None and effective == today:
        done = await _post_in_one(session, ask, checked, today)
        if done is not None:
            return done
    # Resolving the accounts also locks them, in id order (one round trip): a retry takes the same locks as
    # the original poster, so it has committed (and is visible to the append) or waits for us.
    by_ref = await _lock(session, checked)
    draft = _draft(ask, checked, by_ref, effective, today)
    accounts = [by_ref[i] for i in draft.deltas]
    try:
        await _check(session, accounts, draft.deltas, phase, effective, today, reverses_entry_id, pending_entry_id)
    except (InvalidState, LimitExceeded, ValidationFailed):
        # The key is authoritative: a replay of what was posted returns it, even if it could not post now.
        existing = await _entry_by_key(session, idempotency_key)
        if existing is not None:
            return _replay(existing, draft.request_hash)
        raise
    try:
        outcome = await append(await session.connection(), draft.job)
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise _refusal(exc, ask) from exc
    if outcome.replay:  # the key is known (seen under our locks): nothing was written
        existing = await _entry_by_key(session, idempotency_key)
        assert existing is not None
        return _replay(existing, draft.request_hash)
    if outcome.closed_through is not None:
        raise periods.closed_error(outcome.closed_through, effective)
    assert outcome.written
    # Bring any account object the session holds up to date (unflagged: the row has it).
    _refresh_loaded(session, accounts, draft.deltas, draft.entry.created_at)
    return await _written(session, draft)


@dataclass(frozen=True, slots=True)
class _Ask:
    """What the poster asked for, but the lines."""

    actor: Actor
    idempotency_key: str
    description: str
    kind: str
    effective_date: date | None
    object_type: str | None
    object_id: str | None
    reverses_entry_id: str | None
    phase: str
    pending_entry_id: str | None


@dataclass(frozen=True, slots=True)
class _Known:
    """An account as a poster names it: its id and code (both never change)."""

    id: str
    code: str


@dataclass(slots=True)
class _Draft:
    request_hash: str
    entry: LedgerEntry
    # Per account, in id order: [debits posted, credits posted, debits pending, credits pending] this entry adds.
    deltas: dict[str, list[int]]
    job: Append


# Account refs (codes or ids) this process has resolved. Accounts are never deleted and ids never reused, so
# an entry goes stale only when a table is emptied and refilled (tests): the one round trip locks by id and
# checks the code, and a stale one is only a detour through the full path.
_known: dict[str, _Known] = {}
_KNOWN_MAX = 100_000


async def _post_in_one(session: AsyncSession, ask: _Ask, checked: list[Line], today: date) -> LedgerEntry | None:
    """The common case in one round trip on PostgreSQL (an entry dated today, neither a reversal nor the
    resolution of a pending one): the entry, or None when the full path must run (nothing was written; the
    locks taken stay, and the full path takes them again)."""
    by_ref = _known_refs(checked)
    if by_ref is None:
        return None
    identity_map = session.sync_session.identity_map
    if any(identity_key(LedgerAccount, k.id) in identity_map for k in by_ref.values()):
        return None  # the session holds an account object: the full path brings it up to date
    conn = await session.connection()
    if not await can_post_in_one(conn):
        return None
    draft = _draft(ask, checked, by_ref, today, today)
    code_of = {k.id: k.code for k in by_ref.values()}
    try:
        done = await post_in_one(conn, draft.job, [code_of[i] for i in draft.deltas], check_limit=True)
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise _refusal(exc, ask) from exc
    if done == "written":
        return await _written(session, draft)
    if done == "replay":
        existing = await _entry_by_key(session, ask.idempotency_key)
        assert existing is not None
        return _replay(existing, draft.request_hash)
    if done == "stale":
        _forget(checked)
    return None


def _known_refs(checked: list[Line]) -> dict[str, _Known] | None:
    """The lines' accounts as this process has resolved them, or None if one is new to it."""
    by_ref: dict[str, _Known] = {}
    for x in checked:
        known = _known.get(x.account)
        if known is None:
            return None
        by_ref[x.account] = known
    return by_ref


def _forget(checked: list[Line]) -> None:
    for x in checked:
        _known.pop(x.account, None)


def _draft(ask: _Ask, checked: list[Line], by_ref: Mapping[str, _Known | Locked], effective: date,
           today: date) -> _Draft:
    """The entry, its postings, balance changes and audit row, as the append writes them."""
    # Validate again on ids: a code and an id of one account must not sit on both sides.
    resolved = validate_lines([Line(by_ref[x.account].id, x.side, x.amount) for x in checked])
    phase = ask.phase
    request = {"lines": [[x.account, x.side, x.amount] for x in resolved], "description": ask.description,
               "kind": ask.kind, "effective_date": ask.effective_date.isoformat() if ask.effective_date else None,
               "object_type": ask.object_type, "object_id": ask.object_id,
               "reverses_entry_id": ask.reverses_entry_id}
    if phase != "posted":  # one-phase requests keep the fingerprint they always had
        request |= {"phase": phase, "pending_entry_id": ask.pending_entry_id}
    request_hash = fingerprint(request)
    deltas: dict[str, list[int]] = {i: [0, 0, 0, 0] for i in sorted({x.account for x in resolved})}
    for x in resolved:
        side = 0 if x.side == DEBIT else 1
        if phase in ("posted", "post_pending"):
            deltas[x.account][side] += x.amount
        if phase == "pending":
            deltas[x.account][2 + side] += x.amount
        elif phase in ("post_pending", "void_pending"):
            deltas[x.account][2 + side] -= x.amount
    now = utcnow()
    fields: dict[str, Any] = {
        "id": new_id("lje"), "idempotency_key": ask.idempotency_key, "request_hash": request_hash,
        "effective_date": effective, "description": ask.description, "kind": ask.kind,
        "reverses_entry_id": ask.reverses_entry_id, "object_type": ask.object_type, "object_id": ask.object_id,
        "phase": phase, "pending_entry_id": ask.pending_entry_id, "digest": "", "created_at": now,
        "created_by_org_id": ask.actor.org_id, "created_by_user_id": ask.actor.user_id}
    entry = _entry_object(fields)
    pending = phase in ("pending", "void_pending")
    postings: list[dict[str, Any]] = [
        {"id": new_id("ljp"), "line_no": i, "account_id": x.account, "side": x.side, "amount": x.amount}
        for i, x in enumerate(resolved, start=1)]
    # Fixed now, over the entry's hashed fields (the digest is not one of them): the sealer links it later.
    fields["digest"] = instance_state(entry).dict["digest"] = entry_digest(hashed_entry(entry), [
        hashed_posting_fields(p["id"], p["line_no"], p["account_id"], p["side"], p["amount"], effective, pending)
        for p in postings])
    after = {"kind": ask.kind, "effective_date": effective.isoformat(), "reverses_entry_id": ask.reverses_entry_id,
             "phase": phase, "pending_entry_id": ask.pending_entry_id, "object_type": ask.object_type,
             "object_id": ask.object_id,
             "lines": [{"account": by_ref[x.account].code, "side": x.side, "amount": x.amount} for x in checked]}
    audit_row = {"id": new_id("aud"), "at": now, "business_date": today, "actor_user_id": ask.actor.user_id,
                 "actor_org_id": ask.actor.org_id, "action": _POSTED, "object_type": "ledger_entry",
                 "object_id": entry.id, "before": None, "after": after}
    accounts = {a.id: a for a in by_ref.values()}
    job = Append(entry={c: fields[c] for c in _ENTRY_FIELDS}, postings=postings, pending=pending,
                 deltas=[(i, *_four(d)) for i, d in deltas.items()], audit=audit_row,
                 # closed periods: checked in the append, after the locks
                 programs=periods.programs_of([accounts[i] for i in deltas]))
    return _Draft(request_hash, entry, deltas, job)


_entry_manager = LedgerEntry.__mapper__.class_manager  # type: ignore[attr-defined]  # the mapper is set on the class at runtime


def _entry_object(fields: dict[str, Any]) -> LedgerEntry:
    """The entry as the ORM would load it, without model validation (the fields are checked and the row is
    written by the append): a twentieth of the constructor's cost on the hot path."""
    entry: LedgerEntry = _entry_manager.new_instance()
    instance_state(entry).dict.update(fields, seq=None, prev_hash=None, hash=None)
    return entry


def _written_alone(draft: _Draft) -> LedgerEntry:
    """Written and committed outside any session: the entry as a detached object, as a closed session
    leaves it."""
    entry = draft.entry
    make_transient_to_detached(entry)
    _count(draft)
    return entry


def _count(draft: _Draft) -> None:
    kind, phase = draft.job.entry["kind"], draft.job.entry["phase"]
    counters = _counters.get((kind, phase))
    if counters is None:  # a child per label set, found once (``labels`` costs a lock and a lookup each time)
        counters = _counters[kind, phase] = (metrics.LEDGER_ENTRIES.labels(kind, phase),
                                             metrics.LEDGER_POSTINGS.labels(phase))
    counters[0].inc()
    counters[1].inc(len(draft.job.postings))


_counters: dict[tuple[str, str], tuple[Any, Any]] = {}


async def _written(session: AsyncSession, draft: _Draft) -> LedgerEntry:
    """Written without the unit of work: attach the entry as persistent, so the session sees it without a
    query."""
    entry = draft.entry
    make_transient_to_detached(entry)
    session.add(entry)
    await event_log.record(session, [event_log.Change(_POSTED, "ledger_entry", entry.id, None)])
    _count(draft)
    return entry


def _refusal(exc: sa.exc.IntegrityError, ask: _Ask) -> Exception:
    """What a unique violation of the append means (the transaction is now unusable; the caller rolls back,
    as on any error)."""
    if "reverses_entry_id" in str(exc.orig):
        return InvalidState(f"entry {ask.reverses_entry_id} was already reversed")
    if "pending_entry_id" in str(exc.orig):
        return InvalidState(f"pending entry {ask.pending_entry_id} was already resolved")
    return IdempotencyConflict(f"idempotency key {ask.idempotency_key} was used for a different entry")


def _four(d: list[int]) -> tuple[int, int, int, int]:
    return d[0], d[1], d[2], d[3]


_ENTRY_FIELDS = [c.name for c in table_of(LedgerEntry).columns if c.name not in ("seq", "prev_hash", "hash")]


async def _check(session: AsyncSession, accounts: Sequence[Locked], deltas: dict[str, list[int]], phase: str,
                 effective: date, today: date, reverses_entry_id: str | None, pending_entry_id: str | None) -> None:
    """Everything that may refuse the entry, against the locked balances (raises; writes nothing)."""
    if reverses_entry_id is not None:  # a reversal of one entry locks that entry's accounts
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
    if effective > today:
        raise ValidationFailed.at(["effective_date"], f"effective_date must not be after the business date {today}")
    for account in accounts:
        d, c, dp, cp = deltas[account.id]
        if phase in ("posted", "pending") and account.limit_rule == "no_negative":
            have = available(account.normal_side, account.debits_posted, account.credits_posted,
                             account.debits_pending, account.credits_pending)
            after = available(account.normal_side, account.debits_posted + d, account.credits_posted + c,
                              account.debits_pending + dp, account.credits_pending + cp)
            if after < 0:
                raise LimitExceeded(
                    f"account {account.code} may not go below zero: available {have} (pending counted), "
                    f"this entry would take {have - after} from it",
                    extra={"account_id": account.id, "account_code": account.code, "balance": have,
                           "rule": account.limit_rule})
        if effective < today and phase in ("posted", "pending"):
            await _check_history(session, account, signed_balance(account.normal_side, d, c), effective)


async def _lock(session: AsyncSession, lines: Sequence[Line]) -> dict[str, Locked]:
    """The accounts the lines name (by id or code), locked in id order and freshly read."""
    refs = sorted({x.account for x in lines})
    rows = (await (await session.connection()).execute(_LOCK, {"refs": refs})).all()
    found: dict[str, Locked] = {}
    if len(_known) > _KNOWN_MAX:
        _known.clear()
    for row in rows:
        account = Locked(*row)
        found[account.id] = account
        found[account.code] = account
        _known[account.id] = _known[account.code] = _Known(account.id, account.code)
    for i, x in enumerate(lines):
        if x.account not in found:
            raise ValidationFailed.at(["lines", i, "account"], f"ledger account {x.account} does not exist")
    return found


def _refresh_loaded(session: AsyncSession, accounts: Sequence[Locked], deltas: dict[str, list[int]],
                    now: object) -> None:
    identity_map = session.sync_session.identity_map
    for a in accounts:
        obj = identity_map.get(identity_key(LedgerAccount, a.id))
        if obj is None:
            continue
        d, c, dp, cp = deltas[a.id]
        loaded = obj.__dict__  # an expired attribute is left expired: it loads the row when read
        for name, value in (("debits_posted", a.debits_posted + d), ("credits_posted", a.credits_posted + c),
                            ("debits_pending", a.debits_pending + dp), ("credits_pending", a.credits_pending + cp),
                            ("version", loaded.get("version", 0) + 1), ("updated_at", now)):
            if name in loaded:
                set_committed_value(obj, name, value)


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


async def _check_history(session: AsyncSession, account: Locked, delta: int, effective: date) -> None:
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

