"""Ledger accounts: opening them (idempotently, by code), finding and listing them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.ledger.core import (
    ACCOUNT_TYPES,
    LIMIT_RULES,
    NORMAL_SIDE_OF_TYPE,
    SIDES,
    AccountSpec,
    bank_deposit_account,
    program_accounts,
)
from finance.ledger.models import LedgerAccount
from finance.ledger.scope import Scope, accounts_condition
from kernel import audit
from kernel.actor import SYSTEM, Actor
from kernel.db import insert_unique
from kernel.errors import AlreadyExists, NotFound, ValidationFailed
from kernel.pagination import paginate

_CODE = re.compile(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_.\-]+)*$")


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

