"""Objects the models cannot express, per database.

- PostgreSQL: the ledger's posting function (one round trip for the common posting); the fund ledger is append-only (a trigger refuses UPDATE and DELETE on entries and
  postings; corrections are reversals; the one update allowed is the sealer's, which fills an entry's
  empty seq, prev_hash and hash once and changes nothing else); pg_trgm GIN indexes serve asset and
  listing search (and the lookup of a query word in listing_words).
- SQLite: an FTS5 trigram table kept in step with assets by triggers serves asset search.
- Both: triggers on listings and listing_assets rewrite listings_version, what a cached search page is
  checked against (market/trading/models.py, LISTINGS_VERSION_DDL).

The same SQL is attached to the tables for create_all in finance/ledger/models.py,
market/assets/models.py and market/trading/models.py; keep them equal. alembic/env.py leaves these objects out of `alembic check`.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_UPGRADE = (
    """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = 'ledger is append-only, ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused (post a reversal)';
END;
$$
""".strip(),
    """
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
""".strip(),
    "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
    "FOR EACH ROW EXECUTE FUNCTION ledger_entries_seal_only()",
    "CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings "
    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
)
# The posting's one round trip (finance/ledger/append.py post_in_one): lock, checks and append in one call.
LEDGER_POSTING = (
    """
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
""".strip(),
)
LISTINGS_VERSION = {
    "postgresql": (
        "CREATE OR REPLACE FUNCTION ipm_listings_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO listings_version (id, n) VALUES (1, txid_current()) ON CONFLICT (id) DO UPDATE "
        "SET n = EXCLUDED.n WHERE listings_version.n <> EXCLUDED.n; RETURN NULL; END $$",
        *(f"CREATE CONSTRAINT TRIGGER {t}_changed AFTER INSERT OR UPDATE OR DELETE ON {t} "
          f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ipm_listings_changed()"
          for t in ("listings", "listing_assets")),
    ),
    "sqlite": tuple(f"CREATE TRIGGER IF NOT EXISTS {t}_changed_{op[0].lower()} AFTER {op} ON {t} BEGIN "
                    f"INSERT OR REPLACE INTO listings_version (id, n) VALUES (1, random()); END"
                    for t in ("listings", "listing_assets") for op in ("INSERT", "UPDATE", "DELETE")),
}
UPGRADE = {
    "postgresql": (
        *LEDGER_UPGRADE,
        *LEDGER_POSTING,
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE INDEX IF NOT EXISTS ix_assets_search_text_trgm ON assets USING gin (search_text gin_trgm_ops)",
        "CREATE INDEX IF NOT EXISTS ix_listings_search_text_trgm ON listings USING gin (search_text gin_trgm_ops)",
        "CREATE INDEX IF NOT EXISTS ix_listing_words_term_trgm ON listing_words USING gin (term gin_trgm_ops)",
        *LISTINGS_VERSION["postgresql"],
    ),
    "sqlite": (
        "CREATE VIRTUAL TABLE IF NOT EXISTS assets_fts USING fts5("
        "search_text, content='assets', content_rowid='rowid', tokenize='trigram')",
        "CREATE TRIGGER IF NOT EXISTS assets_fts_ai AFTER INSERT ON assets BEGIN "
        "INSERT INTO assets_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
        "CREATE TRIGGER IF NOT EXISTS assets_fts_ad AFTER DELETE ON assets BEGIN "
        "INSERT INTO assets_fts(assets_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); END",
        "CREATE TRIGGER IF NOT EXISTS assets_fts_au AFTER UPDATE OF search_text ON assets BEGIN "
        "INSERT INTO assets_fts(assets_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); "
        "INSERT INTO assets_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END",
        "INSERT INTO assets_fts(assets_fts) VALUES ('rebuild')",
        *LISTINGS_VERSION["sqlite"],
    ),
}
DOWNGRADE = {
    "postgresql": (
        "DROP FUNCTION IF EXISTS ledger_post_entry(text[], text[], bigint[], bigint[], bigint[], bigint[], boolean, "
        "text[], jsonb)",
        "DROP TRIGGER IF EXISTS listings_changed ON listings",
        "DROP TRIGGER IF EXISTS listing_assets_changed ON listing_assets",
        "DROP FUNCTION IF EXISTS ipm_listings_changed()",
        "DROP INDEX IF EXISTS ix_listing_words_term_trgm",
        "DROP INDEX IF EXISTS ix_listings_search_text_trgm",
        "DROP INDEX IF EXISTS ix_assets_search_text_trgm",
        "DROP TRIGGER IF EXISTS ledger_postings_append_only ON ledger_postings",
        "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
        "DROP FUNCTION IF EXISTS ledger_entries_seal_only()",
        "DROP FUNCTION IF EXISTS ledger_refuse_change()",
    ),
    "sqlite": (
        "DROP TRIGGER IF EXISTS assets_fts_ai",
        "DROP TRIGGER IF EXISTS assets_fts_ad",
        "DROP TRIGGER IF EXISTS assets_fts_au",
        "DROP TABLE IF EXISTS assets_fts",
        *(f"DROP TRIGGER IF EXISTS {t}_changed_{op}" for t in ("listings", "listing_assets") for op in "iud"),
    ),
}


def upgrade() -> None:
    for statement in UPGRADE.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
