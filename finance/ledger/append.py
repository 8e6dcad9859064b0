"""Appending one entry: cached balances, the entry and its postings, the audit row and the chain link.

On PostgreSQL this is one statement of data-modifying CTEs, run after the account locks. It checks the
idempotency key first (the statement's snapshot is newer than the locks, so a poster of the same key, which
took the same locks, has committed and is seen) and the fund's closed periods (likewise: a close locks the
fund's accounts), and writes nothing when the key is known or the date closed; it advances the
chain head, the last lock every poster takes, held only for this statement and the commit, and computes the
link there (``core.chain_link`` in SQL); foreign keys are checked at the end of the statement, after every
insert. The statement text is built once per shape (accounts × lines), so the driver prepares it once per
connection. On SQLite (one writer at a time) the same steps run as separate Core statements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from finance.fund.models import FundProgram
from finance.ledger.core import GENESIS_HASH, chain_link
from finance.ledger.models import LedgerAccount, LedgerChainHead, LedgerEntry, LedgerPosting
from finance.ledger.periods import LedgerPeriod
from kernel.audit import AuditEvent
from kernel.db import table_of

_accounts = table_of(LedgerAccount)
_entries = table_of(LedgerEntry)
_postings = table_of(LedgerPosting)
_head = table_of(LedgerChainHead)
_audit = table_of(AuditEvent)
_ENTRY_COLUMNS = [c.name for c in _entries.columns if c.name not in ("seq", "prev_hash", "hash")]
_POSTING_COLUMNS = ("id", "line_no", "account_id", "side", "amount")
# PostgreSQL types for the entry's values (asyncpg infers a parameter's type from its use: cast them all).
_PG_TYPES = {"effective_date": "DATE", "created_at": "TIMESTAMPTZ"}


@dataclass(slots=True)
class Append:
    entry: dict[str, Any]  # ledger_entries' columns but seq, prev_hash and hash (the chain gives those)
    postings: list[dict[str, Any]]  # id, line_no, account_id, side, amount
    pending: bool  # the postings' flag
    deltas: list[tuple[str, int, int, int, int]]  # account id, +debits, +credits, +debits pending, +credits pending
    audit: dict[str, Any]  # audit_events' columns
    digest: str  # core.entry_digest of the entry and its postings
    programs: list[str]  # the fund programmes whose closed periods the entry must not be dated in


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the append did: linked the entry (seq, prev_hash, hash), or wrote nothing because the key is
    used (``replay``) or the books are closed through ``closed_through`` (the key check comes first)."""

    linked: tuple[int, str, str] | None = None
    replay: bool = False
    closed_through: str | None = None


async def append(conn: AsyncConnection, a: Append) -> Outcome:
    """Write the entry, unless its key is used or its date is in a closed period (then nothing is written)."""
    run = _append_postgres if conn.dialect.name == "postgresql" else _append_sqlite
    for _ in range(2):
        outcome = await run(conn, a)
        if outcome is not None:
            return outcome
        await _create_head(conn, a.entry["created_at"])  # the very first entry: no head yet
    raise RuntimeError("ledger chain head missing after creating it")


async def _create_head(conn: AsyncConnection, now: datetime) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(insert(_head).values(id=1, last_seq=0, last_hash=GENESIS_HASH, prev_hash=GENESIS_HASH,
                                            updated_at=now).on_conflict_do_nothing(index_elements=["id"]))


