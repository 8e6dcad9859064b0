"""Ledger tables: accounts with cached balances, append-only entries and postings, and the chain head.

Entries and postings are never updated or deleted (a correction is a reversal entry); on PostgreSQL a
row trigger refuses UPDATE and DELETE, but for the one sealing update of an entry (``seq``, ``prev_hash``
and ``hash`` from NULL to values, once, nothing else changed; ``sealing.py``). TRUNCATE is not a row event,
so test clean-up still works.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import DDL, event
from sqlmodel import Field, SQLModel

from finance.ledger.core import ACCOUNT_TYPES, CURRENCY, GENESIS_HASH, LIMIT_RULES, SIDES
from kernel.db import TZDateTime, created_at_field, table_of, utcnow
from kernel.ids import new_id


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        sa.CheckConstraint(f"type IN {ACCOUNT_TYPES!r}", name="type"),
        sa.CheckConstraint(f"normal_side IN {SIDES!r}", name="normal_side"),
        sa.CheckConstraint(f"limit_rule IN {LIMIT_RULES!r}", name="limit_rule"),
        sa.CheckConstraint("debits_posted >= 0 AND credits_posted >= 0", name="posted_non_negative"),
        sa.CheckConstraint("debits_pending >= 0 AND credits_pending >= 0", name="pending_non_negative"),
        # The limit also holds in the database, whatever code writes the row.
        sa.CheckConstraint(
            "limit_rule <> 'no_negative' OR (normal_side = 'debit' AND debits_posted >= credits_posted) "
            "OR (normal_side = 'credit' AND credits_posted >= debits_posted)", name="no_negative"),
    )
    id: str = Field(default_factory=lambda: new_id("lac"), primary_key=True, max_length=40)
    code: str = Field(max_length=160, unique=True)
    name: str = Field(max_length=200)
    owner_org_id: str | None = Field(default=None, foreign_key="orgs.id", index=True, max_length=40)
    type: str = Field(max_length=12)
    normal_side: str = Field(max_length=6)
    limit_rule: str = Field(default="none", max_length=20)
    currency: str = Field(default=CURRENCY, max_length=3)
    debits_posted: int = Field(default=0, sa_type=sa.BigInteger)
    credits_posted: int = Field(default=0, sa_type=sa.BigInteger)
    # Two-phase entries (TigerBeetle's pending transfers): reserved, not yet posted or voided.
    debits_pending: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    credits_pending: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    # Bumped on every balance change: lets readers detect a moved balance; writers lock the row.
    version: int = Field(default=0)
    created_at: datetime = created_at_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


class LedgerEntry(SQLModel, table=True):
    """A journal entry. ``seq`` is its place in the hash chain (1, 2, 3 … with no gaps), given with ``prev_hash``
    and ``hash`` when the sealer links it after commit; until then the three are NULL (unsealed)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.CheckConstraint("length(hash) = 64 AND length(prev_hash) = 64", name="hash_length"),
        sa.CheckConstraint("(seq IS NULL) = (hash IS NULL) AND (seq IS NULL) = (prev_hash IS NULL)",
                           name="sealed_whole"),
        sa.CheckConstraint("length(digest) = 64", name="digest_length"),
        # The sealer's queue: unsealed entries in the order it links them.
        sa.Index("ix_ledger_entries_unsealed", "created_at", "id", postgresql_where=sa.text("seq IS NULL"),
                 sqlite_where=sa.text("seq IS NULL")),
        sa.Index("ix_ledger_entries_object", "object_type", "object_id"),
        # Unique among the rows that have one: partial, so an entry with none (every posting until sealed;
        # nearly every entry for the other two) adds nothing to these indexes.
        *(sa.Index(f"uq_ledger_entries_{c}", c, unique=True, postgresql_where=sa.text(f"{c} IS NOT NULL"),
                   sqlite_where=sa.text(f"{c} IS NOT NULL")) for c in ("seq", "reverses_entry_id", "pending_entry_id")),
        sa.CheckConstraint("phase IN ('posted', 'pending', 'post_pending', 'void_pending')", name="phase"),
        sa.CheckConstraint("(phase IN ('post_pending', 'void_pending')) = (pending_entry_id IS NOT NULL)",
                           name="resolves_a_pending_entry"),
    )
    id: str = Field(default_factory=lambda: new_id("lje"), primary_key=True, max_length=40)
    seq: int | None = Field(default=None, sa_type=sa.BigInteger)  # unique (a partial index)
    idempotency_key: str = Field(max_length=255, unique=True)
    # sha256 of what was asked for: a replay with the same key must ask for the same thing.
    request_hash: str = Field(max_length=64)
    effective_date: date = Field(index=True)
    description: str = Field(max_length=500)
    kind: str = Field(max_length=40, index=True)
    # Unique (a partial index): an entry is reversed at most once (the database holds this even under races).
    reverses_entry_id: str | None = Field(default=None, foreign_key="ledger_entries.id", max_length=40)
    object_type: str | None = Field(default=None, max_length=40)
    object_id: str | None = Field(default=None, max_length=40)
    # posted (one phase) | pending (reserves) | post_pending / void_pending (resolve ``pending_entry_id``).
    phase: str = Field(default="posted", max_length=12, sa_column_kwargs={"server_default": "posted"})
    # Unique (a partial index): a pending entry is posted or voided at most once.
    pending_entry_id: str | None = Field(default=None, foreign_key="ledger_entries.id", max_length=40)
    # core.entry_digest of the entry and its postings, fixed at posting: the sealer links it without reading
    # the postings, and verify recomputes it, so an unsealed entry edited before sealing is caught too.
    digest: str = Field(max_length=64)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()
    created_by_org_id: str = Field(max_length=40)
    created_by_user_id: str = Field(max_length=40)


