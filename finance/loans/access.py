"""Who may see or act on a loan, and the locked lookups every loan service starts from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.loans.models import Loan, LoanInstallment, LoanInvitation
from kernel.actor import Actor
from kernel.db import get_or_404
from kernel.errors import Forbidden, NotFound

BORROWER_KINDS = ("sme",)
BANK = "bank"
# Who joins a loan by each kind of invitation.
JOINERS = {"guarantee": "guarantor", "insurance": "insurer"}


def may_see_loan(actor: Actor, loan: Loan) -> bool:
    if actor.is_platform_admin or actor.is_kind("fund"):
        return True
    return actor.org_id in {loan.borrower_org_id, loan.bank_org_id, loan.guarantor_org_id, loan.insurer_org_id}


async def get_loan(session: AsyncSession, actor: Actor, loan_id: str, *, lock: bool = False) -> Loan:
    """The loan for its parties, the fund and the admin, and for a guarantor or insurer invited to it."""
    return await visible(session, actor, await get_or_404(session, Loan, loan_id, lock=lock), loan_id)


async def visible(session: AsyncSession, actor: Actor, loan: Loan | None, loan_id: str) -> Loan:
    """``loan`` (the row read for ``loan_id``, None when there is none) if the caller may see it (as
    ``get_loan``), else ``NotFound``."""
    if loan is None or (not may_see_loan(actor, loan) and await invitation(session, loan.id, actor) is None):
        raise NotFound(f"loan {loan_id} not found")
    return loan


async def invitation(session: AsyncSession, loan_id: str, actor: Actor, kind: str | None = None) -> LoanInvitation | None:
    """The caller's organisation's invitation to the loan (of ``kind``), if it has one."""
    if not actor.is_kind(*JOINERS.values()):
        return None
    stmt = select(LoanInvitation).where(LoanInvitation.loan_id == loan_id, LoanInvitation.org_id == actor.org_id)
    if kind is not None:
        stmt = stmt.where(LoanInvitation.kind == kind)
    return (await session.exec(stmt)).first()


async def lock_loan(session: AsyncSession, loan_id: str) -> Loan:
    return await get_or_404(session, Loan, loan_id, lock=True)


async def lending_bank_loan(session: AsyncSession, actor: Actor, loan_id: str) -> Loan:
    """The loan, locked, for its lending bank only: 404 to whoever may not see it (whatever the verb),
    403 to a party or the fund that sees it but is not the lending bank."""
    loan = await get_loan(session, actor, loan_id, lock=True)
    if loan.bank_org_id != actor.org_id:
        raise Forbidden("only the lending bank may do this")
    return loan


async def installments(session: AsyncSession, loan_id: str, *, lock: bool = False) -> list[LoanInstallment]:
    stmt = select(LoanInstallment).where(LoanInstallment.loan_id == loan_id).order_by(col(LoanInstallment.n))
    if lock:
        # populate_existing: the day-end may have moved them with a set-based UPDATE since they were loaded.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.exec(stmt)).all())


_LEFT = "loans.left"


def leave(session: AsyncSession, loan_id: str, rows: Sequence[LoanInstallment], charges: Sequence[Any],
          extras: Any = None) -> None:
    """Keep the instalments and charges a service just wrote (read under the loan's lock) with the session,
    for the answer describing the loan (``left``), so it does not read them again; ``extras``: the loan's
    ``views.Extras`` read with them, when nothing since changed them."""
    session.sync_session.info.setdefault(_LEFT, {})[loan_id] = (list(rows), list(charges), extras)


def left(session: AsyncSession, loan_id: str) -> tuple[list[LoanInstallment], list[Any], Any] | None:
    """What ``leave`` kept for the loan (once): as this session wrote them, committed unless rolled back."""
    found: tuple[list[LoanInstallment], list[Any], Any] | None = \
        session.sync_session.info.get(_LEFT, {}).pop(loan_id, None)
    return found


@event.listens_for(Session, "after_rollback")
def _forget_left(session: Session) -> None:
    session.info.pop(_LEFT, None)  # what was left was never committed