@lru_cache(maxsize=64)
def _pg_statement(n_accounts: int, n_lines: int, n_programs: int) -> sa.TextClause:
    def cast(name: str, column: str) -> str:
        return f"CAST(:e_{name} AS {_PG_TYPES.get(column, 'VARCHAR')})"

    entry_values = ", ".join(cast(c, c) for c in _ENTRY_COLUMNS)
    postings = ", ".join(f"(CAST(:p{i}_id AS VARCHAR), CAST(:p{i}_line_no AS INTEGER), CAST(:p{i}_account_id AS "
                         f"VARCHAR), CAST(:p{i}_side AS VARCHAR), CAST(:p{i}_amount AS BIGINT))" for i in range(n_lines))
    deltas = ", ".join(f"(CAST(:a{i}_id AS VARCHAR), CAST(:a{i}_d AS BIGINT), CAST(:a{i}_c AS BIGINT), "
                       f"CAST(:a{i}_dp AS BIGINT), CAST(:a{i}_cp AS BIGINT))" for i in range(n_accounts))
    audit_columns = [c.name for c in _audit.columns]
    audit_values = ", ".join(
        f"CAST(:au_{c} AS {'JSON' if c in ('before', 'after') else 'DATE' if c == 'business_date' else 'TIMESTAMPTZ' if c == 'at' else 'VARCHAR'})"
        for c in audit_columns)
    programs = ", ".join(f"CAST(:pr{i} AS VARCHAR)" for i in range(n_programs))
    closed = (f"c AS (SELECT lp.month FROM ledger_periods AS lp JOIN fund_programs AS fp ON fp.fund_org_id = "
              f"lp.fund_org_id WHERE fp.id IN ({programs}) AND lp.ends_on >= CAST(:e_effective_date AS DATE) "
              "ORDER BY lp.ends_on DESC LIMIT 1)," if n_programs else "c AS (SELECT NULL AS month WHERE false),")
    sql = f"""
WITH k AS (SELECT id, request_hash FROM ledger_entries WHERE idempotency_key = CAST(:e_idempotency_key AS VARCHAR)),
{closed}
h AS (UPDATE ledger_chain_head SET last_seq = last_seq + 1, prev_hash = last_hash,
             last_hash = encode(sha256(convert_to(last_hash || ':' || CAST(last_seq + 1 AS TEXT) || ':' ||
                                                  CAST(:digest AS TEXT), 'UTF8')), 'hex'),
             updated_at = CAST(:e_created_at AS TIMESTAMPTZ)
      WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM k) AND NOT EXISTS (SELECT 1 FROM c) RETURNING last_seq, prev_hash, last_hash),
e AS (INSERT INTO ledger_entries ({", ".join(_ENTRY_COLUMNS)}, seq, prev_hash, hash)
      SELECT {entry_values}, h.last_seq, h.prev_hash, h.last_hash FROM h RETURNING id),
p AS (INSERT INTO ledger_postings (entry_id, pending, effective_date, {", ".join(_POSTING_COLUMNS)})
      SELECT CAST(:e_id AS VARCHAR), CAST(:pending AS BOOLEAN), CAST(:e_effective_date AS DATE), v.*
      FROM (VALUES {postings}) AS v({", ".join(_POSTING_COLUMNS)}) WHERE EXISTS (SELECT 1 FROM h) RETURNING id),
a AS (UPDATE ledger_accounts AS t SET debits_posted = t.debits_posted + v.d, credits_posted = t.credits_posted + v.c,
             debits_pending = t.debits_pending + v.dp, credits_pending = t.credits_pending + v.cp,
             version = t.version + 1, updated_at = CAST(:e_created_at AS TIMESTAMPTZ)
      FROM (VALUES {deltas}) AS v(id, d, c, dp, cp) WHERE t.id = v.id AND EXISTS (SELECT 1 FROM h) RETURNING t.id),
au AS (INSERT INTO audit_events ({", ".join(audit_columns)}) SELECT {audit_values} FROM h RETURNING id)
SELECT (SELECT last_seq FROM h), (SELECT prev_hash FROM h), (SELECT last_hash FROM h), (SELECT id FROM k),
       (SELECT month FROM c)
"""
    return sa.text(" ".join(sql.split()))


