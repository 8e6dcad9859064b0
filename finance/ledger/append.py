"""Appending one entry: cached balances, the entry and its postings, and the audit row.

On PostgreSQL this is one statement of data-modifying CTEs, run after the account locks. It checks the
idempotency key first (the statement's snapshot is newer than the locks, so a poster of the same key, which
took the same locks, has committed and is seen) and the fund's closed periods (likewise: a close locks the
fund's accounts), and writes nothing when the key is known or the date closed; foreign keys are checked at
the end of the statement, after every insert. The entry is written unsealed (``seq``/``hash`` NULL, its
``digest`` set): the hash chain is linked after commit by ``sealing.py``, so posters share no lock but
their accounts'. The statement text is built once per shape (accounts × lines), so the driver prepares it
once per connection. On SQLite (one writer at a time) the same steps run as separate Core statements.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from finance.fund.models import FundProgram
from finance.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from finance.ledger.periods import LedgerPeriod
from kernel.audit import AuditEvent
from kernel.db import Driver, table_of

_accounts = table_of(LedgerAccount)
_entries = table_of(LedgerEntry)
_postings = table_of(LedgerPosting)
_audit = table_of(AuditEvent)
_ENTRY_COLUMNS = [c.name for c in _entries.columns if c.name not in ("seq", "prev_hash", "hash")]
_POSTING_COLUMNS = ("id", "line_no", "account_id", "side", "amount")
# PostgreSQL types for the entry's values (asyncpg infers a parameter's type from its use: cast them all).
_PG_TYPES = {"effective_date": "DATE", "created_at": "TIMESTAMPTZ"}


@dataclass(slots=True)
class Append:
    entry: dict[str, Any]  # ledger_entries' columns but seq, prev_hash and hash (the sealer gives those)
    postings: list[dict[str, Any]]  # id, line_no, account_id, side, amount
    pending: bool  # the postings' flag
    # In id order (the order the accounts are locked in): account id, +debits, +credits, +debits/credits pending
    deltas: list[tuple[str, int, int, int, int]]
    audit: dict[str, Any]  # audit_events' columns
    programs: list[str]  # the fund programmes whose closed periods the entry must not be dated in


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the append did: wrote the entry, or wrote nothing because the key is used (``replay``) or the
    books are closed through ``closed_through`` (the key check comes first)."""

    written: bool = False
    replay: bool = False
    closed_through: str | None = None


# ``models.POSTING_STATEMENTS``: lock, checks and append in one round trip (positional, so SQLAlchemy compiles
# nothing and the driver prepares it once per connection).
_POST_IN_ONE = ("SELECT ledger_post_entry(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS BIGINT[]), "
                "CAST($4 AS BIGINT[]), CAST($5 AS BIGINT[]), CAST($6 AS BIGINT[]), CAST($7 AS BOOLEAN), "
                "CAST($8 AS TEXT[]), CAST($9 AS JSONB))")
_HAS_POST_FUNCTION = ("SELECT to_regprocedure('ledger_post_entry(text[], text[], bigint[], bigint[], bigint[], "
                      "bigint[], boolean, text[], jsonb)') IS NOT NULL")
_post_function_in: dict[str, bool] = {}  # database URL -> whether it has ledger_post_entry (asked once)
_url_of: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()


async def can_post_in_one(conn: AsyncConnection) -> bool:
    """Whether the database has ``ledger_post_entry``: PostgreSQL, migrated (asked once per database)."""
    if conn.dialect.name != "postgresql":
        return False
    url = str(conn.engine.url)
    if url not in _post_function_in:
        _post_function_in[url] = bool((await conn.exec_driver_sql(_HAS_POST_FUNCTION)).scalar())
    return _post_function_in[url]


async def post_in_one(conn: AsyncConnection, a: Append, codes: Sequence[str], check_limit: bool) -> str:
    """Lock ``a.deltas``' accounts (in id order, each still known by its code in ``codes``) and append,
    unless a check fails (``can_post_in_one`` first). Returns 'written', or why nothing was written:
    'replay' (the key is used), 'stale' (an account id or code is not what the caller knows), 'refused' (a
    limit of ``check_limit`` or a closed period: the full path under the same locks gives the reason)."""
    return str((await conn.exec_driver_sql(_POST_IN_ONE, post_in_one_args(a, codes, check_limit))).scalar())


async def has_post_function(engine: AsyncEngine, d: Driver) -> bool:
    """``can_post_in_one`` on a driver-level connection (asked once per database)."""
    url = _url_of.get(engine.sync_engine)
    if url is None:  # rendering a URL costs more than a posting's other checks together
        url = _url_of[engine.sync_engine] = str(engine.url)
    if url not in _post_function_in:
        _post_function_in[url] = bool(await d.fetchval(_HAS_POST_FUNCTION, ()))
    return _post_function_in[url]


