"""Database-side checks for tests: row counts, so a refused request can be shown to have written nothing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kernel.db import metadata


async def table_counts(app: Any) -> dict[str, int]:
    """Rows in every table."""
    counts = {}
    async with app.state.engine.connect() as conn:
        for table in metadata.sorted_tables:
            counts[table.name] = (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
    return counts


async def count(app: Any, model: Any, *where: Any) -> int:
    stmt = sa.select(sa.func.count()).select_from(model)
    for w in where:
        stmt = stmt.where(w)
    async with app.state.engine.connect() as conn:
        return (await conn.execute(stmt)).scalar_one()


async def execute(app: Any, stmt: Any) -> None:
    async with app.state.engine.begin() as conn:
        await conn.execute(stmt)