class LedgerPosting(SQLModel, table=True):
    __tablename__ = "ledger_postings"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(f"side IN {SIDES!r}", name="side"),
        sa.UniqueConstraint("entry_id", "line_no"),
        # Balances as of a date read postings by account and effective date.
        sa.Index("ix_ledger_postings_account_date", "account_id", "effective_date"),
    )
    id: str = Field(default_factory=lambda: new_id("ljp"), primary_key=True, max_length=40)
    entry_id: str = Field(foreign_key="ledger_entries.id", max_length=40)
    line_no: int
    account_id: str = Field(foreign_key="ledger_accounts.id", max_length=40)
    side: str = Field(max_length=6)
    amount: int = Field(sa_type=sa.BigInteger)
    # True for the lines of a pending entry and of its void: they count as pending, never as posted.
    pending: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Copied from the entry (both immutable) so as-of balances need no join.
    effective_date: date


class LedgerChainHead(SQLModel, table=True):
    """One row: the last sealed entry's seq and hash. Only the sealer locks it (posters never touch it), which
    makes the chain linear when sealers run concurrently."""

    __tablename__ = "ledger_chain_head"
    id: int = Field(default=1, primary_key=True)
    last_seq: int = Field(default=0, sa_type=sa.BigInteger)
    last_hash: str = Field(default=GENESIS_HASH, max_length=64)
    # The hash before the last one (kept for the head's own consistency check).
    prev_hash: str = Field(default=GENESIS_HASH, max_length=64, sa_column_kwargs={"server_default": GENESIS_HASH})
    updated_at: datetime = Field(default_factory=utcnow, sa_type=TZDateTime)


# The append-only guard, one statement each (asyncpg cannot prepare several at once), without '%' or
# ':name' so neither DDL nor text() formatting touches it. The lead's Alembic
# migration runs ``for s in APPEND_ONLY_STATEMENTS: op.execute(s)`` on PostgreSQL, and the drops on downgrade.
_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = 'ledger is append-only, ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused (post a reversal)';
END;
$$
""".strip()
# Entries: the sealing update alone passes (the chain fields from NULL to values, every other column equal);
# a sealed entry is never updated again, and nothing is ever deleted.
_SEAL_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_entries_seal_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unsealed ledger_entries;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
       AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL THEN
        -- The whole row but the three chain fields must be unchanged (so future columns are covered too);
        -- a row comparison, null-safe, costs about half of comparing two to_jsonb copies.
        unsealed := NEW;
        unsealed.seq := NULL;
        unsealed.prev_hash := NULL;
        unsealed.hash := NULL;
        IF unsealed IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = 'ledger is append-only, ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused (post a reversal)';
END;
$$
""".strip()
_TRIGGER = ("CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION {function}()")
APPEND_ONLY_STATEMENTS: tuple[str, ...] = (
    _FUNCTION,
    _SEAL_FUNCTION,
    _TRIGGER.format(table="ledger_entries", function="ledger_entries_seal_only"),
    _TRIGGER.format(table="ledger_postings", function="ledger_refuse_change"),
)
APPEND_ONLY_SQL = ";\n".join(APPEND_ONLY_STATEMENTS) + ";\n"
APPEND_ONLY_DROP_STATEMENTS: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS ledger_postings_append_only ON ledger_postings",
    "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_entries_seal_only()",
    "DROP FUNCTION IF EXISTS ledger_refuse_change()",
)