async def _append_postgres(conn: AsyncConnection, a: Append) -> Outcome | None:
    params: dict[str, Any] = {f"e_{k}": v for k, v in a.entry.items()}
    params.update(digest=a.digest, pending=a.pending)
    params.update({f"pr{i}": p for i, p in enumerate(a.programs)})
    for i, p in enumerate(a.postings):
        params.update({f"p{i}_{k}": p[k] for k in _POSTING_COLUMNS})
    for i, (account_id, d, c, dp, cp) in enumerate(a.deltas):
        params.update({f"a{i}_id": account_id, f"a{i}_d": d, f"a{i}_c": c, f"a{i}_dp": dp, f"a{i}_cp": cp})
    params.update({f"au_{k}": (json.dumps(v) if k in ("before", "after") and v is not None else v)
                   for k, v in a.audit.items()})
    row = (await conn.execute(_pg_statement(len(a.deltas), len(a.postings), len(a.programs)), params)).one()
    if row[3] is not None:
        return Outcome(replay=True)
    if row[4] is not None:
        return Outcome(closed_through=str(row[4]))
    if row[0] is None:
        return None  # no head row yet
    return Outcome(linked=(int(row[0]), str(row[1]), str(row[2])))


_SQLITE_BALANCES = (
    sa.update(_accounts).where(_accounts.c.id == sa.bindparam("b_id"))
    .values(debits_posted=_accounts.c.debits_posted + sa.bindparam("b_d", type_=sa.BigInteger),
            credits_posted=_accounts.c.credits_posted + sa.bindparam("b_c", type_=sa.BigInteger),
            debits_pending=_accounts.c.debits_pending + sa.bindparam("b_dp", type_=sa.BigInteger),
            credits_pending=_accounts.c.credits_pending + sa.bindparam("b_cp", type_=sa.BigInteger),
            version=_accounts.c.version + 1, updated_at=sa.bindparam("b_now", type_=_accounts.c.updated_at.type)))
_SQLITE_KEY = sa.select(_entries.c.id).where(_entries.c.idempotency_key == sa.bindparam("key"))
_periods = table_of(LedgerPeriod)
_programs = table_of(FundProgram)
_SQLITE_CLOSED = (sa.select(_periods.c.month).join(_programs, _programs.c.fund_org_id == _periods.c.fund_org_id)
                  .where(_programs.c.id.in_(sa.bindparam("programs", expanding=True)),
                         _periods.c.ends_on >= sa.bindparam("effective", type_=sa.Date))
                  .order_by(_periods.c.ends_on.desc()).limit(1))
_SQLITE_HEAD = (sa.update(_head).where(_head.c.id == 1)
                .values(last_seq=_head.c.last_seq + 1, updated_at=sa.bindparam("now", type_=_head.c.updated_at.type))
                .returning(_head.c.last_seq, _head.c.last_hash))


async def _append_sqlite(conn: AsyncConnection, a: Append) -> Outcome | None:
    if (await conn.execute(_SQLITE_KEY, {"key": a.entry["idempotency_key"]})).first() is not None:
        return Outcome(replay=True)
    if a.programs:
        closed = (await conn.execute(_SQLITE_CLOSED, {"programs": a.programs,
                                                      "effective": a.entry["effective_date"]})).first()
        if closed is not None:
            return Outcome(closed_through=str(closed[0]))
    now = a.entry["created_at"]
    head = (await conn.execute(_SQLITE_HEAD, {"now": now})).first()
    if head is None:
        return None
    seq, prev = int(head[0]), str(head[1])
    link = chain_link(prev, seq, a.digest)
    await conn.execute(sa.update(_head).where(_head.c.id == 1).values(last_hash=link, prev_hash=prev))
    await conn.execute(sa.insert(_entries), [{**a.entry, "seq": seq, "prev_hash": prev, "hash": link}])
    await conn.execute(sa.insert(_postings), [
        {**p, "entry_id": a.entry["id"], "pending": a.pending, "effective_date": a.entry["effective_date"]}
        for p in a.postings])
    await conn.execute(_SQLITE_BALANCES, [{"b_id": i, "b_d": d, "b_c": c, "b_dp": dp, "b_cp": cp, "b_now": now}
                                          for i, d, c, dp, cp in a.deltas])
    await conn.execute(sa.insert(_audit), [a.audit])
    return Outcome(linked=(seq, prev, link))
