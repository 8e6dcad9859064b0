"""The append-only trigger and the posting function exist twice on purpose: attached to the tables for create_all
(finance/ledger/models.py) and frozen in migration 0002. They must say the same."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from finance.ledger.models import (
    APPEND_ONLY_DROP_STATEMENTS,
    APPEND_ONLY_STATEMENTS,
    POSTING_DROP_STATEMENTS,
    POSTING_STATEMENTS,
)

MIGRATION = Path(__file__).parents[3] / "alembic" / "versions" / "0002_database_specific_objects.py"


def test_migration_0002_holds_the_models_ledger_sql():
    spec = importlib.util.spec_from_file_location("migration_0002", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.LEDGER_UPGRADE == APPEND_ONLY_STATEMENTS
    assert migration.LEDGER_POSTING == POSTING_STATEMENTS
    assert [s for s in migration.DOWNGRADE["postgresql"] if "ledger" in s] == [*POSTING_DROP_STATEMENTS,
                                                                            *APPEND_ONLY_DROP_STATEMENTS]