async def post_alone_in_one(d: Driver, a: Append, codes: Sequence[str]) -> str:
    """``post_in_one`` as a statement alone on a driver-level connection (its own transaction), limits
    checked (``has_post_function`` first)."""
    return str(await d.fetchval(_POST_IN_ONE, post_in_one_args(a, codes, True)))


def post_in_one_args(a: Append, codes: Sequence[str], check_limit: bool) -> tuple[Any, ...]:
    entry_id, effective = a.entry["id"], a.entry["effective_date"]
    rows = {"entry": a.entry, "audit": a.audit,
            "postings": [{**p, "entry_id": entry_id, "pending": a.pending, "effective_date": effective}
                         for p in a.postings]}
    ids, d, c, dp, cp = (list(x) for x in zip(*a.deltas, strict=True))
    return ids, list(codes), d, c, dp, cp, check_limit, a.programs, json.dumps(rows, default=_iso)


def _iso(value: date | datetime) -> str:
    return value.isoformat()


async def append(conn: AsyncConnection, a: Append) -> Outcome:
    """Write the entry, unless its key is used or its date is in a closed period (then nothing is written)."""
    if conn.dialect.name == "postgresql":
        return await _append_postgres(conn, a)
    return await _append_sqlite(conn, a)


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
h AS (INSERT INTO ledger_entries ({", ".join(_ENTRY_COLUMNS)})
      SELECT {entry_values} WHERE NOT EXISTS (SELECT 1 FROM k) AND NOT EXISTS (SELECT 1 FROM c) RETURNING id),
p AS (INSERT INTO ledger_postings (entry_id, pending, effective_date, {", ".join(_POSTING_COLUMNS)})
      SELECT CAST(:e_id AS VARCHAR), CAST(:pending AS BOOLEAN), CAST(:e_effective_date AS DATE), v.*
      FROM (VALUES {postings}) AS v({", ".join(_POSTING_COLUMNS)}) WHERE EXISTS (SELECT 1 FROM h) RETURNING id),
a AS (UPDATE ledger_accounts AS t SET debits_posted = t.debits_posted + v.d, credits_posted = t.credits_posted + v.c,
             debits_pending = t.debits_pending + v.dp, credits_pending = t.credits_pending + v.cp,
             version = t.version + 1, updated_at = CAST(:e_created_at AS TIMESTAMPTZ)
      FROM (VALUES {deltas}) AS v(id, d, c, dp, cp) WHERE t.id = v.id AND EXISTS (SELECT 1 FROM h) RETURNING t.id),
au AS (INSERT INTO audit_events ({", ".join(audit_columns)}) SELECT {audit_values} FROM h RETURNING id)
SELECT (SELECT id FROM h), (SELECT id FROM k), (SELECT month FROM c)
"""
    return sa.text(" ".join(sql.split()))


async def _append_postgres(conn: AsyncConnection, a: Append) -> Outcome:
    params: dict[str, Any] = {f"e_{k}": v for k, v in a.entry.items()}
    params["pending"] = a.pending
    params.update({f"pr{i}": p for i, p in enumerate(a.programs)})
    for i, p in enumerate(a.postings):
        params.update({f"p{i}_{k}": p[k] for k in _POSTING_COLUMNS})
    for i, (account_id, d, c, dp, cp) in enumerate(a.deltas):
        params.update({f"a{i}_id": account_id, f"a{i}_d": d, f"a{i}_c": c, f"a{i}_dp": dp, f"a{i}_cp": cp})
    params.update({f"au_{k}": (json.dumps(v) if k in ("before", "after") and v is not None else v)
                   for k, v in a.audit.items()})
    row = (await conn.execute(_pg_statement(len(a.deltas), len(a.postings), len(a.programs)), params)).one()
    if row[1] is not None:
        return Outcome(replay=True)
    if row[2] is not None:
        return Outcome(closed_through=str(row[2]))
    assert row[0] is not None
    return Outcome(written=True)


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


async def _append_sqlite(conn: AsyncConnection, a: Append) -> Outcome:
    if (await conn.execute(_SQLITE_KEY, {"key": a.entry["idempotency_key"]})).first() is not None:
        return Outcome(replay=True)
    if a.programs:
        closed = (await conn.execute(_SQLITE_CLOSED, {"programs": a.programs,
                                                      "effective": a.entry["effective_date"]})).first()
        if closed is not None:
            return Outcome(closed_through=str(closed[0]))
    now = a.entry["created_at"]
    await conn.execute(sa.insert(_entries), [a.entry])
    await conn.execute(sa.insert(_postings), [
        {**p, "entry_id": a.entry["id"], "pending": a.pending, "effective_date": a.entry["effective_date"]}
        for p in a.postings])
    await conn.execute(_SQLITE_BALANCES, [{"b_id": i, "b_d": d, "b_c": c, "b_dp": dp, "b_cp": cp, "b_now": now}
                                          for i, d, c, dp, cp in a.deltas])
    await conn.execute(sa.insert(_audit), [a.audit])
    return Outcome(written=True)
