"""Objects the models cannot express, per database.

- PostgreSQL: the fund ledger is append-only (a trigger refuses UPDATE and DELETE on entries and
  postings; corrections are reversals), and a pg_trgm GIN index serves asset search.
- SQLite: an FTS5 trigram table kept in step with assets by triggers serves asset search.

The same SQL is attached to the tables for create_all in finance/ledger/models.py and
market/assets/models.py; keep them equal. alembic/env.py leaves these objects out of `alembic check`.

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
    "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    "CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings "
    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
)
UPGRADE = {
    "postgresql": (
        *LEDGER_UPGRADE,
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE INDEX IF NOT EXISTS ix_assets_search_text_trgm ON assets USING gin (search_text gin_trgm_ops)",
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
    ),
}
DOWNGRADE = {
    "postgresql": (
        "DROP INDEX IF EXISTS ix_assets_search_text_trgm",
        "DROP TRIGGER IF EXISTS ledger_postings_append_only ON ledger_postings",
        "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
        "DROP FUNCTION IF EXISTS ledger_refuse_change()",
    ),
    "sqlite": (
        "DROP TRIGGER IF EXISTS assets_fts_ai",
        "DROP TRIGGER IF EXISTS assets_fts_ad",
        "DROP TRIGGER IF EXISTS assets_fts_au",
        "DROP TABLE IF EXISTS assets_fts",
    ),
}


def upgrade() -> None:
    for statement in UPGRADE.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