# The posting's one round trip on PostgreSQL (``append.post_in_one``): lock each account in id order by its
# balance update (each must still carry the code the poster knows it by, and keep its limit), then, unless
# the key is known or the date is closed, write the entry, its postings and the audit row. Any answer but
# 'written' wrote nothing (the balances updated before the refusal are put back): 'replay' (the key is
# used), 'stale' (an id or code moved), 'refused' (the full path gives the reason). The rows come as JSON (jsonb: parsed once) in their tables' own shapes, so new columns need no
# change here.
_POST_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_post_entry(p_ids text[], p_codes text[], p_d bigint[], p_c bigint[],
    p_dp bigint[], p_cp bigint[], p_check_limit boolean, p_programs text[], p_rows jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    entry jsonb := p_rows -> 'entry';
    at timestamptz := CAST(entry ->> 'created_at' AS timestamptz);
    held integer := 0;
    answer text;
BEGIN
    -- Each account is locked by its own balance update, in id order (p_ids comes sorted), by primary key:
    -- with a scalar key the cached generic plan is an index scan, so no call plans afresh (= ANY of an
    -- array is planned at every call). The update takes the row only if its code still matches and, on the
    -- row as locked (its latest version), the limit holds; otherwise it writes and locks nothing.
    FOR k IN 1 .. cardinality(p_ids) LOOP
        UPDATE ledger_accounts AS t SET debits_posted = t.debits_posted + p_d[k],
            credits_posted = t.credits_posted + p_c[k], debits_pending = t.debits_pending + p_dp[k],
            credits_pending = t.credits_pending + p_cp[k], version = t.version + 1, updated_at = at
        WHERE t.id = p_ids[k] AND t.code = p_codes[k] AND (NOT p_check_limit OR t.limit_rule <> 'no_negative'
            OR CASE WHEN t.normal_side = 'debit'
                THEN t.debits_posted + p_d[k] - t.credits_posted - p_c[k] - t.credits_pending - p_cp[k]
                ELSE t.credits_posted + p_c[k] - t.debits_posted - p_d[k] - t.debits_pending - p_dp[k] END >= 0);
        IF NOT FOUND THEN
            answer := CASE WHEN EXISTS (SELECT 1 FROM ledger_accounts WHERE id = p_ids[k] AND code = p_codes[k])
                           THEN 'refused' ELSE 'stale' END;
            EXIT;
        END IF;
        held := k;
    END LOOP;
    -- Under the locks, a poster of the same key (it took the same locks) has committed and is seen.
    IF answer IS NULL AND EXISTS (SELECT 1 FROM ledger_entries WHERE idempotency_key = entry ->> 'idempotency_key') THEN
        answer := 'replay';
    END IF;
    IF answer IS NULL AND cardinality(p_programs) > 0 AND EXISTS (
        SELECT 1 FROM ledger_periods AS lp JOIN fund_programs AS fp ON fp.fund_org_id = lp.fund_org_id
        WHERE fp.id = ANY (p_programs) AND lp.ends_on >= CAST(entry ->> 'effective_date' AS date)) THEN
        answer := 'refused';
    END IF;
    IF answer IS NOT NULL THEN
        -- Nothing is written: the balances and versions updated so far are put back (their locks stay, in id
        -- order, for the full path that follows), so a caller's transaction goes on unharmed.
        FOR k IN 1 .. held LOOP
            UPDATE ledger_accounts AS t SET debits_posted = t.debits_posted - p_d[k],
                credits_posted = t.credits_posted - p_c[k], debits_pending = t.debits_pending - p_dp[k],
                credits_pending = t.credits_pending - p_cp[k], version = t.version - 1
            WHERE t.id = p_ids[k];
        END LOOP;
        RETURN answer;
    END IF;
    INSERT INTO ledger_entries SELECT * FROM jsonb_populate_record(CAST(NULL AS ledger_entries), entry);
    INSERT INTO ledger_postings SELECT * FROM jsonb_populate_recordset(CAST(NULL AS ledger_postings), p_rows -> 'postings');
    INSERT INTO audit_events SELECT * FROM jsonb_populate_record(CAST(NULL AS audit_events), p_rows -> 'audit');
    RETURN 'written';
END;
$$
""".strip()
POSTING_STATEMENTS: tuple[str, ...] = (_POST_FUNCTION,)
POSTING_DROP_STATEMENTS: tuple[str, ...] = (
    "DROP FUNCTION IF EXISTS ledger_post_entry(text[], text[], bigint[], bigint[], bigint[], bigint[], boolean, "
    "text[], jsonb)",
)

_entries = table_of(LedgerEntry)
_postings = table_of(LedgerPosting)
event.listen(_entries, "after_create", DDL(_POST_FUNCTION).execute_if(dialect="postgresql"))
for _statement in APPEND_ONLY_STATEMENTS[:3]:
    event.listen(_entries, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
event.listen(_postings, "after_create", DDL(APPEND_ONLY_STATEMENTS[3]).execute_if(dialect="postgresql"))
