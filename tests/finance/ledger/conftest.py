from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger import service
from finance.ledger.core import Recipes

PROGRAM = "prg_test"


@pytest.fixture
async def session(app) -> AsyncIterator[AsyncSession]:
    async with app.state.session_factory() as s:
        yield s
        await s.rollback()


@pytest.fixture
async def chart(session) -> dict:
    """A programme's accounts, committed, with ¥1,000.00 of capital in cash."""
    accounts = await service.ensure_program_accounts(session, PROGRAM)
    await session.commit()
    return accounts


async def fund_capital(session: AsyncSession, amount: int, key: str = "capital-1", **kw) -> object:
    from kernel.actor import SYSTEM

    entry = await service.post(session, SYSTEM, idempotency_key=key, lines=Recipes.capital_in(PROGRAM, amount),
                               description="capital in", kind="capital_in", **kw)
    await session.commit()
    return entry
